/*
 * The C side of Scripts/bench-unmask.sh: the KVM work that unmasking n MSI-X vectors needs at
 * the least, with nothing of a VMM around it.
 *
 *   unmask-loop N each   for i = 1..n: KVM_SET_GSI_ROUTING with the 40 irqchip pin routes and i MSI
 *                        routes, then KVM_IRQFD attaching vector i's eventfd (one vector per guest write)
 *   unmask-loop N all    one KVM_SET_GSI_ROUTING with the pin routes and n MSI routes, then n KVM_IRQFD
 *                        (MaskAll cleared with n vectors unmasked)
 *   unmask-loop N fresh  as "all", but each eventfd is made (eventfd2) just before its KVM_IRQFD, inside
 *                        the timing: the system calls of a VMM that holds no eventfd for vectors not in
 *                        use, as vmm does (the other modes make them all before the timing)
 *
 * Prints "ns=T" (CLOCK_MONOTONIC around the ioctls only) and exits 0, or a message and 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "unmask-loop: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct kvm_irq_routing *table;
static unsigned pins;

/* The routes KVM_CREATE_IRQCHIP installs: GSI 0-15 to a PIC and the IOAPIC, 16-23 to the IOAPIC. */
static void add_pin_routes(void) {
    for (unsigned gsi = 0; gsi < 24; gsi++) {
        if (gsi < 16) {
            struct kvm_irq_routing_entry *e = &table->entries[pins++];
            e->gsi = gsi; e->type = KVM_IRQ_ROUTING_IRQCHIP;
            e->u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
            e->u.irqchip.pin = gsi % 8;
        }
        struct kvm_irq_routing_entry *e = &table->entries[pins++];
        e->gsi = gsi; e->type = KVM_IRQ_ROUTING_IRQCHIP;
        e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
        e->u.irqchip.pin = gsi;
    }
}

static void set_msi_route(unsigned index, unsigned gsi, unsigned data) {
    struct kvm_irq_routing_entry *e = &table->entries[pins + index];
    memset(e, 0, sizeof *e);
    e->gsi = gsi; e->type = KVM_IRQ_ROUTING_MSI;
    e->u.msi.address_lo = 0xFEE00000; e->u.msi.data = data;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: unmask-loop N each|all|fresh\n"); return 1; }
    unsigned n = (unsigned)strtoul(argv[1], NULL, 10);
    int each = strcmp(argv[2], "each") == 0, fresh = strcmp(argv[2], "fresh") == 0;
    if (n == 0 || n > 2048 || (!each && !fresh && strcmp(argv[2], "all") != 0)) { fprintf(stderr, "unmask-loop: bad arguments\n"); return 1; }

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("open /dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
    if (ioctl(vm, KVM_CREATE_VCPU, 0) < 0) die("KVM_CREATE_VCPU");
    table = calloc(1, sizeof *table + (40 + n + 1) * sizeof(struct kvm_irq_routing_entry));
    int *fds = calloc(n, sizeof *fds);
    if (!table || !fds) die("calloc");
    add_pin_routes();
    for (unsigned v = 0; v < n; v++) {
        fds[v] = fresh ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!fresh && fds[v] < 0) die("eventfd");
        set_msi_route(v, 24 + v, 0x30 + v % 200);
    }
    /* The descriptor table grown for them in advance, as vmm grows it when a machine is built. */
    if (fresh) {
        int high = dup2(0, 24 + 2 * (int)n + 64);
        if (high < 0) die("dup2");
        close(high);
    }

    /* Warm up as the VMM side does: one routing commit and irqfd on another GSI, then undo it. */
    {
        int warm = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (warm < 0) die("eventfd");
        set_msi_route(n, 24 + n, 0x30);
        struct kvm_irq_routing_entry saved = table->entries[pins];
        table->entries[pins] = table->entries[pins + n];
        table->nr = pins + 1;
        if (ioctl(vm, KVM_SET_GSI_ROUTING, table) < 0) die("KVM_SET_GSI_ROUTING");
        struct kvm_irqfd irqfd = { .fd = (unsigned)warm, .gsi = 24 + n };
        if (ioctl(vm, KVM_IRQFD, &irqfd) < 0) die("KVM_IRQFD");
        irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
        if (ioctl(vm, KVM_IRQFD, &irqfd) < 0) die("KVM_IRQFD deassign");
        table->entries[pins] = saved;
        table->nr = pins;
        if (ioctl(vm, KVM_SET_GSI_ROUTING, table) < 0) die("KVM_SET_GSI_ROUTING");
    }

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (each) {
        for (unsigned v = 0; v < n; v++) {
            table->nr = pins + v + 1;
            if (ioctl(vm, KVM_SET_GSI_ROUTING, table) < 0) die("KVM_SET_GSI_ROUTING");
            struct kvm_irqfd irqfd = { .fd = (unsigned)fds[v], .gsi = 24 + v };
            if (ioctl(vm, KVM_IRQFD, &irqfd) < 0) die("KVM_IRQFD");
        }
    } else {
        table->nr = pins + n;
        if (ioctl(vm, KVM_SET_GSI_ROUTING, table) < 0) die("KVM_SET_GSI_ROUTING");
        for (unsigned v = 0; v < n; v++) {
            if (fresh && (fds[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) die("eventfd");
            struct kvm_irqfd irqfd = { .fd = (unsigned)fds[v], .gsi = 24 + v };
            if (ioctl(vm, KVM_IRQFD, &irqfd) < 0) die("KVM_IRQFD");
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    long long ns = (end.tv_sec - start.tv_sec) * 1000000000LL + (end.tv_nsec - start.tv_nsec);
    printf("ns=%lld\n", ns);
    return 0;
}
