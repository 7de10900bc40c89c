/* multiboot: checks the whole Multiboot 1 entry state and information structure. The test runs
 * it with --cmdline "mb-check ram-mib=<RAM in MiB> modules=<N>" and N modules whose contents are
 * "vmm-module-<i>\n". Built twice: as an ELF, and as a flat binary with the a.out-kludge header. */
#include "lib.h"

struct mb_info {
    u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    u32 syms[4];
    u32 mmap_length, mmap_addr, drives_length, drives_addr, config_table, boot_loader_name;
};
struct mb_module {
    u32 start, end, string, reserved;
};
struct mb_mmap {
    u32 size;
    u64 base, length;
    u32 type;
} __attribute__((packed));

void main(void)
{
    put("multiboot: entry eax="); put_hex(entry.eax); put(" ebx="); put_hex(entry.ebx); put("\n");
    CHECK(entry.eax == 0x2BADB002, "EAX is not the Multiboot boot loader magic 0x2BADB002");
    check_common_entry();
    const struct mb_info *info = (const struct mb_info *)entry.ebx;
    CHECK(entry.ebx != 0 && (entry.ebx & 3) == 0, "EBX is not an aligned information structure");
    u32 wanted = 1u << 0 | 1u << 2 | 1u << 3 | 1u << 6 | 1u << 9;
    CHECK((info->flags & wanted) == wanted, "info flags lack memory, cmdline, mods, mmap or boot loader name");

    const char *cmdline = (const char *)info->cmdline;
    put("cmdline: "); put(cmdline); put("\n");
    const char *own = find(cmdline, " mb-check ");
    CHECK(own != 0, "the command line lacks ' mb-check ' after the kernel's name");
    CHECK(own != cmdline, "the command line does not start with the kernel's name");
    u32 ram_mib = cmdline_number(cmdline, "ram-mib", 0);
    u32 modules = cmdline_number(cmdline, "modules", 0);
    u32 high_mib = cmdline_number(cmdline, "high-mib", 0);
    CHECK(ram_mib >= 2, "the command line lacks ram-mib=N");

    put("mem_lower="); put_dec(info->mem_lower); put(" mem_upper="); put_dec(info->mem_upper); put("\n");
    CHECK(info->mem_lower == 639, "mem_lower is not 639 KiB");
    CHECK(info->mem_upper == ram_mib * 1024 - 1024, "mem_upper is not the RAM above 1 MiB in KiB");

    CHECK(info->mods_count == modules, "mods_count differs from the modules given");
    const struct mb_module *mods = (const struct mb_module *)info->mods_addr;
    for (u32 i = 0; i < info->mods_count; i++) {
        CHECK(mods[i].end > mods[i].start, "a module ends before it starts");
        check_module(i, mods[i].start, mods[i].end - mods[i].start, (const char *)mods[i].string, (u64)ram_mib << 20);
        if (i > 0)
            CHECK(mods[i].start >= mods[i - 1].end, "modules overlap");
    }

    int low = 0, high = 0, above = 0;
    for (u32 at = info->mmap_addr; at < info->mmap_addr + info->mmap_length;) {
        const struct mb_mmap *e = (const struct mb_mmap *)at;
        put("mmap: "); put_hex(e->base); put(" "); put_hex(e->length); put(" type "); put_dec(e->type); put("\n");
        CHECK(e->size == 20, "a memory map entry's size field is not 20");
        if (e->base == 0 && e->length == 0x9FC00 && e->type == 1)
            low = 1;
        if (e->base == 0x100000 && e->length == (u64)info->mem_upper * 1024 && e->type == 1)
            high = 1;
        if (e->type == 1)
            CHECK(e->base + e->length <= 0xA0000 || e->base >= 0x100000, "RAM listed in the legacy hole");
        if (e->type == 1 && e->base >= 0x100000000ull) {
            CHECK(e->base == 0x100000000ull && e->length == (u64)high_mib << 20, "RAM above 4 GiB is not the high-mib given");
            above = 1;
        }
        at += e->size + 4;
    }
    CHECK(low && high, "the memory map lacks conventional memory or the RAM above 1 MiB");
    CHECK(above == (high_mib > 0), "the memory map lacks the RAM at 4 GiB, or has RAM there without high-mib");
    const char *loader = (const char *)info->boot_loader_name;
    put("boot loader: "); put(loader); put("\n");
    CHECK(str_eq(loader, "vmm"), "the boot loader name is not 'vmm'");
    check_pc_machine(cmdline, ram_mib + high_mib);
    pass();
}
