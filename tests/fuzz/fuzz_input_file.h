#pragma once
// For fuzz targets whose parser takes a path (the ELF readers open files themselves, as production opens a traced
// process's binaries): the input is written to one memfd, reopened through /proc/self/fd/N by the parser.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace memsight::fuzz {

class InputFile {
public:
    InputFile() : fd_(::memfd_create("memsight-fuzz-input", MFD_CLOEXEC))
    {
        if (fd_ < 0)
            std::abort(); // no memfd: nothing can be fuzzed; say so loudly rather than pass
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    // Replaces the file's content with the input; the path stays the same.
    const std::string& write(const uint8_t* data, size_t size)
    {
        if (::ftruncate(fd_, 0) != 0)
            std::abort();
        size_t done = 0;
        while (done < size) {
            const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
            if (n <= 0)
                std::abort();
            done += static_cast<size_t>(n);
        }
        return path_;
    }

private:
    int fd_;
    std::string path_;
};

} // namespace memsight::fuzz
