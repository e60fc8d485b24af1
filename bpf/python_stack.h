/* SPDX-License-Identifier: GPL-2.0 */
/* Reads the CPython frames of the current thread, for processes userspace registered in `python_procs` with
 * their interpreter's offsets (memsight/events.h, userspace/python/frames.h). Only pointers are copied (code
 * object, instruction); userspace names them, checking each is a code object, so a frame read while the thread
 * moves on can come out unnamed but never named wrongly. */
#ifndef MEMSIGHT_PYTHON_STACK_H
#define MEMSIGHT_PYTHON_STACK_H

#include "memsight/events.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MEMSIGHT_PY_MAX_PROCS);
    __type(key, __u32);
    __type(value, struct memsight_py_proc);
} python_procs SEC(".maps");

#define PY_MAX_THREADS 64 /* threads of one interpreter searched for the current one */
#define PY_MAX_WALK 64    /* frames visited (shim frames included) */

static __always_inline __u64 py_read_ptr(__u64 addr)
{
    __u64 v = 0;
    if (bpf_probe_read_user(&v, sizeof(v), (void *)addr) != 0)
        return 0;
    return v;
}

static __always_inline __u8 py_read_u8(__u64 addr)
{
    __u8 v = 0;
    bpf_probe_read_user(&v, sizeof(v), (void *)addr);
    return v;
}

/* The walks run in bpf_loop() callbacks (Linux 5.17+), so the verifier checks each step once instead of every
 * unrolled path. */
struct py_walk {
    const struct memsight_py_proc *p;
    __u64 tid;
    __u64 at; /* the thread state being looked at, then the frame */
    __u64 found;
    struct memsight_py_frame *out;
    __u32 n, mask;
};

/* One thread state of the interpreter's list: stops at the one whose native_thread_id is the faulting thread. */
static long py_thread_step(__u64 i, void *arg)
{
    struct py_walk *w = arg;
    if (!w->at)
        return 1;
    if (py_read_ptr(w->at + w->p->tstate_native_thread_id) == w->tid) {
        w->found = w->at;
        return 1;
    }
    w->at = py_read_ptr(w->at + w->p->tstate_next);
    return 0;
}

/* One frame of the chain, innermost first. */
static long py_frame_step(__u64 i, void *arg)
{
    struct py_walk *w = arg;
    const struct memsight_py_proc *p = w->p;
    if (!w->at || w->n >= MEMSIGHT_PY_MAX_FRAMES)
        return 1;
    const __u64 frame = w->at;
    w->at = py_read_ptr(frame + p->frame_previous);
    if (p->owner_cstack != 0xff && py_read_u8(frame + p->frame_owner) == p->owner_cstack) {
        /* 3.12+: the eval loop's entry frame; the Python frame before it was the outermost of that call. */
        if (w->n > 0)
            w->mask |= 1u << ((w->n - 1) & 31);
        return 0;
    }
    struct memsight_py_frame *f = &w->out[w->n & (MEMSIGHT_PY_MAX_FRAMES - 1)];
    f->code = py_read_ptr(frame + p->frame_code);
    f->instr = py_read_ptr(frame + p->frame_instr);
    if (p->frame_is_entry != MEMSIGHT_PY_NO_OFFSET && py_read_u8(frame + p->frame_is_entry))
        w->mask |= 1u << (w->n & 31);
    w->n++;
    return 0;
}

/* Fills out[] innermost first; returns the number of frames and sets *entry_mask (bit i: out[i] is the outermost
 * frame of one call of the eval loop, which is where userspace interleaves them with the native frames). */
static __always_inline __u32 read_python_stack(__u32 tgid, __u32 tid, struct memsight_py_frame *out,
                                               __u32 *entry_mask)
{
    *entry_mask = 0;
    const struct memsight_py_proc *p = bpf_map_lookup_elem(&python_procs, &tgid);
    if (!p)
        return 0;
    struct py_walk w = {};
    w.p = p;
    w.tid = tid;
    w.out = out;
    w.at = py_read_ptr(p->interp + p->interp_threads_head);
    bpf_loop(PY_MAX_THREADS, py_thread_step, &w, 0);
    if (!w.found)
        return 0;
    if (p->tstate_cframe != MEMSIGHT_PY_NO_OFFSET)
        w.at = py_read_ptr(py_read_ptr(w.found + p->tstate_cframe) + p->cframe_current_frame);
    else
        w.at = py_read_ptr(w.found + p->tstate_current_frame);
    bpf_loop(PY_MAX_WALK, py_frame_step, &w, 0);
    *entry_mask = w.mask;
    return w.n;
}

#endif
