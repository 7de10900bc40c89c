/*
 * irq-loop: the smallest VMM that runs the bench-irq guest, as the baseline of
 * Scripts/bench-interrupts.sh: the same three interrupt paths as the Swift VMM's MSI-X test device,
 * done with bare ioctls and eventfd writes, and nothing else (no PCI, no MSI-X table).
 *
 *   cc -O2 -Wall -o irq-loop Scripts/bench/irq-loop.c -lfdt -lpthread
 *   irq-loop GUEST.elf MODE N        MODE: signal | irqfd | doorbell
 *
 * Machine (as kvm-loop.c): 64 MiB of RAM at 0, the in-kernel irqchip, one vCPU entering the ELF in
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
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (64ull << 20)
#define GDT_ADDR 0x1000ull
#define PML4_ADDR 0x9000ull
#define PDPT_ADDR 0xA000ull
#define PD_ADDR 0xB000ull
#define STACK_TOP 0x80000ull
#define FDT_ADDR 0x80000ull
#define FDT_MAX 0x4000u
#define LOAD_MIN 0x100000ull

#define CONSOLE_PORT 0x3F8
#define CONSOLE_LSR 0x3FD
#define EXIT_PORT 0xF4

#define BAR0 0xD0000000ull
#define REG_RAISE (BAR0 + 0x10)
#define REG_RAISE_BACKEND (BAR0 + 0x14)
#define REG_DOORBELL0 (BAR0 + 0x2000)
#define MSI_ADDRESS 0xFEE00000u
#define MSI_DATA 0x40u
#define MSI_GSI 24u

static void die(const char *what)
{
    fprintf(stderr, "irq-loop: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void die_msg(const char *what)
{
    fprintf(stderr, "irq-loop: %s\n", what);
    exit(2);
}

/* Copies every PT_LOAD segment of the ELF64 file at `path` to its physical address; returns the entry. */
static uint64_t load_elf(const char *path, uint8_t *ram)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die(path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        die("fstat");
    size_t size = (size_t)st.st_size;
    if (size < sizeof(Elf64_Ehdr))
        die_msg("guest file is too small for an ELF header");
    uint8_t *file = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (file == MAP_FAILED)
        die("mmap guest file");
    close(fd);

    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)file;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
        die_msg("guest is not an ELF64 little-endian x86-64 file");
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > size ||
        (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size - eh->e_phoff)
        die_msg("guest program headers lie outside the file");

    const Elf64_Phdr *ph = (const Elf64_Phdr *)(file + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD || ph[i].p_memsz == 0)
            continue;
        uint64_t pa = ph[i].p_paddr, filesz = ph[i].p_filesz, memsz = ph[i].p_memsz;
        if (filesz > memsz || ph[i].p_offset > size || filesz > size - ph[i].p_offset)
            die_msg("a PT_LOAD segment lies outside the file");
        if (pa < LOAD_MIN || pa > RAM_SIZE || memsz > RAM_SIZE - pa)
            die_msg("a PT_LOAD segment does not fit between 1 MiB and the end of RAM");
        memcpy(ram + pa, file + ph[i].p_offset, filesz);
        memset(ram + pa + filesz, 0, memsz - filesz);
    }
    uint64_t entry = eh->e_entry;
    munmap(file, size);
    return entry;
}

/* GDT (null, code64 0x08, data 0x10) and the identity map of the low 4 GiB in 2 MiB pages. */
static void write_tables(uint8_t *ram)
{
    uint64_t gdt[3] = {0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull};
    memcpy(ram + GDT_ADDR, gdt, sizeof gdt);

    uint64_t *pml4 = (uint64_t *)(ram + PML4_ADDR);
    uint64_t *pdpt = (uint64_t *)(ram + PDPT_ADDR);
    memset(ram + PML4_ADDR, 0, 0x6000);
    pml4[0] = PDPT_ADDR | 0x3;
    for (uint64_t g = 0; g < 4; g++) {
        uint64_t *pd = (uint64_t *)(ram + PD_ADDR + g * 0x1000);
        pdpt[g] = (PD_ADDR + g * 0x1000) | 0x3;
        for (uint64_t e = 0; e < 512; e++)
            pd[e] = (g << 30 | e << 21) | 0x83;
    }
}

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

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, int code64)
{
    struct kvm_segment s;
    memset(&s, 0, sizeof s);
    s.limit = 0xFFFFFFFF;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.s = 1;
    s.l = code64 ? 1 : 0;
    s.db = code64 ? 0 : 1;
    s.g = 1;
    return s;
}

static void set_cpuid(int kvm, int vcpu)
{
    int n = 256;
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        die_msg("out of memory");
    c->nent = n;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) < 0)
        die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, c) < 0)
        die("KVM_SET_CPUID2");
    free(c);
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
 * IOAPIC for 0..15, GSI 0 on IOAPIC pin 2; IOAPIC only for 16..23), then GSI 24 -> the MSI. */
static void route_msi_gsi(int vm)
{
    enum { PIN_ROUTES = 16 * 2 + 8 };
    struct kvm_irq_routing *table = calloc(1, sizeof *table + (PIN_ROUTES + 1) * sizeof(struct kvm_irq_routing_entry));
    if (!table)
        die_msg("out of memory");
    unsigned n = 0;
    for (uint32_t gsi = 0; gsi < 16; gsi++) {
        set_irqchip_route(&table->entries[n++], gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
        set_irqchip_route(&table->entries[n++], gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
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

static volatile sig_atomic_t timed_out;
static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

static uint64_t load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
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

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("/dev/kvm");
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        die_msg("unexpected KVM API version");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");

    uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED)
        die("mmap RAM");
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");
    (void)ioctl(vm, KVM_SET_TSS_ADDR, 0xFFFBD000ul); /* VMX hosts need it; harmless elsewhere */
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        die("KVM_CREATE_IRQCHIP");

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

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");
    set_cpuid(kvm, vcpu);

    uint64_t entry = load_elf(argv[1], ram);
    write_tables(ram);
    char bootargs[96];
    snprintf(bootargs, sizeof bootargs, "mode=%s n=%lu bar0=0x%llx", mode, n, (unsigned long long)BAR0);
    write_fdt(ram, bootargs);

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS");
    sregs.cs = flat_segment(0x08, 0xB, 1);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(0x10, 0x3, 0);
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = 1u << 5;                                                                 /* PAE */
    sregs.cr0 = (1u << 0) | (1u << 1) | (1u << 4) | (1u << 5) | (1u << 16) | (1u << 31); /* PE MP ET NE WP PG */
    sregs.efer = (1u << 8) | (1u << 10);                                                 /* LME LMA */
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS");
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = entry;
    regs.rsp = STACK_TOP;
    regs.rflags = 0x2;
    regs.rdi = FDT_ADDR;
    regs.rsi = 0;
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    alarm(timeout);

    uint64_t exit_value = 0;
    const char *end = NULL; /* "value" once the guest wrote the exit port, else why the run stopped */
    int status = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!end) {
        if (timed_out) {
            end = "timeout";
            status = 124;
            break;
        }
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die("KVM_RUN");
        }
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
        case KVM_EXIT_IO: {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            unsigned size = run->io.size;
            int out = run->io.direction == KVM_EXIT_IO_OUT;
            for (uint32_t i = 0; i < run->io.count; i++, data += size) {
                if (run->io.port == CONSOLE_PORT && out) {
                    console_byte((char)data[0]);
                } else if (run->io.port == CONSOLE_LSR && !out) {
                    memset(data, 0, size);
                    data[0] = 0x60;
                } else if (run->io.port == EXIT_PORT && out) {
                    exit_value = load_le(data, size);
                    end = "value";
                    status = exit_value == 0 ? 0 : exit_value < 254 ? (int)exit_value : 254;
                } else if (!out) {
                    memset(data, 0xFF, size);
                }
            }
            break;
        }
        case KVM_EXIT_INTERNAL_ERROR:
            end = "internal_error";
            status = 126;
            fprintf(stderr, "irq-loop: KVM_EXIT_INTERNAL_ERROR suberror %u\n", run->internal.suberror);
            break;
        case KVM_EXIT_SHUTDOWN:
            end = "shutdown";
            status = 126;
            break;
        case KVM_EXIT_FAIL_ENTRY:
            end = "fail_entry";
            status = 126;
            break;
        default:
            end = "unexpected_exit";
            status = 126;
            fprintf(stderr, "irq-loop: unexpected exit reason %u\n", run->exit_reason);
            break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fflush(stdout);
    if (status == 126 && ioctl(vcpu, KVM_GET_REGS, &regs) == 0)
        fprintf(stderr, "irq-loop: vCPU stopped at RIP 0x%llx\n", (unsigned long long)regs.rip);

    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec);
    if (strcmp(end, "value") == 0)
        fprintf(stderr, "mode=%s n=%lu delivered=%lld ns=%lld status=%llu\n", mode, n, delivered, ns,
                (unsigned long long)exit_value);
    else
        fprintf(stderr, "mode=%s n=%lu delivered=%lld ns=%lld status=%s\n", mode, n, delivered, ns, end);
    return status; /* the backend thread ends with the process */
}
