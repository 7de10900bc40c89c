/*
 * PCI configuration access for the test guests: the place for it, not yet written.
 *
 * Planned: mechanism #1 (address 0xCF8, data 0xCFC) and ECAM (base and bus range from the device
 * tree's PCI host node; default 0xE0000000, bus 0), e.g.
 *     uint32_t pci_config_read32(unsigned bus, unsigned dev, unsigned fn, unsigned offset);
 *     void pci_config_write32(unsigned bus, unsigned dev, unsigned fn, unsigned offset, uint32_t v);
 * plus BAR sizing/assignment and a capability-list walk (for MSI-X). The implementation goes in
 * pci.c beside this header; the build compiles every .c file of runtime/ by itself.
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdint.h>

#define PCI_CONFIG_ADDRESS_PORT 0xCF8
#define PCI_CONFIG_DATA_PORT 0xCFC

#endif
