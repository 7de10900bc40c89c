/* pvh: checks the whole PVH entry state and hvm_start_info (version 1). The test runs it with
 * --cmdline "pvh-check ram-mib=<RAM in MiB> modules=<N>" and N modules whose contents are
 * "vmm-module-<i>\n". */
#include "lib.h"

/* XEN_ELFNOTE_PHYS32_ENTRY: owner "Xen", type 18, the 32-bit physical entry point. */
__asm__(".pushsection .note.Xen, \"a\", @note\n"
        ".balign 4\n"
        ".long 4, 4, 18\n"
        ".asciz \"Xen\"\n"
        ".long _start\n"
        ".popsection\n");

struct start_info {
    u32 magic, version, flags, nr_modules;
    u64 modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    u32 memmap_entries, reserved;
};
struct module_entry {
    u64 paddr, size, cmdline_paddr, reserved;
};
struct memmap_entry {
    u64 addr, size;
    u32 type, reserved;
};

void main(void)
{
    put("pvh: entry ebx="); put_hex(entry.ebx); put("\n");
    check_common_entry();
    CHECK((entry.cr0 & ~0x10u) == 1, "CR0 has bits other than PE (and the fixed ET) set");
    CHECK(entry.cr4 == 0, "CR4 is not 0");
    const struct start_info *info = (const struct start_info *)entry.ebx;
    CHECK(entry.ebx != 0 && (entry.ebx & 7) == 0, "EBX is not an aligned start info structure");
    CHECK(info->magic == 0x336EC578, "hvm_start_info magic is not 0x336ec578");
    CHECK(info->version >= 1, "hvm_start_info version is below 1");

    const char *cmdline = (const char *)(u32)info->cmdline_paddr;
    CHECK(info->cmdline_paddr != 0, "no command line");
    put("cmdline: "); put(cmdline); put("\n");
    CHECK(starts_with(cmdline, "pvh-check "), "the command line is not the one given (PVH passes it as is)");
    u32 ram_mib = cmdline_number(cmdline, "ram-mib", 0);
    u32 modules = cmdline_number(cmdline, "modules", 0);
    u32 high_mib = cmdline_number(cmdline, "high-mib", 0);
    CHECK(ram_mib >= 2, "the command line lacks ram-mib=N");

    CHECK(info->nr_modules == modules, "nr_modules differs from the modules given");
    const struct module_entry *mods = (const struct module_entry *)(u32)info->modlist_paddr;
    for (u32 i = 0; i < info->nr_modules; i++) {
        check_module(i, mods[i].paddr, mods[i].size, (const char *)(u32)mods[i].cmdline_paddr, (u64)ram_mib << 20);
        if (i > 0)
            CHECK(mods[i].paddr >= mods[i - 1].paddr + mods[i - 1].size, "modules overlap");
    }

    CHECK(info->memmap_paddr != 0 && info->memmap_entries > 0, "no memory map");
    const struct memmap_entry *map = (const struct memmap_entry *)(u32)info->memmap_paddr;
    int low = 0, high = 0, above = 0;
    for (u32 i = 0; i < info->memmap_entries; i++) {
        put("memmap: "); put_hex(map[i].addr); put(" "); put_hex(map[i].size); put(" type "); put_dec(map[i].type); put("\n");
        if (map[i].addr == 0 && map[i].size == 0x9FC00 && map[i].type == 1)
            low = 1;
        if (map[i].addr == 0x100000 && map[i].size == ((u64)ram_mib << 20) - 0x100000 && map[i].type == 1)
            high = 1;
        if (map[i].type == 1)
            CHECK(map[i].addr + map[i].size <= 0xA0000 || map[i].addr >= 0x100000, "RAM listed in the legacy hole");
        if (map[i].type == 1 && map[i].addr >= 0x100000000ull) {
            CHECK(map[i].addr == 0x100000000ull && map[i].size == (u64)high_mib << 20, "RAM above 4 GiB is not the high-mib given");
            above = 1;
        }
    }
    CHECK(low && high, "the memory map lacks conventional memory or the RAM above 1 MiB");
    CHECK(above == (high_mib > 0), "the memory map lacks the RAM at 4 GiB, or has RAM there without high-mib");

    put("rsdp: "); put_hex(info->rsdp_paddr); put("\n");
    if (info->rsdp_paddr) {
        const u8 *rsdp = (const u8 *)(u32)info->rsdp_paddr;
        CHECK(starts_with((const char *)rsdp, "RSD PTR "), "rsdp_paddr does not point at an RSDP signature");
        u8 sum = 0;
        for (int i = 0; i < 20; i++)
            sum += rsdp[i];
        CHECK(sum == 0, "the RSDP checksum is wrong");
    } else {
        CHECK(find(cmdline, "rsdp=none") != 0, "rsdp_paddr is 0 but the machine has ACPI tables");
    }
    check_pc_machine(cmdline, ram_mib + high_mib);
    pass();
}
