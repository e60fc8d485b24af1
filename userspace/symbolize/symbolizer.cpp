#include "symbolize/symbolizer.h"

#include "util/error.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace memsight::symbolize {
namespace {

char* debuginfo_path = nullptr;

// Opens a module through /proc/PID/root, so that a process in another mount namespace (a container whose
// libc path the host does not have) is symbolized from its own files. The module's userdata holds the pid.
int find_elf_in_root(Dwfl_Module* mod, void** userdata, const char* name, Dwarf_Addr base, char** file_name, Elf** elfp)
{
    const auto* pid = static_cast<const pid_t*>(*userdata);
    if (pid && name && name[0] == '/') {
        const std::string path = "/proc/" + std::to_string(*pid) + "/root" + name;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            *file_name = ::strdup(path.c_str());
            *elfp = nullptr;
            return fd;
        }
    }
    void* none = nullptr;
    return dwfl_linux_proc_find_elf(mod, &none, name, base, file_name, elfp);
}

const Dwfl_Callbacks kProcCallbacks = {
    .find_elf = find_elf_in_root,
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
    pid_t pid = 0;
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
    impl_->pid = pid;
    dwfl_report_begin(impl_->dwfl);
    const int rc = dwfl_linux_proc_report(impl_->dwfl, pid);
    dwfl_report_end(impl_->dwfl, nullptr, nullptr);
    if (rc != 0)
        throw UserError("cannot read the memory map of pid " + std::to_string(pid) + ": " +
                        (rc > 0 ? std::strerror(rc) : dwfl_errmsg(-1)));
    // Every module's userdata points at the pid, for find_elf_in_root.
    dwfl_getmodules(
        impl_->dwfl,
        [](Dwfl_Module*, void** userdata, const char*, Dwarf_Addr, void* arg) {
            *userdata = arg;
            return static_cast<int>(DWARF_CB_OK);
        },
        &impl_->pid, 0);
}

ProcessSymbolizer::~ProcessSymbolizer() = default;

std::unique_ptr<ProcessSymbolizer> ProcessSymbolizer::open(pid_t pid)
{
    try {
        return std::make_unique<ProcessSymbolizer>(pid);
    } catch (const UserError& e) {
        spdlog::debug("cannot symbolize pid {}: {}", pid, e.what());
        return nullptr;
    }
}

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

std::vector<Frame> symbolize_stack(ProcessSymbolizer* sym, const std::vector<uint64_t>& ips)
{
    std::vector<Frame> frames;
    frames.reserve(ips.size());
    for (size_t i = 0; i < ips.size(); ++i) {
        const uint64_t ip = i == 0 ? ips[i] : ips[i] - 1;
        if (sym) {
            frames.push_back(sym->symbolize(ip));
        } else {
            Frame f;
            f.address = ip;
            f.offset = ip; // as symbolize() leaves an address nothing is mapped at
            frames.push_back(f);
        }
    }
    return frames;
}

} // namespace memsight::symbolize
