/* The ABI between the deep-tier BPF programs (bpf/alloc.bpf.c) and userspace: map keys and values,
 * ring-buffer records for mmap-family calls, counter indices. C only; keep it stable. */
#ifndef MEMSIGHT_ALLOC_EVENTS_H
#define MEMSIGHT_ALLOC_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MEMSIGHT_ALLOC_STACK_DEPTH 64 /* user frames kept per site */
#define MEMSIGHT_MAX_SITES 16384      /* (tgid, stack) sites per session */

/* Allocation functions. Each thread keeps the entry state of its outermost allocator call tagged with the
 * function, so an allocator calling another probed function (malloc -> mmap, operator new -> malloc) never
 * clobbers the outer call. */
enum memsight_alloc_func {
    MEMSIGHT_FN_MALLOC = 1,
    MEMSIGHT_FN_CALLOC,
    MEMSIGHT_FN_REALLOC,
    MEMSIGHT_FN_REALLOCARRAY,
    MEMSIGHT_FN_POSIX_MEMALIGN,
    MEMSIGHT_FN_ALIGNED_ALLOC,
    MEMSIGHT_FN_MEMALIGN,
    MEMSIGHT_FN_VALLOC,
    MEMSIGHT_FN_PVALLOC,
    MEMSIGHT_FN_NEW,
    MEMSIGHT_FN_MMAP,
    MEMSIGHT_FN_MREMAP,
    MEMSIGHT_FN__MAX,
};

/* What an allocation function's entry saw, for its return probe. */
struct memsight_alloc_entry {
    __u64 size;     /* requested bytes (after overflow checks) */
    __u64 old_ptr;  /* realloc/reallocarray: the block being resized; posix_memalign: memptr; mremap: old addr */
    __u64 old_size; /* mremap: old length */
    __u32 flags;    /* MEMSIGHT_ENTRY_F_* */
    __u32 pad;
};
#define MEMSIGHT_ENTRY_F_SAMPLED 1u /* record the result (sampled, or exact mode) */
#define MEMSIGHT_ENTRY_F_INVALID 2u /* the call cannot allocate (calloc/reallocarray overflow) */

/* Outstanding (recorded) allocations: an open table of buckets in two BPF array maps that userspace reads
 * through mmap. A block's bucket comes from its (tgid, address): each 4 KiB page of a process maps to
 * MEMSIGHT_OUT_PAGE_BUCKETS consecutive buckets at a hashed position, and the block's offset in the page picks
 * one of them, so blocks close in memory share cache lines of the table while pages and processes spread
 * evenly. A bucket is one cache line of MEMSIGHT_OUT_WAYS addresses (0 = free way; low bit set = being
 * written); out_info[bucket * MEMSIGHT_OUT_WAYS + way] holds the block. A block whose bucket is full goes to a
 * small hash map keyed by memsight_alloc_key (the spill). */
#define MEMSIGHT_OUT_WAYS 8
#define MEMSIGHT_OUT_PAGE_BUCKETS 16
struct memsight_out_bucket {
    __u64 addr[MEMSIGHT_OUT_WAYS];
};
struct memsight_alloc_key {
    __u32 tgid;
    __u32 pad;
    __u64 addr;
};
/* Weights are the unbiased estimates this one record stands for: w_bytes bytes, and w_bytes / size objects
 * (1 when size is 0; memsight_count_weight_q10()). Exact mode: w_bytes = size. */
struct memsight_alloc_info {
    __u64 size;
    __u64 w_bytes;
    __u64 ts_ns; /* CLOCK_MONOTONIC at the allocation, to a scheduler tick */
    __u32 slot;  /* the site's index in the site_stats array */
    __u32 tgid;
};

/* Objects one record stands for, in 1/1024 units. */
static inline __u64 memsight_count_weight_q10(__u64 w_bytes, __u64 size)
{
    return size ? w_bytes * 1024 / size : 1024;
}

/* A call site: (tgid, user stack). `stack` is a 64-bit hash of the frames (0 = no stack); the site map holds
 * the frames and the site's slot in the site_stats array, so a free reaches its site's counters with an
 * array index instead of a second hash lookup. */
struct memsight_site_key {
    __u32 tgid;
    __u32 pad;
    __u64 stack;
};
struct memsight_site {
    __u32 slot;
    __u32 nr; /* frames in ips, innermost (the call site) first */
    __u64 ips[MEMSIGHT_ALLOC_STACK_DEPTH];
};
/* Per site (site_stats[slot]), weighted like the outstanding allocations. live = alloc - free. */
struct memsight_site_stats {
    __u64 alloc_bytes;
    __u64 alloc_count_q10;
    __u64 free_bytes;
    __u64 free_count_q10;
};

/* mmap-family calls made outside the allocator go to userspace, which keeps exact interval maps
 * (partial munmap, mremap). */
enum memsight_map_event_type {
    MEMSIGHT_MAP_MMAP = 1,
    MEMSIGHT_MAP_MUNMAP,
    MEMSIGHT_MAP_MREMAP,
};
struct memsight_map_event {
    __u32 type;
    __u32 tgid;
    __u64 ts_ns;
    __u64 addr;     /* mmap: result; munmap: addr; mremap: new address */
    __u64 len;      /* mmap/munmap length; mremap: new length */
    __u64 old_addr; /* mremap */
    __u64 old_len;  /* mremap */
    __u64 stack;    /* mmap: the site key's stack (0 = none) */
};

enum memsight_alloc_counter {
    MEMSIGHT_ACNT_ALLOC_CALLS = 0,   /* allocation calls seen (outermost) */
    MEMSIGHT_ACNT_FREE_CALLS,        /* free/delete calls with a non-NULL pointer */
    MEMSIGHT_ACNT_SAMPLED,           /* allocations recorded */
    MEMSIGHT_ACNT_FREES_MATCHED,     /* frees of recorded allocations */
    MEMSIGHT_ACNT_IMPLICIT_FREES,    /* an address returned again without a seen free */
    MEMSIGHT_ACNT_FAILED_ALLOCS,     /* NULL / MAP_FAILED / error results */
    MEMSIGHT_ACNT_LOST_OUTSTANDING_FULL,
    MEMSIGHT_ACNT_LOST_SITES_FULL,
    MEMSIGHT_ACNT_LOST_STACK,        /* no per-thread buffer for the stack walk */
    MEMSIGHT_ACNT_LOST_ENTRY_FULL,   /* the per-thread state could not be created */
    MEMSIGHT_ACNT_LOST_RINGBUF_FULL,
    MEMSIGHT_ACNT__MAX,
};

#define MEMSIGHT_WEIGHT_TABLE_SIZE 16384 /* f(x) = x / (1 - e^-x) at x = (i + 0.5) / 1024, in 1/65536 units */

#endif
