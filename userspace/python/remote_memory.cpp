#include "python/remote_memory.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "deep/allocators.h"
#include "procfs/read_file.h"
#include "util/error.h"

namespace memsight::python {

RemoteMemory::RemoteMemory(pid_t pid) : pid_(pid)
{
    refresh_maps();
}

void RemoteMemory::refresh_maps()
{
    const std::string path = "/proc/" + std::to_string(pid_) + "/maps";
    const auto text = procfs::read_file(path);
    if (!text) {
        const int err = errno;
        if (::access(("/proc/" + std::to_string(pid_)).c_str(), F_OK) != 0)
            throw UserError("no such process: " + std::to_string(pid_));
        throw UserError("cannot read " + path + ": " + std::strerror(err));
    }
    ranges_.clear();
    for (const auto& e : deep::parse_maps(*text)) {
        if (e.perms.empty() || e.perms[0] != 'r' || e.path == "[vvar]" || e.path == "[vsyscall]")
            continue;
        if (!ranges_.empty() && ranges_.back().end == e.start)
            ranges_.back().end = e.end;
        else
            ranges_.push_back({e.start, e.end});
    }
}

bool RemoteMemory::readable(uint64_t addr, uint64_t len) const
{
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                               [](uint64_t a, const Range& r) { return a < r.start; });
    if (it == ranges_.begin())
        return false;
    --it;
    return addr >= it->start && len <= it->end - addr;
}

bool RemoteMemory::read(uint64_t addr, void* out, size_t len)
{
    ++reads_;
    if (!readable(addr, len)) {
        ++failed_reads_;
        return false;
    }
    iovec local{out, len};
    iovec remote{reinterpret_cast<void*>(addr), len};
    const ssize_t n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    if (n == static_cast<ssize_t>(len))
        return true;
    if (n < 0 && errno == ESRCH)
        throw UserError("process " + std::to_string(pid_) + " exited");
    if (n < 0 && errno == EPERM)
        throw UserError("may not read the memory of process " + std::to_string(pid_) +
                        " (needs CAP_SYS_PTRACE or the same user, and a ptrace_scope that allows it)");
    ++failed_reads_; // EFAULT (unmapped since the maps were read) or a short read
    return false;
}

bool RemoteMemory::read_cached(uint64_t addr, void* out, size_t len)
{
    const uint64_t start = addr & ~(kBlock - 1);
    if (len == 0 || addr + len > start + kBlock) // crosses a block: read it directly
        return read(addr, out, len);
    if (cache_.empty())
        cache_.resize(kBlocks);
    Block& b = cache_[(start / kBlock) % kBlocks];
    if (b.start != start) {
        b.bytes.resize(kBlock);
        // Mappings are page-aligned, so the whole block is readable when the wanted bytes are.
        if (!read(start, b.bytes.data(), kBlock)) {
            b.start = UINT64_MAX;
            return false;
        }
        b.start = start;
    }
    std::memcpy(out, b.bytes.data() + (addr - start), len);
    return true;
}

void RemoteMemory::clear_cache()
{
    for (auto& b : cache_)
        b.start = UINT64_MAX;
}

std::optional<std::string> RemoteMemory::read_cstring(uint64_t addr, size_t max_len)
{
    std::string out;
    char buf[64];
    while (out.size() < max_len) {
        // Never cross a 64-byte boundary in one read: the string may end just before an unmapped page.
        const size_t chunk = std::min<size_t>(sizeof buf - (addr % sizeof buf), max_len - out.size());
        if (!read(addr, buf, chunk))
            return std::nullopt;
        const void* nul = std::memchr(buf, '\0', chunk);
        if (nul != nullptr) {
            out.append(buf, static_cast<const char*>(nul) - buf);
            return out;
        }
        out.append(buf, chunk);
        addr += chunk;
    }
    return std::nullopt;
}

} // namespace memsight::python
