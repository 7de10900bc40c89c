// C shim over <linux/kvm.h>: ioctl request numbers as constants Swift can import, and
// non-variadic wrappers that return -errno on failure, so errno is read in exactly one place.
#ifndef CKVM_H
#define CKVM_H

#include <linux/kvm.h>
#include <sys/random.h>
#include <stdint.h>
#include <stddef.h>

// ioctl request numbers (the _IO* macros are not importable into Swift).
static const unsigned long CKVM_GET_API_VERSION = KVM_GET_API_VERSION;
static const unsigned long CKVM_CREATE_VM = KVM_CREATE_VM;
static const unsigned long CKVM_CHECK_EXTENSION = KVM_CHECK_EXTENSION;
static const unsigned long CKVM_GET_VCPU_MMAP_SIZE = KVM_GET_VCPU_MMAP_SIZE;
static const unsigned long CKVM_GET_SUPPORTED_CPUID = KVM_GET_SUPPORTED_CPUID;
static const unsigned long CKVM_SET_USER_MEMORY_REGION = KVM_SET_USER_MEMORY_REGION;
static const unsigned long CKVM_SET_TSS_ADDR = KVM_SET_TSS_ADDR;
static const unsigned long CKVM_GET_DIRTY_LOG = KVM_GET_DIRTY_LOG;
static const unsigned long CKVM_CREATE_IRQCHIP = KVM_CREATE_IRQCHIP;
static const unsigned long CKVM_CREATE_PIT2 = KVM_CREATE_PIT2;
static const unsigned long CKVM_REINJECT_CONTROL = KVM_REINJECT_CONTROL;
static const unsigned long CKVM_GET_PIT2 = KVM_GET_PIT2;
static const unsigned long CKVM_SET_PIT2 = KVM_SET_PIT2;
static const unsigned long CKVM_CREATE_VCPU = KVM_CREATE_VCPU;
static const unsigned long CKVM_ENABLE_CAP = KVM_ENABLE_CAP;
static const unsigned long CKVM_SET_BOOT_CPU_ID = KVM_SET_BOOT_CPU_ID;
static const unsigned long CKVM_SET_GSI_ROUTING = KVM_SET_GSI_ROUTING;
static const unsigned long CKVM_IRQFD = KVM_IRQFD;
static const unsigned long CKVM_IOEVENTFD = KVM_IOEVENTFD;
static const unsigned long CKVM_SIGNAL_MSI = KVM_SIGNAL_MSI;
static const unsigned long CKVM_IRQ_LINE_STATUS = KVM_IRQ_LINE_STATUS;
static const unsigned long CKVM_GET_IRQCHIP = KVM_GET_IRQCHIP;
static const unsigned long CKVM_SET_IRQCHIP = KVM_SET_IRQCHIP;
static const unsigned long CKVM_RUN = KVM_RUN;
static const unsigned long CKVM_GET_REGS = KVM_GET_REGS;
static const unsigned long CKVM_SET_REGS = KVM_SET_REGS;
static const unsigned long CKVM_GET_SREGS = KVM_GET_SREGS;
static const unsigned long CKVM_SET_SREGS = KVM_SET_SREGS;
static const unsigned long CKVM_SET_CPUID2 = KVM_SET_CPUID2;
static const unsigned long CKVM_GET_LAPIC = KVM_GET_LAPIC;
static const unsigned long CKVM_SET_LAPIC = KVM_SET_LAPIC;
static const unsigned long CKVM_SET_MP_STATE = KVM_SET_MP_STATE;
static const unsigned long CKVM_GET_MP_STATE = KVM_GET_MP_STATE;

/// Opens `path` read-write with O_CLOEXEC; returns the fd or -errno.
int ckvm_open(const char *path);
/// close(2); returns 0 or -errno.
int ckvm_close(int fd);
/// ioctl(fd, request, arg); returns the ioctl's non-negative result or -errno.
int ckvm_ioctl(int fd, unsigned long request, void *arg);
/// ioctl(fd, request, value) for requests whose argument is an integer.
int ckvm_ioctl_value(int fd, unsigned long request, unsigned long value);
/// KVM_RUN on a vCPU fd; returns 0 or -errno (-EINTR when a signal kicked the vCPU out).
int ckvm_run(int vcpu_fd);
/// mmap(NULL, size, RW, MAP_SHARED, fd, 0) or an anonymous private mapping when fd < 0.
/// Returns the address, or NULL with *error set to errno.
void *ckvm_mmap(int fd, size_t size, int *error);
/// munmap(2); returns 0 or -errno.
int ckvm_munmap(void *address, size_t size);
/// madvise(address, size, MADV_DONTDUMP|...) is not needed; kept minimal.
/// eventfd(initial, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0)); returns fd or -errno.
int ckvm_eventfd(unsigned initial, int nonblocking);
/// write(2) of an 8-byte counter to an eventfd; returns 0 or -errno.
int ckvm_eventfd_write(int fd, uint64_t value);
/// read(2) of an eventfd's 8-byte counter; returns 0 (and *value) or -errno (-EAGAIN if empty and nonblocking).
int ckvm_eventfd_read(int fd, uint64_t *value);
/// epoll_create1(EPOLL_CLOEXEC); returns the fd or -errno.
int ckvm_epoll_create(void);
/// Watches `fd` for reading in `epfd`, reporting `token`; returns 0 or -errno.
int ckvm_epoll_add(int epfd, int fd, uint64_t token);
/// epoll_wait with no timeout; stores up to `max` ready tokens; returns their number or -errno.
int ckvm_epoll_wait(int epfd, uint64_t *tokens, int max);
/// strerror-free errno name, e.g. "EEXIST"; "errno N" for unknown values (static storage).
const char *ckvm_errno_name(int err);
/// Installs a no-op handler for `signo` without SA_RESTART, so a blocking KVM_RUN returns EINTR.
int ckvm_install_kick_handler(int signo);
/// Unblocks `signo` for the calling thread (threads inherit their creator's mask, and libdispatch
/// workers block every signal). Returns 0 or -errno.
int ckvm_unblock_signal(int signo);
/// A real-time signal number usable as the vCPU kick signal.
int ckvm_kick_signal(void);

// Accessors for struct kvm_run, whose exit data sits in an anonymous union.
static inline uint32_t ckvm_run_exit_reason(const struct kvm_run *run) { return run->exit_reason; }
static inline void ckvm_run_set_immediate_exit(struct kvm_run *run, uint8_t value) {
    __atomic_store_n(&run->immediate_exit, value, __ATOMIC_SEQ_CST);
}
static inline uint8_t ckvm_run_io_direction(const struct kvm_run *run) { return run->io.direction; }
static inline uint8_t ckvm_run_io_size(const struct kvm_run *run) { return run->io.size; }
static inline uint16_t ckvm_run_io_port(const struct kvm_run *run) { return run->io.port; }
static inline uint32_t ckvm_run_io_count(const struct kvm_run *run) { return run->io.count; }
static inline uint64_t ckvm_run_io_data_offset(const struct kvm_run *run) { return run->io.data_offset; }
static inline uint64_t ckvm_run_mmio_address(const struct kvm_run *run) { return run->mmio.phys_addr; }
static inline uint32_t ckvm_run_mmio_length(const struct kvm_run *run) { return run->mmio.len; }
static inline uint8_t ckvm_run_mmio_is_write(const struct kvm_run *run) { return run->mmio.is_write; }
static inline uint8_t *ckvm_run_mmio_data(struct kvm_run *run) { return run->mmio.data; }
static inline uint32_t ckvm_run_internal_suberror(const struct kvm_run *run) { return run->internal.suberror; }
static inline uint32_t ckvm_run_internal_ndata(const struct kvm_run *run) { return run->internal.ndata; }
static inline uint64_t ckvm_run_internal_data(const struct kvm_run *run, uint32_t i) {
    return i < 16 ? run->internal.data[i] : 0;
}
static inline uint64_t ckvm_run_fail_entry_reason(const struct kvm_run *run) {
    return run->fail_entry.hardware_entry_failure_reason;
}
static inline uint32_t ckvm_run_system_event_type(const struct kvm_run *run) { return run->system_event.type; }
static inline uint8_t ckvm_run_eoi_vector(const struct kvm_run *run) { return run->eoi.vector; }

/// Sets one entry of a kvm_irq_routing table allocated by the caller with room for `capacity` entries.
static inline void ckvm_routing_set_msi(struct kvm_irq_routing *table, uint32_t index, uint32_t gsi,
                                        uint32_t address_lo, uint32_t address_hi, uint32_t data) {
    struct kvm_irq_routing_entry *e = &table->entries[index];
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_MSI;
    e->flags = 0;
    e->pad = 0;
    e->u.msi.address_lo = address_lo;
    e->u.msi.address_hi = address_hi;
    e->u.msi.data = data;
    e->u.msi.pad = 0;
}
static inline void ckvm_routing_set_irqchip(struct kvm_irq_routing *table, uint32_t index, uint32_t gsi,
                                            uint32_t irqchip, uint32_t pin) {
    struct kvm_irq_routing_entry *e = &table->entries[index];
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->flags = 0;
    e->pad = 0;
    e->u.irqchip.irqchip = irqchip;
    e->u.irqchip.pin = pin;
}
/// Reads back an MSI entry of a routing table; returns 0, or -1 when the entry is not an MSI route.
static inline int ckvm_routing_get_msi(const struct kvm_irq_routing *table, uint32_t index, uint32_t *gsi,
                                       uint64_t *address, uint32_t *data) {
    const struct kvm_irq_routing_entry *e = &table->entries[index];
    if (e->type != KVM_IRQ_ROUTING_MSI) return -1;
    *gsi = e->gsi;
    *address = (uint64_t)e->u.msi.address_hi << 32 | e->u.msi.address_lo;
    *data = e->u.msi.data;
    return 0;
}
static inline void ckvm_routing_set_count(struct kvm_irq_routing *table, uint32_t count) {
    table->nr = count;
    table->flags = 0;
}
/// Copies entry `from` over entry `to`.
static inline void ckvm_routing_move(struct kvm_irq_routing *table, uint32_t from, uint32_t to) {
    table->entries[to] = table->entries[from];
}
static inline size_t ckvm_routing_size(uint32_t entries) {
    return sizeof(struct kvm_irq_routing) + (size_t)entries * sizeof(struct kvm_irq_routing_entry);
}
static inline size_t ckvm_cpuid2_size(uint32_t entries) {
    return sizeof(struct kvm_cpuid2) + (size_t)entries * sizeof(struct kvm_cpuid_entry2);
}

/// The IOAPIC's redirection entry `pin` in a KVM_GET_IRQCHIP result (the union of bit-fields does
/// not import into Swift).
static inline uint64_t ckvm_ioapic_entry(const struct kvm_irqchip *chip, unsigned pin) {
    return chip->chip.ioapic.redirtbl[pin].bits;
}
static inline void ckvm_ioapic_set_entry(struct kvm_irqchip *chip, unsigned pin, uint64_t bits) {
    chip->chip.ioapic.redirtbl[pin].bits = bits;
}
static inline uint32_t ckvm_ioapic_irr(const struct kvm_irqchip *chip) { return chip->chip.ioapic.irr; }
/// An i8259 as a BIOS leaves it: initialised (edge, cascade, 8086 mode) with `base` as its vector
/// base and `imr` as its mask.
static inline void ckvm_pic_initialise(struct kvm_irqchip *chip, uint8_t base, uint8_t imr) {
    chip->chip.pic.irq_base = base;
    chip->chip.pic.imr = imr;
    chip->chip.pic.init_state = 0;
    chip->chip.pic.init4 = 1;
    chip->chip.pic.auto_eoi = 0;
    chip->chip.pic.isr = 0;
    chip->chip.pic.irr = 0;
}
static inline uint8_t ckvm_pic_base(const struct kvm_irqchip *chip) { return chip->chip.pic.irq_base; }
static inline uint8_t ckvm_pic_imr(const struct kvm_irqchip *chip) { return chip->chip.pic.imr; }
/// PIT channel 0 counting `count` (0x10000 for 0) in `mode`, gate high, binary, LSB then MSB.
static inline void ckvm_pit_set_channel0(struct kvm_pit_state2 *state, uint32_t count, uint8_t mode) {
    struct kvm_pit_channel_state *c = &state->channels[0];
    c->count = count;
    c->mode = mode;
    c->rw_mode = 3;
    c->read_state = 3;
    c->write_state = 3;
    c->gate = 1;
    c->bcd = 0;
}
static inline uint32_t ckvm_pit_channel0_count(const struct kvm_pit_state2 *state) { return state->channels[0].count; }
static inline uint8_t ckvm_pit_channel0_mode(const struct kvm_pit_state2 *state) { return state->channels[0].mode; }

/// Shared-memory rings (virtio): a 16-bit index the other side publishes is read with acquire
/// order, one this side publishes is written with release order, and a full fence orders a
/// store before a later load (event suppression).
static inline uint16_t ckvm_load_acquire_u16(const void *p) { return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE); }
static inline void ckvm_store_release_u16(void *p, uint16_t v) { __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE); }
static inline void ckvm_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/// `getrandom(2)` with no flags (Glibc's module map does not carry <sys/random.h>).
static inline long ckvm_getrandom(void *buffer, size_t count) { return (long)getrandom(buffer, count, 0); }

#endif
