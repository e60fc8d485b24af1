#include "symbolize/symbolizer.h"

#include "util/error.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace memsight::symbolize {
namespace {

char* debuginfo_path = nullptr;
const Dwfl_Callbacks kProcCallbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = nullptr,
    .debuginfo_path = &debuginfo_path,
};

std::string basename_of(const char* path)
{
    if (!path)
        return {};
    const char* slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

} // namespace

std::string demangle(const char* name)
{
    if (!name)
        return {};
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
    return status == 0 && out ? std::string(out.get()) : std::string(name);
}

std::string Frame::to_string() const
{
    char off[32];
    std::snprintf(off, sizeof(off), "+0x%llx", static_cast<unsigned long long>(offset));
    if (!function.empty())
        return function + off + (module.empty() ? "" : " (" + module + ")");
    if (!module.empty())
        return module + off;
    return "[unknown]";
}

struct ProcessSymbolizer::Impl {
    Dwfl* dwfl = nullptr;
    ~Impl()
    {
        if (dwfl)
            dwfl_end(dwfl);
    }
};

ProcessSymbolizer::ProcessSymbolizer(pid_t pid) : impl_(std::make_unique<Impl>())
{
    impl_->dwfl = dwfl_begin(&kProcCallbacks);
    if (!impl_->dwfl)
        throw UserError(std::string("libdwfl: ") + dwfl_errmsg(-1));
    dwfl_report_begin(impl_->dwfl);
    const int rc = dwfl_linux_proc_report(impl_->dwfl, pid);
    dwfl_report_end(impl_->dwfl, nullptr, nullptr);
    if (rc != 0)
        throw UserError("cannot read the memory map of pid " + std::to_string(pid) + ": " +
                        (rc > 0 ? std::strerror(rc) : dwfl_errmsg(-1)));
}

ProcessSymbolizer::~ProcessSymbolizer() = default;

Frame ProcessSymbolizer::symbolize(uint64_t ip)
{
    if (auto it = cache_.find(ip); it != cache_.end())
        return it->second;
    Frame f;
    f.address = ip;
    f.offset = ip;
    if (Dwfl_Module* mod = dwfl_addrmodule(impl_->dwfl, ip)) {
        Dwarf_Addr base = 0;
        const char* path = dwfl_module_info(mod, nullptr, &base, nullptr, nullptr, nullptr, nullptr, nullptr);
        f.module = basename_of(path);
        f.module_offset = ip - base;
        GElf_Off sym_off = 0;
        GElf_Sym sym;
        const char* name = dwfl_module_addrinfo(mod, ip, &sym_off, &sym, nullptr, nullptr, nullptr);
        if (name) {
            f.function = demangle(name);
            f.offset = sym_off;
        } else {
            f.offset = ip - base;
        }
    }
    cache_.emplace(ip, f);
    return f;
}

} // namespace memsight::symbolize
