#pragma once
// Names user-space addresses of a live process with elfutils (libdwfl): function+offset from the ELF
// symbol tables (demangled), or module+offset when there is no symbol.
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace memsight::python {
class FrameNamer;
}

namespace memsight::symbolize {

class SymbolCache;

struct Frame {
    std::string function;       // demangled; empty when unknown
    std::string module;         // file name of the mapping ("" when the address is not mapped)
    uint64_t offset = 0;        // from the function start, or from the module base when function is empty
    uint64_t address = 0;       // the address looked up
    uint64_t module_offset = 0; // address - module load base (0 when not mapped)
    // A CPython frame (python/frames.h): function is its qualified name, module its file, line its line (0 when
    // unknown); function is empty when the code object could not be read.
    bool python = false;
    int line = 0;
    std::string to_string() const;
};

// A thread's user registers and the top of its user stack, copied at a sampled page fault (x86_64 DWARF register
// numbers 0..16, memsight/events.h). `stack` holds the bytes from regs[7] (the stack pointer) upwards.
struct UserStackCopy {
    pid_t tid = 0;
    std::array<uint64_t, 17> regs{};
    std::span<const uint8_t> stack;
};

// Stacks in the form bpf_get_stack gives them: innermost first; the first entry is the faulting instruction, the
// others are return addresses (symbolize_stack looks up the call before each).
inline constexpr size_t kMaxUnwoundFrames = 64;

// Walks the frame-pointer chain through the copied stack (what the kernel's walk would give, within the copy).
std::vector<uint64_t> frame_pointer_stack(const UserStackCopy& copy);

class ProcessSymbolizer {
public:
    // Reads /proc/PID/maps (files through /proc/PID/root). Throws UserError when the process is gone.
    explicit ProcessSymbolizer(pid_t pid);
    // The same, or nullptr (logged at debug level) when the process is gone: its frames then stay addresses.
    // With `shared`, symbolize() names addresses in the process's regular files through that cache (the same
    // names, shared with the other processes that map the files); it must outlive the symbolizer.
    static std::unique_ptr<ProcessSymbolizer> open(pid_t pid, SymbolCache* shared = nullptr);
    // The same machinery over one ELF file loaded at `bias` instead of a process's mappings: symbolize(), unwind()
    // and maps() then parse that file as they parse a process's binaries. A traced process can map a hostile ELF
    // file, so the fuzz target (tests/fuzz) drives its bytes through here. Throws UserError when libdwfl rejects it.
    static std::unique_ptr<ProcessSymbolizer> for_file(const std::string& path, uint64_t bias);
    ~ProcessSymbolizer();
    ProcessSymbolizer(const ProcessSymbolizer&) = delete;
    ProcessSymbolizer& operator=(const ProcessSymbolizer&) = delete;

    Frame symbolize(uint64_t ip);
    // Unwinds a copy of one of this process's threads with the call-frame information of its binaries
    // (.eh_frame/.debug_frame; libdwfl falls back to frame pointers where a binary has none). Reads no memory
    // outside the copy. Empty when not even the first frame could be taken.
    std::vector<uint64_t> unwind(const UserStackCopy& copy);
    // Whether any module of the process maps `ip` (false after a dlopen the symbolizer has not seen).
    bool maps(uint64_t ip);

    struct Impl; // libdwfl state, in symbolizer.cpp

private:
    ProcessSymbolizer();
    std::unique_ptr<Impl> impl_;
    std::map<uint64_t, Frame> cache_;
    std::unique_ptr<python::FrameNamer> python_; // opened at the first Python frame
    bool python_failed_ = false;
};

std::string demangle(const char* name);

// A sampled user stack (innermost first) as frames. Frames after the first are return addresses, so the call
// instruction before each is looked up. Without a symbolizer (the process is gone) the frames are addresses.
std::vector<Frame> symbolize_stack(ProcessSymbolizer* sym, const std::vector<uint64_t>& ips);

} // namespace memsight::symbolize
