#pragma once
// Where one CPython version keeps what the heap census and Python stacks read: offsets inside _PyRuntime, the
// interpreter state, the GC state, thread states, frames, code, type, dict, str and list objects. Pure: chosen from the version (Py_Version) and the first bytes
// of _PyRuntime, which from 3.13 on start with _Py_DebugOffsets, CPython's own table for out-of-process tools.
//
// Sources: CPython's headers of each version (Include/internal/pycore_runtime.h, pycore_interp.h, pycore_gc.h,
// pycore_dict.h, pycore_frame.h, cpython/pystate.h, cpython/code.h, cpython/object.h, cpython/unicodeobject.h,
// cpython/listobject.h), measured with offsetof()
// against the installed headers of 3.11.7, 3.12.1 and 3.13.0, and checked against running interpreters by
// tests/e2e/test_pyheap.py. Only x86_64/aarch64 (LP64) release builds with the GIL.
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace memsight::python {

// A GC list head (a PyGC_Head whose _gc_next/_gc_prev link the tracked objects) inside the GC state.
struct GcList {
    std::string name;    // "generation 2", "permanent"
    uint64_t offset = 0; // from the start of the interpreter's GC state, or from generations[0] (see below)
    // The generations are found through the GC state's own `generation0` pointer (PyGC_Head *, pointing at
    // generations[0].head): Debian's 3.13.5 keeps them 4 bytes before where 3.13.0's headers put them.
    bool from_generation0 = false;
};

struct Layout {
    uint32_t version_hex = 0; // Py_Version, e.g. 0x030b07f0 for 3.11.7
    std::string source;       // "version table" or "_Py_DebugOffsets"

    uint64_t runtime_interpreters_head = 0; // _PyRuntime.interpreters.head
    uint64_t interp_id = 0;                 // PyInterpreterState.id (int64)
    uint64_t interp_gc = 0;                 // PyInterpreterState.gc (struct _gc_runtime_state)
    uint64_t gc_collecting = 0;             // _gc_runtime_state.collecting (int)
    uint64_t gc_generation0 = 96;           // _gc_runtime_state.generation0 (PyGC_Head *)
    uint64_t gc_state_size = 240;           // sizeof(struct _gc_runtime_state)
    std::vector<GcList> gc_lists;           // oldest first: the order the census walks them

    uint64_t gc_head_size = 16; // sizeof(PyGC_Head): the object follows its header
    uint64_t ob_type = 8, ob_size = 16;
    uint64_t tp_name = 24, tp_basicsize = 32, tp_itemsize = 40, tp_flags = 168, tp_dict = 264;
    uint64_t ht_qualname = 0; // PyHeapTypeObject.ht_qualname
    uint64_t dict_ma_keys = 32, dict_ma_values = 40;
    // PyDictKeysObject: log2 of the index bytes, kind (0 general, 1 unicode, 2 split), used entries, indices.
    uint64_t dk_log2_index_bytes = 9, dk_kind = 10, dk_nentries = 24, dk_indices = 32;
    uint64_t unicode_length = 16, unicode_state = 32;
    uint64_t ascii_object_size = 0;   // sizeof(PyASCIIObject): where compact ASCII data starts
    uint64_t compact_object_size = 0; // sizeof(PyCompactUnicodeObject): where other compact data starts
    uint64_t list_ob_item = 24, list_allocated = 32;

    // Threads, frames and code objects, for Python stacks (python/frames.h). kNoOffset: the version has no such
    // field. 3.11/3.12 reach the current frame through tstate->cframe, 3.13 has tstate->current_frame.
    static constexpr uint64_t kNoOffset = UINT64_MAX;
    uint64_t interp_threads_head = 0;    // PyInterpreterState.threads.head
    uint64_t tstate_next = 8;            // PyThreadState.next
    uint64_t tstate_native_thread_id = 0;
    uint64_t tstate_cframe = kNoOffset;  // PyThreadState.cframe (3.11, 3.12)
    uint64_t cframe_current_frame = kNoOffset;
    uint64_t tstate_current_frame = kNoOffset; // PyThreadState.current_frame (3.13)
    uint64_t frame_previous = 0, frame_code = 0, frame_instr = 0, frame_owner = 0;
    uint64_t frame_is_entry = kNoOffset; // 3.11 marks the first frame of an eval-loop call
    uint64_t owner_cstack = kNoOffset;   // 3.12+: the owner value of the eval loop's entry (shim) frame
    uint64_t code_filename = 112, code_qualname = 128, code_linetable = 136, code_firstlineno = 0, code_adaptive = 0;
    uint64_t bytes_ob_sval = 32; // PyBytesObject.ob_sval (co_linetable is a bytes object)

    // Flags of tp_flags.
    uint64_t flag_heaptype = 1u << 9, flag_have_gc = 1u << 14, flag_long_subclass = 1u << 24;
    // 3.12+ keep an int's digit count in lv_tag (ob_size's slot) shifted left by 3; 0 before.
    unsigned long_tag_shift = 0;
    // Objects of types with one of these flags have two pointers (managed dict, weakrefs) before the GC header.
    uint64_t flags_preheader = 0;
};

struct LayoutError {
    std::string message; // one line: "unsupported Python version 3.10.4 (memsight knows 3.11, 3.12, 3.13)"
};

// The bytes needed from the start of _PyRuntime to pick a 3.13+ layout (the _Py_DebugOffsets header and fields).
constexpr size_t kDebugOffsetsBytes = 1024;

// The layout of the interpreter whose Py_Version is `version_hex`; `runtime_start` holds the first bytes of its
// _PyRuntime (at least kDebugOffsetsBytes for 3.13+, may be empty for older versions).
std::variant<Layout, LayoutError> select_layout(uint32_t version_hex, std::span<const uint8_t> runtime_start);

// "3.11.7", "3.13.0rc1" from a PY_VERSION_HEX value.
std::string version_text(uint32_t version_hex);

} // namespace memsight::python
