/*
 * kvm-guest.h: what the minimal C KVM VMMs of Scripts/bench/ have in common. kvm-loop.c and
 * irq-loop.c both include it; each program is one translation unit, so everything here is static.
 * Define KVM_GUEST_PROG (the program's name, the prefix of its error messages) and _GNU_SOURCE
 * before including it.
 *
 * It provides:
 *   die, die_msg            "<prog>: WHAT: strerror(errno)" / "<prog>: WHAT" on stderr, exit 2
 *   load_le                 the little-endian value of an exit's data bytes
 *   struct guest            the machine's file descriptors, RAM and kvm_run, and how the run ended
 *   guest_create_vm         /dev/kvm, the VM, RAM_SIZE bytes of RAM at guest-physical 0, the
 *                           in-kernel irqchip (LAPIC/IOAPIC)
 *   guest_create_vcpu       vCPU 0, its kvm_run mapping and the host's supported CPUID
 *   guest_load              the ELF's PT_LOAD segments, the GDT and the page tables (below)
 *   guest_set_regs          the vCPU at the ELF entry in 64-bit long mode (the project's boot protocol)
 *   guest_start_run         the SIGALRM timeout and the start of the run-loop clock
 *   guest_enter             one KVM_RUN; 0 when it was interrupted or the run timed out
 *   guest_io                a KVM_EXIT_IO: each of its accesses to the program's port handler
 *   guest_port              the console LSR and the exit port; other port reads return all ones
 *   guest_failed            ends the run on the exits neither program serves (status 126)
 *   guest_finish_run        stops the clock, reports where a failed vCPU stopped; the loop's ns
 *   guest_status            the summary line's status: the exit value, or why the run ended
 *
 * Memory layout:
 *   0x1000          GDT: null, code64 (selector 0x08), data (selector 0x10)
 *   0x9000          PML4 -> 0xA000 PDPT -> 0xB000..0xEFFF four page directories, 2 MiB pages,
 *                   identity map of the low 4 GiB
 *   0x100000..      where PT_LOAD segments may go (up to the end of RAM)
 *   RSP = 0x80000, RSI = 0 (vCPU index), RDI as the program asks, RFLAGS = 0x2
 *
 * A program's run loop:
 *   guest_start_run(&g, timeout);
 *   while (!g.end) {
 *       if (!guest_enter(&g)) continue;
 *       switch (g.run->exit_reason) { case KVM_EXIT_IO: guest_io(&g, serve_port); ...
 *                                     case KVM_EXIT_MMIO: ...
 *                                     default: guest_failed(&g, verbose); }
 *   }
 *   long long ns = guest_finish_run(&g);
 * Exit status (g.status): 0 when the guest wrote 0 to the exit port; V (1..253) or 254 for a
 * larger V when it wrote V; 124 on timeout; 126 when the vCPU failed; die* exit with 2.
 */
#ifndef KVM_GUEST_H
#define KVM_GUEST_H

#ifndef KVM_GUEST_PROG
#error "define KVM_GUEST_PROG (the program's name) before including kvm-guest.h"
#endif

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

static void die(const char *what)
{
    fprintf(stderr, KVM_GUEST_PROG ": %s: %s\n", what, strerror(errno));
    exit(2);
}

static void die_msg(const char *what)
{
    fprintf(stderr, KVM_GUEST_PROG ": %s\n", what);
    exit(2);
}

static uint64_t load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

struct guest {
    int kvm, vm, vcpu;
    uint8_t *ram; /* RAM_SIZE bytes, guest-physical 0 */
    struct kvm_run *run;
    /* How the run ended: end is NULL while it runs, "value" once the guest wrote the exit port
     * (exit_value), else the word for why it stopped; status is the program's exit status. */
    const char *end;
    int status;
    uint64_t exit_value;
    struct timespec t0; /* when the run loop started */
};

static void guest_create_vm(struct guest *g)
{
    g->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (g->kvm < 0)
        die("/dev/kvm");
    if (ioctl(g->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        die_msg("unexpected KVM API version");
    g->vm = ioctl(g->kvm, KVM_CREATE_VM, 0);
    if (g->vm < 0)
        die("KVM_CREATE_VM");

    g->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g->ram == MAP_FAILED)
        die("mmap RAM");
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)g->ram};
    if (ioctl(g->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");
    (void)ioctl(g->vm, KVM_SET_TSS_ADDR, 0xFFFBD000ul); /* needed by VMX hosts only; harmless elsewhere */
    if (ioctl(g->vm, KVM_CREATE_IRQCHIP, 0) < 0)
        die("KVM_CREATE_IRQCHIP");
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

static void guest_create_vcpu(struct guest *g)
{
    g->vcpu = ioctl(g->vm, KVM_CREATE_VCPU, 0);
    if (g->vcpu < 0)
        die("KVM_CREATE_VCPU");
    int run_size = ioctl(g->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        die("KVM_GET_VCPU_MMAP_SIZE");
    g->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, g->vcpu, 0);
    if (g->run == MAP_FAILED)
        die("mmap kvm_run");
    set_cpuid(g->kvm, g->vcpu);
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
    pml4[0] = PDPT_ADDR | 0x3; /* present, writable */
    for (uint64_t g = 0; g < 4; g++) {
        uint64_t *pd = (uint64_t *)(ram + PD_ADDR + g * 0x1000);
        pdpt[g] = (PD_ADDR + g * 0x1000) | 0x3;
        for (uint64_t e = 0; e < 512; e++)
            pd[e] = (g << 30 | e << 21) | 0x83; /* present, writable, 2 MiB page */
    }
}

/* Loads the guest ELF at `path` and writes the GDT and page tables; returns the ELF entry. */
static uint64_t guest_load(struct guest *g, const char *path)
{
    uint64_t entry = load_elf(path, g->ram);
    write_tables(g->ram);
    return entry;
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

/* The vCPU in 64-bit long mode at `entry` with flat segments, RSP = STACK_TOP, RSI = 0, RDI = `rdi`. */
static void guest_set_regs(struct guest *g, uint64_t entry, uint64_t rdi)
{
    struct kvm_sregs sregs;
    if (ioctl(g->vcpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS");
    sregs.cs = flat_segment(0x08, 0xB, 1);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(0x10, 0x3, 0);
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = 1u << 5;                                                                 /* PAE */
    sregs.cr0 = (1u << 0) | (1u << 1) | (1u << 4) | (1u << 5) | (1u << 16) | (1u << 31); /* PE MP ET NE WP PG */
    sregs.efer = (1u << 8) | (1u << 10);                                                 /* LME LMA */
    if (ioctl(g->vcpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS");
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = entry;
    regs.rsp = STACK_TOP;
    regs.rflags = 0x2;
    regs.rdi = rdi;
    regs.rsi = 0;
    if (ioctl(g->vcpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS");
}

static volatile sig_atomic_t timed_out;
static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

/* Arms the timeout (none when `timeout` is 0 seconds) and starts the run-loop clock. */
static void guest_start_run(struct guest *g, unsigned timeout)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    if (timeout)
        alarm(timeout);

    g->end = NULL;
    g->status = 0;
    g->exit_value = 0;
    clock_gettime(CLOCK_MONOTONIC, &g->t0);
}

/* Runs the vCPU until its next exit: 1 when g->run->exit_reason is to be served, 0 when KVM_RUN
 * was interrupted (run again) or the timeout has passed (g->end = "timeout", status 124). */
static int guest_enter(struct guest *g)
{
    if (timed_out) {
        g->end = "timeout";
        g->status = 124;
        return 0;
    }
    if (ioctl(g->vcpu, KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 0;
        die("KVM_RUN");
    }
    return 1;
}

/* One port access of `size` bytes at `data` that the program itself does not serve: the console
 * LSR reads 0x60 (transmitter empty), a write to the exit port ends the run with that value, any
 * other read returns all ones and any other write is dropped. */
static void guest_port(struct guest *g, uint16_t port, int out, uint8_t *data, unsigned size)
{
    if (port == CONSOLE_LSR && !out) {
        memset(data, 0, size);
        data[0] = 0x60;
    } else if (port == EXIT_PORT && out) {
        g->exit_value = load_le(data, size);
        g->end = "value";
        g->status = g->exit_value == 0 ? 0 : g->exit_value < 254 ? (int)g->exit_value : 254;
    } else if (!out) {
        memset(data, 0xFF, size);
    }
}

/* A program's handler of one port access of `size` bytes at `data` (out: a write); it serves its
 * own ports and passes the others to guest_port. */
typedef void guest_port_fn(struct guest *g, uint16_t port, int out, uint8_t *data, unsigned size);

/* Serves a KVM_EXIT_IO: hands each of its run->io.count accesses to `serve`. */
static void guest_io(struct guest *g, guest_port_fn *serve)
{
    struct kvm_run *run = g->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    unsigned size = run->io.size;
    int out = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t i = 0; i < run->io.count; i++, data += size)
        serve(g, run->io.port, out, data, size);
}

/* Ends the run with status 126 on an exit other than port and MMIO accesses, naming it in g->end
 * (internal_error, shutdown, fail_entry, unexpected_exit). With `verbose`, an internal error also
 * shows its data words and an entry failure its hardware reason. */
static void guest_failed(struct guest *g, int verbose)
{
    const struct kvm_run *run = g->run;
    g->status = 126;
    switch (run->exit_reason) {
    case KVM_EXIT_INTERNAL_ERROR:
        g->end = "internal_error";
        fprintf(stderr, KVM_GUEST_PROG ": KVM_EXIT_INTERNAL_ERROR suberror %u", run->internal.suberror);
        if (verbose) {
            fprintf(stderr, ", %u data words:", run->internal.ndata);
            for (unsigned i = 0; i < run->internal.ndata && i < 16; i++)
                fprintf(stderr, " 0x%llx", (unsigned long long)run->internal.data[i]);
        }
        fprintf(stderr, "\n");
        break;
    case KVM_EXIT_SHUTDOWN:
        g->end = "shutdown";
        break;
    case KVM_EXIT_FAIL_ENTRY:
        g->end = "fail_entry";
        if (verbose)
            fprintf(stderr, KVM_GUEST_PROG ": KVM_EXIT_FAIL_ENTRY reason 0x%llx\n",
                    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    default:
        g->end = "unexpected_exit";
        fprintf(stderr, KVM_GUEST_PROG ": unexpected exit reason %u\n", run->exit_reason);
        break;
    }
}

/* After the run loop: stops the clock, flushes the console, and when the vCPU failed says where
 * it stopped. Returns the wall time of the run loop in ns. */
static long long guest_finish_run(struct guest *g)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fflush(stdout);

    struct kvm_regs regs;
    if (g->status == 126 && ioctl(g->vcpu, KVM_GET_REGS, &regs) == 0)
        fprintf(stderr, KVM_GUEST_PROG ": vCPU stopped at RIP 0x%llx\n", (unsigned long long)regs.rip);

    return (long long)(t1.tv_sec - g->t0.tv_sec) * 1000000000ll + (t1.tv_nsec - g->t0.tv_nsec);
}

/* The summary line's status=: the value written to the exit port in decimal, or g->end. */
static const char *guest_status(const struct guest *g, char buf[24])
{
    if (strcmp(g->end, "value") != 0)
        return g->end;
    snprintf(buf, 24, "%llu", (unsigned long long)g->exit_value);
    return buf;
}

#endif
