// Profile output of the deep tier: pprof (gzip-compressed profile.proto) and folded stacks for flame graphs.
// Input is already symbolized and un-biased; this module only encodes.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace memsight::profile {

struct Frame {                  // one stack frame, already symbolized by the caller
    std::string function;       // demangled name; empty when unknown
    std::string module;         // file name of the mapping (e.g. "libc.so.6"), may be empty
    uint64_t address = 0;       // the instruction address in the process
    uint64_t module_offset = 0; // address - module load base (for module+offset when function is empty)
};

struct Sample {
    std::vector<Frame> stack; // innermost (the allocation call site's callee side) first
    // Estimates (already un-biased by the caller's sampling weights), integers:
    int64_t alloc_objects = 0;
    int64_t alloc_space = 0; // bytes
    int64_t inuse_objects = 0;
    int64_t inuse_space = 0; // bytes
};

struct ProfileMeta {
    int64_t time_nanos = 0; // start, Unix epoch ns
    int64_t duration_nanos = 0;
    int64_t sample_period = 0; // mean bytes between samples (1 = exact)
    std::string comment;       // e.g. "memsight deep tier, pid 1234 (leaker), glibc"
};

// gzip-compressed pprof profile.proto bytes. Sample types, in this order:
// alloc_objects/count, alloc_space/bytes, inuse_objects/count, inuse_space/bytes; default_sample_type "inuse_space";
// period_type space/bytes with period = sample_period. Locations deduplicated by (address, module);
// functions by (name, module); mappings one per distinct module (filename = module, has_functions true when
// any of its frames had a function name). Frames without a function name get a Function whose name is
// "module+0xOFFSET" (or "0xADDRESS" without module) so every viewer shows something meaningful.
// One pprof Sample per input Sample, in input order (viewers merge identical stacks themselves).
// Throws std::runtime_error if serialization or compression fails.
std::string to_pprof_gz(const std::vector<Sample>& samples, const ProfileMeta& meta);

// Folded stacks for flame-graph tools: one line per sample with non-zero value, frames outermost first joined
// by ';' (function name, or module+0xOFFSET, or 0xADDRESS), a space, then the value of `value` (one of
// "inuse_space", "inuse_objects", "alloc_space", "alloc_objects"); identical stacks merged. Semicolons and
// newlines inside names are replaced by ':' and ' '. Throws std::invalid_argument for an unknown value name.
// (root: when non-empty, prepended as the outermost frame, e.g. the comm.)
// Lines are sorted by stack; a sample with no frames and no root is shown as "[unknown]".
std::string to_folded(const std::vector<Sample>& samples, const std::string& value, const std::string& root = "");

// The value names to_folded accepts, for checking a flag before a session runs.
inline constexpr std::array<const char*, 4> kFoldedValues{"inuse_space", "inuse_objects", "alloc_space",
                                                          "alloc_objects"};
bool is_folded_value(const std::string& value);

// The name a viewer shows for a frame: the function, else "module+0xOFFSET", else "0xADDRESS" (lower-case hex).
std::string frame_name(const Frame& frame);

} // namespace memsight::profile
