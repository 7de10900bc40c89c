/*
 * irq-loop: the smallest VMM that runs the bench-irq guest, as the baseline of
 * Scripts/bench-interrupts.sh: the same three interrupt paths as the Swift VMM's MSI-X test device,
 * done with bare ioctls and eventfd writes, and nothing else (no PCI, no MSI-X table).
 *
 *   cc -O2 -Wall -o irq-loop Scripts/bench/irq-loop.c -lfdt -lpthread
 *   irq-loop GUEST.elf MODE N        MODE: signal | irqfd | doorbell
 *
 * Machine (as kvm-loop.c, built by kvm-guest.h, which both include): 64 MiB of RAM at 0, the in-kernel irqchip, one vCPU entering the ELF in
 * 64-bit long mode: GDT at 0x1000, page tables at 0x9000..0xEFFF (identity map of 4 GiB, 2 MiB
 * pages), RSP = 0x80000, RSI = 0, RDI = 0x80000, where a device tree built with libfdt holds
 * /chosen/bootargs = "mode=MODE n=N bar0=0xd0000000", /memory@0 and /cpus/cpu@0.
 *
 * Devices:
 *   0x3F8 / 0x3FD          console THR (to stdout) / LSR (reads 0x60)
 *   0xF4                   exit port: the value written ends the run
 *   0xD0000010 (write)     KVM_SIGNAL_MSI {0xFEE00000, 0x40}                          (signal)
 *   0xD0000014 (write)     write(irqfd eventfd, 1); KVM_IRQFD binds it to GSI 24, which
 *                          KVM_SET_GSI_ROUTING routes to MSI {0xFEE00000, 0x40}         (irqfd)
 *   0xD0002000 (4 bytes)   KVM_IOEVENTFD on a doorbell eventfd; a backend thread blocks in read()
 *                          on it and then writes the irqfd eventfd (no vCPU exit)       (doorbell)
 *   anything else          reads all ones, writes dropped
 *
 * Output: the guest console on stdout, and on stderr exactly one line:
 *   mode=<m> n=<N> delivered=<d> ns=<wall time of the KVM_RUN loop> status=<V>
 * d comes from the guest's "delivered=<d>" console line (0 if it printed none); V is the value
 * written to port 0xF4, or internal_error, shutdown, fail_entry, timeout, unexpected_exit.
 * Exit status: as kvm-loop (V, capped at 254; 124 timeout; 126 vCPU failure; 2 setup error).
 */
#define _GNU_SOURCE
#define KVM_GUEST_PROG "irq-loop"
#include "kvm-guest.h"
#include <libfdt.h>
#include <pthread.h>
#include <sys/eventfd.h>

#define FDT_ADDR 0x80000ull
#define FDT_MAX 0x4000u

#define BAR0 0xD0000000ull
#define REG_RAISE (BAR0 + 0x10)
#define REG_RAISE_BACKEND (BAR0 + 0x14)
#define REG_DOORBELL0 (BAR0 + 0x2000)
#define MSI_ADDRESS 0xFEE00000u
#define MSI_DATA 0x40u
#define MSI_GSI 24u

/* The guest's device tree, written with libfdt's sequential-write API into RAM at FDT_ADDR. */
static void write_fdt(uint8_t *ram, const char *bootargs)
{
    void *fdt = ram + FDT_ADDR;
    int err = fdt_create(fdt, FDT_MAX);
    err = err ? err : fdt_finish_reservemap(fdt);
    err = err ? err : fdt_begin_node(fdt, "");
    err = err ? err : fdt_property_u32(fdt, "#address-cells", 2);
    err = err ? err : fdt_property_u32(fdt, "#size-cells", 2);
    err = err ? err : fdt_begin_node(fdt, "chosen");
    err = err ? err : fdt_property_string(fdt, "bootargs", bootargs);
    err = err ? err : fdt_end_node(fdt);
    err = err ? err : fdt_begin_node(fdt, "memory@0");
    err = err ? err : fdt_property_string(fdt, "device_type", "memory");
    fdt64_t reg[2] = {cpu_to_fdt64(0), cpu_to_fdt64(RAM_SIZE)};
    err = err ? err : fdt_property(fdt, "reg", reg, sizeof reg);
    err = err ? err : fdt_end_node(fdt);
    err = err ? err : fdt_begin_node(fdt, "cpus");
    err = err ? err : fdt_property_u32(fdt, "#address-cells", 1);
    err = err ? err : fdt_property_u32(fdt, "#size-cells", 0);
    err = err ? err : fdt_begin_node(fdt, "cpu@0");
    err = err ? err : fdt_property_string(fdt, "device_type", "cpu");
    err = err ? err : fdt_property_u32(fdt, "reg", 0);
    err = err ? err : fdt_end_node(fdt);
    err = err ? err : fdt_end_node(fdt);
    err = err ? err : fdt_end_node(fdt);
    err = err ? err : fdt_finish(fdt);
    if (err) {
        fprintf(stderr, "irq-loop: building the device tree: %s\n", fdt_strerror(err));
        exit(2);
    }
}

static void set_irqchip_route(struct kvm_irq_routing_entry *e, uint32_t gsi, uint32_t chip, uint32_t pin)
{
    memset(e, 0, sizeof *e);
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->u.irqchip.irqchip = chip;
    e->u.irqchip.pin = pin;
}

/* KVM_SET_GSI_ROUTING replaces the whole table: the irqchip's pin routes for GSI 0..23 (PIC and
 * IOAPIC pin of the same number for 0..15; IOAPIC only for 16..23), then GSI 24 -> the MSI. */
static void route_msi_gsi(int vm)
{
    enum { PIN_ROUTES = 16 * 2 + 8 };
    struct kvm_irq_routing *table = calloc(1, sizeof *table + (PIN_ROUTES + 1) * sizeof(struct kvm_irq_routing_entry));
    if (!table)
        die_msg("out of memory");
    unsigned n = 0;
    for (uint32_t gsi = 0; gsi < 16; gsi++) {
        set_irqchip_route(&table->entries[n++], gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
        set_irqchip_route(&table->entries[n++], gsi, KVM_IRQCHIP_IOAPIC, gsi);
    }
    for (uint32_t gsi = 16; gsi < 24; gsi++)
        set_irqchip_route(&table->entries[n++], gsi, KVM_IRQCHIP_IOAPIC, gsi);
    struct kvm_irq_routing_entry *msi = &table->entries[n++];
    msi->gsi = MSI_GSI;
    msi->type = KVM_IRQ_ROUTING_MSI;
    msi->u.msi.address_lo = MSI_ADDRESS;
    msi->u.msi.address_hi = 0;
    msi->u.msi.data = MSI_DATA;
    table->nr = n;
    if (ioctl(vm, KVM_SET_GSI_ROUTING, table) < 0)
        die("KVM_SET_GSI_ROUTING");
    free(table);
}

static int irq_event = -1;      /* bound to GSI 24 by KVM_IRQFD */
static int doorbell_event = -1; /* signalled by the KVM_IOEVENTFD at REG_DOORBELL0 */

static void signal_irq_event(void)
{
    uint64_t one = 1;
    if (write(irq_event, &one, sizeof one) != sizeof one)
        die("write irqfd eventfd");
}

/* The doorbell backend: every doorbell read (a count of rings) becomes one irqfd signal. */
static void *doorbell_backend(void *unused)
{
    (void)unused;
    for (;;) {
        uint64_t rings;
        ssize_t r = read(doorbell_event, &rings, sizeof rings);
        if (r == sizeof rings)
            signal_irq_event();
        else if (r < 0 && errno != EINTR)
            die("read doorbell eventfd");
    }
    return NULL;
}

/* The console: echoed to stdout; the last "delivered=<d>" seen on a line is kept. */
static char line[256];
static size_t line_len;
static long long delivered;

static void console_byte(char c)
{
    fputc(c, stdout);
    if (c != '\n') {
        if (line_len < sizeof line - 1)
            line[line_len++] = c;
        return;
    }
    line[line_len] = '\0';
    line_len = 0;
    const char *p = strstr(line, "delivered=");
    if (p)
        delivered = strtoll(p + 10, NULL, 10);
}

/* The console THR (console_byte) and the shared ports (guest_port). */
static void serve_port(struct guest *g, uint16_t port, int out, uint8_t *data, unsigned size)
{
    if (port == CONSOLE_PORT && out)
        console_byte((char)data[0]);
    else
        guest_port(g, port, out, data, size);
}

int main(int argc, char **argv)
{
    const char *mode = argc == 4 ? argv[2] : "";
    char *end_n = NULL;
    unsigned long n = argc == 4 ? strtoul(argv[3], &end_n, 10) : 0;
    if (argc != 4 || (strcmp(mode, "signal") && strcmp(mode, "irqfd") && strcmp(mode, "doorbell")) || !end_n ||
        *end_n || end_n == argv[3] || n > 0xFFFFFFFFul) {
        fprintf(stderr, "usage: irq-loop GUEST.elf signal|irqfd|doorbell N\n");
        return 2;
    }
    const unsigned timeout = 60;

    struct guest g;
    guest_create_vm(&g);
    int vm = g.vm;

    /* The interrupt paths: GSI 24 -> MSI, an irqfd on it, the doorbell ioeventfd and its backend. */
    route_msi_gsi(vm);
    irq_event = eventfd(0, EFD_CLOEXEC);
    doorbell_event = eventfd(0, EFD_CLOEXEC);
    if (irq_event < 0 || doorbell_event < 0)
        die("eventfd");
    struct kvm_irqfd irqfd = {.fd = (uint32_t)irq_event, .gsi = MSI_GSI};
    if (ioctl(vm, KVM_IRQFD, &irqfd) < 0)
        die("KVM_IRQFD");
    struct kvm_ioeventfd ioeventfd = {.addr = REG_DOORBELL0, .len = 4, .fd = doorbell_event};
    if (ioctl(vm, KVM_IOEVENTFD, &ioeventfd) < 0)
        die("KVM_IOEVENTFD");
    pthread_t backend;
    if ((errno = pthread_create(&backend, NULL, doorbell_backend, NULL)) != 0)
        die("pthread_create");
    struct kvm_msi msi = {.address_lo = MSI_ADDRESS, .address_hi = 0, .data = MSI_DATA};

    guest_create_vcpu(&g);
    uint64_t entry = guest_load(&g, argv[1]);
    char bootargs[96];
    snprintf(bootargs, sizeof bootargs, "mode=%s n=%lu bar0=0x%llx", mode, n, (unsigned long long)BAR0);
    write_fdt(g.ram, bootargs);
    guest_set_regs(&g, entry, FDT_ADDR);

    struct kvm_run *run = g.run;
    guest_start_run(&g, timeout);
    while (!g.end) {
        if (!guest_enter(&g))
            continue;
        switch (run->exit_reason) {
        case KVM_EXIT_MMIO: {
            uint64_t a = run->mmio.phys_addr;
            if (!run->mmio.is_write) {
                memset(run->mmio.data, 0xFF, run->mmio.len);
            } else if (a == REG_RAISE) {
                if (ioctl(vm, KVM_SIGNAL_MSI, &msi) < 0)
                    die("KVM_SIGNAL_MSI");
            } else if (a == REG_RAISE_BACKEND) {
                signal_irq_event();
            }
            break;
        }
        case KVM_EXIT_IO:
            guest_io(&g, serve_port);
            break;
        default:
            guest_failed(&g, 0);
            break;
        }
    }
    long long ns = guest_finish_run(&g);

    char value[24];
    fprintf(stderr, "mode=%s n=%lu delivered=%lld ns=%lld status=%s\n", mode, n, delivered, ns,
            guest_status(&g, value));
    return g.status; /* the backend thread ends with the process */
}
