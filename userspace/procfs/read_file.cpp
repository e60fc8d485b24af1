#include "procfs/read_file.h"

#include "util/fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <memory>

namespace memsight::procfs {

std::optional<std::string> read_file(const std::string& path)
{
    util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    std::string content;
    std::array<char, 4096> buf{};
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n == 0)
            return content;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return std::nullopt;
        }
        content.append(buf.data(), static_cast<size_t>(n));
    }
}

std::vector<pid_t> list_pids(const std::string& proc_root)
{
    std::vector<pid_t> pids;
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(proc_root.c_str()), ::closedir);
    if (!dir)
        return pids;
    while (const dirent* d = ::readdir(dir.get())) {
        pid_t pid = 0;
        const char* end = d->d_name + std::char_traits<char>::length(d->d_name);
        auto [p, ec] = std::from_chars(d->d_name, end, pid);
        if (ec == std::errc() && p == end && pid > 0)
            pids.push_back(pid);
    }
    return pids;
}

} // namespace memsight::procfs
