/* The MSI-X test device, MSI-X table/PBA/capability access and delivery counters (see msix.h). */
#include "msix.h"

volatile uint32_t msix_irq_count[MSIX_COUNTER_CPUS][256];

/* ---- Finding and mapping the device ----------------------------------------------------- */
static uint64_t bar_address_by_bir(const struct msix_dev *d, unsigned bir)
{
    return pci_bar_address(d->how, d->bdf, bir);
}

void msix_remap(struct msix_dev *d)
{
    d->regs = pci_bar_address(d->how, d->bdf, 0);
    d->table = bar_address_by_bir(d, d->table_bir) + d->table_offset;
    d->pba = bar_address_by_bir(d, d->pba_bir) + d->pba_offset;
}

const char *msix_open_function(struct msix_dev *d, const void *fdt, uint16_t vendor, uint16_t device, unsigned nth)
{
    memset(d, 0, sizeof *d);
    const char *err = pci_init(fdt);
    if (err)
        return err;
    d->how = pci_default;
    if (pci_find_device(d->how, vendor, device, nth, &d->bdf) != 0)
        return "msix: no function with the given vendor and device IDs on bus 0";
    d->cap = pci_find_capability(d->how, d->bdf, PCI_CAP_ID_MSIX);
    if (d->cap == 0)
        return "msix: the function has no MSI-X capability (ID 0x11) in its list";
    uint16_t control = (uint16_t)pci_cfg_read(d->how, d->bdf, d->cap + MSIX_CAP_CONTROL, 2);
    d->table_size = (control & MSIX_CONTROL_SIZE_MASK) + 1u;
    uint32_t t = pci_cfg_read(d->how, d->bdf, d->cap + MSIX_CAP_TABLE, 4);
    uint32_t p = pci_cfg_read(d->how, d->bdf, d->cap + MSIX_CAP_PBA, 4);
    d->table_bir = t & 7;
    d->table_offset = t & ~7u;
    d->pba_bir = p & 7;
    d->pba_offset = p & ~7u;
    if (d->table_bir > 5 || d->pba_bir > 5)
        return "msix: table or PBA BIR names no BAR (> 5)";
    if (!(pci_cfg_read(d->how, d->bdf, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY))
        return "msix: memory decode of the function is off after boot";
    /* As a driver does (Linux: pci_set_master): a function may send MSI-X messages only with
     * Bus Master Enable set, and firmware leaves it clear. */
    pci_command_set(d->how, d->bdf, PCI_COMMAND_MASTER, 1);
    msix_remap(d);
    struct pci_bar bar;
    pci_bar_probe(d->how, d->bdf, d->table_bir, &bar);
    if (!bar.present || (uint64_t)d->table_offset + 16ull * d->table_size > bar.size)
        return "msix: the MSI-X table does not fit in its BAR";
    pci_bar_probe(d->how, d->bdf, d->pba_bir, &bar);
    if (!bar.present || (uint64_t)d->pba_offset + 8ull * ((d->table_size + 63) / 64) > bar.size)
        return "msix: the PBA does not fit in its BAR";
    return 0;
}

const char *msix_open(struct msix_dev *d, const void *fdt, unsigned nth)
{
    const char *err = msix_open_function(d, fdt, MSIXDEV_VENDOR, MSIXDEV_DEVICE, nth);
    if (err)
        return err;
    if (d->regs == 0)
        return "msix: BAR0 of the test device is not assigned";
    if (msixdev_read(d, MSIXDEV_MAGIC) != MSIXDEV_MAGIC_VALUE)
        return "msix: MAGIC at BAR0 is not 0x5849534D";
    if (msixdev_read(d, MSIXDEV_VERSION) != 1)
        return "msix: VERSION at BAR0 is not 1";
    d->vectors = msixdev_read(d, MSIXDEV_VECTORS);
    d->features = msixdev_read(d, MSIXDEV_FEATURES);
    if (d->vectors == 0 || d->vectors > 2048)
        return "msix: VECTORS out of range 1..2048";
    if (d->vectors != d->table_size)
        return "msix: VECTORS differs from the table size in Message Control";
    return 0;
}

void msix_start(struct msix_dev *d, const void *fdt, const char *guest)
{
    const char *err = msix_open(d, fdt, 0);
    if (err)
        guest_failf("%s: %s", guest, err);
    msix_setup_cpu();
    cpu_sti();
    msix_reset_counts(d);
    printf("%s: test device at 00:%02x.%x, BAR0 0x%llx, table 0x%llx, PBA 0x%llx, VECTORS %u, FEATURES 0x%x\n", guest,
           PCI_BDF_DEV(d->bdf), PCI_BDF_FN(d->bdf), (unsigned long long)d->regs, (unsigned long long)d->table,
           (unsigned long long)d->pba, d->vectors, d->features);
}

void msixdev_counts(const struct msix_dev *d, struct msixdev_counts *c)
{
    c->signaled = msixdev_read(d, MSIXDEV_COUNT_SIGNALED);
    c->backend = msixdev_read(d, MSIXDEV_COUNT_BACKEND);
    c->pended = msixdev_read(d, MSIXDEV_COUNT_PENDED);
    c->dropped = msixdev_read(d, MSIXDEV_COUNT_DROPPED);
}

/* ---- Message Control -------------------------------------------------------------------- */
uint16_t msix_control(const struct msix_dev *d)
{
    return (uint16_t)pci_cfg_read(d->how, d->bdf, d->cap + MSIX_CAP_CONTROL, 2);
}

static void control_bit(const struct msix_dev *d, uint16_t bit, int on)
{
    uint16_t c = msix_control(d);
    c = on ? (uint16_t)(c | bit) : (uint16_t)(c & ~bit);
    pci_cfg_write(d->how, d->bdf, d->cap + MSIX_CAP_CONTROL, 2, c);
}

void msix_enable(const struct msix_dev *d, int on) { control_bit(d, MSIX_CONTROL_ENABLE, on); }
void msix_maskall(const struct msix_dev *d, int on) { control_bit(d, MSIX_CONTROL_MASKALL, on); }

/* ---- Table ------------------------------------------------------------------------------ */
void msix_program(const struct msix_dev *d, unsigned v, unsigned apic_id, uint8_t idt_vector)
{
    uint64_t e = msix_entry(d, v);
    mmio_write32(e + MSIX_ENTRY_ADDR_LO, MSI_ADDRESS(apic_id));
    mmio_write32(e + MSIX_ENTRY_ADDR_HI, 0);
    mmio_write32(e + MSIX_ENTRY_DATA, idt_vector);
}

void msix_set_data(const struct msix_dev *d, unsigned v, uint32_t data)
{
    mmio_write32(msix_entry(d, v) + MSIX_ENTRY_DATA, data);
}

void msix_set_address(const struct msix_dev *d, unsigned v, uint64_t address)
{
    uint64_t e = msix_entry(d, v);
    mmio_write32(e + MSIX_ENTRY_ADDR_LO, (uint32_t)address);
    mmio_write32(e + MSIX_ENTRY_ADDR_HI, (uint32_t)(address >> 32));
}

void msix_program64(const struct msix_dev *d, unsigned v, unsigned apic_id, uint8_t idt_vector, int masked)
{
    uint64_t e = msix_entry(d, v);
    /* Each is one 8-byte MOV (io.h: a volatile uint64_t store). */
    mmio_write64(e + MSIX_ENTRY_ADDR_LO, (uint64_t)MSI_ADDRESS(apic_id));
    mmio_write64(e + MSIX_ENTRY_DATA, (uint64_t)idt_vector | (uint64_t)(masked ? MSIX_CTRL_MASKED : 0) << 32);
}

void msix_mask(const struct msix_dev *d, unsigned v) { mmio_write32(msix_entry(d, v) + MSIX_ENTRY_CTRL, MSIX_CTRL_MASKED); }
void msix_unmask(const struct msix_dev *d, unsigned v) { mmio_write32(msix_entry(d, v) + MSIX_ENTRY_CTRL, 0); }

/* ---- PBA -------------------------------------------------------------------------------- */
int msix_pending(const struct msix_dev *d, unsigned v)
{
    uint32_t word = mmio_read32(d->pba + 4ull * (v / 32));
    return (word >> (v % 32)) & 1;
}

/* ---- Counters and waits ----------------------------------------------------------------- */
static void msix_count_handler(struct interrupt_frame *frame)
{
    unsigned cpu = this_cpu();
    if (cpu < MSIX_COUNTER_CPUS)
        atomic_fetch_add32(&msix_irq_count[cpu][frame->vector & 0xFF], 1);
    lapic_eoi();
}

void msix_setup_cpu(void)
{
    lapic_enable();
    timer_init();
}

void msix_install_handler(uint8_t idt_vector) { idt_set_handler(idt_vector, msix_count_handler); }

static volatile uint32_t fences_taken;

static void fence_handler(struct interrupt_frame *frame)
{
    (void)frame;
    atomic_fetch_add32(&fences_taken, 1);
    lapic_eoi();
}

void msix_fence_setup(void) { idt_set_handler(MSIX_FENCE_IDT, fence_handler); }

void msix_fence(unsigned apic_id, const char *guest, const char *step)
{
    uint32_t before = atomic_load32(&fences_taken);
    lapic_send_ipi(apic_id, (1u << 14) | MSIX_FENCE_IDT); /* fixed, physical, level assert */
    if (!wait_until(atomic_load32(&fences_taken) != before, MSIX_WAIT_US))
        guest_failf("%s: %s: the vCPU with APIC ID %u did not take the fence IPI", guest, step, apic_id);
}

uint32_t msix_count(uint8_t idt_vector)
{
    uint32_t sum = 0;
    for (unsigned c = 0; c < MSIX_COUNTER_CPUS; c++)
        sum += atomic_load32(&msix_irq_count[c][idt_vector]);
    return sum;
}

void msix_clear_counts(void)
{
    for (unsigned c = 0; c < MSIX_COUNTER_CPUS; c++)
        for (unsigned v = 0; v < 256; v++)
            if (msix_irq_count[c][v])
                atomic_store32(&msix_irq_count[c][v], 0);
}

int msix_wait_count(uint8_t idt_vector, uint32_t target, uint32_t timeout_us)
{
    return wait_until(msix_count(idt_vector) >= target, timeout_us);
}

int msix_wait_count_on(unsigned cpu, uint8_t idt_vector, uint32_t target, uint32_t timeout_us)
{
    return wait_until(msix_count_on(cpu, idt_vector) >= target, timeout_us);
}

uint32_t msix_settle_count(uint8_t idt_vector, uint32_t target, uint32_t timeout_us)
{
    if (msix_wait_count(idt_vector, target, timeout_us))
        (void)msix_wait_count(idt_vector, target + 1, MSIX_QUIET_US); /* ends early at an extra one */
    msix_take_pending();
    return msix_count(idt_vector);
}

int msix_wait_counter(const struct msix_dev *d, unsigned reg, uint32_t target, uint32_t timeout_us)
{
    return wait_until(msixdev_read(d, reg) >= target, timeout_us);
}

void msix_wait_routes(const struct msix_dev *d, const char *check)
{
    if (!wait_until(msixdev_read(d, MSIXDEV_ROUTES_WAITING) == 0, MSIX_WAIT_US))
        guest_failf("%s: %u vectors still wait for their route commit after %u ms", check,
                    msixdev_read(d, MSIXDEV_ROUTES_WAITING), MSIX_WAIT_US / 1000);
}

/* ---- Named checks --------------------------------------------------------------------------- */
void msix_expect_deliveries(uint8_t idt_vector, uint32_t expected, const char *check)
{
    uint32_t got = msix_settle_count(idt_vector, expected, MSIX_WAIT_US);
    if (got != expected)
        guest_failf("%s: IDT vector 0x%02x delivered %u times, expected %u (waited up to %u ms, then %u ms for more)",
                    check, idt_vector, got, expected, MSIX_WAIT_US / 1000, MSIX_QUIET_US / 1000);
}

void msix_expect_deliveries_on(unsigned cpu, uint8_t idt_vector, uint32_t expected, const char *check)
{
    if (msix_wait_count_on(cpu, idt_vector, expected, MSIX_WAIT_US))
        (void)msix_wait_count_on(cpu, idt_vector, expected + 1, MSIX_QUIET_US);
    msix_take_pending();
    uint32_t got = msix_count_on(cpu, idt_vector);
    if (got != expected)
        guest_failf("%s: IDT vector 0x%02x delivered %u times on vCPU %u, expected %u", check, idt_vector, got, cpu,
                    expected);
}

void msix_expect_deliveries_now(uint8_t idt_vector, uint32_t expected, const char *check)
{
    (void)msix_wait_count(idt_vector, expected, MSIX_WAIT_US);
    msix_take_pending();
    uint32_t got = msix_count(idt_vector);
    if (got != expected)
        guest_failf("%s: IDT vector 0x%02x delivered %u times, expected %u", check, idt_vector, got, expected);
}

void msix_expect_counts(const struct msix_dev *d, const struct msixdev_counts *want, const char *check)
{
    struct msixdev_counts c;
    msixdev_counts(d, &c);
    if (c.signaled != want->signaled || c.backend != want->backend || c.pended != want->pended ||
        c.dropped != want->dropped)
        guest_failf("%s: device counters signaled %u backend %u pended %u dropped %u, expected %u %u %u %u", check,
                    c.signaled, c.backend, c.pended, c.dropped, want->signaled, want->backend, want->pended,
                    want->dropped);
}

void msix_expect_pending(const struct msix_dev *d, unsigned v, int want, const char *check)
{
    int got = msix_pending(d, v);
    if (got != (want != 0))
        guest_failf("%s: PBA bit of vector %u is %d, expected %d (PBA dword 0x%08x)", check, v, got, want != 0,
                    mmio_read32(d->pba + 4ull * (v / 32)));
}

const char *msixdev_counter_name(unsigned reg)
{
    switch (reg) {
    case MSIXDEV_COUNT_SIGNALED: return "COUNT_SIGNALED";
    case MSIXDEV_COUNT_BACKEND: return "COUNT_BACKEND";
    case MSIXDEV_COUNT_PENDED: return "COUNT_PENDED";
    case MSIXDEV_COUNT_DROPPED: return "COUNT_DROPPED";
    default: return "register";
    }
}

void msix_expect_counter(const struct msix_dev *d, unsigned reg, uint32_t want, const char *check)
{
    uint32_t got = msixdev_read(d, reg);
    if (got != want) {
        struct msixdev_counts c;
        msixdev_counts(d, &c);
        guest_failf("%s: %s is %u, expected %u (signaled %u backend %u pended %u dropped %u)", check,
                    msixdev_counter_name(reg), got, want, c.signaled, c.backend, c.pended, c.dropped);
    }
}
