/* PCI configuration access, enumeration, BARs and capabilities (see pci.h). */
#include "pci.h"

#include "fdt.h"
#include "guest.h"

struct pci_host pci_host;
enum pci_access pci_default = PCI_ACCESS_CF8;

/* ---- Device tree ------------------------------------------------------------------------ */
static int starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

/* A value of `cells` (1 or 2) big-endian cells at p. */
static uint64_t read_cells(const uint8_t *p, uint32_t cells)
{
    return cells == 2 ? dtb_be64(p) : dtb_be32(p);
}

static uint32_t cells_or(const struct dtb *t, int node, const char *name, uint32_t fallback)
{
    uint32_t v;
    return dtb_prop_u32(t, node, name, &v) == DTB_OK ? v : fallback;
}

int pci_host_from_tree(const void *fdt, struct pci_host *host)
{
    struct dtb tree;
    memset(host, 0, sizeof *host);
    int r = dtb_open(&tree, fdt, DTB_SIZE_UNKNOWN);
    if (r != DTB_OK)
        return r;
    int root = dtb_root(&tree);
    if (root < 0)
        return root;
    uint32_t root_ac = cells_or(&tree, root, "#address-cells", 2);
    uint32_t root_sc = cells_or(&tree, root, "#size-cells", 1);
    if (root_ac < 1 || root_ac > 2 || root_sc < 1 || root_sc > 2)
        return DTB_ERR_BADVALUE;

    int node = dtb_first_child(&tree, root);
    const char *name = 0;
    while (node >= 0) {
        r = dtb_node_name(&tree, node, &name);
        if (r < 0)
            return r;
        if (starts_with(name, "pci@"))
            break;
        node = dtb_next_sibling(&tree, node);
    }
    if (node < 0)
        return node;

    /* reg: <ECAM base, size> in the root's cells. */
    const void *data;
    uint32_t len;
    r = dtb_prop(&tree, node, "reg", &data, &len);
    if (r < 0)
        return r;
    if (len < 4 * (root_ac + root_sc))
        return DTB_ERR_BADVALUE;
    host->ecam_base = read_cells(data, root_ac);
    host->ecam_size = read_cells((const uint8_t *)data + 4 * root_ac, root_sc);

    /* ranges: <phys.hi phys.mid phys.lo  cpu-address(root_ac)  size(pci #size-cells)>. */
    uint32_t pci_ac = cells_or(&tree, node, "#address-cells", 3);
    uint32_t pci_sc = cells_or(&tree, node, "#size-cells", 2);
    if (pci_ac != 3 || pci_sc < 1 || pci_sc > 2)
        return DTB_ERR_BADVALUE;
    r = dtb_prop(&tree, node, "ranges", &data, &len);
    if (r < 0)
        return r;
    uint32_t entry = 4 * (pci_ac + root_ac + pci_sc);
    if (len == 0 || len % entry != 0)
        return DTB_ERR_BADVALUE;
    for (uint32_t off = 0; off < len; off += entry) {
        const uint8_t *e = (const uint8_t *)data + off;
        uint32_t space = (dtb_be32(e) >> 24) & 3;
        uint64_t pci_addr = dtb_be64(e + 4);
        uint64_t cpu_addr = read_cells(e + 12, root_ac);
        uint64_t size = read_cells(e + 12 + 4 * root_ac, pci_sc);
        if (space == 2 && host->mmio_size == 0) {
            host->mmio_base = cpu_addr;
            host->mmio_pci_base = pci_addr;
            host->mmio_size = size;
        } else if (space == 1 && host->io_size == 0) {
            host->io_base = cpu_addr;
            host->io_size = size;
        }
    }
    host->node_name = name;
    host->found = 1;
    return DTB_OK;
}

const char *pci_init(const void *fdt)
{
    if (!fdt)
        return "pci: no device tree";
    int r = pci_host_from_tree(fdt, &pci_host);
    if (r == DTB_ERR_NOTFOUND)
        return "pci: no /pci@... node (or no reg/ranges) in the device tree";
    if (r != DTB_OK)
        return "pci: the /pci@... node of the device tree is unreadable";
    if (pci_host.ecam_size < (1u << 20))
        return "pci: ECAM window in the tree is smaller than one bus (1 MiB)";
    if (pci_host.mmio_size == 0)
        return "pci: no 32-bit memory window in the tree's ranges";
    pci_default = PCI_ACCESS_ECAM;
    return 0;
}

/* ---- Configuration space ---------------------------------------------------------------- */
static uint32_t all_ones(unsigned size) { return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1; }

static int valid_access(enum pci_access how, unsigned offset, unsigned size)
{
    if (size != 1 && size != 2 && size != 4)
        return 0;
    if (offset & (size - 1))
        return 0;
    unsigned limit = how == PCI_ACCESS_ECAM ? 0x1000 : 0x100;
    if (offset >= limit)
        return 0;
    if (how == PCI_ACCESS_ECAM && !pci_host.found)
        return 0;
    return 1;
}

static uint64_t ecam_address(uint32_t bdf, unsigned offset)
{
    return pci_host.ecam_base + ((uint64_t)PCI_BDF_BUS(bdf) << 20) + ((uint64_t)PCI_BDF_DEV(bdf) << 15) +
           ((uint64_t)PCI_BDF_FN(bdf) << 12) + offset;
}

static uint32_t cf8_address(uint32_t bdf, unsigned offset)
{
    return 0x80000000u | PCI_BDF_BUS(bdf) << 16 | PCI_BDF_DEV(bdf) << 11 | PCI_BDF_FN(bdf) << 8 | (offset & 0xFC);
}

/* CF8/CFC is a two-step protocol: keep another vCPU from changing the address in between. */
static spinlock_t cf8_lock = SPINLOCK_INIT;

static uint64_t irq_save(void)
{
    uint64_t flags = cpu_flags();
    cpu_cli();
    return flags;
}

static void irq_restore(uint64_t flags)
{
    if (flags & 0x200)
        cpu_sti();
}

uint32_t pci_cfg_read(enum pci_access how, uint32_t bdf, unsigned offset, unsigned size)
{
    if (!valid_access(how, offset, size))
        return all_ones(size);
    if (how == PCI_ACCESS_ECAM) {
        uint64_t a = ecam_address(bdf, offset);
        return size == 1 ? mmio_read8(a) : size == 2 ? mmio_read16(a) : mmio_read32(a);
    }
    uint64_t flags = irq_save();
    spin_lock(&cf8_lock);
    outl(PCI_CONFIG_ADDRESS_PORT, cf8_address(bdf, offset));
    uint16_t port = (uint16_t)(PCI_CONFIG_DATA_PORT + (offset & 3));
    uint32_t v = size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
    spin_unlock(&cf8_lock);
    irq_restore(flags);
    return v;
}

void pci_cfg_write(enum pci_access how, uint32_t bdf, unsigned offset, unsigned size, uint32_t value)
{
    if (!valid_access(how, offset, size))
        return;
    if (how == PCI_ACCESS_ECAM) {
        uint64_t a = ecam_address(bdf, offset);
        if (size == 1)
            mmio_write8(a, (uint8_t)value);
        else if (size == 2)
            mmio_write16(a, (uint16_t)value);
        else
            mmio_write32(a, value);
        return;
    }
    uint64_t flags = irq_save();
    spin_lock(&cf8_lock);
    outl(PCI_CONFIG_ADDRESS_PORT, cf8_address(bdf, offset));
    uint16_t port = (uint16_t)(PCI_CONFIG_DATA_PORT + (offset & 3));
    if (size == 1)
        outb(port, (uint8_t)value);
    else if (size == 2)
        outw(port, (uint16_t)value);
    else
        outl(port, value);
    spin_unlock(&cf8_lock);
    irq_restore(flags);
}

/* ---- Enumeration ------------------------------------------------------------------------ */
/* Calls visit(f, arg) for each function of bus 0 in BDF order until it returns nonzero;
 * returns the number of functions seen. */
static unsigned scan_bus0(enum pci_access how, int (*visit)(const struct pci_function *, void *), void *arg)
{
    unsigned count = 0;
    for (unsigned dev = 0; dev < 32; dev++) {
        for (unsigned fn = 0; fn < 8; fn++) {
            uint32_t bdf = PCI_BDF(0, dev, fn);
            uint32_t id = pci_cfg_read(how, bdf, PCI_VENDOR_ID, 4);
            if ((id & 0xFFFF) == 0xFFFF) {
                if (fn == 0)
                    break; /* no device here */
                continue;
            }
            struct pci_function f;
            f.bdf = bdf;
            f.vendor = (uint16_t)id;
            f.device = (uint16_t)(id >> 16);
            f.class_code = pci_cfg_read(how, bdf, PCI_REVISION, 4) >> 8;
            f.header_type = (uint8_t)pci_cfg_read(how, bdf, PCI_HEADER_TYPE, 1);
            count++;
            if (visit && visit(&f, arg))
                return count;
            if (fn == 0 && !(f.header_type & PCI_HEADER_MULTI_FUNCTION))
                break;
        }
    }
    return count;
}

struct collect {
    struct pci_function *out;
    unsigned max, n;
};

static int collect_visit(const struct pci_function *f, void *arg)
{
    struct collect *c = arg;
    if (c->n < c->max)
        c->out[c->n] = *f;
    c->n++;
    return 0;
}

unsigned pci_enumerate(enum pci_access how, struct pci_function *out, unsigned max)
{
    struct collect c = {out, max, 0};
    return scan_bus0(how, collect_visit, &c);
}

struct match {
    int by_class;
    uint16_t vendor, device;
    uint32_t class_code, mask;
    unsigned nth;
    int found;
    uint32_t bdf;
};

static int match_visit(const struct pci_function *f, void *arg)
{
    struct match *m = arg;
    int hit = m->by_class ? (f->class_code & m->mask) == (m->class_code & m->mask)
                          : f->vendor == m->vendor && f->device == m->device;
    if (!hit)
        return 0;
    if (m->nth > 0) {
        m->nth--;
        return 0;
    }
    m->found = 1;
    m->bdf = f->bdf;
    return 1;
}

int pci_find_device(enum pci_access how, uint16_t vendor, uint16_t device, unsigned nth, uint32_t *bdf)
{
    struct match m = {0, vendor, device, 0, 0, nth, 0, 0};
    scan_bus0(how, match_visit, &m);
    if (m.found && bdf)
        *bdf = m.bdf;
    return m.found ? 0 : -1;
}

int pci_find_class(enum pci_access how, uint32_t class_code, uint32_t mask, unsigned nth, uint32_t *bdf)
{
    struct match m = {1, 0, 0, class_code, mask, nth, 0, 0};
    scan_bus0(how, match_visit, &m);
    if (m.found && bdf)
        *bdf = m.bdf;
    return m.found ? 0 : -1;
}

/* ---- BARs ------------------------------------------------------------------------------- */
void pci_command_set(enum pci_access how, uint32_t bdf, uint16_t bits, int on)
{
    uint16_t cmd = (uint16_t)pci_cfg_read(how, bdf, PCI_COMMAND, 2);
    cmd = on ? (uint16_t)(cmd | bits) : (uint16_t)(cmd & ~bits);
    pci_cfg_write(how, bdf, PCI_COMMAND, 2, cmd);
}

int pci_bar_probe(enum pci_access how, uint32_t bdf, unsigned index, struct pci_bar *bar)
{
    memset(bar, 0, sizeof *bar);
    if (index > 5)
        return -1;
    unsigned reg = PCI_BAR0 + 4 * index;
    uint32_t low = pci_cfg_read(how, bdf, reg, 4);
    bar->raw = low;
    bar->io = (low & PCI_BAR_IO) != 0;
    bar->is64 = !bar->io && (low & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64;
    bar->prefetchable = !bar->io && (low & PCI_BAR_MEM_PREFETCH) != 0;
    if (bar->is64 && index == 5)
        return -1;
    uint32_t high = bar->is64 ? pci_cfg_read(how, bdf, reg + 4, 4) : 0;

    uint16_t cmd = (uint16_t)pci_cfg_read(how, bdf, PCI_COMMAND, 2);
    uint16_t decode = bar->io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    if (cmd & decode)
        pci_cfg_write(how, bdf, PCI_COMMAND, 2, cmd & ~decode);

    pci_cfg_write(how, bdf, reg, 4, 0xFFFFFFFFu);
    uint32_t mask_low = pci_cfg_read(how, bdf, reg, 4);
    pci_cfg_write(how, bdf, reg, 4, low);
    uint32_t mask_high = 0xFFFFFFFFu;
    if (bar->is64) {
        pci_cfg_write(how, bdf, reg + 4, 4, 0xFFFFFFFFu);
        mask_high = pci_cfg_read(how, bdf, reg + 4, 4);
        pci_cfg_write(how, bdf, reg + 4, 4, high);
    }
    if (cmd & decode)
        pci_cfg_write(how, bdf, PCI_COMMAND, 2, cmd);

    /* The size is the lowest address bit that stayed writable. */
    uint64_t mask;
    if (bar->io) {
        mask = mask_low & 0xFFFFFFFCu;
        bar->address = low & 0xFFFFFFFCu;
    } else {
        mask = (bar->is64 ? (uint64_t)mask_high << 32 : 0) | (mask_low & 0xFFFFFFF0u);
        bar->address = (bar->is64 ? (uint64_t)high << 32 : 0) | (low & 0xFFFFFFF0u);
    }
    bar->size = mask & (~mask + 1);
    bar->present = bar->size != 0;
    return 0;
}

uint64_t pci_bar_address(enum pci_access how, uint32_t bdf, unsigned index)
{
    if (index > 5)
        return 0;
    unsigned reg = PCI_BAR0 + 4 * index;
    uint32_t low = pci_cfg_read(how, bdf, reg, 4);
    if (low & PCI_BAR_IO)
        return low & 0xFFFFFFFCu;
    uint64_t address = low & 0xFFFFFFF0u;
    if ((low & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64 && index < 5)
        address |= (uint64_t)pci_cfg_read(how, bdf, reg + 4, 4) << 32;
    return address;
}

void pci_bar_set_address(enum pci_access how, uint32_t bdf, unsigned index, uint64_t address)
{
    if (index > 5)
        return;
    unsigned reg = PCI_BAR0 + 4 * index;
    uint32_t low = pci_cfg_read(how, bdf, reg, 4);
    uint32_t type = low & (low & PCI_BAR_IO ? 0x3u : 0xFu);
    int is64 = !(low & PCI_BAR_IO) && (low & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64 && index < 5;
    if (is64) /* high half first: the BAR then moves once, at the low write */
        pci_cfg_write(how, bdf, reg + 4, 4, (uint32_t)(address >> 32));
    pci_cfg_write(how, bdf, reg, 4, ((uint32_t)address & ~0xFu) | type);
}

struct free_search {
    enum pci_access how;
    uint64_t start, size;
    int overlap;
};

static int overlap_visit(const struct pci_function *f, void *arg)
{
    struct free_search *s = arg;
    if ((f->header_type & 0x7F) != 0)
        return 0; /* bridges have two BARs and windows; none on this machine */
    for (unsigned i = 0; i < 6; i++) {
        struct pci_bar bar;
        if (pci_bar_probe(s->how, f->bdf, i, &bar) != 0)
            break;
        if (bar.present && !bar.io && bar.address < s->start + s->size && s->start < bar.address + bar.size) {
            s->overlap = 1;
            return 1;
        }
        if (bar.is64)
            i++;
    }
    return 0;
}

int pci_find_free_mmio(enum pci_access how, uint64_t size, uint64_t *address)
{
    if (!pci_host.found || size == 0 || (size & (size - 1)) != 0 || size > pci_host.mmio_size)
        return -1;
    uint64_t base = pci_host.mmio_base, end = pci_host.mmio_base + pci_host.mmio_size;
    uint64_t middle = (base + pci_host.mmio_size / 2 + size - 1) & ~(size - 1);
    uint64_t first = (base + size - 1) & ~(size - 1);
    /* From the middle up, then from the base up to the middle. At most 64 candidates. */
    uint64_t starts[2] = {middle, first};
    uint64_t limits[2] = {end, middle};
    for (unsigned pass = 0; pass < 2; pass++) {
        unsigned tries = 0;
        for (uint64_t a = starts[pass]; a + size <= limits[pass] && tries < 32; a += size, tries++) {
            struct free_search s = {how, a, size, 0};
            scan_bus0(how, overlap_visit, &s);
            if (!s.overlap) {
                *address = a;
                return 0;
            }
        }
    }
    return -1;
}

/* ---- Capabilities ----------------------------------------------------------------------- */
unsigned pci_find_next_capability(enum pci_access how, uint32_t bdf, uint8_t id, unsigned start)
{
    uint16_t status = (uint16_t)pci_cfg_read(how, bdf, PCI_STATUS, 2);
    if (status == 0xFFFF || !(status & PCI_STATUS_CAP_LIST))
        return 0;
    unsigned pos = start ? pci_cfg_read(how, bdf, start + 1, 1) : pci_cfg_read(how, bdf, PCI_CAPABILITY_LIST, 1);
    for (unsigned links = 0; links < 48; links++) {
        pos &= 0xFC;
        if (pos < 0x40)
            return 0;
        uint16_t header = (uint16_t)pci_cfg_read(how, bdf, pos, 2);
        if ((header & 0xFF) == 0xFF)
            return 0;
        if ((header & 0xFF) == id)
            return pos;
        pos = header >> 8;
    }
    return 0;
}

unsigned pci_find_capability(enum pci_access how, uint32_t bdf, uint8_t id)
{
    return pci_find_next_capability(how, bdf, id, 0);
}
