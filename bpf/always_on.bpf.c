// SPDX-License-Identifier: GPL-2.0
/* Always-on tier: process lifecycle, OOM kills and sampled page-fault stacks for every process, with the
 * CPython frames of the Python processes userspace registers (python_stack.h).
 * No kprobes, fentry or iterators: only tracepoints and a perf_event program, which exist on every
 * kernel memsight supports. Rare events go to one ring buffer; fault samples are aggregated here.
 * One uprobe program, python_alloc_return, is attached on demand only (`memsight leaks` on a CPython process). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "memsight/events.h"
#include "python_stack.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile __u64 page_size = 4096;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20); /* resized by the loader */
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MEMSIGHT_CNT__MAX);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

/* Victims marked by the OOM killer and not yet exited. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MEMSIGHT_OOM_MAP_ENTRIES);
    __type(key, __u32);
    __type(value, __u8);
} oom_victims SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);
    __uint(max_entries, MEMSIGHT_STACK_MAP_ENTRIES);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, MEMSIGHT_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MEMSIGHT_FAULT_MAP_ENTRIES);
    __type(key, struct memsight_fault_key);
    __type(value, __u64);
} faults SEC(".maps");

static __always_inline void count(__u32 idx)
{
    __u64 *v = bpf_map_lookup_elem(&counters, &idx);
    if (v)
        (*v)++;
}

/* kernfs id of the task's memory cgroup (cgroup v1 memory hierarchy or the v2 unified one). It equals the
 * inode number of the cgroup's directory, which userspace maps back to a path. */
static __always_inline __u64 task_memcg_id(struct task_struct *task)
{
    if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
        return 0;
    int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
    if (id < 0 || id >= CGROUP_SUBSYS_COUNT)
        return 0;
    struct css_set *cset = BPF_CORE_READ(task, cgroups);
    struct cgroup_subsys_state *css = NULL;
    bpf_core_read(&css, sizeof(css), &cset->subsys[id]);
    if (!css)
        return 0;
    return BPF_CORE_READ(css, cgroup, kn, id);
}

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();

    count(MEMSIGHT_CNT_EXEC_SEEN);
    struct memsight_exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count(MEMSIGHT_CNT_LOST_RINGBUF_FULL);
        return 0;
    }
    e->h.type = MEMSIGHT_EV_EXEC;
    e->h.tgid = pid_tgid >> 32;
    e->h.ts_ns = bpf_ktime_get_ns();
    e->ppid = BPF_CORE_READ(task, real_parent, tgid);
    e->pad = 0;
    e->cgroup_id = task_memcg_id(task);
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_exit *ctx)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tgid = pid_tgid >> 32;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();

    /* Only the exit of the last thread ends the process. Kernels >= 6.16 say so in the tracepoint;
     * older ones decrement signal->live before it, so 0 means the group is dead. */
    bool group_dead;
    if (bpf_core_field_exists(ctx->group_dead))
        group_dead = BPF_CORE_READ(ctx, group_dead);
    else
        group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;
    if (!group_dead)
        return 0;

    count(MEMSIGHT_CNT_EXIT_SEEN);
    __u32 flags = 0;
    if (bpf_map_lookup_elem(&oom_victims, &tgid)) {
        flags |= MEMSIGHT_EXIT_F_OOM_VICTIM;
        bpf_map_delete_elem(&oom_victims, &tgid);
    }

    struct memsight_exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count(MEMSIGHT_CNT_LOST_RINGBUF_FULL);
        return 0;
    }
    e->h.type = MEMSIGHT_EV_EXIT;
    e->h.tgid = tgid;
    e->h.ts_ns = bpf_ktime_get_ns();
    e->ppid = BPF_CORE_READ(task, real_parent, tgid);
    e->flags = flags;
    e->exit_code = BPF_CORE_READ(task, exit_code);
    e->pad = 0;
    /* do_exit() folds the mm's high-water mark into signal->maxrss (pages) before this tracepoint. */
    e->peak_rss_bytes = BPF_CORE_READ(task, signal, maxrss) * page_size;
    e->start_ns = BPF_CORE_READ(task, group_leader, start_time);
    e->cgroup_id = task_memcg_id(task);
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("tp/oom/mark_victim")
int handle_mark_victim(struct trace_event_raw_mark_victim *ctx)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    __u32 victim = BPF_CORE_READ(ctx, pid);
    __u8 one = 1;

    count(MEMSIGHT_CNT_OOM_SEEN);
    if (bpf_map_update_elem(&oom_victims, &victim, &one, BPF_ANY) != 0)
        count(MEMSIGHT_CNT_LOST_OOM_MAP_FULL);

    struct memsight_oom_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count(MEMSIGHT_CNT_LOST_RINGBUF_FULL);
        return 0;
    }
    __builtin_memset(e, 0, sizeof(*e));
    e->h.type = MEMSIGHT_EV_OOM;
    e->h.tgid = victim;
    e->h.ts_ns = bpf_ktime_get_ns();
    e->trigger_tgid = bpf_get_current_pid_tgid() >> 32;
    e->trigger_cgroup_id = task_memcg_id(task);
    bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
    /* The size fields (in kB) and the comm exist since Linux 6.1. */
    if (bpf_core_field_exists(ctx->total_vm)) {
        e->total_vm_bytes = BPF_CORE_READ(ctx, total_vm) * 1024;
        e->anon_rss_bytes = BPF_CORE_READ(ctx, anon_rss) * 1024;
        e->file_rss_bytes = BPF_CORE_READ(ctx, file_rss) * 1024;
        e->shmem_rss_bytes = BPF_CORE_READ(ctx, shmem_rss) * 1024;
        e->uid = BPF_CORE_READ(ctx, uid);
        e->oom_score_adj = BPF_CORE_READ(ctx, oom_score_adj);
    }
    if (bpf_core_field_exists(ctx->pgtables))
        e->pgtables_bytes = BPF_CORE_READ(ctx, pgtables) * 1024;
    if (bpf_core_field_exists(ctx->__data_loc_comm)) {
        __u32 loc = BPF_CORE_READ(ctx, __data_loc_comm);
        bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), (void *)ctx + (loc & 0xffff));
    }
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* Only this process's faults are sampled when set (`memsight leaks` on one process); 0 = every process. */
const volatile __u32 fault_tgid = 0;

/* Per-CPU countdown of the raw-tracepoint sampler. */
const volatile __u64 fault_period = 1000;
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} fault_countdown SEC(".maps");

static __always_inline int sample_fault(void *ctx)
{
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 tgid = pid_tgid >> 32;
    if (tgid == 0)
        return 0;

    count(MEMSIGHT_CNT_FAULT_SAMPLES);
    struct memsight_fault_key key = {};
    key.tgid = tgid;
    key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
    if (key.user_stack_id < 0)
        count(MEMSIGHT_CNT_LOST_STACK_MAP);
    bpf_get_current_comm(key.comm, sizeof(key.comm));

    __u64 *v = bpf_map_lookup_elem(&faults, &key);
    if (v) {
        __sync_fetch_and_add(v, 1);
        return 0;
    }
    __u64 one = 1;
    if (bpf_map_update_elem(&faults, &key, &one, BPF_NOEXIST) != 0) {
        v = bpf_map_lookup_elem(&faults, &key);
        if (v)
            __sync_fetch_and_add(v, 1);
        else
            count(MEMSIGHT_CNT_LOST_FAULT_MAP_FULL);
    }
    return 0;
}

/* Sampled software page-fault event: the kernel's perf counter calls this every `sample_period` faults on
 * each CPU. Portable, but the software perf event costs ~300 instructions on every fault. */
SEC("perf_event")
int handle_fault_sample(struct bpf_perf_event_data *ctx)
{
    if (fault_tgid && (bpf_get_current_pid_tgid() >> 32) != fault_tgid)
        return 0;
    return sample_fault(ctx);
}

/* Bytes of user stack copied per raw-tracepoint sample (0..MEMSIGHT_FAULT_STACK_MAX); 0 = walk frame pointers. */
const volatile __u32 stack_window = 0;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096); /* resized by the loader */
} fault_stacks SEC(".maps");

/* Per-CPU scratch for one copied sample; one page more than the largest window, so the verifier can prove each
 * page-sized read in bounds. */
struct fault_stack_buf {
    struct memsight_fault_stack h;
    __u8 stack[MEMSIGHT_FAULT_STACK_MAX + 4096];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fault_stack_buf);
} fault_stack_scratch SEC(".maps");

/* Copies the user registers and the top `stack_window` bytes of the user stack of the faulting thread, page by
 * page (a page that cannot be read ends the copy), and ships them without waking the reader: the agent drains the
 * ring on its own schedule. Userspace unwinds them with the binaries' CFI, which frame pointers cannot do through
 * glibc (issue 11; docs/design/growth-site-unwinding.md). */
static __always_inline int copy_fault_stack(struct pt_regs *regs, __u64 address)
{
    __u32 zero = 0;
    struct fault_stack_buf *b = bpf_map_lookup_elem(&fault_stack_scratch, &zero);
    if (!b)
        return 0;
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    if ((pid_tgid >> 32) == 0)
        return 0;
    count(MEMSIGHT_CNT_FAULT_SAMPLES);

    struct pt_regs ur;
    if (bpf_probe_read_kernel(&ur, sizeof(ur), regs) != 0)
        __builtin_memset(&ur, 0, sizeof(ur));
    b->h.tgid = pid_tgid >> 32;
    b->h.tid = (__u32)pid_tgid;
    b->h.pad = 0;
    b->h.addr = address;
    b->h.py_nframes = read_python_stack(b->h.tgid, b->h.tid, b->h.py, &b->h.py_entry_mask);
    bpf_get_current_comm(b->h.comm, sizeof(b->h.comm));
    b->h.regs[0] = ur.ax;
    b->h.regs[1] = ur.dx;
    b->h.regs[2] = ur.cx;
    b->h.regs[3] = ur.bx;
    b->h.regs[4] = ur.si;
    b->h.regs[5] = ur.di;
    b->h.regs[6] = ur.bp;
    b->h.regs[7] = ur.sp;
    b->h.regs[8] = ur.r8;
    b->h.regs[9] = ur.r9;
    b->h.regs[10] = ur.r10;
    b->h.regs[11] = ur.r11;
    b->h.regs[12] = ur.r12;
    b->h.regs[13] = ur.r13;
    b->h.regs[14] = ur.r14;
    b->h.regs[15] = ur.r15;
    b->h.regs[16] = ur.ip;

    const __u64 sp = ur.sp;
    __u32 len = stack_window;
    if (len > MEMSIGHT_FAULT_STACK_MAX)
        len = MEMSIGHT_FAULT_STACK_MAX;
    /* Above the main thread's initial stack pointer there are only argv and the environment. */
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    const __u64 top = BPF_CORE_READ(task, mm, start_stack) + 64;
    if (top > sp && top - sp < len)
        len = top - sp;
    __u32 off = 0;
    for (int i = 0; i < MEMSIGHT_FAULT_STACK_MAX / 4096 + 1; i++) {
        if (off >= len || off > MEMSIGHT_FAULT_STACK_MAX)
            break;
        __u32 chunk = 4096 - ((sp + off) & 4095);
        if (chunk > len - off)
            chunk = len - off;
        chunk = ((chunk - 1) & 4095) + 1; /* [1, 4096], for the verifier */
        if (bpf_probe_read_user(b->stack + off, chunk, (void *)(sp + off)) != 0)
            break;
        off += chunk;
    }
    b->h.stack_len = off;

    /* A uretprobe (the deep tier's, or anyone's) replaced the return address of each function it watches with
     * the kernel's trampoline; put the original back into the copy, or the unwinder loses the caller. */
    if (bpf_core_field_exists(task->utask)) {
        struct return_instance *ri = BPF_CORE_READ(task, utask, return_instances);
        for (int i = 0; i < 8 && ri; i++) {
            const __u64 slot = BPF_CORE_READ(ri, stack); /* where the return address was */
            if (slot >= sp && slot - sp <= MEMSIGHT_FAULT_STACK_MAX && slot - sp + 8 <= off) {
                __u64 orig = BPF_CORE_READ(ri, orig_ret_vaddr);
                __builtin_memcpy(b->stack + (slot - sp), &orig, sizeof(orig));
            }
            ri = BPF_CORE_READ(ri, next);
        }
    }

    __u64 size = sizeof(b->h) + off;
    if (size > sizeof(*b))
        return 0;
    if (bpf_ringbuf_output(&fault_stacks, b, size, BPF_RB_NO_WAKEUP) != 0)
        count(MEMSIGHT_CNT_LOST_FAULT_STACK_RING);
    return 0;
}

/* The same sampling from the x86 raw tracepoint page_fault_user (TP_PROTO(address, regs, error_code); regs are
 * the user registers) with an in-BPF per-CPU countdown: a few instructions per fault, and the stack work only every
 * `fault_period` faults. */
SEC("raw_tp/page_fault_user")
int handle_fault_tp(struct bpf_raw_tracepoint_args *ctx)
{
    if (fault_tgid && (bpf_get_current_pid_tgid() >> 32) != fault_tgid)
        return 0;
    __u32 zero = 0;
    __u64 *left = bpf_map_lookup_elem(&fault_countdown, &zero);
    if (!left)
        return 0;
    if (*left > 1) {
        (*left)--;
        return 0;
    }
    *left = fault_period;
    if (stack_window)
        return copy_fault_stack((struct pt_regs *)ctx->args[1], ctx->args[0]);
    return sample_fault(ctx);
}

/* Python types whose new objects are recorded (key: process and type object). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MEMSIGHT_PY_TYPES_MAX);
    __type(key, struct memsight_py_type_key);
    __type(value, __u8);
} python_types SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096); /* resized by the loader */
} python_allocs SEC(".maps");

/* Return of CPython's PyType_GenericAlloc(type, nitems), attached to one process on demand (`memsight leaks` on a
 * CPython process): the new object's type is read from the object, and only objects of watched types are
 * recorded, with the Python stack of the thread that made them. */
SEC("uretprobe")
int python_alloc_return(struct pt_regs *ctx)
{
    const __u64 obj = PT_REGS_RC(ctx);
    count(MEMSIGHT_CNT_PY_ALLOC_CALLS);
    if (!obj)
        return 0;
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    struct memsight_py_type_key key = {.tgid = pid_tgid >> 32};
    if (bpf_probe_read_user(&key.type, sizeof(key.type), (void *)(obj + 8)) != 0) /* ob_type */
        return 0;
    if (!bpf_map_lookup_elem(&python_types, &key))
        return 0;
    struct memsight_py_alloc *e = bpf_ringbuf_reserve(&python_allocs, sizeof(*e), 0);
    if (!e) {
        count(MEMSIGHT_CNT_LOST_PY_ALLOC_RING);
        return 0;
    }
    e->tgid = key.tgid;
    e->tid = (__u32)pid_tgid;
    e->type = key.type;
    e->obj = obj;
    e->py_nframes = read_python_stack(e->tgid, e->tid, e->py, &e->py_entry_mask);
    bpf_ringbuf_submit(e, 0);
    return 0;
}
