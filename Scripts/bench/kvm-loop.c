/*
 * kvm-loop: the smallest VMM that runs one of the project's test guests, as a baseline for the
 * Swift VMM's exit costs (see docs: "compare every figure with a minimal C loop").
 *
 *   cc -O2 -o kvm-loop Scripts/bench/kvm-loop.c
 *   kvm-loop [-t SECONDS] [-d DEVICE_TREE.dtb] GUEST.elf
 *
 * Machine (built by kvm-guest.h, which irq-loop.c shares): 64 MiB of RAM at guest-physical 0, the
 * in-kernel irqchip (LAPIC/IOAPIC), one vCPU that starts at the ELF entry in 64-bit long mode (the
 * project's boot protocol):
 *   0x1000          GDT: null, code64 (selector 0x08), data (selector 0x10)
 *   0x9000          PML4 -> 0xA000 PDPT -> 0xB000..0xEFFF four page directories, 2 MiB pages,
 *                   identity map of the low 4 GiB
 *   0x80000         with -d, the device-tree blob read from the file (at most 512 KiB)
 *   RSP = 0x80000, RDI = 0x80000 with -d and 0 (no device tree) without, RSI = 0 (vCPU index),
 *   RFLAGS = 0x2
 *
 * -d gives the guest the device tree `vmm run --dump-dtb` writes, so that a guest which reads its
 * device tree (its command line, say) does the same work under both VMMs (Scripts/bench-exits.sh).
 *
 * Devices (everything else: port/MMIO reads return all ones, writes are dropped):
 *   0x3F8           8250 THR: bytes written go to stdout; 0x3FD (LSR) reads 0x60
 *   0xF4            exit: the value written ends the run
 *   0xE0..0xE3      probe ports  } a write stores the value; a read of size s returns the
 *   0xF0000000 +4K  probe MMIO   } complement of the last value written to that kind, s bytes
 *
 * Output: guest console on stdout; one machine-readable summary line on stderr:
 *   exits_io=<n> exits_mmio=<n> ns=<wall time of the KVM_RUN loop> status=<V>
 * where V is the value the guest wrote to port 0xF4, or one of the words internal_error,
 * shutdown, fail_entry, timeout, unexpected_exit when the run ended another way.
 *
 * Exit status: 0 when the guest wrote 0; V (1..254) or 254 for a larger V when it wrote V != 0;
 * 124 on timeout (-t, default 30 s); 126 when the vCPU failed (internal error, triple fault ...);
 * 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#define KVM_GUEST_PROG "kvm-loop"
#include "kvm-guest.h"

#define DTB_ADDR 0x80000ull
#define DTB_MAX 0x80000ull /* up to LOAD_MIN */

#define PROBE_PORT 0xE0
#define PROBE_PORT_COUNT 4
#define PROBE_MMIO 0xF0000000ull
#define PROBE_MMIO_SIZE 0x1000ull

/* The probe device: one "last value written" per kind (ports, MMIO). */
static uint64_t probe_last[2];

static void store_le(uint8_t *p, unsigned size, uint64_t v)
{
    for (unsigned i = 0; i < size && i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void probe_access(int kind, uint8_t *data, unsigned size, int is_write)
{
    if (is_write)
        probe_last[kind] = load_le(data, size);
    else
        store_le(data, size, ~probe_last[kind]);
}

/* The console THR, the probe ports, and the shared ports (guest_port). */
static void serve_port(struct guest *g, uint16_t port, int out, uint8_t *data, unsigned size)
{
    if (port == CONSOLE_PORT && out)
        fwrite(data, 1, 1, stdout);
    else if (port >= PROBE_PORT && port < PROBE_PORT + PROBE_PORT_COUNT)
        probe_access(0, data, size, out);
    else
        guest_port(g, port, out, data, size);
}

int main(int argc, char **argv)
{
    unsigned timeout = 30;
    const char *dtb = NULL;
    int argi = 1;
    for (;;) {
        if (argi + 1 < argc && strcmp(argv[argi], "-t") == 0)
            timeout = (unsigned)strtoul(argv[argi + 1], NULL, 10);
        else if (argi + 1 < argc && strcmp(argv[argi], "-d") == 0)
            dtb = argv[argi + 1];
        else
            break;
        argi += 2;
    }
    if (argi + 1 != argc) {
        fprintf(stderr, "usage: kvm-loop [-t SECONDS] [-d DEVICE_TREE.dtb] GUEST.elf\n");
        return 2;
    }

    struct guest g;
    guest_create_vm(&g);
    guest_create_vcpu(&g);
    uint64_t entry = guest_load(&g, argv[argi]);
    uint64_t rdi = 0; /* no device tree */
    if (dtb) {
        int fd = open(dtb, O_RDONLY);
        if (fd < 0)
            die(dtb);
        ssize_t n = read(fd, g.ram + DTB_ADDR, DTB_MAX + 1);
        if (n < 0)
            die(dtb);
        if (n == 0 || n > (ssize_t)DTB_MAX)
            die_msg("the device tree file is empty or larger than 512 KiB");
        close(fd);
        rdi = DTB_ADDR;
    }
    guest_set_regs(&g, entry, rdi);

    struct kvm_run *run = g.run;
    uint64_t exits_io = 0, exits_mmio = 0;
    guest_start_run(&g, timeout);
    while (!g.end) {
        if (!guest_enter(&g))
            continue;
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            exits_io++;
            guest_io(&g, serve_port);
            break;
        case KVM_EXIT_MMIO: {
            exits_mmio++;
            uint64_t a = run->mmio.phys_addr;
            if (a >= PROBE_MMIO && a < PROBE_MMIO + PROBE_MMIO_SIZE)
                probe_access(1, run->mmio.data, run->mmio.len, run->mmio.is_write);
            else if (!run->mmio.is_write)
                memset(run->mmio.data, 0xFF, run->mmio.len);
            break;
        }
        default:
            guest_failed(&g, 1);
            break;
        }
    }
    long long ns = guest_finish_run(&g);

    char value[24];
    fprintf(stderr, "exits_io=%llu exits_mmio=%llu ns=%lld status=%s\n", (unsigned long long)exits_io,
            (unsigned long long)exits_mmio, ns, guest_status(&g, value));
    return g.status;
}
