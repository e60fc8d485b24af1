// A traced process's binary -> what the symbolizer reads from it with libdwfl (symbolize/symbolizer.cpp): symbol
// tables for naming frames (demangled), and call-frame information for unwinding copied stacks. The file is loaded
// through ProcessSymbolizer::for_file, the same lookups a process's modules get; the addresses looked up and the
// unwound stack come from the input's own header and tail, so they land inside the file's claimed layout.
#include "fuzz_input_file.h"
#include "memsight/events.h"
#include "symbolize/symbolizer.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

using namespace memsight;

namespace {

uint64_t u64_at(const uint8_t* data, size_t size, size_t off)
{
    uint64_t v = 0;
    if (off + sizeof v <= size)
        std::memcpy(&v, data + off, sizeof v);
    return v;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static fuzz::InputFile file;
    static const bool no_network = [] { // build-id lookups must not leave the machine (debuginfod)
        ::unsetenv("DEBUGINFOD_URLS");
        return true;
    }();
    (void)no_network;
    const std::string& path = file.write(data, size);
    constexpr uint64_t kBias = 0x10000000;
    std::unique_ptr<symbolize::ProcessSymbolizer> sym;
    try {
        sym = symbolize::ProcessSymbolizer::for_file(path, kBias);
    } catch (const UserError&) {
        return 0;
    }
    const uint64_t entry = u64_at(data, size, 0x18); // e_entry of an ELF64 header
    std::vector<uint64_t> ips;
    for (uint64_t d = 0; d < 0x200; d += 0x21)
        ips.push_back(kBias + entry + d);
    for (size_t off = 0x20; off < 0x40; off += 8) // e_phoff, e_shoff...: addresses the header itself names
        ips.push_back(kBias + u64_at(data, size, off));
    for (const auto& f : symbolize::symbolize_stack(sym.get(), ips))
        (void)f.to_string();

    // A copied stack: the input's last bytes (up to 512), the pc at the entry point, sp and bp at the copy.
    const size_t stack_len = size < 512 ? size : 512;
    symbolize::UserStackCopy copy;
    copy.tid = 1;
    copy.regs[MEMSIGHT_DWARF_REG_IP] = kBias + entry;
    copy.regs[MEMSIGHT_DWARF_REG_SP] = 0x7ffff000;
    copy.regs[MEMSIGHT_DWARF_REG_BP] = 0x7ffff000 + 16;
    copy.stack = std::span<const uint8_t>(data + size - stack_len, stack_len);
    const auto pcs = sym->unwind(copy);
    if (pcs.size() > symbolize::kMaxUnwoundFrames)
        std::abort();
    for (const auto& f : symbolize::symbolize_stack(sym.get(), pcs))
        (void)f.to_string();
    return 0;
}
