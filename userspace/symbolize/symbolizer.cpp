#include "symbolize/symbolizer.h"

#include "deep/allocators.h"
#include "memsight/events.h"
#include "procfs/read_file.h"
#include "python/frames.h"
#include "symbolize/symbol_cache.h"
#include "util/error.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

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
    if (python) // "leaky_view (/srv/app/views.py:58)", as Python's tracebacks name a frame
        return (function.empty() ? std::string("[python]") : function) + " (" + module +
               (line ? ":" + std::to_string(line) : std::string()) + ")";
    char off[32];
    std::snprintf(off, sizeof(off), "+0x%llx", static_cast<unsigned long long>(offset));
    if (!function.empty())
        return function + off + (module.empty() ? "" : " (" + module + ")");
    if (!module.empty())
        return module + off;
    return "[unknown]";
}

// A file mapping of the process, as /proc/PID/maps lists it (what the shared cache keys a lookup by).
struct FileMapping {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t offset = 0;
    dev_t dev = 0; // device and inode of the mapped file, as maps prints them
    uint64_t inode = 0;
    std::string path;
    std::optional<FileId> id; // of the mapped file, when its path still names it; taken at the first lookup
    bool id_taken = false;
};

struct ProcessSymbolizer::Impl {
    Dwfl* dwfl = nullptr;
    pid_t pid = 0;
    SymbolCache* shared = nullptr;
    std::optional<std::vector<FileMapping>> mappings; // read at the first shared lookup
    std::optional<FileSymbol> shared_lookup(uint64_t ip);
    enum class State { detached, attached, unusable } state = State::detached;
    const UserStackCopy* current = nullptr; // the copy unwind() works on; the only memory the unwinder reads
    ~Impl()
    {
        if (dwfl)
            dwfl_end(dwfl);
    }
};

ProcessSymbolizer::ProcessSymbolizer() : impl_(std::make_unique<Impl>())
{
    impl_->dwfl = dwfl_begin(&kProcCallbacks);
    if (!impl_->dwfl)
        throw UserError(std::string("libdwfl: ") + dwfl_errmsg(-1));
}

ProcessSymbolizer::ProcessSymbolizer(pid_t pid) : ProcessSymbolizer()
{
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

std::unique_ptr<ProcessSymbolizer> ProcessSymbolizer::for_file(const std::string& path, uint64_t bias)
{
    std::unique_ptr<ProcessSymbolizer> sym(new ProcessSymbolizer());
    dwfl_report_begin(sym->impl_->dwfl);
    // fd -1: libdwfl opens the file itself. No pid: find_elf_in_root is never asked, the module has its ELF.
    Dwfl_Module* mod =
        dwfl_report_elf(sym->impl_->dwfl, basename_of(path.c_str()).c_str(), path.c_str(), -1, bias, false);
    dwfl_report_end(sym->impl_->dwfl, nullptr, nullptr);
    if (mod == nullptr)
        throw UserError("libdwfl cannot read " + path + ": " + dwfl_errmsg(-1));
    return sym;
}

std::unique_ptr<ProcessSymbolizer> ProcessSymbolizer::open(pid_t pid, SymbolCache* shared)
{
    try {
        auto sym = std::make_unique<ProcessSymbolizer>(pid);
        sym->impl_->shared = shared;
        return sym;
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
    if (python::is_python_frame(ip)) {
        f.python = true;
        f.offset = 0;
        if (!python_ && !python_failed_) {
            std::string why;
            python_ = python::FrameNamer::open(impl_->pid, &why);
            python_failed_ = !python_;
            if (!python_)
                spdlog::debug("pid {}: Python frames stay unnamed: {}", impl_->pid, why);
        }
        if (auto name = python_ ? python_->name(ip) : std::nullopt) {
            f.function = std::move(name->function);
            f.module = std::move(name->file);
            f.line = name->line;
        }
        cache_.emplace(ip, f);
        return f;
    }
    if (Dwfl_Module* mod = dwfl_addrmodule(impl_->dwfl, ip)) {
        Dwarf_Addr base = 0;
        dwfl_module_info(mod, nullptr, &base, nullptr, nullptr, nullptr, nullptr, nullptr);
        f.module_offset = ip - base;
        std::optional<FileSymbol> s = impl_->shared ? impl_->shared_lookup(ip) : std::nullopt;
        if (!s) { // no shared cache, or not a file it can read: the process's own view of the module
            GElf_Off sym_off = 0;
            GElf_Sym sym;
            s.emplace();
            if (const char* name = dwfl_module_addrinfo(mod, ip, &sym_off, &sym, nullptr, nullptr, nullptr))
                s = FileSymbol{demangle(name), sym_off, true};
        }
        if (s->found) {
            f.function = std::move(s->function);
            f.offset = s->offset;
        } else {
            f.offset = ip - base;
        }
        // The file the module was read from once libdwfl has opened it, else the mapped path: both end in the same
        // name. (Asked before any lookup, the main file is not known yet.) The vDSO's name carries the pid.
        const char* mainfile = nullptr;
        const char* name = dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, &mainfile, nullptr);
        f.module = mainfile ? basename_of(mainfile) : basename_of(name);
        if (f.module.starts_with("[vdso"))
            f.module = "[vdso]";
    }
    cache_.emplace(ip, f);
    return f;
}

namespace {

std::vector<FileMapping> read_file_mappings(pid_t pid)
{
    std::vector<FileMapping> out;
    const auto text = procfs::read_file("/proc/" + std::to_string(pid) + "/maps");
    if (!text)
        return out;
    for (auto& e : deep::parse_maps(*text)) {
        // A deleted file cannot be opened by its path: the process's own view names it.
        if (e.inode == 0 || e.deleted || e.path.empty() || e.path[0] != '/')
            continue;
        out.push_back(FileMapping{.start = e.start,
                                  .end = e.end,
                                  .offset = e.offset,
                                  .dev = makedev(e.dev_major, e.dev_minor),
                                  .inode = e.inode,
                                  .path = std::move(e.path)});
    }
    return out; // /proc lists mappings by address
}

} // namespace

std::optional<FileSymbol> ProcessSymbolizer::Impl::shared_lookup(uint64_t ip)
{
    const auto root_path = [this](const FileMapping& m) { return "/proc/" + std::to_string(pid) + "/root" + m.path; };
    if (!mappings)
        mappings = read_file_mappings(pid);
    auto it = std::upper_bound(mappings->begin(), mappings->end(), ip,
                               [](uint64_t a, const FileMapping& m) { return a < m.start; });
    if (it == mappings->begin())
        return std::nullopt;
    FileMapping& m = *std::prev(it);
    if (ip >= m.end)
        return std::nullopt;
    if (!m.id_taken) {
        m.id_taken = true;
        // The file at the mapped path, through the process's root, when it is still the mapped file: maps' device and
        // inode say which file is mapped, and stat() of the path needs no privilege beyond reading the process's
        // root (/proc/PID/map_files would need CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, which the agent drops).
        // Another file (replaced since; overlayfs, whose maps line shows the underlying file) leaves the address to
        // the process's own view.
        struct stat st {};
        if (::stat(root_path(m).c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == m.dev &&
            static_cast<uint64_t>(st.st_ino) == m.inode)
            m.id = FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                          static_cast<uint64_t>(st.st_size),
                          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
    }
    if (!m.id)
        return std::nullopt;
    return shared->lookup(*m.id, root_path(m), m.offset, ip - m.start + m.offset);
}

namespace {

// libdwfl's view of the process while unwinding a copy: one thread, whose registers and memory are the copy's.
pid_t copy_next_thread(Dwfl*, void* dwfl_arg, void** thread_argp)
{
    if (*thread_argp)
        return 0;
    *thread_argp = dwfl_arg;
    const auto* impl = static_cast<ProcessSymbolizer::Impl*>(dwfl_arg);
    return impl->current ? impl->current->tid : 0;
}

bool read_copy(const UserStackCopy& c, uint64_t addr, uint64_t* out)
{
    const uint64_t sp = c.regs[MEMSIGHT_DWARF_REG_SP];
    if (addr < sp || addr - sp > c.stack.size() || c.stack.size() - (addr - sp) < sizeof(uint64_t))
        return false;
    std::memcpy(out, c.stack.data() + (addr - sp), sizeof(uint64_t));
    return true;
}

bool copy_memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* dwfl_arg)
{
    const auto* impl = static_cast<ProcessSymbolizer::Impl*>(dwfl_arg);
    uint64_t v = 0;
    if (!impl->current || !read_copy(*impl->current, addr, &v))
        return false;
    *result = v;
    return true;
}

bool copy_initial_registers(Dwfl_Thread* thread, void* thread_arg)
{
    const auto* impl = static_cast<ProcessSymbolizer::Impl*>(thread_arg);
    if (!impl->current)
        return false;
    std::array<Dwarf_Word, MEMSIGHT_FAULT_STACK_REGS> regs{};
    std::copy(impl->current->regs.begin(), impl->current->regs.end(), regs.begin());
    if (!dwfl_thread_state_registers(thread, 0, regs.size(), regs.data()))
        return false;
    dwfl_thread_state_register_pc(thread, regs[MEMSIGHT_DWARF_REG_IP]);
    return true;
}

const Dwfl_Thread_Callbacks kCopyCallbacks = {
    .next_thread = copy_next_thread,
    .get_thread = nullptr,
    .memory_read = copy_memory_read,
    .set_initial_registers = copy_initial_registers,
    .detach = nullptr,
    .thread_detach = nullptr,
};

} // namespace

std::vector<uint64_t> frame_pointer_stack(const UserStackCopy& copy)
{
    std::vector<uint64_t> out{copy.regs[MEMSIGHT_DWARF_REG_IP]};
    uint64_t bp = copy.regs[MEMSIGHT_DWARF_REG_BP];
    while (out.size() < kMaxUnwoundFrames) {
        uint64_t next_bp = 0;
        uint64_t ret = 0;
        if (!read_copy(copy, bp, &next_bp) || !read_copy(copy, bp + 8, &ret) || ret == 0)
            break;
        out.push_back(ret);
        if (next_bp <= bp) // frames grow towards higher addresses; anything else is not a chain
            break;
        bp = next_bp;
    }
    return out;
}

std::vector<uint64_t> ProcessSymbolizer::unwind(const UserStackCopy& copy)
{
    using State = Impl::State;
    if (impl_->state == State::detached) {
        impl_->state = dwfl_attach_state(impl_->dwfl, nullptr, impl_->pid, &kCopyCallbacks, impl_.get())
                           ? State::attached
                           : State::unusable;
        if (impl_->state == State::unusable)
            spdlog::debug("cannot unwind pid {}: {}", impl_->pid, dwfl_errmsg(-1));
    }
    if (impl_->state != State::attached)
        return {};
    std::vector<uint64_t> pcs;
    impl_->current = &copy;
    dwfl_getthread_frames(
        impl_->dwfl, copy.tid,
        [](Dwfl_Frame* frame, void* arg) -> int {
            auto* out = static_cast<std::vector<uint64_t>*>(arg);
            Dwarf_Addr pc = 0;
            bool activation = false;
            if (!dwfl_frame_pc(frame, &pc, &activation))
                return DWARF_CB_ABORT;
            // After the first frame, return addresses; a frame interrupted by a signal has its exact pc, which
            // symbolize_stack must not step back from.
            out->push_back(out->empty() || !activation ? pc : pc + 1);
            return out->size() < kMaxUnwoundFrames ? DWARF_CB_OK : DWARF_CB_ABORT;
        },
        &pcs);
    impl_->current = nullptr;
    return pcs;
}

bool ProcessSymbolizer::maps(uint64_t ip)
{
    return dwfl_addrmodule(impl_->dwfl, ip) != nullptr;
}

std::vector<Frame> symbolize_stack(ProcessSymbolizer* sym, const std::vector<uint64_t>& ips)
{
    std::vector<Frame> frames;
    frames.reserve(ips.size());
    for (size_t i = 0; i < ips.size(); ++i) {
        // A return address is looked up at its call; a Python frame is not an address.
        const uint64_t ip = i == 0 || python::is_python_frame(ips[i]) ? ips[i] : ips[i] - 1;
        if (sym) {
            frames.push_back(sym->symbolize(ip));
        } else {
            Frame f;
            f.address = ip;
            f.offset = ip; // as symbolize() leaves an address nothing is mapped at
            f.python = python::is_python_frame(ip);
            frames.push_back(f);
        }
    }
    return frames;
}

} // namespace memsight::symbolize
