/*
 * Port and MMIO accessors for the test guests.
 *
 * Each accessor is exactly one instruction of the named width, so every call is one VM exit
 * (or one in-kernel access) of that size: the VMM's tests count and compare them.
 */
#ifndef GUEST_IO_H
#define GUEST_IO_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory"); }
static inline void outw(uint16_t port, uint16_t value) { __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port) : "memory"); }
static inline void outl(uint16_t port, uint32_t value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory"); }

static inline uint8_t inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}

static inline uint16_t inw(uint16_t port)
{
    uint16_t value;
    __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t value;
    __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}

/* MMIO: plain volatile accesses of the given width at a guest-physical address (identity mapped). */
static inline uint8_t mmio_read8(uint64_t addr) { return *(volatile uint8_t *)(uintptr_t)addr; }
static inline uint16_t mmio_read16(uint64_t addr) { return *(volatile uint16_t *)(uintptr_t)addr; }
static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t *)(uintptr_t)addr; }
static inline uint64_t mmio_read64(uint64_t addr) { return *(volatile uint64_t *)(uintptr_t)addr; }

static inline void mmio_write8(uint64_t addr, uint8_t value) { *(volatile uint8_t *)(uintptr_t)addr = value; }
static inline void mmio_write16(uint64_t addr, uint16_t value) { *(volatile uint16_t *)(uintptr_t)addr = value; }
static inline void mmio_write32(uint64_t addr, uint32_t value) { *(volatile uint32_t *)(uintptr_t)addr = value; }
static inline void mmio_write64(uint64_t addr, uint64_t value) { *(volatile uint64_t *)(uintptr_t)addr = value; }

#endif
