// SPDX-License-Identifier: GPL-2.0
/* Deep tier: uprobes on one process's allocator. Per (tgid, stack) weighted aggregates and the outstanding
 * allocations live here; mmap-family calls made outside the allocator go to userspace through a ring buffer.
 * Byte sampling: Poisson with mean interval `sample_bytes` (1 = every allocation), per-thread countdown.
 *
 * Every probe hit runs on the traced program's own thread, so the hot path is kept to: one task-storage
 * access per probe; per recorded allocation a frame-pointer walk, a per-thread site cache hit and a claim in one
 * cache line of the outstanding table; per free a scan of one cache line and an array update. No hash map is
 * touched on the hot path (docs/performance.md). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "memsight/alloc_events.h"
#include "memsight/sampling.h"
#include "python_stack.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u64 sample_bytes = 1;
const volatile __u64 page_size = 4096;

#define MAP_ANONYMOUS 0x20
#define MAP_FAILED ((__u64)-1)
#define EEXIST 17

/* Outstanding allocations (memsight/alloc_events.h): buckets of addresses, their blocks, and the spill for
 * full buckets. Sized by the loader; out_mask = buckets - 1. */
const volatile __u32 out_mask = 0;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct memsight_out_bucket);
} out_keys SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, MEMSIGHT_OUT_WAYS);
    __type(key, __u32);
    __type(value, struct memsight_alloc_info);
} out_info SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1);
    __type(key, struct memsight_alloc_key);
    __type(value, struct memsight_alloc_info);
} out_spill SEC(".maps");

__u64 spilled = 0; /* entries in out_spill: a miss in the table looks there only when this is not 0 */

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
#define STACK_CHUNK 1024 /* bytes of user stack read at once by the stack walk */
#define SITE_CACHE 8 /* per-thread direct-mapped cache: stack hash -> site slot (sites are never removed) */
struct thread_state {
    __u32 depth;
    __u32 func;
    __s64 countdown;
    struct memsight_alloc_entry entry;
    struct {
        __u64 stack;
        __u32 slot;
        __u32 pad;
    } site_cache[SITE_CACHE];
    struct memsight_site site;
    __u64 chunk[STACK_CHUNK / 8];
    struct memsight_py_frame py[MEMSIGHT_PY_MAX_FRAMES]; /* a CPython target's frames (python_stack.h) */
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

/* Unbiased byte weight of one sampled allocation: size / P(sampled); its object weight is that over size
 * (memsight_count_weight_q10). */
static __always_inline __u64 weight_bytes(__u64 size)
{
    if (sample_bytes <= 1 || size == 0)
        return size;
    __u64 x_q10 = size * 1024 / sample_bytes;
    if (x_q10 >= MEMSIGHT_WEIGHT_TABLE_SIZE) /* P = 1 - e^-16: 1 within 1e-7 */
        return size;
    __u32 idx = (__u32)x_q10;
    __u32 *f = bpf_map_lookup_elem(&weight_table, &idx);
    __u64 fq = f ? *f : 65536;
    /* f(x) = x / P with x = size / T, so size / P = T * f(x). */
    return (sample_bytes * fq) >> 16;
}

static __always_inline void site_add(__u32 slot, __u64 w_bytes, __u64 size, bool freeing)
{
    struct memsight_site_stats *s = bpf_map_lookup_elem(&site_stats, &slot);
    if (!s)
        return;
    __u64 count_q10 = memsight_count_weight_q10(w_bytes, size);
    if (freeing) {
        __sync_fetch_and_add(&s->free_bytes, w_bytes);
        __sync_fetch_and_add(&s->free_count_q10, count_q10);
    } else {
        __sync_fetch_and_add(&s->alloc_bytes, w_bytes);
        __sync_fetch_and_add(&s->alloc_count_q10, count_q10);
    }
}

/* Allocation times: ages are reported in seconds, so a scheduler tick's resolution is plenty, and
 * bpf_ktime_get_ns() costs about 60 instructions per call. The first allocation of each jiffy reads the clock
 * and the others reuse it (a racing update writes the same tick's time). */
__u64 clock_jiffies = 0;
__u64 clock_ns = 0;
static __always_inline __u64 alloc_time(void)
{
    __u64 j = bpf_jiffies64();
    if (j != clock_jiffies) {
        clock_ns = bpf_ktime_get_ns();
        clock_jiffies = j;
    }
    return clock_ns;
}

static __always_inline __u32 out_bucket(__u32 tgid, __u64 addr)
{
    __u64 page = ((addr >> 12) ^ ((__u64)tgid << 40)) * 0x9e3779b97f4a7c15ULL;
    return ((__u32)(page >> 32) + (__u32)((addr >> 8) & (MEMSIGHT_OUT_PAGE_BUCKETS - 1))) & out_mask;
}

/* Releases way `way` of bucket `b` if it holds (tgid, addr); true when it did. The block is read before the way
 * is cleared: once it is 0, another allocation may take it. The compare-and-swap makes two racing frees of one
 * block (a double free in the program) release it once. */
static __always_inline bool release_way(struct memsight_out_bucket *bk, __u32 b, __u32 way, __u32 tgid, __u64 addr)
{
    __u32 i = b * MEMSIGHT_OUT_WAYS + way;
    struct memsight_alloc_info *info = bpf_map_lookup_elem(&out_info, &i);
    if (!info || info->tgid != tgid)
        return false; /* the same address in another process */
    __u32 slot = info->slot;
    __u64 w_bytes = info->w_bytes, size = info->size;
    if (__sync_val_compare_and_swap(&bk->addr[way & (MEMSIGHT_OUT_WAYS - 1)], addr, 0) != addr)
        return false;
    site_add(slot, w_bytes, size, true);
    return true;
}

static __always_inline bool release_spilled(__u32 tgid, __u64 addr)
{
    if (!spilled)
        return false;
    struct memsight_alloc_key key = {.tgid = tgid, .addr = addr};
    struct memsight_alloc_info *info = bpf_map_lookup_elem(&out_spill, &key);
    if (!info)
        return false;
    __u32 slot = info->slot;
    __u64 w_bytes = info->w_bytes, size = info->size;
    if (bpf_map_delete_elem(&out_spill, &key) != 0)
        return false; /* a racing free of the same block deleted it */
    __sync_fetch_and_add(&spilled, -1);
    site_add(slot, w_bytes, size, true);
    return true;
}

/* A block is released (free, realloc's old block, implicit free). A block never recorded (unsampled, or
 * allocated before the session) costs one scan of one cache line. */
static __always_inline void release(__u32 tgid, __u64 addr)
{
    __u32 b = out_bucket(tgid, addr);
    struct memsight_out_bucket *bk = bpf_map_lookup_elem(&out_keys, &b);
    if (!bk)
        return;
    for (__u32 w = 0; w < MEMSIGHT_OUT_WAYS; w++) {
        if (bk->addr[w] == addr && release_way(bk, b, w, tgid, addr)) {
            count(MEMSIGHT_ACNT_FREES_MATCHED);
            return;
        }
    }
    if (release_spilled(tgid, addr))
        count(MEMSIGHT_ACNT_FREES_MATCHED);
}

/* Records a block of `size` bytes at `addr` for site `slot`. The way is claimed with the address's low bit set
 * (allocators return aligned blocks), the block written, then the address published with an atomic exchange,
 * so neither a free nor userspace ever reads a half-written block. */
static __always_inline void record(__u32 tgid, __u64 addr, __u64 size, __s64 slot)
{
    if (slot < 0)
        return; /* no site (counted): not counted anywhere, so live bytes stay consistent */
    if (addr & 1) {
        count(MEMSIGHT_ACNT_LOST_OUTSTANDING_FULL);
        return;
    }
    __u32 b = out_bucket(tgid, addr);
    struct memsight_out_bucket *bk = bpf_map_lookup_elem(&out_keys, &b);
    if (!bk)
        return;
    __u64 w_bytes = weight_bytes(size);
    __u64 now = alloc_time();
    bool implicit = false;
    /* Returned again without a free we saw: it was freed by a path we do not probe. */
    for (__u32 w = 0; w < MEMSIGHT_OUT_WAYS; w++)
        if (bk->addr[w] == addr && release_way(bk, b, w, tgid, addr))
            implicit = true;
    if (!implicit && release_spilled(tgid, addr))
        implicit = true;
    if (implicit)
        count(MEMSIGHT_ACNT_IMPLICIT_FREES);

    for (__u32 w = 0; w < MEMSIGHT_OUT_WAYS; w++) {
        if (bk->addr[w] != 0 || __sync_val_compare_and_swap(&bk->addr[w], 0, addr | 1) != 0)
            continue;
        __u32 i = b * MEMSIGHT_OUT_WAYS + w;
        struct memsight_alloc_info *info = bpf_map_lookup_elem(&out_info, &i);
        if (!info) {
            bk->addr[w] = 0;
            break;
        }
        info->size = size;
        info->w_bytes = w_bytes;
        info->ts_ns = now;
        info->slot = (__u32)slot;
        info->tgid = tgid;
        __sync_lock_test_and_set(&bk->addr[w], addr);
        count(MEMSIGHT_ACNT_SAMPLED);
        site_add((__u32)slot, w_bytes, size, false);
        return;
    }

    struct memsight_alloc_key key = {.tgid = tgid, .addr = addr};
    struct memsight_alloc_info info = {.size = size, .w_bytes = w_bytes, .ts_ns = now, .slot = (__u32)slot,
                                       .tgid = tgid};
    if (bpf_map_update_elem(&out_spill, &key, &info, BPF_NOEXIST) != 0) {
        count(MEMSIGHT_ACNT_LOST_OUTSTANDING_FULL);
        return; /* not counted in the site either */
    }
    __sync_fetch_and_add(&spilled, 1);
    count(MEMSIGHT_ACNT_SAMPLED);
    site_add((__u32)slot, w_bytes, size, false);
}

/* The call site's user stack by frame pointers, taken in the return probe: at function entry the callee has
 * not pushed its frame pointer yet, so a walk there skips the immediate caller; after the return the chain is
 * complete, and a caller that keeps no frame pointer itself (libstdc++'s operator new) is probed on its own.
 * Only the outermost allocator call records, so no return address above it is a uretprobe trampoline.
 *
 * The walk stops at a frame pointer that does not move up the stack by a sane amount: code built without
 * frame pointers (glibc's __libc_start_call_main, for one) leaves an arbitrary value in rbp, and following it
 * costs a fault and an exception-table search per stack — half the cost of bpf_get_stackid(), which reads on
 * until a read fails.
 *
 * The stack is read STACK_CHUNK bytes at a time into the thread's state, and frames inside the chunk are
 * followed without another read: each read costs about as much as the rest of the probe, and several frames
 * usually fit in one chunk. A chunk that would run past the end of the stack's mapping falls back to reading
 * the one frame record. Returns the frames' 64-bit hash, never 0. */
#define MAX_FRAME_BYTES (16ULL << 20)
struct walk {
    struct thread_state *st;
    __u64 fp;
    __u64 base, end; /* the user addresses st->chunk holds */
    __u64 h;
    __u32 n;
};

/* One frame; false to stop. */
static __always_inline bool walk_one(struct walk *w, __u32 i)
{
    struct thread_state *st = w->st;
    __u64 fp = w->fp;
    if (!fp || (fp & 7) || i >= MEMSIGHT_ALLOC_STACK_DEPTH)
        return false;
    if (fp < w->base || fp + 16 > w->end) {
        if (bpf_probe_read_user(st->chunk, sizeof(st->chunk), (void *)fp) == 0)
            w->end = fp + sizeof(st->chunk);
        else if (bpf_probe_read_user(st->chunk, 16, (void *)fp) == 0)
            w->end = fp + 16;
        else
            return false;
        w->base = fp;
    }
    __u32 k = (__u32)((fp - w->base) / 8);
    if (k > STACK_CHUNK / 8 - 2)
        return false;
    __u64 next = st->chunk[k], ret = st->chunk[k + 1]; /* saved frame pointer, return address */
    if (!ret)
        return false;
    st->site.ips[i & (MEMSIGHT_ALLOC_STACK_DEPTH - 1)] = ret;
    w->h = (w->h ^ ret) * 0xff51afd7ed558ccdULL;
    w->n = i + 1;
    if (next <= fp || next - fp > MAX_FRAME_BYTES)
        return false;
    w->fp = next;
    return true;
}

/* bpf_loop() callback (verified once, not once per frame): WALK_UNROLL frames per call, since a call costs
 * about as much as a frame. Returns 1 to stop. */
#define WALK_UNROLL 4
static long walk_frames(__u32 i, void *arg)
{
    struct walk *w = arg;
#pragma unroll
    for (__u32 u = 0; u < WALK_UNROLL; u++)
        if (!walk_one(w, 1 + i * WALK_UNROLL + u))
            return 1;
    return 0;
}

/* Targets registered in python_procs (CPython processes): when 0, no allocation looks them up. */
__u32 python_targets = 0;

/* A CPython target's Python frames after the native ones, as tagged entries (memsight_py_frame_entry): the site
 * of its allocations is then a Python function (userspace/python/frames.h). A global function, so the verifier
 * checks it once instead of at each of the many places the stack walk is inlined (inlined, it tripled the
 * deep tier's load time); one bpf_loop() step per frame. */
struct py_append {
    struct thread_state *st;
    __u64 adaptive, h;
    __u32 n, frames;
};

static long append_python_frame(__u32 i, void *arg)
{
    struct py_append *a = arg;
    if (i >= a->frames || a->n >= MEMSIGHT_ALLOC_STACK_DEPTH)
        return 1;
    const struct memsight_py_frame *f = &a->st->py[i & (MEMSIGHT_PY_MAX_FRAMES - 1)];
    const __u64 e = memsight_py_frame_entry(f->code, f->instr, a->adaptive);
    if (e) {
        a->st->site.ips[a->n & (MEMSIGHT_ALLOC_STACK_DEPTH - 1)] = e;
        a->h = (a->h ^ e) * 0xff51afd7ed558ccdULL;
        a->n++;
    }
    return 0;
}

__noinline int append_python_frames(struct thread_state *st, __u64 *h, __u32 *n)
{
    if (!st || !h || !n)
        return 0;
    const __u64 pid_tgid = bpf_get_current_pid_tgid();
    const __u32 tgid = pid_tgid >> 32;
    const struct memsight_py_proc *p = bpf_map_lookup_elem(&python_procs, &tgid);
    if (!p)
        return 0;
    struct py_append a = {.st = st, .adaptive = p->code_adaptive, .h = *h, .n = *n};
    __u32 mask;
    a.frames = read_python_stack(tgid, (__u32)pid_tgid, st->py, &mask);
    bpf_loop(MEMSIGHT_PY_MAX_FRAMES, append_python_frame, &a, 0);
    *h = a.h;
    *n = a.n;
    return 0;
}

static __always_inline __u64 walk_stack(struct pt_regs *ctx, struct thread_state *st)
{
    struct walk w = {.st = st, .fp = PT_REGS_FP(ctx), .n = 1};
    st->site.ips[0] = PT_REGS_IP(ctx);
    w.h = (0x9e3779b97f4a7c15ULL ^ st->site.ips[0]) * 0xff51afd7ed558ccdULL;
    bpf_loop((MEMSIGHT_ALLOC_STACK_DEPTH + WALK_UNROLL - 2) / WALK_UNROLL, walk_frames, &w, 0);
    if (python_targets)
        append_python_frames(st, &w.h, &w.n);
    st->site.nr = w.n;
    __u64 h = w.h ^ (w.h >> 32);
    return h ? h : 1;
}

/* The slot of this call's site in site_stats, creating the site on first sight; -1 when the site tables are
 * full (counted). `stack` gets the site key's stack hash (0 when none). */
static __always_inline __s64 site_slot(struct pt_regs *ctx, struct thread_state *st, __u32 tgid, __u64 *stack)
{
    *stack = 0;
    struct memsight_site_key key = {.tgid = tgid, .stack = walk_stack(ctx, st)};
    __u32 c = key.stack & (SITE_CACHE - 1);
    if (st->site_cache[c].stack == key.stack) {
        *stack = key.stack;
        return st->site_cache[c].slot;
    }
    __u32 slot;
    struct memsight_site *site = bpf_map_lookup_elem(&sites, &key);
    if (site) {
        slot = site->slot;
    } else {
        slot = __sync_fetch_and_add(&next_slot, 1);
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
            slot = site->slot;
        }
    }
    st->site_cache[c].stack = key.stack;
    st->site_cache[c].slot = slot;
    *stack = key.stack;
    return slot;
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
