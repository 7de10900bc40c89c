/* The Multiboot header: bits 0 (page-aligned modules) and 1 (memory information); built with
 * AOUT_KLUDGE it also sets bit 16 and gives the address fields, for the flat-binary image. */
#ifdef AOUT_KLUDGE
#define FLAGS 0x00010003
#else
#define FLAGS 0x00000003
#endif
    .section .multiboot, "a"
    .align 4
header:
    .long 0x1BADB002
    .long FLAGS
    .long -(0x1BADB002 + FLAGS)
#ifdef AOUT_KLUDGE
    .long header        /* header_addr */
    .long 0x100000      /* load_addr: the image's first byte */
    .long data_end      /* load_end_addr: the flat binary ends with .data */
    .long kernel_end    /* bss_end_addr */
    .long _start        /* entry_addr */
#endif
