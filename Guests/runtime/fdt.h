/*
 * A small read-only reader of flattened device trees (DTB, version 16 and 17).
 *
 * Plain C with no library calls: it builds both for the guests and for the host (fdt-hostcheck.c
 * feeds it corrupt blobs). Every function checks bounds before it reads and returns a negative
 * DTB_ERR_* code on anything malformed; none reads outside [blob, blob + buffer size).
 *
 * dtb_open() validates the header and walks the whole structure block once (balanced nodes,
 * terminated names, property names inside the strings block, data inside the structure block,
 * a final FDT_END), and the other functions still check every step they take.
 *
 * Nodes are named by their offset in the structure block (>= 0), as libfdt does; the root is
 * dtb_root(). Names and string values point into the blob.
 */
#ifndef GUEST_FDT_H
#define GUEST_FDT_H

#include <stddef.h>
#include <stdint.h>

enum {
    DTB_OK = 0,
    DTB_ERR_NOTFOUND = -1,     /* no such node or property */
    DTB_ERR_NULL = -2,         /* no blob (NULL pointer) */
    DTB_ERR_BADMAGIC = -3,     /* header magic is not 0xd00dfeed */
    DTB_ERR_BADVERSION = -4,   /* version < 16, or last compatible version > 17 */
    DTB_ERR_TRUNCATED = -5,    /* totalsize larger than the buffer, or header cut short */
    DTB_ERR_BADLAYOUT = -6,    /* a block offset or size outside totalsize, or misaligned */
    DTB_ERR_BADSTRUCTURE = -7, /* bad token, unbalanced nodes, missing FDT_END, data past the block */
    DTB_ERR_BADSTRING = -8,    /* a name or string value without its terminating NUL */
    DTB_ERR_BADVALUE = -9,     /* a property of the wrong length or with unsupported cells */
    DTB_ERR_BADPATH = -10,     /* a path that does not start with '/' */
    DTB_ERR_BADOFFSET = -11,   /* an offset that is not the start of a node */
};

/* Pass as buffer_size when only the header's totalsize is known (a guest's RDI blob);
 * totalsize is then trusted up to DTB_MAX_TOTALSIZE. */
#define DTB_SIZE_UNKNOWN ((size_t)-1)
#define DTB_MAX_TOTALSIZE (16u << 20)

struct dtb {
    const uint8_t *blob;
    uint32_t total_size;
    uint32_t version;
    uint32_t struct_offset, struct_size;   /* the structure block, in the blob */
    uint32_t strings_offset, strings_size; /* the strings block, in the blob */
    uint32_t boot_cpu;                     /* boot_cpuid_phys */
};

/* Validates the blob and fills *t. buffer_size: bytes readable at blob (or DTB_SIZE_UNKNOWN). */
int dtb_open(struct dtb *t, const void *blob, size_t buffer_size);

/* The root node's offset, or an error. */
int dtb_root(const struct dtb *t);
/* The node at `path` ("/", "/cpus", "/memory@0", "/cpus/cpu@1"). A component without '@' also
 * matches a node named "<component>@<unit>" (the first such child). Returns the offset or an error. */
int dtb_find(const struct dtb *t, const char *path);
/* The first child / next sibling of `node`, or DTB_ERR_NOTFOUND when there is none. */
int dtb_first_child(const struct dtb *t, int node);
int dtb_next_sibling(const struct dtb *t, int node);
/* The node's name (with unit address, "" for the root). */
int dtb_node_name(const struct dtb *t, int node, const char **name);

/* Property `name` of `node`: its data and length. */
int dtb_prop(const struct dtb *t, int node, const char *name, const void **data, uint32_t *len);
/* A big-endian u32 (length exactly 4). */
int dtb_prop_u32(const struct dtb *t, int node, const char *name, uint32_t *value);
/* A big-endian u64 (length 8; length 4 is read as one cell). */
int dtb_prop_u64(const struct dtb *t, int node, const char *name, uint64_t *value);
/* A string (NUL-terminated inside the property's length). */
int dtb_prop_string(const struct dtb *t, int node, const char *name, const char **value);

/* How many children of /cpus are named "cpu" or "cpu@...". */
int dtb_cpu_count(const struct dtb *t, unsigned *count);
/* The first (base, size) of the reg of the first root child named "memory" or "memory@...",
 * using the root's #address-cells / #size-cells (defaults 2 and 1; 1 or 2 supported). */
int dtb_memory(const struct dtb *t, uint64_t *base, uint64_t *size);
/* /chosen's bootargs string. */
int dtb_bootargs(const struct dtb *t, const char **args);

/* A short text for a DTB_* code. */
const char *dtb_strerror(int err);

/* Big-endian loads from any alignment. */
static inline uint32_t dtb_be32(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static inline uint64_t dtb_be64(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint64_t)dtb_be32(b) << 32 | dtb_be32(b + 4);
}

#endif
