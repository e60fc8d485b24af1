// CPython layouts: a table for 3.11 and 3.12, _Py_DebugOffsets (checked against a table) for 3.13.
#include "python/layout.h"

#include <cstring>

namespace memsight::python {
namespace {

constexpr uint64_t kManagedDict = 1u << 4;    // Py_TPFLAGS_MANAGED_DICT (3.11+)
constexpr uint64_t kManagedWeakref = 1u << 3; // Py_TPFLAGS_MANAGED_WEAKREF (3.12+)
constexpr uint64_t kFrameOwnedByCstack = 3;   // FRAME_OWNED_BY_CSTACK of enum _frameowner (3.12, 3.13)

uint32_t minor_of(uint32_t hex)
{
    return (hex >> 16) & 0xff;
}

// CPython 3.11-3.13 keep three generations and a permanent one (frozen by gc.freeze()) in struct
// _gc_runtime_state: generations[3], 24 bytes each (PyGC_Head + threshold + count), found through the
// `generation0` pointer at 96 (at 24 in the headers of 3.11.7-3.13.0, at 20 in Debian's 3.13.5 build), and
// the permanent generation at 104. (3.13's betas had an incremental collector with young/old lists; 3.13.0 went back to three
// generations, and the incremental one shipped in 3.14, which is not supported yet.)
std::vector<GcList> three_generations()
{
    return {{"permanent", 104, false},
            {"generation 2", 2 * 24, true},
            {"generation 1", 24, true},
            {"generation 0", 0, true}};
}
constexpr uint64_t kGcCollecting = 200;   // _gc_runtime_state.collecting, 3.11-3.13
constexpr uint64_t kGcStateSize = 240;    // sizeof(struct _gc_runtime_state), 3.11-3.13 with the GIL

Layout common(uint32_t version_hex, std::string source)
{
    Layout l;
    l.version_hex = version_hex;
    l.source = std::move(source);
    l.gc_collecting = kGcCollecting;
    l.gc_lists = three_generations();
    return l;
}

Layout table_311(uint32_t version_hex)
{
    Layout l = common(version_hex, "version table");
    l.runtime_interpreters_head = 40;
    l.interp_id = 48;
    l.interp_gc = 648;
    l.ht_qualname = 864;
    l.ascii_object_size = 48; // 3.11 still has the wstr pointer
    l.compact_object_size = 72;
    l.flags_preheader = kManagedDict;
    l.interp_threads_head = 16;
    l.tstate_native_thread_id = 160;
    l.tstate_cframe = 56;
    l.cframe_current_frame = 8;
    l.frame_previous = 48;
    l.frame_code = 32;
    l.frame_instr = 56; // prev_instr
    l.frame_owner = 69;
    l.frame_is_entry = 68;
    l.code_firstlineno = 72;
    l.code_adaptive = 184;
    return l;
}

Layout table_312(uint32_t version_hex)
{
    Layout l = common(version_hex, "version table");
    l.runtime_interpreters_head = 40;
    l.interp_id = 8;
    l.interp_gc = 112;
    l.ht_qualname = 872;
    l.ascii_object_size = 40;
    l.compact_object_size = 56;
    l.flags_preheader = kManagedDict | kManagedWeakref;
    l.long_tag_shift = 3;
    l.interp_threads_head = 72;
    l.tstate_native_thread_id = 144;
    l.tstate_cframe = 56;
    l.cframe_current_frame = 0;
    l.frame_previous = 8;
    l.frame_code = 0;
    l.frame_instr = 56; // prev_instr
    l.frame_owner = 70;
    l.owner_cstack = kFrameOwnedByCstack;
    l.code_firstlineno = 68;
    l.code_adaptive = 192;
    return l;
}

// The fields of 3.13's _Py_DebugOffsets (Include/internal/pycore_runtime.h at v3.13.0) the census uses: every
// field is a uint64_t offset; the struct starts with the cookie "xdebugpy", the version and free_threaded.
namespace debug313 {
constexpr size_t version = 8, free_threaded = 16, interpreters_head = 40, interp_id = 56, threads_head = 72,
                 interp_gc = 80, tstate_next = 168, tstate_current_frame = 184, tstate_native_thread_id = 200,
                 frame_previous = 232, frame_executable = 240, frame_instr_ptr = 248, frame_owner = 264,
                 code_filename = 280, code_qualname = 296, code_linetable = 304, code_firstlineno = 312,
                 code_adaptive = 344, tp_name = 376, tp_flags = 392, list_ob_item = 432, dict_ma_keys = 456, dict_ma_values = 464,
                 unicode_state = 544, unicode_length = 552, ascii_size = 560, gc_size = 568, gc_collecting = 576,
                 end = 584;
}

uint64_t u64_at(std::span<const uint8_t> bytes, size_t offset)
{
    uint64_t v = 0;
    std::memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
}

std::variant<Layout, LayoutError> from_debug_offsets_313(uint32_t version_hex, std::span<const uint8_t> b)
{
    const std::string v = version_text(version_hex);
    if (b.size() < debug313::end)
        return LayoutError{"Python " + v + ": only " + std::to_string(b.size()) + " bytes of _PyRuntime read, " +
                           std::to_string(debug313::end) + " needed"};
    if (std::memcmp(b.data(), "xdebugpy", 8) != 0)
        return LayoutError{"Python " + v + ": _PyRuntime does not start with _Py_DebugOffsets (cookie 'xdebugpy')"};
    const uint64_t published = u64_at(b, debug313::version);
    if ((published >> 16) != (version_hex >> 16))
        return LayoutError{"Python " + v + ": _Py_DebugOffsets is for " + version_text(uint32_t(published)) +
                           ", not this version"};
    if (u64_at(b, debug313::free_threaded) != 0)
        return LayoutError{"Python " + v + " is a free-threaded build: not supported (its GC keeps no lists)"};
    Layout l = common(version_hex, "_Py_DebugOffsets");
    l.runtime_interpreters_head = u64_at(b, debug313::interpreters_head);
    l.interp_id = u64_at(b, debug313::interp_id);
    l.interp_gc = u64_at(b, debug313::interp_gc);
    l.tp_name = u64_at(b, debug313::tp_name);
    l.tp_flags = u64_at(b, debug313::tp_flags);
    l.list_ob_item = u64_at(b, debug313::list_ob_item);
    l.dict_ma_keys = u64_at(b, debug313::dict_ma_keys);
    l.dict_ma_values = u64_at(b, debug313::dict_ma_values);
    l.unicode_state = u64_at(b, debug313::unicode_state);
    l.unicode_length = u64_at(b, debug313::unicode_length);
    l.ascii_object_size = u64_at(b, debug313::ascii_size);
    l.interp_threads_head = u64_at(b, debug313::threads_head);
    l.tstate_next = u64_at(b, debug313::tstate_next);
    l.tstate_current_frame = u64_at(b, debug313::tstate_current_frame);
    l.tstate_native_thread_id = u64_at(b, debug313::tstate_native_thread_id);
    l.frame_previous = u64_at(b, debug313::frame_previous);
    l.frame_code = u64_at(b, debug313::frame_executable);
    l.frame_instr = u64_at(b, debug313::frame_instr_ptr);
    l.frame_owner = u64_at(b, debug313::frame_owner);
    l.owner_cstack = kFrameOwnedByCstack;
    l.code_filename = u64_at(b, debug313::code_filename);
    l.code_qualname = u64_at(b, debug313::code_qualname);
    l.code_linetable = u64_at(b, debug313::code_linetable);
    l.code_firstlineno = u64_at(b, debug313::code_firstlineno);
    l.code_adaptive = u64_at(b, debug313::code_adaptive);
    // Not published: from 3.13's headers, and only trusted while what is published agrees with them.
    l.ht_qualname = 872;
    l.compact_object_size = l.ascii_object_size + 16; // + utf8_length, utf8
    l.list_allocated = l.list_ob_item + 8;
    l.flags_preheader = kManagedDict | kManagedWeakref;
    l.long_tag_shift = 3;
    if (u64_at(b, debug313::gc_size) != kGcStateSize || u64_at(b, debug313::gc_collecting) != l.gc_collecting)
        return LayoutError{"Python " + v + ": its GC state differs from 3.13's (size " +
                           std::to_string(u64_at(b, debug313::gc_size)) + ", expected " +
                           std::to_string(kGcStateSize) + "): not supported"};
    return l;
}

} // namespace

std::string version_text(uint32_t hex)
{
    std::string s = std::to_string(hex >> 24) + "." + std::to_string(minor_of(hex)) + "." +
                    std::to_string((hex >> 8) & 0xff);
    const uint32_t level = (hex >> 4) & 0xf, serial = hex & 0xf;
    if (level == 0xa || level == 0xb || level == 0xc)
        s += (level == 0xa ? "a" : level == 0xb ? "b" : "rc") + std::to_string(serial);
    return s;
}

std::variant<Layout, LayoutError> select_layout(uint32_t version_hex, std::span<const uint8_t> runtime_start)
{
    if ((version_hex >> 24) == 3) {
        switch (minor_of(version_hex)) {
        case 11:
            return table_311(version_hex);
        case 12:
            return table_312(version_hex);
        case 13:
            return from_debug_offsets_313(version_hex, runtime_start);
        default:
            break;
        }
    }
    return LayoutError{"unsupported Python version " + version_text(version_hex) +
                       " (memsight knows 3.11, 3.12 and 3.13)"};
}

} // namespace memsight::python
