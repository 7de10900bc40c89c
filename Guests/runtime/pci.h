/*
 * PCI configuration access for the test guests: mechanism #1 (address 0xCF8, data 0xCFC) and ECAM,
 * bus-0 enumeration, BAR sizing and placement, decode control and the capability-list walk.
 *
 * Where things are comes from the device tree: pci_init() finds the root child named "pci@...",
 * reads its `reg` (ECAM base and size, in the root's #address-cells/#size-cells) and its `ranges`
 * (the 32-bit memory window, space code 0x02, and the I/O window, space code 0x01). Nothing here
 * assumes the default layout.
 *
 * A function is named by a BDF: PCI_BDF(bus, device, function). Every accessor takes the
 * mechanism to use, so a guest can compare the two; `pci_default` (ECAM after pci_init found it,
 * else CF8) is what the short forms use. Config accesses are of 1, 2 or 4 bytes at a naturally
 * aligned offset: 0..0xFF through CF8, 0..0xFFF through ECAM.
 *
 * Cost: a CF8 access is two port exits, an ECAM access one MMIO exit.
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdint.h>

#define PCI_CONFIG_ADDRESS_PORT 0xCF8
#define PCI_CONFIG_DATA_PORT 0xCFC

/* ---- Header registers and bits ---------------------------------------------------------- */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_CLASS_PROG 0x09 /* class code: 3 bytes from here (prog-if, subclass, base class) */
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3C

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_HEADER_MULTI_FUNCTION 0x80

#define PCI_BAR_IO 0x1
#define PCI_BAR_MEM_TYPE_MASK 0x6
#define PCI_BAR_MEM_TYPE_64 0x4
#define PCI_BAR_MEM_PREFETCH 0x8

#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VENDOR 0x09
#define PCI_CAP_ID_MSIX 0x11

/* bus 8 bits, device 5 bits, function 3 bits */
#define PCI_BDF(bus, dev, fn) ((uint32_t)(bus) << 8 | (uint32_t)(dev) << 3 | (uint32_t)(fn))
#define PCI_BDF_BUS(bdf) (((bdf) >> 8) & 0xFF)
#define PCI_BDF_DEV(bdf) (((bdf) >> 3) & 0x1F)
#define PCI_BDF_FN(bdf) ((bdf) & 0x7)

enum pci_access {
    PCI_ACCESS_CF8 = 0,
    PCI_ACCESS_ECAM = 1,
};

/* ---- The host bridge as the device tree describes it ---------------------------------- */
struct pci_host {
    int found;              /* a /pci@... node was read */
    uint64_t ecam_base;     /* `reg` */
    uint64_t ecam_size;
    uint64_t mmio_base;     /* `ranges` entry with space code 0x02 (32-bit memory): CPU address */
    uint64_t mmio_pci_base; /*   and the PCI address it maps to */
    uint64_t mmio_size;
    uint64_t io_base;       /* `ranges` entry with space code 0x01 (I/O) */
    uint64_t io_size;
    const char *node_name;  /* "pci@e0000000" (points into the blob) */
};

/* Reads the first root child named "pci@..." into *host. Returns DTB_OK or a DTB_ERR_* code
 * (DTB_ERR_NOTFOUND: no such node; DTB_ERR_BADVALUE: a reg/ranges it cannot parse). */
int pci_host_from_tree(const void *fdt, struct pci_host *host);

/* The host read by pci_init() (zeroed before). */
extern struct pci_host pci_host;
/* The mechanism the short forms use; pci_init() sets it to ECAM when the tree has one. */
extern enum pci_access pci_default;

/* pci_host_from_tree into pci_host; on success ECAM becomes the default mechanism.
 * Returns NULL or the name of the failing step (for guest_fail). */
const char *pci_init(const void *fdt);

/* ---- Configuration space -------------------------------------------------------------- */
/* size 1, 2 or 4; other sizes, misaligned offsets or offsets out of range for the mechanism read
 * all ones (of the size) and write nothing. ECAM without pci_init also reads all ones. */
uint32_t pci_cfg_read(enum pci_access how, uint32_t bdf, unsigned offset, unsigned size);
void pci_cfg_write(enum pci_access how, uint32_t bdf, unsigned offset, unsigned size, uint32_t value);

static inline uint8_t pci_read8(uint32_t bdf, unsigned off) { return (uint8_t)pci_cfg_read(pci_default, bdf, off, 1); }
static inline uint16_t pci_read16(uint32_t bdf, unsigned off) { return (uint16_t)pci_cfg_read(pci_default, bdf, off, 2); }
static inline uint32_t pci_read32(uint32_t bdf, unsigned off) { return pci_cfg_read(pci_default, bdf, off, 4); }
static inline void pci_write8(uint32_t bdf, unsigned off, uint8_t v) { pci_cfg_write(pci_default, bdf, off, 1, v); }
static inline void pci_write16(uint32_t bdf, unsigned off, uint16_t v) { pci_cfg_write(pci_default, bdf, off, 2, v); }
static inline void pci_write32(uint32_t bdf, unsigned off, uint32_t v) { pci_cfg_write(pci_default, bdf, off, 4, v); }

/* ---- Enumeration (bus 0; functions 1..7 only when function 0 is multi-function) ------- */
struct pci_function {
    uint32_t bdf;
    uint16_t vendor, device;
    uint32_t class_code; /* base << 16 | sub << 8 | prog-if */
    uint8_t header_type; /* with the multi-function bit */
};

/* Fills up to `max` entries, in BDF order; returns how many functions exist (may exceed max). */
unsigned pci_enumerate(enum pci_access how, struct pci_function *out, unsigned max);
/* The `nth` (0-based) function with these IDs / with (class_code & mask) == (class & mask).
 * Returns 0 and sets *bdf, or -1 when there is none. */
int pci_find_device(enum pci_access how, uint16_t vendor, uint16_t device, unsigned nth, uint32_t *bdf);
int pci_find_class(enum pci_access how, uint32_t class_code, uint32_t mask, unsigned nth, uint32_t *bdf);

/* ---- BARs ----------------------------------------------------------------------------- */
struct pci_bar {
    int present;         /* size != 0 */
    int io;              /* I/O BAR */
    int is64;            /* 64-bit memory BAR (takes index and index + 1) */
    int prefetchable;
    uint64_t address;    /* as programmed (type bits removed) */
    uint64_t size;
    uint32_t raw;        /* the low register as read before sizing (with type bits) */
};

/* Sizes BAR `index` the standard way: decode of its space off, write all ones, read back, restore
 * the register(s) and the Command register. Returns 0 (bar->present says whether it exists), or -1
 * for an index out of range or a 64-bit BAR starting at index 5. After a 64-bit BAR, skip index + 1
 * (its upper half): this function cannot tell an upper half from a BAR of its own. */
int pci_bar_probe(enum pci_access how, uint32_t bdf, unsigned index, struct pci_bar *bar);
/* The address programmed into BAR `index` (both halves for a 64-bit BAR), type bits removed. */
uint64_t pci_bar_address(enum pci_access how, uint32_t bdf, unsigned index);
/* Programs BAR `index` with `address` (also the upper half for a 64-bit BAR); decode is left as
 * it is, so a decoding BAR moves at once. */
void pci_bar_set_address(enum pci_access how, uint32_t bdf, unsigned index, uint64_t address);

/* Sets or clears bits of the Command register (read-modify-write of 16 bits). */
void pci_command_set(enum pci_access how, uint32_t bdf, uint16_t bits, int on);
static inline void pci_enable_memory(enum pci_access how, uint32_t bdf) { pci_command_set(how, bdf, PCI_COMMAND_MEMORY, 1); }
static inline void pci_disable_memory(enum pci_access how, uint32_t bdf) { pci_command_set(how, bdf, PCI_COMMAND_MEMORY, 0); }

/* A free, `size`-aligned block of `size` bytes in the 32-bit memory window that overlaps no BAR
 * of any function on bus 0 (sized with pci_bar_probe), searched from the middle of the window
 * upwards then from its base. Returns 0 and sets *address, or -1. */
int pci_find_free_mmio(enum pci_access how, uint64_t size, uint64_t *address);

/* ---- Capabilities --------------------------------------------------------------------- */
/* The offset of the first capability with `id` (after `start`, 0 = from the list head), or 0.
 * Follows at most 48 links (a loop in the list ends the walk). Needs Status bit 4. */
unsigned pci_find_capability(enum pci_access how, uint32_t bdf, uint8_t id);
unsigned pci_find_next_capability(enum pci_access how, uint32_t bdf, uint8_t id, unsigned start);

#endif
