// A traced process's binary -> what the deep tier reads from it with libelf (deep/elf_file.h, elf_symbols.cpp):
// the allocator symbols and their file offsets, SONAME, Go markers, the load address of file offset 0, and the
// data symbols the Python support looks up. A process can map any file it likes, so its bytes are hostile. The
// calls follow detect_allocators (deep/allocators.cpp) and python/interpreter.cpp.
#include "deep/allocators.h"
#include "deep/elf_file.h"
#include "fuzz_input_file.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

using namespace memsight;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static fuzz::InputFile file;
    const std::string& path = file.write(data, size);
    std::string why;
    deep::ElfFile::OpenStatus status{};
    auto elf = deep::ElfFile::open(path, &why, &status);
    if (!elf) {
        if (status != deep::ElfFile::OpenStatus::not_elf || why.empty())
            std::abort(); // the file is there and readable: the only way to fail is "not ELF", with a reason
        return 0;
    }
    std::string reason;
    try {
        (void)deep::is_go_binary(path, &reason);
    } catch (const UserError&) {
        std::abort(); // it opened a moment ago; is_go_binary throws only when it cannot open
    }
    (void)elf->soname();
    for (const auto& s : elf->find_symbols(deep::all_probe_names())) {
        // A symbol is reported only at a file offset some PT_LOAD maps, so a uprobe there is inside the file.
        if (elf->vaddr_to_offset(s.vaddr) != s.file_offset)
            std::abort();
    }
    (void)elf->has_symbol("runtime.main");
    (void)elf->find_any_symbol("_PyRuntime");
    (void)elf->has_section(".gopclntab");
    (void)elf->vaddr_of_file_start();
    return 0;
}
