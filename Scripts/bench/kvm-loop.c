/*
 * kvm-loop: the smallest VMM that runs one of the project's test guests, as a baseline for the
 * Swift VMM's exit costs (see docs: "compare every figure with a minimal C loop").
 *
 *   cc -O2 -o kvm-loop Scripts/bench/kvm-loop.c
 *   kvm-loop [-t SECONDS] GUEST.elf
 *
 * Machine: 64 MiB of RAM at guest-physical 0, the in-kernel irqchip (LAPIC/IOAPIC), one vCPU that
 * starts at the ELF entry in 64-bit long mode (the project's boot protocol):
 *   0x1000          GDT: null, code64 (selector 0x08), data (selector 0x10)
 *   0x9000          PML4 -> 0xA000 PDPT -> 0xB000..0xEFFF four page directories, 2 MiB pages,
 *                   identity map of the low 4 GiB
 *   RSP = 0x80000, RDI = 0 (no device tree), RSI = 0 (vCPU index), RFLAGS = 0x2
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
#include <elf.h>
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
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (64ull << 20)
#define GDT_ADDR 0x1000ull
#define PML4_ADDR 0x9000ull
#define PDPT_ADDR 0xA000ull
#define PD_ADDR 0xB000ull
#define STACK_TOP 0x80000ull
#define LOAD_MIN 0x100000ull

#define CONSOLE_PORT 0x3F8
#define CONSOLE_LSR 0x3FD
#define EXIT_PORT 0xF4
#define PROBE_PORT 0xE0
#define PROBE_PORT_COUNT 4
#define PROBE_MMIO 0xF0000000ull
#define PROBE_MMIO_SIZE 0x1000ull

static void die(const char *what)
{
    fprintf(stderr, "kvm-loop: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void die_msg(const char *what)
{
    fprintf(stderr, "kvm-loop: %s\n", what);
    exit(2);
}

/* Copies every PT_LOAD segment of the ELF64 file at `path` to its physical address. */
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

static void write_tables(uint8_t *ram)
{
    uint64_t gdt[3] = {0, 0x00AF9A000000FFFFull, 0x00CF92000000FFFFull};
    memcpy(ram + GDT_ADDR, gdt, sizeof gdt);

    uint64_t *pml4 = (uint64_t *)(ram + PML4_ADDR);
    uint64_t *pdpt = (uint64_t *)(ram + PDPT_ADDR);
    memset(ram + PML4_ADDR, 0, 0x6000);
    pml4[0] = PDPT_ADDR | 0x3; /* present, writable */
    for (uint64_t g = 0; g < 4; g++) {
        uint64_t *pd = (uint64_t *)(ram + PD_ADDR + g * 0x1000);
        pdpt[g] = (PD_ADDR + g * 0x1000) | 0x3;
        for (uint64_t e = 0; e < 512; e++)
            pd[e] = (g << 30 | e << 21) | 0x83; /* present, writable, 2 MiB page */
    }
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, int code64)
{
    struct kvm_segment s;
    memset(&s, 0, sizeof s);
    s.base = 0;
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

/* The probe device: one "last value written" per kind (ports, MMIO). */
static uint64_t probe_last[2];

static uint64_t load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

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

static volatile sig_atomic_t timed_out;
static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

int main(int argc, char **argv)
{
    unsigned timeout = 30;
    int argi = 1;
    if (argi + 1 < argc && strcmp(argv[argi], "-t") == 0) {
        timeout = (unsigned)strtoul(argv[argi + 1], NULL, 10);
        argi += 2;
    }
    if (argi + 1 != argc) {
        fprintf(stderr, "usage: kvm-loop [-t SECONDS] GUEST.elf\n");
        return 2;
    }

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
    (void)ioctl(vm, KVM_SET_TSS_ADDR, 0xFFFBD000ul); /* needed by VMX hosts only; harmless elsewhere */
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        die("KVM_CREATE_IRQCHIP");

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

    uint64_t entry = load_elf(argv[argi], ram);
    write_tables(ram);

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS");
    sregs.cs = flat_segment(0x08, 0xB, 1);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(0x10, 0x3, 0);
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = 1u << 5; /* PAE */
    sregs.cr0 = (1u << 0) | (1u << 1) | (1u << 4) | (1u << 5) | (1u << 16) | (1u << 31); /* PE MP ET NE WP PG */
    sregs.efer = (1u << 8) | (1u << 10);                                                /* LME LMA */
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS");
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = entry;
    regs.rsp = STACK_TOP;
    regs.rflags = 0x2;
    regs.rdi = 0;
    regs.rsi = 0;
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    if (timeout)
        alarm(timeout);

    uint64_t exits_io = 0, exits_mmio = 0, exit_value = 0;
    const char *end = NULL; /* NULL while running; "value" when the guest wrote the exit port */
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
        case KVM_EXIT_IO: {
            exits_io++;
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            unsigned size = run->io.size;
            uint16_t port = run->io.port;
            int out = run->io.direction == KVM_EXIT_IO_OUT;
            for (uint32_t i = 0; i < run->io.count; i++, data += size) {
                if (port == CONSOLE_PORT && out) {
                    fwrite(data, 1, 1, stdout);
                } else if (port == CONSOLE_LSR && !out) {
                    memset(data, 0, size);
                    data[0] = 0x60;
                } else if (port == EXIT_PORT && out) {
                    exit_value = load_le(data, size);
                    end = "value";
                    status = exit_value == 0 ? 0 : exit_value < 254 ? (int)exit_value : 254;
                } else if (port >= PROBE_PORT && port < PROBE_PORT + PROBE_PORT_COUNT) {
                    probe_access(0, data, size, out);
                } else if (!out) {
                    memset(data, 0xFF, size);
                }
            }
            break;
        }
        case KVM_EXIT_MMIO: {
            exits_mmio++;
            uint64_t a = run->mmio.phys_addr;
            if (a >= PROBE_MMIO && a < PROBE_MMIO + PROBE_MMIO_SIZE)
                probe_access(1, run->mmio.data, run->mmio.len, run->mmio.is_write);
            else if (!run->mmio.is_write)
                memset(run->mmio.data, 0xFF, run->mmio.len);
            break;
        }
        case KVM_EXIT_INTERNAL_ERROR:
            end = "internal_error";
            status = 126;
            fprintf(stderr, "kvm-loop: KVM_EXIT_INTERNAL_ERROR suberror %u, %u data words:", run->internal.suberror,
                    run->internal.ndata);
            for (unsigned i = 0; i < run->internal.ndata && i < 16; i++)
                fprintf(stderr, " 0x%llx", (unsigned long long)run->internal.data[i]);
            fprintf(stderr, "\n");
            break;
        case KVM_EXIT_SHUTDOWN:
            end = "shutdown";
            status = 126;
            break;
        case KVM_EXIT_FAIL_ENTRY:
            end = "fail_entry";
            status = 126;
            fprintf(stderr, "kvm-loop: KVM_EXIT_FAIL_ENTRY reason 0x%llx\n",
                    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            break;
        default:
            end = "unexpected_exit";
            status = 126;
            fprintf(stderr, "kvm-loop: unexpected exit reason %u\n", run->exit_reason);
            break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fflush(stdout);

    if (status == 126 && ioctl(vcpu, KVM_GET_REGS, &regs) == 0)
        fprintf(stderr, "kvm-loop: vCPU stopped at RIP 0x%llx\n", (unsigned long long)regs.rip);

    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec);
    if (strcmp(end, "value") == 0)
        fprintf(stderr, "exits_io=%llu exits_mmio=%llu ns=%lld status=%llu\n", (unsigned long long)exits_io,
                (unsigned long long)exits_mmio, ns, (unsigned long long)exit_value);
    else
        fprintf(stderr, "exits_io=%llu exits_mmio=%llu ns=%lld status=%s\n", (unsigned long long)exits_io,
                (unsigned long long)exits_mmio, ns, end);
    return status;
}
