#include "procfs/read_file.h"

#include "util/fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace memsight::procfs {

std::optional<std::string> read_file(const std::string& path) {
    util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    std::string content;
    std::array<char, 4096> buf{};
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n == 0) return content;
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::nullopt;
        }
        content.append(buf.data(), static_cast<size_t>(n));
    }
}

} // namespace memsight::procfs
