#pragma once
// Temporary file trees for unit tests that read /proc- or cgroupfs-shaped directories.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace memsight::test {

// A fresh directory under the test temp dir, removed with everything in it.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "memsight_test")
    {
        std::string tmpl = ::testing::TempDir() + prefix + "_XXXXXX";
        if (::mkdtemp(tmpl.data()) != nullptr)
            path_ = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir()
    {
        std::error_code ec;
        if (!path_.empty())
            std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// Writes `text` to `path`, creating parent directories.
inline void write_text(const std::string& path, const std::string& text)
{
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream out(path);
    out << text;
}

inline uint64_t inode_of(const std::string& path)
{
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return static_cast<uint64_t>(st.st_ino);
}

} // namespace memsight::test
