/*
 * Host test of the guest runtime's device-tree reader (fdt.c): builds blobs byte by byte,
 * checks that good ones read back right and that truncated or corrupt ones are refused with an
 * error instead of being read out of bounds.
 *
 *   cc -O1 -Wall -Werror -I Guests/runtime -o fdt-hostcheck Guests/runtime/fdt-hostcheck.c Guests/runtime/fdt.c
 *   ./fdt-hostcheck            prints "N passed, N failed"; exits 1 when anything failed
 *
 * Every blob handed to the reader sits in a heap buffer of exactly the size passed, so a build
 * with -fsanitize=address also proves that nothing is read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdt.h"
#include "hostcheck.h"

/* ---- A tiny blob builder ---------------------------------------------------------------- */

struct builder {
    uint8_t st[4096]; /* structure block */
    uint32_t st_len;
    char strings[1024];
    uint32_t strings_len;
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void st32(struct builder *b, uint32_t v)
{
    put32(b->st + b->st_len, v);
    b->st_len += 4;
}

static void st_bytes(struct builder *b, const void *data, uint32_t len)
{
    memcpy(b->st + b->st_len, data, len);
    b->st_len += len;
    while (b->st_len % 4)
        b->st[b->st_len++] = 0;
}

static uint32_t string_offset(struct builder *b, const char *name)
{
    for (uint32_t off = 0; off < b->strings_len; off += (uint32_t)strlen(b->strings + off) + 1)
        if (strcmp(b->strings + off, name) == 0)
            return off;
    uint32_t off = b->strings_len;
    memcpy(b->strings + off, name, strlen(name) + 1);
    b->strings_len += (uint32_t)strlen(name) + 1;
    return off;
}

static void begin_node(struct builder *b, const char *name)
{
    st32(b, 1);
    st_bytes(b, name, (uint32_t)strlen(name) + 1);
}

static void end_node(struct builder *b) { st32(b, 2); }
static void nop(struct builder *b) { st32(b, 4); }
static void end(struct builder *b) { st32(b, 9); }

static void prop(struct builder *b, const char *name, const void *data, uint32_t len)
{
    st32(b, 3);
    st32(b, len);
    st32(b, string_offset(b, name));
    st_bytes(b, data, len);
}

static void prop_str(struct builder *b, const char *name, const char *s) { prop(b, name, s, (uint32_t)strlen(s) + 1); }

static void prop_cells(struct builder *b, const char *name, const uint32_t *cells, unsigned n)
{
    uint8_t data[64];
    for (unsigned i = 0; i < n; i++)
        put32(data + 4 * i, cells[i]);
    prop(b, name, data, 4 * n);
}

static void prop_u32(struct builder *b, const char *name, uint32_t v) { prop_cells(b, name, &v, 1); }

/* A blob: header, an empty reservation map, the structure block, the strings block. */
struct blob {
    uint8_t *bytes;
    uint32_t size;
};

enum { OFF_MAGIC = 0, OFF_TOTAL = 4, OFF_STRUCT = 8, OFF_STRINGS = 12, OFF_RSVMAP = 16, OFF_VERSION = 20,
       OFF_LAST_COMP = 24, OFF_BOOT_CPU = 28, OFF_SIZE_STRINGS = 32, OFF_SIZE_STRUCT = 36 };

static struct blob assemble(const struct builder *b, uint32_t version)
{
    uint32_t rsvmap = 40, structure = rsvmap + 16, strings = structure + b->st_len;
    uint32_t total = strings + b->strings_len;
    struct blob out = {calloc(1, total), total};
    put32(out.bytes + OFF_MAGIC, 0xD00DFEED);
    put32(out.bytes + OFF_TOTAL, total);
    put32(out.bytes + OFF_STRUCT, structure);
    put32(out.bytes + OFF_STRINGS, strings);
    put32(out.bytes + OFF_RSVMAP, rsvmap);
    put32(out.bytes + OFF_VERSION, version);
    put32(out.bytes + OFF_LAST_COMP, 16);
    put32(out.bytes + OFF_BOOT_CPU, 0);
    put32(out.bytes + OFF_SIZE_STRINGS, b->strings_len);
    put32(out.bytes + OFF_SIZE_STRUCT, version >= 17 ? b->st_len : 0);
    memcpy(out.bytes + structure, b->st, b->st_len);
    memcpy(out.bytes + strings, b->strings, b->strings_len);
    return out;
}

static struct blob copy_blob(struct blob b, uint32_t size)
{
    struct blob out = {malloc(size ? size : 1), size};
    memcpy(out.bytes, b.bytes, size < b.size ? size : b.size);
    return out;
}

static uint32_t get32(const struct blob *b, uint32_t off) { return dtb_be32(b->bytes + off); }
static void set32(struct blob *b, uint32_t off, uint32_t v) { put32(b->bytes + off, v); }

/* The tree most tests start from:
 * / { #address-cells = <2>; #size-cells = <2>; compatible = "test";
 *     chosen { bootargs = "n=123 quiet"; };
 *     memory@0 { device_type = "memory"; reg = <0 0 0 0x4000000>; };
 *     cpus { #address-cells = <1>; #size-cells = <0>;
 *            cpu@0 { reg = <0>; }; cpu@1 { reg = <1>; }; cpu@2 { reg = <2>; }; cpu-map { }; };
 *     soc { nested { deep { leaf = <7>; }; }; };
 * } */
static struct builder good_tree(void)
{
    struct builder b = {0};
    begin_node(&b, "");
    prop_u32(&b, "#address-cells", 2);
    prop_u32(&b, "#size-cells", 2);
    prop_str(&b, "compatible", "test");
    begin_node(&b, "chosen");
    prop_str(&b, "bootargs", "n=123 quiet");
    end_node(&b);
    begin_node(&b, "memory@0");
    prop_str(&b, "device_type", "memory");
    uint32_t reg[4] = {0, 0, 0, 0x4000000};
    prop_cells(&b, "reg", reg, 4);
    end_node(&b);
    begin_node(&b, "cpus");
    prop_u32(&b, "#address-cells", 1);
    prop_u32(&b, "#size-cells", 0);
    for (uint32_t i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "cpu@%u", i);
        begin_node(&b, name);
        prop_u32(&b, "reg", i);
        end_node(&b);
    }
    begin_node(&b, "cpu-map");
    end_node(&b);
    end_node(&b);
    begin_node(&b, "soc");
    begin_node(&b, "nested");
    nop(&b);
    begin_node(&b, "deep");
    prop_u32(&b, "leaf", 7);
    end_node(&b);
    end_node(&b);
    end_node(&b);
    end_node(&b);
    end(&b);
    return b;
}

/* Runs every query on a blob; returns dtb_open's result. Used to prove corrupt input is handled
 * (under ASan: without reading out of bounds) whatever the queries return. */
static int exercise(const struct blob *b)
{
    struct dtb t;
    int r = dtb_open(&t, b->bytes, b->size);
    if (r < 0)
        return r;
    unsigned cpus;
    uint64_t base, size;
    const char *s;
    (void)dtb_cpu_count(&t, &cpus);
    (void)dtb_memory(&t, &base, &size);
    (void)dtb_bootargs(&t, &s);
    int node = dtb_find(&t, "/soc/nested/deep");
    uint32_t v;
    (void)dtb_prop_u32(&t, node, "leaf", &v);
    /* Walk the whole tree by first-child / next-sibling. */
    int stack[64], depth = 0, visited = 0;
    int n = dtb_root(&t);
    while (n >= 0 && visited < 10000) {
        visited++;
        (void)dtb_node_name(&t, n, &s);
        int child = dtb_first_child(&t, n);
        if (child >= 0 && depth < 64) {
            stack[depth++] = n;
            n = child;
            continue;
        }
        int sibling = dtb_next_sibling(&t, n);
        while (sibling < 0 && depth > 0)
            sibling = dtb_next_sibling(&t, stack[--depth]);
        n = sibling;
    }
    return r;
}

static int open_blob(const struct blob *b)
{
    struct dtb t;
    return dtb_open(&t, b->bytes, b->size);
}

/* ---- Tests ----------------------------------------------------------------------------- */

static void test_good_tree(uint32_t version)
{
    struct builder bld = good_tree();
    struct blob whole = assemble(&bld, version);
    struct blob b = copy_blob(whole, whole.size);
    struct dtb t;
    int r = dtb_open(&t, b.bytes, b.size);
    CHECK(r == DTB_OK, "v%u: open returned %d (%s)", version, r, dtb_strerror(r));
    if (r != DTB_OK)
        goto out;

    unsigned cpus = 0;
    r = dtb_cpu_count(&t, &cpus);
    CHECK(r == DTB_OK && cpus == 3, "v%u: cpu count %d, %u", version, r, cpus);

    uint64_t base = 1, size = 0;
    r = dtb_memory(&t, &base, &size);
    CHECK(r == DTB_OK && base == 0 && size == 0x4000000, "v%u: memory %d 0x%llx 0x%llx", version, r,
          (unsigned long long)base, (unsigned long long)size);

    const char *args = NULL;
    r = dtb_bootargs(&t, &args);
    CHECK(r == DTB_OK && args && strcmp(args, "n=123 quiet") == 0, "v%u: bootargs %d", version, r);

    int cpu1 = dtb_find(&t, "/cpus/cpu@1");
    uint32_t reg = 0;
    CHECK(cpu1 >= 0 && dtb_prop_u32(&t, cpu1, "reg", &reg) == DTB_OK && reg == 1, "v%u: /cpus/cpu@1 reg", version);
    const char *name = NULL;
    CHECK(cpu1 >= 0 && dtb_node_name(&t, cpu1, &name) == DTB_OK && strcmp(name, "cpu@1") == 0, "v%u: name", version);

    CHECK(dtb_find(&t, "/memory") >= 0, "v%u: /memory matches memory@0", version);
    CHECK(dtb_find(&t, "/memory@0") == dtb_find(&t, "/memory"), "v%u: same node", version);
    CHECK(dtb_find(&t, "/memory@1") == DTB_ERR_NOTFOUND, "v%u: /memory@1 absent", version);
    CHECK(dtb_find(&t, "/mem") == DTB_ERR_NOTFOUND, "v%u: no prefix match", version);
    CHECK(dtb_find(&t, "/") == dtb_root(&t) && dtb_root(&t) == 0, "v%u: root", version);
    CHECK(dtb_find(&t, "/nonexistent") == DTB_ERR_NOTFOUND, "v%u: absent node", version);
    CHECK(dtb_find(&t, "cpus") == DTB_ERR_BADPATH, "v%u: relative path", version);
    CHECK(dtb_find(&t, NULL) == DTB_ERR_BADPATH, "v%u: NULL path", version);
    CHECK(dtb_find(&t, "//soc//nested/") >= 0, "v%u: repeated slashes", version);

    int deep = dtb_find(&t, "/soc/nested/deep");
    uint32_t leaf = 0;
    CHECK(deep >= 0 && dtb_prop_u32(&t, deep, "leaf", &leaf) == DTB_OK && leaf == 7, "v%u: deep leaf (NOP skipped)", version);
    CHECK(dtb_first_child(&t, deep) == DTB_ERR_NOTFOUND, "v%u: leaf has no children", version);
    CHECK(dtb_next_sibling(&t, deep) == DTB_ERR_NOTFOUND, "v%u: deep has no sibling", version);
    CHECK(dtb_next_sibling(&t, dtb_root(&t)) == DTB_ERR_NOTFOUND, "v%u: root has no sibling", version);

    int chosen = dtb_find(&t, "/chosen");
    uint32_t u32;
    uint64_t u64;
    const char *str;
    CHECK(dtb_prop_u32(&t, chosen, "bootargs", &u32) == DTB_ERR_BADVALUE, "v%u: string read as u32", version);
    CHECK(dtb_prop_u32(&t, chosen, "missing", &u32) == DTB_ERR_NOTFOUND, "v%u: missing prop", version);
    CHECK(dtb_prop_u64(&t, cpu1, "reg", &u64) == DTB_OK && u64 == 1, "v%u: one cell as u64", version);
    CHECK(dtb_prop_string(&t, 0, "compatible", &str) == DTB_OK && strcmp(str, "test") == 0, "v%u: compatible", version);
    CHECK(dtb_prop_u64(&t, 0, "compatible", &u64) == DTB_ERR_BADVALUE, "v%u: 5 bytes are no u64", version);

    /* Offsets that are not nodes. */
    CHECK(dtb_first_child(&t, -4) == DTB_ERR_BADOFFSET, "v%u: negative offset", version);
    CHECK(dtb_first_child(&t, 4) == DTB_ERR_BADOFFSET, "v%u: offset inside a node", version);
    CHECK(dtb_first_child(&t, 2) == DTB_ERR_BADOFFSET, "v%u: misaligned offset", version);
    CHECK(dtb_node_name(&t, 1 << 30, &name) == DTB_ERR_BADOFFSET, "v%u: offset past the block", version);

    /* A buffer larger than totalsize is fine. */
    struct blob bigger = copy_blob(whole, whole.size + 64);
    CHECK(open_blob(&bigger) == DTB_OK, "v%u: buffer larger than the blob", version);
    free(bigger.bytes);
    struct dtb u;
    CHECK(dtb_open(&u, b.bytes, DTB_SIZE_UNKNOWN) == DTB_OK, "v%u: unknown buffer size", version);
out:
    free(b.bytes);
    free(whole.bytes);
}

static void test_small_cells(void)
{
    struct builder b = {0};
    begin_node(&b, "");
    prop_u32(&b, "#address-cells", 1);
    prop_u32(&b, "#size-cells", 1);
    begin_node(&b, "memory");
    uint32_t reg[2] = {0x100000, 0x2000000};
    prop_cells(&b, "reg", reg, 2);
    end_node(&b);
    end_node(&b);
    end(&b);
    struct blob blob = assemble(&b, 17);
    struct dtb t;
    uint64_t base = 0, size = 0;
    unsigned cpus;
    const char *args;
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_OK, "one-cell tree opens");
    int r = dtb_memory(&t, &base, &size);
    CHECK(r == DTB_OK && base == 0x100000 && size == 0x2000000, "one-cell memory: %d", r);
    CHECK(dtb_cpu_count(&t, &cpus) == DTB_ERR_NOTFOUND, "no /cpus");
    CHECK(dtb_bootargs(&t, &args) == DTB_ERR_NOTFOUND, "no /chosen");
    free(blob.bytes);
}

static void test_bad_values(void)
{
    /* #address-cells = <3>: unsupported. */
    struct builder b = {0};
    begin_node(&b, "");
    prop_u32(&b, "#address-cells", 3);
    begin_node(&b, "memory@0");
    uint32_t reg[4] = {0, 0, 0, 1};
    prop_cells(&b, "reg", reg, 4);
    end_node(&b);
    end_node(&b);
    end(&b);
    struct blob blob = assemble(&b, 17);
    struct dtb t;
    uint64_t base, size;
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_OK, "3-cell tree opens");
    CHECK(dtb_memory(&t, &base, &size) == DTB_ERR_BADVALUE, "3 address cells refused");
    free(blob.bytes);

    /* reg shorter than #address-cells + #size-cells. */
    struct builder c = {0};
    begin_node(&c, "");
    begin_node(&c, "memory@0");
    uint32_t shortreg[2] = {0, 0};
    prop_cells(&c, "reg", shortreg, 2);
    end_node(&c);
    end_node(&c);
    end(&c);
    blob = assemble(&c, 17);
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_OK, "short-reg tree opens");
    CHECK(dtb_memory(&t, &base, &size) == DTB_ERR_BADVALUE, "reg too short for 2+1 cells");
    free(blob.bytes);

    /* bootargs without its NUL. */
    struct builder d = {0};
    begin_node(&d, "");
    begin_node(&d, "chosen");
    prop(&d, "bootargs", "n=5", 3);
    end_node(&d);
    end_node(&d);
    end(&d);
    blob = assemble(&d, 17);
    const char *args;
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_OK, "unterminated-bootargs tree opens");
    CHECK(dtb_bootargs(&t, &args) == DTB_ERR_BADSTRING, "unterminated bootargs refused");
    free(blob.bytes);

    /* An empty /cpus counts zero; a cpu-map child is not a cpu. */
    struct builder e = {0};
    begin_node(&e, "");
    begin_node(&e, "cpus");
    begin_node(&e, "cpu-map");
    end_node(&e);
    begin_node(&e, "cpu");
    end_node(&e);
    end_node(&e);
    end_node(&e);
    end(&e);
    blob = assemble(&e, 17);
    unsigned cpus = 99;
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_OK && dtb_cpu_count(&t, &cpus) == DTB_OK && cpus == 1,
          "a plain 'cpu' counts, 'cpu-map' does not: %u", cpus);
    free(blob.bytes);
}

/* Corrupts one field of a good blob and expects dtb_open to refuse it with `want` (or any error
 * when want == 0). */
static void expect_refused(const char *what, void (*corrupt)(struct blob *), int want)
{
    struct builder bld = good_tree();
    struct blob whole = assemble(&bld, 17);
    corrupt(&whole);
    struct blob b = copy_blob(whole, whole.size);
    int r = open_blob(&b);
    if (want)
        CHECK(r == want, "%s: got %d (%s), want %d (%s)", what, r, dtb_strerror(r), want, dtb_strerror(want));
    else
        CHECK(r < 0, "%s: accepted", what);
    free(b.bytes);
    free(whole.bytes);
}

static void bad_magic(struct blob *b) { set32(b, OFF_MAGIC, 0xEDFE0DD0); }
static void old_version(struct blob *b) { set32(b, OFF_VERSION, 15); }
static void future_only(struct blob *b) { set32(b, OFF_LAST_COMP, 18); }
static void total_too_big(struct blob *b) { set32(b, OFF_TOTAL, b->size + 1); }
static void total_tiny(struct blob *b) { set32(b, OFF_TOTAL, 20); }
static void total_huge(struct blob *b) { set32(b, OFF_TOTAL, 0xFFFFFFFF); }
static void struct_past_end(struct blob *b) { set32(b, OFF_STRUCT, b->size + 4); }
static void struct_misaligned(struct blob *b) { set32(b, OFF_STRUCT, get32(b, OFF_STRUCT) + 2); }
static void struct_in_header(struct blob *b) { set32(b, OFF_STRUCT, 8); }
static void struct_size_wraps(struct blob *b) { set32(b, OFF_SIZE_STRUCT, 0xFFFFFFF0); }
static void struct_size_past_end(struct blob *b) { set32(b, OFF_SIZE_STRUCT, b->size - get32(b, OFF_STRUCT) + 4); }
static void strings_past_end(struct blob *b) { set32(b, OFF_STRINGS, b->size + 1); }
static void strings_size_past_end(struct blob *b) { set32(b, OFF_SIZE_STRINGS, get32(b, OFF_SIZE_STRINGS) + 1); }
static void strings_size_wraps(struct blob *b) { set32(b, OFF_SIZE_STRINGS, 0xFFFFFFFF); }
static void rsvmap_past_end(struct blob *b) { set32(b, OFF_RSVMAP, b->size + 8); }
static void rsvmap_misaligned(struct blob *b) { set32(b, OFF_RSVMAP, 44); }
static void rsvmap_unterminated(struct blob *b)
{
    /* Point the map at the last 8 bytes: no room for a 16-byte terminator. */
    set32(b, OFF_RSVMAP, (b->size - 8) & ~7u);
}
/* The strings block loses its last byte: the last property name ("leaf") has no NUL. */
static void strings_cut(struct blob *b) { set32(b, OFF_SIZE_STRINGS, get32(b, OFF_SIZE_STRINGS) - 1); }
/* The structure block ends before FDT_END. */
static void struct_cut(struct blob *b) { set32(b, OFF_SIZE_STRUCT, get32(b, OFF_SIZE_STRUCT) - 4); }
/* The structure block ends inside the root's first property. */
static void struct_cut_in_prop(struct blob *b) { set32(b, OFF_SIZE_STRUCT, 12); }
static uint32_t struct_at(struct blob *b, uint32_t off) { return get32(b, OFF_STRUCT) + off; }
/* Root BEGIN_NODE is at 0 with name "" (4 bytes), its first PROP at 8: tag, len, nameoff. */
static void prop_len_past_end(struct blob *b) { set32(b, struct_at(b, 12), 0x7FFFFFF0); }
static void prop_len_wraps(struct blob *b) { set32(b, struct_at(b, 12), 0xFFFFFFFF); }
static void prop_nameoff_out(struct blob *b) { set32(b, struct_at(b, 16), get32(b, OFF_SIZE_STRINGS)); }
static void bad_token(struct blob *b) { set32(b, struct_at(b, 8), 7); }
static void end_replaced_by_nop(struct blob *b) { set32(b, struct_at(b, get32(b, OFF_SIZE_STRUCT) - 4), 4); }
/* The root's END_NODE becomes FDT_END: the root never closes. */
static void root_unclosed(struct blob *b) { set32(b, struct_at(b, get32(b, OFF_SIZE_STRUCT) - 8), 9); }
/* The first token is a PROP outside any node. */
static void prop_at_top(struct blob *b) { set32(b, struct_at(b, 0), 3); }
static void first_token_end_node(struct blob *b) { set32(b, struct_at(b, 0), 2); }

static void test_corrupt_headers_and_blocks(void)
{
    expect_refused("bad magic", bad_magic, DTB_ERR_BADMAGIC);
    expect_refused("version 15", old_version, DTB_ERR_BADVERSION);
    expect_refused("last compatible 18", future_only, DTB_ERR_BADVERSION);
    expect_refused("totalsize > buffer", total_too_big, DTB_ERR_TRUNCATED);
    expect_refused("totalsize < header", total_tiny, DTB_ERR_BADLAYOUT);
    expect_refused("totalsize 4 GiB", total_huge, DTB_ERR_BADLAYOUT);
    expect_refused("struct offset past end", struct_past_end, DTB_ERR_BADLAYOUT);
    expect_refused("struct offset misaligned", struct_misaligned, DTB_ERR_BADLAYOUT);
    expect_refused("struct offset in header", struct_in_header, DTB_ERR_BADLAYOUT);
    expect_refused("struct size wraps", struct_size_wraps, DTB_ERR_BADLAYOUT);
    expect_refused("struct size past end", struct_size_past_end, DTB_ERR_BADLAYOUT);
    expect_refused("strings offset past end", strings_past_end, DTB_ERR_BADLAYOUT);
    expect_refused("strings size past end", strings_size_past_end, DTB_ERR_BADLAYOUT);
    expect_refused("strings size wraps", strings_size_wraps, DTB_ERR_BADLAYOUT);
    expect_refused("rsvmap past end", rsvmap_past_end, DTB_ERR_BADLAYOUT);
    expect_refused("rsvmap misaligned", rsvmap_misaligned, DTB_ERR_BADLAYOUT);
    expect_refused("rsvmap unterminated", rsvmap_unterminated, 0);
    expect_refused("unterminated property name", strings_cut, DTB_ERR_BADSTRING);
    expect_refused("struct ends before FDT_END", struct_cut, DTB_ERR_BADSTRUCTURE);
    expect_refused("struct ends inside a property", struct_cut_in_prop, DTB_ERR_BADSTRUCTURE);
    expect_refused("property length past end", prop_len_past_end, DTB_ERR_BADSTRUCTURE);
    expect_refused("property length wraps", prop_len_wraps, DTB_ERR_BADSTRUCTURE);
    expect_refused("property name offset out of range", prop_nameoff_out, DTB_ERR_BADSTRUCTURE);
    expect_refused("unknown token", bad_token, DTB_ERR_BADSTRUCTURE);
    expect_refused("FDT_END missing", end_replaced_by_nop, DTB_ERR_BADSTRUCTURE);
    expect_refused("root never closed", root_unclosed, DTB_ERR_BADSTRUCTURE);
    expect_refused("property outside a node", prop_at_top, DTB_ERR_BADSTRUCTURE);
    expect_refused("END_NODE first", first_token_end_node, DTB_ERR_BADSTRUCTURE);

    struct dtb t;
    CHECK(dtb_open(&t, NULL, 100) == DTB_ERR_NULL, "NULL blob");
    CHECK(dtb_root(&t) == DTB_ERR_NULL, "queries on a refused blob fail");
    CHECK(dtb_find(&t, "/cpus") == DTB_ERR_NULL, "find on a refused blob fails");
}

static void test_structural_builds(void)
{
    struct dtb t;
    /* A node name running to the end of the structure block with no NUL. */
    struct builder a = {0};
    begin_node(&a, "");
    st32(&a, 1);
    memcpy(a.st + a.st_len, "abcd", 4);
    a.st_len += 4;
    struct blob blob = assemble(&a, 17);
    struct blob exact = copy_blob(blob, blob.size);
    int r = open_blob(&exact);
    CHECK(r == DTB_ERR_BADSTRING, "unterminated node name: %d", r);
    free(exact.bytes);
    free(blob.bytes);

    /* Two root nodes. */
    struct builder b = {0};
    begin_node(&b, "");
    end_node(&b);
    begin_node(&b, "");
    end_node(&b);
    end(&b);
    blob = assemble(&b, 17);
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_ERR_BADSTRUCTURE, "two roots");
    free(blob.bytes);

    /* An extra END_NODE. */
    struct builder c = {0};
    begin_node(&c, "");
    end_node(&c);
    end_node(&c);
    end(&c);
    blob = assemble(&c, 17);
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_ERR_BADSTRUCTURE, "unbalanced END_NODE");
    free(blob.bytes);

    /* No root at all: only FDT_END. */
    struct builder d = {0};
    end(&d);
    blob = assemble(&d, 17);
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_ERR_BADSTRUCTURE, "no root node");
    free(blob.bytes);

    /* Leading NOPs before the root are fine. */
    struct builder e = {0};
    nop(&e);
    nop(&e);
    begin_node(&e, "");
    begin_node(&e, "cpus");
    begin_node(&e, "cpu@0");
    end_node(&e);
    end_node(&e);
    end_node(&e);
    end(&e);
    blob = assemble(&e, 17);
    unsigned cpus = 0;
    CHECK(dtb_open(&t, blob.bytes, blob.size) == DTB_OK && dtb_root(&t) == 8 && dtb_cpu_count(&t, &cpus) == DTB_OK &&
              cpus == 1,
          "leading NOPs");
    free(blob.bytes);
}

/* Every prefix of a good blob is refused when the buffer is that short. */
static void test_truncations(void)
{
    struct builder bld = good_tree();
    struct blob whole = assemble(&bld, 17);
    int all_refused = 1;
    for (uint32_t len = 0; len < whole.size; len++) {
        struct blob cut = copy_blob(whole, len);
        int r = exercise(&cut);
        if (r >= 0) {
            all_refused = 0;
            printf("prefix of %u bytes accepted\n", len);
        }
        free(cut.bytes);
    }
    CHECK(all_refused, "every truncated prefix refused");
    free(whole.bytes);
}

/* Flips bytes all over a good blob and runs every query: whatever the result, no crash and
 * (under ASan) no out-of-bounds read. Counts as one check. */
static void test_mutations(void)
{
    struct builder bld = good_tree();
    struct blob whole = assemble(&bld, 17);
    static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF, 0x7F};
    unsigned accepted = 0, refused = 0;
    for (uint32_t i = 0; i < whole.size; i++) {
        for (unsigned m = 0; m < sizeof masks; m++) {
            struct blob b = copy_blob(whole, whole.size);
            b.bytes[i] ^= masks[m];
            if (exercise(&b) >= 0)
                accepted++;
            else
                refused++;
            free(b.bytes);
        }
    }
    /* Also truncate the structure block at every 4-byte step via size_dt_struct. */
    for (uint32_t s = 0; s < get32(&whole, OFF_SIZE_STRUCT); s += 4) {
        struct blob b = copy_blob(whole, whole.size);
        set32(&b, OFF_SIZE_STRUCT, s);
        if (exercise(&b) >= 0)
            accepted++;
        else
            refused++;
        free(b.bytes);
    }
    CHECK(refused > 0 && accepted > 0, "mutations: %u accepted, %u refused", accepted, refused);
    printf("mutations: %u accepted (harmless changes), %u refused\n", accepted, refused);
    free(whole.bytes);
}

int main(void)
{
    test_good_tree(17);
    test_good_tree(16);
    test_small_cells();
    test_bad_values();
    test_corrupt_headers_and_blocks();
    test_structural_builds();
    test_truncations();
    test_mutations();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
