/* The ABI between the always-on BPF programs and userspace: ring-buffer records, map keys and
 * counter indices. C only, shared by bpf/always_on.bpf.c and the C++ loader; keep it stable. */
#ifndef MEMSIGHT_EVENTS_H
#define MEMSIGHT_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MEMSIGHT_COMM_LEN 16

enum memsight_event_type {
    MEMSIGHT_EV_EXEC = 1,
    MEMSIGHT_EV_EXIT = 2,
    MEMSIGHT_EV_OOM = 3,
};

/* Common header of every ring-buffer record. */
struct memsight_event_header {
    __u32 type;   /* enum memsight_event_type */
    __u32 tgid;   /* process id as seen from the init pid namespace */
    __u64 ts_ns;  /* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
};

/* sched:sched_process_exec */
struct memsight_exec_event {
    struct memsight_event_header h;
    __u32 ppid;
    __u32 pad;
    __u64 cgroup_id; /* memory cgroup kernfs id (= inode of its directory); 0 when unknown */
    char comm[MEMSIGHT_COMM_LEN];
};

#define MEMSIGHT_EXIT_F_OOM_VICTIM 1u

/* sched:sched_process_exit, only when the last thread of a process exits. */
struct memsight_exit_event {
    struct memsight_event_header h;
    __u32 ppid;
    __u32 flags;      /* MEMSIGHT_EXIT_F_* */
    __u32 exit_code;  /* as in wait(2) status */
    __u32 pad;
    __u64 peak_rss_bytes; /* signal->maxrss: the process's lifetime high-water RSS */
    __u64 start_ns;       /* task start time, CLOCK_MONOTONIC (boot-based excluded) */
    __u64 cgroup_id;      /* memory cgroup kernfs id of the exiting task */
    char comm[MEMSIGHT_COMM_LEN];
};

/* oom:mark_victim. The sizes come from the tracepoint (kernels >= 6.1); older kernels give only the pid
 * and leave the rest 0. The victim's memory cgroup arrives with its exit event (flag OOM_VICTIM). */
struct memsight_oom_event {
    struct memsight_event_header h; /* tgid = victim */
    __u32 trigger_tgid;             /* task whose allocation triggered the kill */
    __s32 oom_score_adj;
    __u32 uid;
    __u32 pad;
    __u64 total_vm_bytes;
    __u64 anon_rss_bytes;
    __u64 file_rss_bytes;
    __u64 shmem_rss_bytes;
    __u64 pgtables_bytes;
    __u64 trigger_cgroup_id;        /* memory cgroup of the triggering task */
    char comm[MEMSIGHT_COMM_LEN];   /* victim */
    char trigger_comm[MEMSIGHT_COMM_LEN];
};

/* Per-CPU counters, indices into the `counters` array map. */
enum memsight_counter {
    MEMSIGHT_CNT_EXEC_SEEN = 0,
    MEMSIGHT_CNT_EXIT_SEEN,
    MEMSIGHT_CNT_OOM_SEEN,
    MEMSIGHT_CNT_FAULT_SAMPLES,
    MEMSIGHT_CNT_LOST_RINGBUF_FULL,   /* a record could not be reserved */
    MEMSIGHT_CNT_LOST_STACK_MAP,      /* bpf_get_stackid failed (map full or collision) */
    MEMSIGHT_CNT_LOST_FAULT_MAP_FULL, /* the (tgid, stack) aggregation map was full */
    MEMSIGHT_CNT_LOST_OOM_MAP_FULL,   /* the pending OOM-victim map was full */
    MEMSIGHT_CNT_LOST_FAULT_STACK_RING, /* a copied fault stack did not fit in the `fault_stacks` ring */
    MEMSIGHT_CNT_PY_ALLOC_CALLS,        /* returns of the watched CPython allocation function */
    MEMSIGHT_CNT_LOST_PY_ALLOC_RING,    /* an allocation of a watched type did not fit in `python_allocs` */
    MEMSIGHT_CNT__MAX,
};

/* Key of the in-kernel page-fault aggregation (value: __u64 sample count). */
struct memsight_fault_key {
    __u32 tgid;
    __s32 user_stack_id; /* id in the `stacks` map, negative when the stack could not be taken */
    char comm[MEMSIGHT_COMM_LEN];
};

/* A sampled page fault with the user registers and a copy of the top of the user stack, for unwinding with the
 * binaries' call-frame information in userspace (record of the `fault_stacks` ring buffer). Written when the
 * loader sets a stack window; without one the kernel walks frame pointers into `stacks` instead. */
#define MEMSIGHT_FAULT_STACK_MAX 16384 /* largest window, bytes */
#define MEMSIGHT_FAULT_STACK_REGS 17   /* x86_64 DWARF registers 0..16: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
#define MEMSIGHT_DWARF_REG_SP 7
#define MEMSIGHT_DWARF_REG_BP 6
#define MEMSIGHT_DWARF_REG_IP 16

/* CPython frames of the faulting thread, read from the interpreter's thread state and frame chain when the
 * process is in the `python_procs` map (userspace/python/frames.h). Innermost first. */
#define MEMSIGHT_PY_MAX_FRAMES 32
struct memsight_py_frame {
    __u64 code;  /* the frame's code object (PyCodeObject *) */
    __u64 instr; /* its current instruction (3.13 instr_ptr; 3.11/3.12 prev_instr) */
};

struct memsight_fault_stack {
    __u32 tgid;
    __u32 tid;
    __u32 stack_len; /* bytes of stack that follow the record, copied from regs[SP] upwards */
    __u32 py_nframes; /* frames filled in py[] */
    __u32 py_entry_mask; /* bit i: py[i] is the outermost frame of one call of the eval loop */
    __u32 pad;
    __u64 addr;      /* the faulting address */
    char comm[MEMSIGHT_COMM_LEN]; /* of the faulting thread */
    __u64 regs[MEMSIGHT_FAULT_STACK_REGS];
    struct memsight_py_frame py[MEMSIGHT_PY_MAX_FRAMES];
};

/* Where one process's CPython keeps its threads and frames (value of the `python_procs` map, key tgid). Offsets
 * in bytes; a frame chain starts at *(*(tstate + tstate_cframe) + cframe_current_frame) when tstate_cframe is
 * not MEMSIGHT_PY_NO_OFFSET (3.11, 3.12), else at *(tstate + tstate_current_frame) (3.13). */
#define MEMSIGHT_PY_NO_OFFSET 0xffff
#define MEMSIGHT_PY_MAX_PROCS 1024
struct memsight_py_proc {
    __u64 interp; /* the main PyInterpreterState */
    __u16 interp_threads_head;
    __u16 tstate_next;
    __u16 tstate_native_thread_id;
    __u16 tstate_cframe;
    __u16 cframe_current_frame;
    __u16 tstate_current_frame;
    __u16 frame_previous;
    __u16 frame_code;
    __u16 frame_instr;
    __u16 frame_owner;
    __u16 frame_is_entry; /* 3.11's is_entry flag; MEMSIGHT_PY_NO_OFFSET from 3.12 on */
    __u8 owner_cstack;    /* owner value of the eval loop's entry (shim) frames, 3.12+; 0xff before */
    __u8 pad;
    __u16 code_adaptive;  /* where a code object's instructions start (co_code_adaptive) */
    __u16 pad2;
};

/* A Python frame as an entry of a sampled stack, in place of a native address (which never has bit 63 set):
 * bit 63, the code object's address >> 3 in bits 62..19, the instruction's offset in 2-byte code units in bits
 * 18..0. 0 when the frame cannot be encoded (not a user-space, 8-byte aligned code object, or too far in). */
#define MEMSIGHT_PY_FRAME_TAG (1ULL << 63)
#define MEMSIGHT_PY_UNIT_BITS 19
static inline __u64 memsight_py_frame_entry(__u64 code, __u64 instr, __u64 code_adaptive)
{
    const __u64 start = code + code_adaptive;
    /* 3.11/3.12 point at the instruction before the first one until a frame has run any. */
    const __u64 units = instr > start ? (instr - start) / 2 : 0;
    if (code == 0 || (code & 7) != 0 || code >= (1ULL << 47) || units >= (1ULL << MEMSIGHT_PY_UNIT_BITS))
        return 0;
    return MEMSIGHT_PY_FRAME_TAG | ((code >> 3) << MEMSIGHT_PY_UNIT_BITS) | units;
}

/* A new object of a watched Python type (`python_types`), with the Python stack that made it: record of the
 * `python_allocs` ring, written by the return probe of CPython's PyType_GenericAlloc. */
struct memsight_py_type_key {
    __u32 tgid;
    __u32 pad;
    __u64 type; /* PyTypeObject * */
};
struct memsight_py_alloc {
    __u32 tgid;
    __u32 tid;
    __u64 type;
    __u64 obj; /* the new object */
    __u32 py_nframes;
    __u32 py_entry_mask;
    struct memsight_py_frame py[MEMSIGHT_PY_MAX_FRAMES];
};
#define MEMSIGHT_PY_TYPES_MAX 4096

#define MEMSIGHT_MAX_STACK_DEPTH 64
#define MEMSIGHT_STACK_MAP_ENTRIES 16384
#define MEMSIGHT_FAULT_MAP_ENTRIES 32768
#define MEMSIGHT_OOM_MAP_ENTRIES 1024

#endif
