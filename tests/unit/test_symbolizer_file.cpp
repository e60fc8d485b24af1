// ProcessSymbolizer::for_file: the symbolizer's libdwfl path over one ELF file instead of a process's mappings
// (what the fuzz target in tests/fuzz feeds hostile files through). It must name what the file defines, exactly as
// symbolize() names a process's frames, and refuse a file that is not ELF.
#include "deep/allocators.h"
#include "symbolize/symbolizer.h"
#include "test_files.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <filesystem>

// A global function of this test binary: its .symtab entry is what the symbolizer must find.
extern "C" __attribute__((noinline, used)) int memsight_symbolizer_file_marker(int x)
{
    return x * 3 + 1;
}

namespace memsight::symbolize {
namespace {

TEST(SymbolizerForFile, NamesAFunctionOfTheFileAtItsAddressPlusTheBias)
{
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe");
    const auto syms = deep::find_symbols(exe, {"memsight_symbolizer_file_marker"});
    ASSERT_EQ(syms.size(), 1u);
    const uint64_t bias = 0x40000000; // a PIE loads anywhere; the unit test binary is one
    auto sym = ProcessSymbolizer::for_file(exe, bias);
    ASSERT_NE(sym, nullptr);
    const Frame f = sym->symbolize(bias + syms[0].vaddr + 2);
    EXPECT_EQ(f.function, "memsight_symbolizer_file_marker");
    EXPECT_EQ(f.offset, 2u);
    EXPECT_EQ(f.module, std::filesystem::path(exe).filename().string());
    EXPECT_TRUE(sym->maps(bias + syms[0].vaddr));
    EXPECT_FALSE(sym->maps(0x10));
}

TEST(SymbolizerForFile, RefusesAFileThatIsNotElf)
{
    test::TempDir dir;
    const std::string path = dir.path() + "/not-elf";
    test::write_text(path, "#!/bin/sh\necho hello\n");
    EXPECT_THROW(ProcessSymbolizer::for_file(path, 0), UserError);
}

} // namespace
} // namespace memsight::symbolize
