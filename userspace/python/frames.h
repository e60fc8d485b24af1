#pragma once
// Python stacks: the CPython frames the BPF programs read (bpf/python_stack.h: at a sampled page fault, a deep-tier
// allocation, or a new object of a watched class), woven into the native stack and named from the code objects
// (qualified function name, file, line).
//
// A Python frame travels in a sampled stack (std::vector<uint64_t>, innermost first) as a tagged entry instead of
// a native address (memsight_py_frame_entry in memsight/events.h, shared with the BPF programs), so the
// aggregations that key on stacks (growth sites, the fault profile, the deep tier's sites) keep Python frames
// apart without knowing about them.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "memsight/events.h"
#include "python/interpreter.h"
#include "python/remote_memory.h"

namespace memsight::python {

inline bool is_python_frame(uint64_t entry)
{
    return (entry & MEMSIGHT_PY_FRAME_TAG) != 0;
}
struct EncodedFrame {
    uint64_t code = 0;
    uint32_t instr_units = 0;
};
EncodedFrame decode_frame(uint64_t entry);

// What the fault sampler needs to know of one Python process: the BPF map entry, and where its native stacks
// enter the eval loop (_PyEval_EvalFrameDefault, whose native frames the Python frames replace).
struct StackSource {
    memsight_py_proc bpf{};
    uint64_t eval_start = 0, eval_end = 0;
};
// nullopt with `why` when the interpreter lacks what Python stacks need (the eval loop's symbol).
std::optional<StackSource> stack_source(const Interpreter& in, std::string* why);
// The same for a process: nullopt, silently, when it is not Python; nullopt and one warning line when it is but
// its frames cannot be read (version, permission).
std::optional<StackSource> stack_source_of(pid_t pid);

// One stack, innermost first: `native` from the unwinder, `py` the frames BPF read (innermost first), bit i of
// `entry_mask` set when py[i] is the outermost frame of one eval-loop call. Each native frame inside the eval loop
// is replaced by the Python frames of that call; Python frames left over (the native stack ended first) follow.
std::vector<uint64_t> weave(const std::vector<uint64_t>& native, std::span<const memsight_py_frame> py,
                            uint32_t entry_mask, const StackSource& source);

// Line number of the instruction at `unit` (offset in code units) from a code object's co_linetable (3.11+
// location table) and co_firstlineno; nullopt when the table gives it no line or is malformed.
std::optional<int> line_of(std::span<const uint8_t> linetable, int firstlineno, uint32_t unit);

struct FrameName {
    std::string function; // co_qualname: "leaky_view", "CachedReport.__init__"
    std::string file;     // co_filename
    int line = 0;         // 0 when unknown
};

// Names tagged frames of one process from its code objects, read with process_vm_readv. A pointer that is not a
// code object of this interpreter (the frame was read while the thread moved on) gives nullopt, never a name.
class FrameNamer {
public:
    // nullptr when the process is not Python or cannot be read (the reason in *why).
    static std::unique_ptr<FrameNamer> open(pid_t pid, std::string* why);
    FrameNamer(std::unique_ptr<RemoteMemory> memory, Interpreter in);
    std::optional<FrameName> name(uint64_t entry);

private:
    struct Code {
        bool ok = false;
        std::string function, file;
        int firstlineno = 0;
        std::vector<uint8_t> linetable;
    };
    const Code& code(uint64_t addr);

    std::unique_ptr<RemoteMemory> memory_;
    Interpreter in_;
    std::unordered_map<uint64_t, Code> codes_;
};

} // namespace memsight::python
