#pragma once
// Names user-space addresses of a live process with elfutils (libdwfl): function+offset from the ELF
// symbol tables (demangled), or module+offset when there is no symbol.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace memsight::symbolize {

struct Frame {
    std::string function;       // demangled; empty when unknown
    std::string module;         // file name of the mapping ("" when the address is not mapped)
    uint64_t offset = 0;        // from the function start, or from the module base when function is empty
    uint64_t address = 0;       // the address looked up
    uint64_t module_offset = 0; // address - module load base (0 when not mapped)
    std::string to_string() const;
};

class ProcessSymbolizer {
public:
    // Reads /proc/PID/maps (files through /proc/PID/root). Throws UserError when the process is gone.
    explicit ProcessSymbolizer(pid_t pid);
    // The same, or nullptr (logged at debug level) when the process is gone: its frames then stay addresses.
    static std::unique_ptr<ProcessSymbolizer> open(pid_t pid);
    ~ProcessSymbolizer();
    ProcessSymbolizer(const ProcessSymbolizer&) = delete;
    ProcessSymbolizer& operator=(const ProcessSymbolizer&) = delete;

    Frame symbolize(uint64_t ip);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::map<uint64_t, Frame> cache_;
};

std::string demangle(const char* name);

// A sampled user stack (innermost first) as frames. Frames after the first are return addresses, so the call
// instruction before each is looked up. Without a symbolizer (the process is gone) the frames are addresses.
std::vector<Frame> symbolize_stack(ProcessSymbolizer* sym, const std::vector<uint64_t>& ips);

} // namespace memsight::symbolize
