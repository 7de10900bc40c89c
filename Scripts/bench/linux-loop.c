/*
 * linux-loop: the smallest VMM that boots the Linux test guest, as the baseline of
 * Scripts/bench-linux-boot.sh. It boots exactly what `vmm run` would: the boot plan that
 * `vmm run IMAGE --dump-boot FILE` writes (RAM contents: kernel, initrd, zero page, E820, ACPI and
 * MP tables, GDT and page tables; and where the bootstrap vCPU starts), so both VMMs differ only in
 * what they do at run time.
 *
 *   cc -O2 -o linux-loop Scripts/bench/linux-loop.c
 *   linux-loop [-t SECONDS] BOOT-FILE
 *
 * Machine: the file's RAM size at guest-physical 0; the in-kernel irqchip and PIT with QEMU's pin
 * routes (IRQ 0 on IOAPIC pin 2), one vCPU with the host's supported CPUID, started in long mode
 * with CS 0x10 and the data segments 0x18 (the Linux boot protocol's 64-bit entry) or as the file
 * says. Devices, and nothing else (other reads return all ones, no PCI device answers):
 *   0x3F8-0x3FF   a 16550A with its transmitter-empty interrupt on IRQ 4 (output to stdout),
 *                 loopback and scratch as Linux's probe wants them
 *   0x60, 0x64    the i8042's status (0) and its reset command 0xFE, which ends the run
 *
 * Exit status: 0 after the guest's reset, 124 on timeout (default 300 s; 0 waits for ever),
 * 126 when the vCPU stops on an exit it cannot serve, 2 on a usage or setup error (KVM_RUN
 * failing among them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "linux-loop: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void die_msg(const char *what)
{
    fprintf(stderr, "linux-loop: %s\n", what);
    exit(2);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int vm_fd;
static volatile sig_atomic_t timed_out;
static struct kvm_run *run;
/* The next KVM_RUN returns at once (EINTR), even when the alarm came while an exit was served. */
static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
    if (run)
        run->immediate_exit = 1;
}

/* The 16550: just what Linux's 8250 driver reads back. */
static struct { uint8_t ier, lcr, mcr, scr, fcr, dll, dlm; int thre_pending, line; } uart;

static void uart_update_irq(void)
{
    int level = (uart.ier & 0x02) && uart.thre_pending;
    if (level == uart.line)
        return;
    uart.line = level;
    struct kvm_irq_level irq = {.irq = 4, .level = (uint32_t)level};
    if (ioctl(vm_fd, KVM_IRQ_LINE, &irq) < 0)
        die("KVM_IRQ_LINE");
}

static uint8_t uart_read(unsigned reg)
{
    int dlab = uart.lcr & 0x80;
    switch (reg) {
    case 0: return dlab ? uart.dll : 0;
    case 1: return dlab ? uart.dlm : uart.ier;
    case 2: {
        uint8_t fifo = (uart.fcr & 1) ? 0xC0 : 0;
        if ((uart.ier & 0x02) && uart.thre_pending) {
            uart.thre_pending = 0; /* reading IIR that reports it clears it */
            uart_update_irq();
            return fifo | 0x02;
        }
        return fifo | 0x01;
    }
    case 3: return uart.lcr;
    case 4: return uart.mcr;
    case 5: return 0x60; /* THRE | TEMT: every byte is sent at once */
    case 6:
        if (uart.mcr & 0x10) /* loopback: DCD=OUT2, RI=OUT1, DSR=DTR, CTS=RTS */
            return (uint8_t)((uart.mcr & 0x08) << 4 | (uart.mcr & 0x04) << 4 | (uart.mcr & 0x01) << 5 | (uart.mcr & 0x02) << 3);
        return 0xB0;
    default: return uart.scr;
    }
}

static void uart_write(unsigned reg, uint8_t v)
{
    int dlab = uart.lcr & 0x80;
    switch (reg) {
    case 0:
        if (dlab) { uart.dll = v; return; }
        if (!(uart.mcr & 0x10) && write(1, &v, 1) < 0) { /* the reader went away: keep running */ }
        uart.thre_pending = 1;
        break;
    case 1:
        if (dlab) { uart.dlm = v; return; }
        if ((v & 0x02) && !(uart.ier & 0x02))
            uart.thre_pending = 1; /* enabling THRI with the holding register empty interrupts */
        uart.ier = v & 0x0F;
        break;
    case 2: uart.fcr = v; break;
    case 3: uart.lcr = v; break;
    case 4: uart.mcr = v & 0x1F; break;
    case 7: uart.scr = v; break;
    default: break;
    }
    uart_update_irq();
}

int main(int argc, char **argv)
{
    unsigned timeout = 300;
    int opt;
    while ((opt = getopt(argc, argv, "t:")) != -1) {
        if (opt == 't') timeout = (unsigned)atoi(optarg);
        else die_msg("usage: linux-loop [-t SECONDS] BOOT-FILE");
    }
    if (optind + 1 != argc)
        die_msg("usage: linux-loop [-t SECONDS] BOOT-FILE");

    int fd = open(argv[optind], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        die(argv[optind]);
    uint8_t *file = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (file == MAP_FAILED || st.st_size < 56 || memcmp(file, "VMMBOOT1", 8) != 0)
        die_msg("not a boot file of vmm run --dump-boot");
    uint64_t ram_size = le64(file + 8);
    uint32_t kind = (uint32_t)le64(file + 16), vcpus = (uint32_t)(le64(file + 16) >> 32);
    uint64_t rip = le64(file + 24), rsp = le64(file + 32), rdi = le64(file + 40), rsi = le64(file + 48);

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("/dev/kvm");
    vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm_fd < 0)
        die("KVM_CREATE_VM");
    uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        die("mmap RAM");
    if (vcpus != 1)
        die_msg("the plan starts more than one vCPU; linux-loop boots one (dump with --vcpus 1)");
    size_t at = 56;
    while (at < (size_t)st.st_size) {
        if ((size_t)st.st_size - at < 16)
            die_msg("the file ends inside a record");
        uint64_t address = le64(file + at), count = le64(file + at + 8);
        int zero = (count >> 63) != 0;
        count &= ~(1ull << 63);
        at += 16;
        if (address > ram_size || count > ram_size - address || (!zero && count > (uint64_t)st.st_size - at))
            die_msg("a record lies outside RAM or the file");
        if (zero)
            memset(ram + address, 0, count);
        else {
            memcpy(ram + address, file + at, count);
            at += count;
        }
    }
    struct kvm_userspace_memory_region region = {.slot = 0, .memory_size = ram_size, .userspace_addr = (uint64_t)(uintptr_t)ram};
    if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");
    (void)ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xFFFBD000ul);
    if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        die("KVM_CREATE_IRQCHIP");
    struct kvm_pit_config pit = {.flags = 0};
    if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        die("KVM_CREATE_PIT2");
    /* QEMU's pin routes: GSI 0-15 on the 8259s but 2, GSI 0 on IOAPIC pin 2, 1-23 on their pins. */
    struct { struct kvm_irq_routing r; struct kvm_irq_routing_entry e[64]; } routes = {0};
    unsigned n = 0;
    for (unsigned gsi = 0; gsi < 16; gsi++)
        if (gsi != 2)
            routes.e[n++] = (struct kvm_irq_routing_entry){.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
                                                           .u.irqchip = {.irqchip = gsi < 8 ? 0 : 1, .pin = gsi % 8}};
    routes.e[n++] = (struct kvm_irq_routing_entry){.gsi = 0, .type = KVM_IRQ_ROUTING_IRQCHIP, .u.irqchip = {.irqchip = 2, .pin = 2}};
    for (unsigned gsi = 1; gsi < 24; gsi++)
        if (gsi != 2)
            routes.e[n++] = (struct kvm_irq_routing_entry){.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP, .u.irqchip = {.irqchip = 2, .pin = gsi}};
    routes.r.nr = n;
    if (ioctl(vm_fd, KVM_SET_GSI_ROUTING, &routes) < 0)
        die("KVM_SET_GSI_ROUTING");

    int vcpu = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        die("KVM_CREATE_VCPU");
    struct { struct kvm_cpuid2 c; struct kvm_cpuid_entry2 e[256]; } cpuid = {.c.nent = 256};
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0 || ioctl(vcpu, KVM_SET_CPUID2, &cpuid) < 0)
        die("CPUID");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");

    struct kvm_sregs s;
    if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0)
        die("KVM_GET_SREGS");
    if (kind != 1 && kind != 3)
        die_msg("only long-mode starts (our protocol, Linux's 64-bit entry) are booted here");
    uint16_t code = kind == 3 ? 0x10 : 0x08, data = kind == 3 ? 0x18 : 0x10;
    struct kvm_segment cs = {.base = 0, .limit = 0xFFFFFFFF, .selector = code, .type = 0xB, .present = 1, .s = 1, .l = 1, .g = 1};
    struct kvm_segment ds = {.base = 0, .limit = 0xFFFFFFFF, .selector = data, .type = 0x3, .present = 1, .s = 1, .db = 1, .g = 1};
    s.cs = cs;
    s.ds = s.es = s.fs = s.gs = s.ss = ds;
    s.gdt.base = 0x1000;
    s.gdt.limit = (uint16_t)((data / 8 + 1) * 8 - 1);
    s.cr3 = 0x9000;
    s.cr4 = 1u << 5;
    s.cr0 = 1u | 2u | 0x10u | 0x20u | 0x10000u | 0x80000000u;
    s.efer = (1u << 8) | (1u << 10);
    if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0)
        die("KVM_SET_SREGS");
    struct kvm_regs r = {.rip = rip, .rsp = rsp, .rdi = rdi, .rsi = rsi, .rflags = 2};
    if (ioctl(vcpu, KVM_SET_REGS, &r) < 0)
        die("KVM_SET_REGS");

    signal(SIGALRM, on_alarm);
    alarm(timeout);
    for (;;) {
        if (timed_out) {
            fprintf(stderr, "linux-loop: timeout after %u s\n", timeout);
            return 124;
        }
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno != EINTR)
                die("KVM_RUN");
            continue;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *p = (uint8_t *)run + run->io.data_offset;
            for (uint32_t i = 0; i < run->io.count; i++, p += run->io.size) {
                uint16_t port = run->io.port;
                int out = run->io.direction == KVM_EXIT_IO_OUT;
                if (port >= 0x3F8 && port <= 0x3FF) {
                    if (out) uart_write(port - 0x3F8, p[0]);
                    else p[0] = uart_read(port - 0x3F8);
                } else if (port == 0x64 && out && p[0] == 0xFE) {
                    return 0; /* reset: the end of the run */
                } else if (!out) {
                    memset(p, port == 0x60 || port == 0x64 ? 0 : 0xFF, run->io.size);
                }
            }
            break;
        }
        case KVM_EXIT_MMIO:
            if (!run->mmio.is_write)
                memset(run->mmio.data, 0xFF, run->mmio.len);
            break;
        default:
            fprintf(stderr, "linux-loop: vCPU stopped on exit %u\n", run->exit_reason);
            return 126;
        }
    }
}
