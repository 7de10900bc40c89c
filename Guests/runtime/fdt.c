/*
 * Read-only flattened-device-tree reader (see fdt.h). Host- and guest-buildable plain C.
 *
 * Blob layout (all fields big-endian):
 *   header (40 bytes): magic, totalsize, off_dt_struct, off_dt_strings, off_mem_rsvmap, version,
 *                      last_comp_version, boot_cpuid_phys, size_dt_strings, size_dt_struct (v17)
 *   memory reservation map: (address, size) u64 pairs ending with (0, 0)
 *   structure block: 4-byte-aligned tokens
 *       BEGIN_NODE(1) name NUL pad | END_NODE(2) | PROP(3) len nameoff data pad | NOP(4) | END(9)
 *   strings block: NUL-terminated property names, referenced by nameoff
 *
 * Offsets inside the structure block are kept as uint32_t and every addition is checked against
 * the block size before any byte is read, in 64-bit arithmetic where a sum could wrap.
 */
#include "fdt.h"

#define FDT_MAGIC 0xD00DFEEDu
#define HEADER_SIZE 40u
#define FIRST_SUPPORTED_VERSION 16u
#define LAST_SUPPORTED_VERSION 17u

#define TOKEN_BEGIN_NODE 1u
#define TOKEN_END_NODE 2u
#define TOKEN_PROP 3u
#define TOKEN_NOP 4u
#define TOKEN_END 9u

/* One decoded token of the structure block. */
struct token {
    uint32_t tag;
    uint32_t next;        /* offset of the following token */
    uint32_t data;        /* BEGIN_NODE: offset of the name; PROP: offset of the value */
    uint32_t len;         /* PROP: value length */
    const char *name;     /* BEGIN_NODE: node name; PROP: property name (both NUL-terminated) */
};

static uint64_t align4(uint64_t x) { return (x + 3u) & ~(uint64_t)3u; }

/* Is there a NUL in p[0 .. avail)? Returns its index or -1. */
static int64_t find_nul(const uint8_t *p, uint32_t avail)
{
    for (uint32_t i = 0; i < avail; i++)
        if (p[i] == 0)
            return i;
    return -1;
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* Decodes the token at `off` (relative to the structure block). Reads only inside the structure
 * block and, for a property's name, inside the strings block. */
static int read_token(const struct dtb *t, uint32_t off, struct token *tok)
{
    if ((off & 3u) != 0 || off > t->struct_size || t->struct_size - off < 4)
        return DTB_ERR_BADSTRUCTURE;
    const uint8_t *block = t->blob + t->struct_offset;
    tok->tag = dtb_be32(block + off);
    tok->data = 0;
    tok->len = 0;
    tok->name = 0;
    switch (tok->tag) {
    case TOKEN_BEGIN_NODE: {
        uint32_t name = off + 4;
        int64_t nul = find_nul(block + name, t->struct_size - name);
        if (nul < 0)
            return DTB_ERR_BADSTRING;
        uint64_t next = align4((uint64_t)name + (uint64_t)nul + 1);
        if (next > t->struct_size)
            return DTB_ERR_BADSTRUCTURE;
        tok->data = name;
        tok->name = (const char *)(block + name);
        tok->next = (uint32_t)next;
        return DTB_OK;
    }
    case TOKEN_PROP: {
        if (t->struct_size - off < 12)
            return DTB_ERR_BADSTRUCTURE;
        uint32_t len = dtb_be32(block + off + 4);
        uint32_t nameoff = dtb_be32(block + off + 8);
        uint32_t value = off + 12;
        if (len > t->struct_size - value)
            return DTB_ERR_BADSTRUCTURE;
        uint64_t next = align4((uint64_t)value + len);
        if (next > t->struct_size)
            return DTB_ERR_BADSTRUCTURE;
        if (nameoff >= t->strings_size)
            return DTB_ERR_BADSTRUCTURE;
        const uint8_t *name = t->blob + t->strings_offset + nameoff;
        if (find_nul(name, t->strings_size - nameoff) < 0)
            return DTB_ERR_BADSTRING;
        tok->data = value;
        tok->len = len;
        tok->name = (const char *)name;
        tok->next = (uint32_t)next;
        return DTB_OK;
    }
    case TOKEN_END_NODE:
    case TOKEN_NOP:
    case TOKEN_END:
        tok->next = off + 4;
        return DTB_OK;
    default:
        return DTB_ERR_BADSTRUCTURE;
    }
}

/* Checks the header against the buffer and fills *t (without walking the structure). */
static int read_header(struct dtb *t, const uint8_t *b, size_t buffer_size)
{
    if (buffer_size < 4)
        return DTB_ERR_TRUNCATED;
    if (dtb_be32(b) != FDT_MAGIC)
        return DTB_ERR_BADMAGIC;
    if (buffer_size < HEADER_SIZE)
        return DTB_ERR_TRUNCATED;

    uint32_t total = dtb_be32(b + 4);
    uint32_t off_struct = dtb_be32(b + 8);
    uint32_t off_strings = dtb_be32(b + 12);
    uint32_t off_rsvmap = dtb_be32(b + 16);
    uint32_t version = dtb_be32(b + 20);
    uint32_t last_compatible = dtb_be32(b + 24);
    uint32_t boot_cpu = dtb_be32(b + 28);
    uint32_t size_strings = dtb_be32(b + 32);
    uint32_t size_struct = dtb_be32(b + 36);

    if (version < FIRST_SUPPORTED_VERSION || last_compatible > LAST_SUPPORTED_VERSION)
        return DTB_ERR_BADVERSION;
    if (total < HEADER_SIZE || total > DTB_MAX_TOTALSIZE)
        return DTB_ERR_BADLAYOUT;
    if (total > buffer_size)
        return DTB_ERR_TRUNCATED;

    /* Structure block: 4-byte aligned, after the header, inside totalsize. Version 16 has no
     * size_dt_struct: the block may then run to the end of the blob (FDT_END ends the walk). */
    if ((off_struct & 3u) != 0 || off_struct < HEADER_SIZE || off_struct > total)
        return DTB_ERR_BADLAYOUT;
    if (version < 17)
        size_struct = total - off_struct;
    else if (size_struct > total - off_struct)
        return DTB_ERR_BADLAYOUT;

    /* Strings block: after the header, inside totalsize. */
    if (off_strings < HEADER_SIZE || off_strings > total || size_strings > total - off_strings)
        return DTB_ERR_BADLAYOUT;

    /* Memory reservation map: 8-byte aligned, (0, 0)-terminated inside totalsize. */
    if ((off_rsvmap & 7u) != 0 || off_rsvmap < HEADER_SIZE || off_rsvmap > total)
        return DTB_ERR_BADLAYOUT;
    for (uint32_t e = off_rsvmap;; e += 16) {
        if (total - e < 16)
            return DTB_ERR_BADLAYOUT;
        if (dtb_be64(b + e) == 0 && dtb_be64(b + e + 8) == 0)
            break;
    }

    t->blob = b;
    t->total_size = total;
    t->version = version;
    t->struct_offset = off_struct;
    t->struct_size = size_struct;
    t->strings_offset = off_strings;
    t->strings_size = size_strings;
    t->boot_cpu = boot_cpu;
    return DTB_OK;
}

/* Walks every token once: one root node, balanced BEGIN/END_NODE, properties only inside nodes,
 * and FDT_END after the root closes. Each token advances by at least 4 bytes, so it ends. */
static int check_structure(const struct dtb *t)
{
    uint32_t off = 0, depth = 0;
    int seen_root = 0;
    for (;;) {
        struct token tok;
        int r = read_token(t, off, &tok);
        if (r < 0)
            return r;
        switch (tok.tag) {
        case TOKEN_BEGIN_NODE:
            if (depth == 0 && seen_root)
                return DTB_ERR_BADSTRUCTURE; /* a second root */
            seen_root = 1;
            depth++;
            break;
        case TOKEN_END_NODE:
            if (depth == 0)
                return DTB_ERR_BADSTRUCTURE;
            depth--;
            break;
        case TOKEN_PROP:
            if (depth == 0)
                return DTB_ERR_BADSTRUCTURE;
            break;
        case TOKEN_NOP:
            break;
        case TOKEN_END:
            return depth == 0 && seen_root ? DTB_OK : DTB_ERR_BADSTRUCTURE;
        }
        off = tok.next;
    }
}

int dtb_open(struct dtb *t, const void *blob, size_t buffer_size)
{
    if (!t)
        return DTB_ERR_NULL;
    t->blob = 0;
    t->total_size = 0;
    t->struct_size = 0;
    t->strings_size = 0;
    if (!blob)
        return DTB_ERR_NULL;
    struct dtb candidate;
    int r = read_header(&candidate, (const uint8_t *)blob, buffer_size);
    if (r < 0)
        return r;
    r = check_structure(&candidate);
    if (r < 0)
        return r;
    *t = candidate;
    return DTB_OK;
}

/* Validates that `node` is a BEGIN_NODE token and decodes it. */
static int node_token(const struct dtb *t, int node, struct token *tok)
{
    if (!t || !t->blob)
        return DTB_ERR_NULL;
    if (node < 0)
        return DTB_ERR_BADOFFSET;
    int r = read_token(t, (uint32_t)node, tok);
    if (r < 0 || tok->tag != TOKEN_BEGIN_NODE)
        return DTB_ERR_BADOFFSET;
    return DTB_OK;
}

int dtb_root(const struct dtb *t)
{
    if (!t || !t->blob)
        return DTB_ERR_NULL;
    uint32_t off = 0;
    for (;;) {
        struct token tok;
        int r = read_token(t, off, &tok);
        if (r < 0)
            return r;
        if (tok.tag == TOKEN_BEGIN_NODE)
            return (int)off;
        if (tok.tag != TOKEN_NOP)
            return DTB_ERR_BADSTRUCTURE;
        off = tok.next;
    }
}

int dtb_node_name(const struct dtb *t, int node, const char **name)
{
    struct token tok;
    int r = node_token(t, node, &tok);
    if (r < 0)
        return r;
    if (name)
        *name = tok.name;
    return DTB_OK;
}

int dtb_first_child(const struct dtb *t, int node)
{
    struct token tok;
    int r = node_token(t, node, &tok);
    if (r < 0)
        return r;
    for (uint32_t off = tok.next;; off = tok.next) {
        r = read_token(t, off, &tok);
        if (r < 0)
            return r;
        if (tok.tag == TOKEN_BEGIN_NODE)
            return (int)off;
        if (tok.tag == TOKEN_END_NODE)
            return DTB_ERR_NOTFOUND;
        if (tok.tag == TOKEN_END)
            return DTB_ERR_BADSTRUCTURE;
        /* PROP, NOP: keep going */
    }
}

int dtb_next_sibling(const struct dtb *t, int node)
{
    struct token tok;
    int r = node_token(t, node, &tok);
    if (r < 0)
        return r;
    /* Skip the node's subtree. */
    uint32_t depth = 1, off = tok.next;
    while (depth > 0) {
        r = read_token(t, off, &tok);
        if (r < 0)
            return r;
        if (tok.tag == TOKEN_BEGIN_NODE)
            depth++;
        else if (tok.tag == TOKEN_END_NODE)
            depth--;
        else if (tok.tag == TOKEN_END)
            return DTB_ERR_BADSTRUCTURE;
        off = tok.next;
    }
    /* Then the next node at the same level, if any. */
    for (;; off = tok.next) {
        r = read_token(t, off, &tok);
        if (r < 0)
            return r;
        if (tok.tag == TOKEN_BEGIN_NODE)
            return (int)off;
        if (tok.tag == TOKEN_END_NODE || tok.tag == TOKEN_END)
            return DTB_ERR_NOTFOUND;
    }
}

/* Does node name `name` match path component comp[0 .. len)? Exactly, or, when the component
 * has no unit address, as "<comp>@<unit>". `name` is NUL-terminated (read_token checked it). */
static int component_matches(const char *name, const char *comp, uint32_t len)
{
    int has_unit = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (name[i] != comp[i])
            return 0;
        if (comp[i] == '@')
            has_unit = 1;
    }
    return name[len] == '\0' || (!has_unit && name[len] == '@');
}

static int find_child(const struct dtb *t, int parent, const char *comp, uint32_t len)
{
    int child = dtb_first_child(t, parent);
    while (child >= 0) {
        const char *name;
        int r = dtb_node_name(t, child, &name);
        if (r < 0)
            return r;
        if (component_matches(name, comp, len))
            return child;
        child = dtb_next_sibling(t, child);
    }
    return child; /* DTB_ERR_NOTFOUND or an error */
}

int dtb_find(const struct dtb *t, const char *path)
{
    if (!path || path[0] != '/')
        return DTB_ERR_BADPATH;
    int node = dtb_root(t);
    const char *p = path;
    while (node >= 0) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        uint32_t len = 0;
        while (p[len] && p[len] != '/')
            len++;
        node = find_child(t, node, p, len);
        p += len;
    }
    return node;
}

int dtb_prop(const struct dtb *t, int node, const char *name, const void **data, uint32_t *len)
{
    struct token tok;
    int r = node_token(t, node, &tok);
    if (r < 0)
        return r;
    if (!name)
        return DTB_ERR_NOTFOUND;
    for (uint32_t off = tok.next;; off = tok.next) {
        r = read_token(t, off, &tok);
        if (r < 0)
            return r;
        if (tok.tag == TOKEN_PROP) {
            if (streq(tok.name, name)) {
                if (data)
                    *data = t->blob + t->struct_offset + tok.data;
                if (len)
                    *len = tok.len;
                return DTB_OK;
            }
        } else if (tok.tag != TOKEN_NOP) {
            return DTB_ERR_NOTFOUND; /* properties come before child nodes */
        }
    }
}

int dtb_prop_u32(const struct dtb *t, int node, const char *name, uint32_t *value)
{
    const void *data;
    uint32_t len;
    int r = dtb_prop(t, node, name, &data, &len);
    if (r < 0)
        return r;
    if (len != 4)
        return DTB_ERR_BADVALUE;
    if (value)
        *value = dtb_be32(data);
    return DTB_OK;
}

int dtb_prop_u64(const struct dtb *t, int node, const char *name, uint64_t *value)
{
    const void *data;
    uint32_t len;
    int r = dtb_prop(t, node, name, &data, &len);
    if (r < 0)
        return r;
    if (len != 4 && len != 8)
        return DTB_ERR_BADVALUE;
    if (value)
        *value = len == 8 ? dtb_be64(data) : dtb_be32(data);
    return DTB_OK;
}

int dtb_prop_string(const struct dtb *t, int node, const char *name, const char **value)
{
    const void *data;
    uint32_t len;
    int r = dtb_prop(t, node, name, &data, &len);
    if (r < 0)
        return r;
    if (len == 0 || find_nul((const uint8_t *)data, len) < 0)
        return DTB_ERR_BADSTRING;
    if (value)
        *value = (const char *)data;
    return DTB_OK;
}

int dtb_cpu_count(const struct dtb *t, unsigned *count)
{
    int cpus = dtb_find(t, "/cpus");
    if (cpus < 0)
        return cpus;
    unsigned n = 0;
    int child = dtb_first_child(t, cpus);
    while (child >= 0) {
        const char *name;
        int r = dtb_node_name(t, child, &name);
        if (r < 0)
            return r;
        if (component_matches(name, "cpu", 3))
            n++;
        child = dtb_next_sibling(t, child);
    }
    if (child != DTB_ERR_NOTFOUND)
        return child;
    if (count)
        *count = n;
    return DTB_OK;
}

/* #address-cells / #size-cells of `node`, `fallback` when absent; only 1 and 2 are supported. */
static int cells(const struct dtb *t, int node, const char *name, uint32_t fallback, uint32_t *out)
{
    uint32_t v;
    int r = dtb_prop_u32(t, node, name, &v);
    if (r == DTB_ERR_NOTFOUND)
        v = fallback;
    else if (r < 0)
        return r;
    if (v != 1 && v != 2)
        return DTB_ERR_BADVALUE;
    *out = v;
    return DTB_OK;
}

static uint64_t read_cells(const uint8_t *p, uint32_t n) { return n == 2 ? dtb_be64(p) : dtb_be32(p); }

int dtb_memory(const struct dtb *t, uint64_t *base, uint64_t *size)
{
    int root = dtb_root(t);
    if (root < 0)
        return root;
    uint32_t address_cells, size_cells;
    int r = cells(t, root, "#address-cells", 2, &address_cells);
    if (r < 0)
        return r;
    r = cells(t, root, "#size-cells", 1, &size_cells);
    if (r < 0)
        return r;
    int memory = find_child(t, root, "memory", 6);
    if (memory < 0)
        return memory;
    const void *data;
    uint32_t len;
    r = dtb_prop(t, memory, "reg", &data, &len);
    if (r < 0)
        return r;
    if (len < 4 * (address_cells + size_cells))
        return DTB_ERR_BADVALUE;
    if (base)
        *base = read_cells((const uint8_t *)data, address_cells);
    if (size)
        *size = read_cells((const uint8_t *)data + 4 * address_cells, size_cells);
    return DTB_OK;
}

int dtb_bootargs(const struct dtb *t, const char **args)
{
    int chosen = dtb_find(t, "/chosen");
    if (chosen < 0)
        return chosen;
    return dtb_prop_string(t, chosen, "bootargs", args);
}

const char *dtb_strerror(int err)
{
    switch (err) {
    case DTB_OK: return "ok";
    case DTB_ERR_NOTFOUND: return "not found";
    case DTB_ERR_NULL: return "no blob";
    case DTB_ERR_BADMAGIC: return "bad magic";
    case DTB_ERR_BADVERSION: return "unsupported version";
    case DTB_ERR_TRUNCATED: return "truncated";
    case DTB_ERR_BADLAYOUT: return "block offsets or sizes out of range";
    case DTB_ERR_BADSTRUCTURE: return "malformed structure block";
    case DTB_ERR_BADSTRING: return "unterminated string";
    case DTB_ERR_BADVALUE: return "bad property value";
    case DTB_ERR_BADPATH: return "bad path";
    case DTB_ERR_BADOFFSET: return "not a node offset";
    default: return "unknown error";
    }
}
