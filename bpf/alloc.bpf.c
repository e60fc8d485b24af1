// SPDX-License-Identifier: GPL-2.0
/* Deep tier: uprobes on one process's allocator. Per (tgid, stack) weighted aggregates and the outstanding
 * allocations live here; mmap-family calls made outside the allocator go to userspace through a ring buffer.
 * Byte sampling: Poisson with mean interval `sample_bytes` (1 = every allocation), per-thread countdown.
 *
 * Every probe hit runs on the traced program's own thread, so the hot path is kept to: one task-storage
 * access per probe, and per recorded allocation a frame-pointer walk, one site lookup and one outstanding
 * insert; a free is one outstanding lookup, an array update and a delete (docs/performance.md). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "memsight/alloc_events.h"
#include "memsight/sampling.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 sample_bytes = 1;
const volatile __u64 page_size = 4096;

#define MAP_ANONYMOUS 0x20
#define MAP_FAILED ((__u64)-1)
#define EEXIST 17

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536); /* resized by the loader */
    __type(key, struct memsight_alloc_key);
    __type(value, struct memsight_alloc_info);
} outstanding SEC(".maps");

/* (tgid, stack hash) -> frames and slot; the counters are in site_stats[slot]. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MEMSIGHT_MAX_SITES);
    __type(key, struct memsight_site_key);
    __type(value, struct memsight_site);
} sites SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MEMSIGHT_MAX_SITES);
    __type(key, __u32);
    __type(value, struct memsight_site_stats);
} site_stats SEC(".maps");

__u32 next_slot = 0;

/* Per thread (task-local storage: no hashing, freed with the thread): allocator call depth (only the
 * outermost call records), the sampling countdown (0 = not drawn yet), the outermost call's entry state for
 * its return probe, and the buffer the stack walk fills (task-local, so a preempted probe cannot share it).
 * The entry is keyed by (thread, function) through `func`, so a nested call never clobbers the outer one. */
struct thread_state {
    __u32 depth;
    __u32 func;
    __s64 countdown;
    struct memsight_alloc_entry entry;
    struct memsight_site site;
};
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct thread_state);
} threads SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MEMSIGHT_WEIGHT_TABLE_SIZE);
    __type(key, __u32);
    __type(value, __u32);
} weight_table SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MEMSIGHT_LOG_TABLE_SIZE);
    __type(key, __u32);
    __type(value, __u32);
} log_table SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} map_events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MEMSIGHT_ACNT__MAX);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

/* a * b overflows 64 bits. The barrier stops clang from turning the division into a 128-bit multiply,
 * which BPF cannot call. */
static __always_inline bool mul_overflows(__u64 a, __u64 b)
{
    if (!a)
        return false;
    __u64 limit = ~0ULL / a;
    asm volatile("" : "+r"(limit));
    return b > limit;
}

static __always_inline void count(__u32 idx)
{
    __u64 *v = bpf_map_lookup_elem(&counters, &idx);
    if (v)
        (*v)++;
}

static __always_inline struct thread_state *thread(bool create)
{
    return bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0,
                                create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* Next exponential gap with mean sample_bytes (see memsight/sampling.h). */
static __always_inline __s64 draw_gap(void)
{
    __u32 k, idx, frac;
    memsight_gap_parts(bpf_get_prandom_u32(), &k, &idx, &frac);
    __u32 idx1 = idx + 1;
    __u32 *lo = bpf_map_lookup_elem(&log_table, &idx);
    __u32 *hi = bpf_map_lookup_elem(&log_table, &idx1);
    if (!lo || !hi)
        return (__s64)sample_bytes;
    return (__s64)((sample_bytes * memsight_gap_q16(k, *lo, *hi, frac)) >> 16) + 1;
}

/* Does an allocation of `size` bytes carry a sample? Exact mode: always. */
static __always_inline bool take_sample(struct thread_state *st, __u64 size)
{
    if (sample_bytes <= 1)
        return true;
    if (st->countdown == 0) /* a new thread; draw_gap() is never 0 */
        st->countdown = draw_gap();
    st->countdown -= (__s64)size;
    if (st->countdown > 0)
        return false;
    st->countdown = draw_gap();
    return true;
}

/* Unbiased weights of one sampled allocation: bytes = size / P(sampled), objects = 1 / P (in 1/1024). */
static __always_inline void weights(__u64 size, __u64 *w_bytes, __u64 *w_count_q10)
{
    if (sample_bytes <= 1 || size == 0) {
        *w_bytes = size;
        *w_count_q10 = 1024;
        return;
    }
    __u64 x_q10 = size * 1024 / sample_bytes;
    if (x_q10 >= MEMSIGHT_WEIGHT_TABLE_SIZE) { /* P = 1 - e^-16: 1 within 1e-7 */
        *w_bytes = size;
        *w_count_q10 = 1024;
        return;
    }
    __u32 idx = (__u32)x_q10;
    __u32 *f = bpf_map_lookup_elem(&weight_table, &idx);
    __u64 fq = f ? *f : 65536;
    /* f(x) = x / P with x = size / T, so size / P = T * f(x). */
    *w_bytes = (sample_bytes * fq) >> 16;
    *w_count_q10 = *w_bytes * 1024 / size;
}

static __always_inline void site_add(__u32 slot, __u64 bytes, __u64 count_q10, bool freeing)
{
    struct memsight_site_stats *s = bpf_map_lookup_elem(&site_stats, &slot);
    if (!s)
        return;
    if (freeing) {
        __sync_fetch_and_add(&s->free_bytes, bytes);
        __sync_fetch_and_add(&s->free_count_q10, count_q10);
    } else {
        __sync_fetch_and_add(&s->alloc_bytes, bytes);
        __sync_fetch_and_add(&s->alloc_count_q10, count_q10);
    }
}

/* A recorded block is released (free, realloc's old block, implicit free). */
static __always_inline void release(__u32 tgid, __u64 addr)
{
    struct memsight_alloc_key key = {.tgid = tgid, .addr = addr};
    struct memsight_alloc_info *info = bpf_map_lookup_elem(&outstanding, &key);
    if (!info)
        return; /* never sampled: one lookup, done */
    site_add(info->slot, info->w_bytes, info->w_count_q10, true);
    bpf_map_delete_elem(&outstanding, &key);
    count(MEMSIGHT_ACNT_FREES_MATCHED);
}

static __always_inline void record(__u32 tgid, __u64 addr, __u64 size, __s64 slot)
{
    if (slot < 0)
        return; /* no site (counted): not counted anywhere, so live bytes stay consistent */
    struct memsight_alloc_key key = {.tgid = tgid, .addr = addr};
    struct memsight_alloc_info info = {.size = size, .ts_ns = bpf_ktime_get_ns(), .slot = (__u32)slot};
    weights(size, &info.w_bytes, &info.w_count_q10);
    long err = bpf_map_update_elem(&outstanding, &key, &info, BPF_NOEXIST);
    if (err == -EEXIST) {
        /* Returned again without a free we saw: it was freed by a path we do not probe. */
        count(MEMSIGHT_ACNT_IMPLICIT_FREES);
        release(tgid, addr);
        err = bpf_map_update_elem(&outstanding, &key, &info, BPF_NOEXIST);
    }
    if (err != 0) {
        count(MEMSIGHT_ACNT_LOST_OUTSTANDING_FULL);
        return; /* not counted in the site either */
    }
    count(MEMSIGHT_ACNT_SAMPLED);
    site_add((__u32)slot, info.w_bytes, info.w_count_q10, false);
}

/* The call site's user stack by frame pointers, taken in the return probe: at function entry the callee has
 * not pushed its frame pointer yet, so a walk there skips the immediate caller; after the return the chain is
 * complete, and a caller that keeps no frame pointer itself (libstdc++'s operator new) is probed on its own.
 * Only the outermost allocator call records, so no return address above it is a uretprobe trampoline.
 *
 * The walk stops at a frame pointer that does not move up the stack by a sane amount: code built without
 * frame pointers (glibc's __libc_start_call_main, for one) leaves an arbitrary value in rbp, and following it
 * costs a fault and an exception-table search per stack — half the cost of bpf_get_stackid(), which reads on
 * until a read fails. Returns the frames' 64-bit hash, never 0. */
#define MAX_FRAME_BYTES (16ULL << 20)
static __always_inline __u64 walk_stack(struct pt_regs *ctx, struct memsight_site *out)
{
    __u64 fp = PT_REGS_FP(ctx);
    __u64 h = 0x9e3779b97f4a7c15ULL;
    __u32 n = 1;
    out->ips[0] = PT_REGS_IP(ctx);
    h = (h ^ out->ips[0]) * 0xff51afd7ed558ccdULL;
    for (int i = 1; i < MEMSIGHT_ALLOC_STACK_DEPTH; i++) {
        __u64 frame[2]; /* saved frame pointer, return address */
        if (!fp || (fp & 7) || bpf_probe_read_user(frame, sizeof(frame), (void *)fp) != 0 || !frame[1])
            break;
        out->ips[i] = frame[1];
        h = (h ^ frame[1]) * 0xff51afd7ed558ccdULL;
        n = i + 1;
        if (frame[0] <= fp || frame[0] - fp > MAX_FRAME_BYTES)
            break;
        fp = frame[0];
    }
    out->nr = n;
    h ^= h >> 32;
    return h ? h : 1;
}

/* The slot of this call's site in site_stats, creating the site on first sight; -1 when the site tables are
 * full (counted). `stack` gets the site key's stack hash (0 when none). */
static __always_inline __s64 site_slot(struct pt_regs *ctx, struct thread_state *st, __u32 tgid, __u64 *stack)
{
    *stack = 0;
    struct memsight_site_key key = {.tgid = tgid, .stack = walk_stack(ctx, &st->site)};
    struct memsight_site *site = bpf_map_lookup_elem(&sites, &key);
    if (!site) {
        __u32 slot = __sync_fetch_and_add(&next_slot, 1);
        if (slot >= MEMSIGHT_MAX_SITES) {
            count(MEMSIGHT_ACNT_LOST_SITES_FULL);
            return -1;
        }
        st->site.slot = slot;
        if (bpf_map_update_elem(&sites, &key, &st->site, BPF_NOEXIST) != 0) {
            site = bpf_map_lookup_elem(&sites, &key); /* another thread created it first */
            if (!site) {
                count(MEMSIGHT_ACNT_LOST_SITES_FULL);
                return -1;
            }
        } else {
            *stack = key.stack;
            return slot;
        }
    }
    *stack = key.stack;
    return site->slot;
}

static __always_inline void record_here(struct pt_regs *ctx, struct thread_state *st, __u32 tgid, __u64 addr)
{
    __u64 stack;
    record(tgid, addr, st->entry.size, site_slot(ctx, st, tgid, &stack));
}

/* Entry of an allocation function. The sampling decision uses the requested size; invalid calls are followed
 * to their return only to keep the depth balanced. */
static __always_inline void enter(__u32 func, __u64 size, __u64 old_ptr, __u64 old_size, bool invalid,
                                  bool force_sample)
{
    struct thread_state *st = thread(true);
    if (!st) {
        count(MEMSIGHT_ACNT_LOST_ENTRY_FULL);
        return;
    }
    if (st->depth++ != 0)
        return; /* inside another allocator call: the outer one records */
    count(MEMSIGHT_ACNT_ALLOC_CALLS);
    st->func = func;
    st->entry.size = size;
    st->entry.old_ptr = old_ptr;
    st->entry.old_size = old_size;
    st->entry.flags = 0;
    if (invalid)
        st->entry.flags = MEMSIGHT_ENTRY_F_INVALID;
    else if (force_sample || take_sample(st, size))
        st->entry.flags = MEMSIGHT_ENTRY_F_SAMPLED;
}

/* Return of an allocation function: pops the depth; the thread's state when this was the outer call (its
 * `entry` stays valid until the thread's next allocator call), else NULL. */
static __always_inline struct thread_state *leave(__u32 func)
{
    struct thread_state *st = thread(false);
    if (!st || st->depth == 0)
        return NULL;
    if (--st->depth != 0 || st->func != func)
        return NULL;
    st->func = 0;
    return st;
}

static __always_inline void finish_alloc(struct pt_regs *ctx, __u32 func, __u64 ret)
{
    struct thread_state *st = leave(func);
    if (!st)
        return;
    if (!ret) {
        count(MEMSIGHT_ACNT_FAILED_ALLOCS);
        return;
    }
    if (st->entry.flags & MEMSIGHT_ENTRY_F_SAMPLED)
        record_here(ctx, st, bpf_get_current_pid_tgid() >> 32, ret);
}

/* ---- malloc-like: (size) ---- */
SEC("uprobe")
int BPF_KPROBE(malloc_enter, __u64 size) { enter(MEMSIGHT_FN_MALLOC, size, 0, 0, false, false); return 0; }
SEC("uretprobe")
int BPF_KRETPROBE(malloc_exit, __u64 ret) { finish_alloc(ctx, MEMSIGHT_FN_MALLOC, ret); return 0; }

SEC("uprobe")
int BPF_KPROBE(new_enter, __u64 size) { enter(MEMSIGHT_FN_NEW, size, 0, 0, false, false); return 0; }
SEC("uretprobe")
int BPF_KRETPROBE(new_exit, __u64 ret) { finish_alloc(ctx, MEMSIGHT_FN_NEW, ret); return 0; }

SEC("uprobe")
int BPF_KPROBE(valloc_enter, __u64 size) { enter(MEMSIGHT_FN_VALLOC, size, 0, 0, false, false); return 0; }
SEC("uretprobe")
int BPF_KRETPROBE(valloc_exit, __u64 ret) { finish_alloc(ctx, MEMSIGHT_FN_VALLOC, ret); return 0; }

/* pvalloc rounds the size up to a whole page. */
SEC("uprobe")
int BPF_KPROBE(pvalloc_enter, __u64 size)
{
    __u64 rounded = (size + page_size - 1) & ~(page_size - 1);
    enter(MEMSIGHT_FN_PVALLOC, rounded ? rounded : page_size, 0, 0, false, false);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(pvalloc_exit, __u64 ret) { finish_alloc(ctx, MEMSIGHT_FN_PVALLOC, ret); return 0; }

/* ---- (alignment, size) ---- */
SEC("uprobe")
int BPF_KPROBE(aligned_alloc_enter, __u64 align, __u64 size)
{
    enter(MEMSIGHT_FN_ALIGNED_ALLOC, size, 0, 0, false, false);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(aligned_alloc_exit, __u64 ret) { finish_alloc(ctx, MEMSIGHT_FN_ALIGNED_ALLOC, ret); return 0; }

SEC("uprobe")
int BPF_KPROBE(memalign_enter, __u64 align, __u64 size)
{
    enter(MEMSIGHT_FN_MEMALIGN, size, 0, 0, false, false);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(memalign_exit, __u64 ret) { finish_alloc(ctx, MEMSIGHT_FN_MEMALIGN, ret); return 0; }

/* ---- calloc(nmemb, size): an overflowing product allocates nothing ---- */
SEC("uprobe")
int BPF_KPROBE(calloc_enter, __u64 nmemb, __u64 size)
{
    bool overflow = mul_overflows(nmemb, size);
    enter(MEMSIGHT_FN_CALLOC, overflow ? 0 : nmemb * size, 0, 0, overflow, false);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(calloc_exit, __u64 ret) { finish_alloc(ctx, MEMSIGHT_FN_CALLOC, ret); return 0; }

/* ---- realloc(p, n): frees p only when it succeeds; realloc(p, 0) frees p and returns NULL (glibc);
 * realloc(NULL, n) is malloc(n). ---- */
static __always_inline void finish_realloc(struct pt_regs *ctx, __u32 func, __u64 ret)
{
    struct thread_state *st = leave(func);
    if (!st)
        return;
    const struct memsight_alloc_entry *e = &st->entry;
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (e->flags & MEMSIGHT_ENTRY_F_INVALID) {
        count(MEMSIGHT_ACNT_FAILED_ALLOCS);
        return;
    }
    if (!ret) {
        if (e->size == 0 && e->old_ptr)
            release(tgid, e->old_ptr); /* realloc(p, 0) freed p */
        else
            count(MEMSIGHT_ACNT_FAILED_ALLOCS); /* failed: p is untouched */
        return;
    }
    if (e->old_ptr)
        release(tgid, e->old_ptr);
    if (e->flags & MEMSIGHT_ENTRY_F_SAMPLED)
        record_here(ctx, st, tgid, ret);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, __u64 ptr, __u64 size)
{
    enter(MEMSIGHT_FN_REALLOC, size, ptr, 0, false, false);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(realloc_exit, __u64 ret) { finish_realloc(ctx, MEMSIGHT_FN_REALLOC, ret); return 0; }

SEC("uprobe")
int BPF_KPROBE(reallocarray_enter, __u64 ptr, __u64 nmemb, __u64 size)
{
    bool overflow = mul_overflows(nmemb, size);
    enter(MEMSIGHT_FN_REALLOCARRAY, overflow ? 0 : nmemb * size, ptr, 0, overflow, false);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(reallocarray_exit, __u64 ret) { finish_realloc(ctx, MEMSIGHT_FN_REALLOCARRAY, ret); return 0; }

/* ---- posix_memalign(memptr, align, size): returns 0 and stores the block in *memptr ---- */
SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, __u64 memptr, __u64 align, __u64 size)
{
    enter(MEMSIGHT_FN_POSIX_MEMALIGN, size, memptr, 0, false, false);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(posix_memalign_exit, int ret)
{
    struct thread_state *st = leave(MEMSIGHT_FN_POSIX_MEMALIGN);
    if (!st)
        return 0;
    if (ret != 0) {
        count(MEMSIGHT_ACNT_FAILED_ALLOCS);
        return 0;
    }
    __u64 addr = 0;
    if (bpf_probe_read_user(&addr, sizeof(addr), (void *)st->entry.old_ptr) != 0 || !addr)
        return 0;
    if (st->entry.flags & MEMSIGHT_ENTRY_F_SAMPLED)
        record_here(ctx, st, bpf_get_current_pid_tgid() >> 32, addr);
    return 0;
}

/* ---- free(p), operator delete(p, ...) ---- */
SEC("uprobe")
int BPF_KPROBE(free_enter, __u64 ptr)
{
    if (!ptr)
        return 0;
    count(MEMSIGHT_ACNT_FREE_CALLS);
    release(bpf_get_current_pid_tgid() >> 32, ptr);
    return 0;
}

/* ---- mmap family, outside the allocator only: to userspace ---- */
static __always_inline bool inside_allocator(void)
{
    struct thread_state *st = thread(false);
    return st && st->depth > 0;
}

static __always_inline void emit_map(__u32 type, __u64 addr, __u64 len, __u64 old_addr, __u64 old_len, __u64 stack)
{
    struct memsight_map_event *ev = bpf_ringbuf_reserve(&map_events, sizeof(*ev), 0);
    if (!ev) {
        count(MEMSIGHT_ACNT_LOST_RINGBUF_FULL);
        return;
    }
    ev->type = type;
    ev->tgid = bpf_get_current_pid_tgid() >> 32;
    ev->ts_ns = bpf_ktime_get_ns();
    ev->addr = addr;
    ev->len = len;
    ev->old_addr = old_addr;
    ev->old_len = old_len;
    ev->stack = stack;
    bpf_ringbuf_submit(ev, 0);
}

SEC("uprobe")
int BPF_KPROBE(mmap_enter, __u64 addr, __u64 len, int prot, int flags)
{
    /* Inside the allocator (depth > 0) this only nests; file mappings are followed but not recorded. */
    enter(MEMSIGHT_FN_MMAP, len, 0, 0, !(flags & MAP_ANONYMOUS), true);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(mmap_exit, __u64 ret)
{
    struct thread_state *st = leave(MEMSIGHT_FN_MMAP);
    if (!st || !(st->entry.flags & MEMSIGHT_ENTRY_F_SAMPLED))
        return 0;
    if (ret == MAP_FAILED)
        count(MEMSIGHT_ACNT_FAILED_ALLOCS);
    else {
        __u64 stack;
        site_slot(ctx, st, bpf_get_current_pid_tgid() >> 32, &stack); /* stores the frames for userspace */
        emit_map(MEMSIGHT_MAP_MMAP, ret, st->entry.size, 0, 0, stack);
    }
    return 0;
}

SEC("uprobe")
int BPF_KPROBE(munmap_enter, __u64 addr, __u64 len)
{
    if (!inside_allocator())
        emit_map(MEMSIGHT_MAP_MUNMAP, addr, len, 0, 0, 0);
    return 0;
}

SEC("uprobe")
int BPF_KPROBE(mremap_enter, __u64 old_addr, __u64 old_len, __u64 new_len)
{
    enter(MEMSIGHT_FN_MREMAP, new_len, old_addr, old_len, false, true);
    return 0;
}
SEC("uretprobe")
int BPF_KRETPROBE(mremap_exit, __u64 ret)
{
    struct thread_state *st = leave(MEMSIGHT_FN_MREMAP);
    if (!st)
        return 0;
    if (ret == MAP_FAILED)
        count(MEMSIGHT_ACNT_FAILED_ALLOCS);
    else
        emit_map(MEMSIGHT_MAP_MREMAP, ret, st->entry.size, st->entry.old_ptr, st->entry.old_size, 0);
    return 0;
}
