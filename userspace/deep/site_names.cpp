#include "deep/site_names.h"

#include "deep/alloc_hooks.h"

#include <array>
#include <cstdio>
#include <string_view>

namespace memsight::deep {
namespace {

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes)
{
    for (auto p : prefixes) {
        if (s.substr(0, p.size()) == p)
            return true;
    }
    return false;
}

// "void std::vector<T>::_M_realloc_insert<T>(...)" -> "std::vector<T>::_M_realloc_insert<T>(...)": the demangler
// writes the return type of a function template instantiation first. The name starts after the last space that
// is outside <> and before the parameter list.
std::string_view without_return_type(std::string_view fn)
{
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i < fn.size(); ++i) {
        const char c = fn[i];
        if (c == '<')
            ++depth;
        else if (c == '>')
            --depth;
        else if (c == '(' && depth == 0)
            break;
        else if (c == ' ' && depth == 0 && fn.substr(0, i) != "operator" && !fn.substr(0, i).ends_with("operator"))
            start = i + 1;
    }
    return fn.substr(start);
}

} // namespace

bool is_runtime_frame(const symbolize::Frame& f)
{
    if (starts_with_any(f.module, {"libc.so", "libc-", "libstdc++.so", "libjemalloc.so", "libtcmalloc", "libmimalloc",
                                   "ld-linux", "libgcc_s.so"}))
        return true;
    const std::string_view fn = without_return_type(f.function);
    // Every probed function, by the exact name the symbolizer gives it (a static binary's own malloc too).
    if (find_hook_by_frame(fn) != nullptr)
        return true;
    // Allocator internals, the C++ runtime's templates, and global operator new/delete forms the table does not
    // probe (placement, destroying delete).
    return starts_with_any(fn, {"operator new", "operator delete", "__libc_", "_int_", "je_", "tc_", "mi_",
                                "tcmalloc::", "std::", "__gnu_cxx::", "__mmap", "__munmap", "__mremap"});
}

size_t site_index(const std::vector<symbolize::Frame>& stack)
{
    // A CPython process: its code is Python, and the innermost named Python frame is the code that allocates
    // (what runs below it is the interpreter, or a C extension it called).
    for (size_t i = 0; i < stack.size(); ++i) {
        if (stack[i].python && !stack[i].function.empty())
            return i;
    }
    for (size_t i = 0; i < stack.size(); ++i) {
        if (!is_runtime_frame(stack[i]))
            return i;
    }
    return stack.empty() ? 0 : stack.size() - 1;
}

std::string frame_text(const symbolize::Frame& f)
{
    if (!f.function.empty() || !f.module.empty())
        return f.to_string();
    char buf[32];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(f.offset));
    return buf;
}

std::string site_name(const std::vector<symbolize::Frame>& stack)
{
    if (stack.empty())
        return "[unknown]";
    const auto& f = stack[site_index(stack)];
    return f.function.empty() ? frame_text(f) : f.function;
}

} // namespace memsight::deep
