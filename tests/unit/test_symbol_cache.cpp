// SymbolCache (symbolize/symbol_cache.h): symbol lookups shared by the processes that map the same file. The growth
// sites' names must not change with it: every address is named exactly as the process's own libdwfl view names it,
// a second process of a binary is answered from the cache, and the cache stays within its bounds.
#include "symbolize/symbol_cache.h"
#include "symbolize/symbolizer.h"

#include <gtest/gtest.h>

#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace memsight::symbolize {
namespace {

struct Text {
    uint64_t start = 0;
    uint64_t end = 0;
    std::string path;
};

// The executable mappings of files in a process (its binary, libc, libstdc++, ...).
std::vector<Text> text_mappings(pid_t pid)
{
    std::vector<Text> out;
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string range, perms, offset, dev, inode, path;
        ls >> range >> perms >> offset >> dev >> inode >> path;
        if (perms.find('x') == std::string::npos || path.empty() || path[0] != '/')
            continue;
        const auto dash = range.find('-');
        out.push_back(
            {std::stoull(range.substr(0, dash), nullptr, 16), std::stoull(range.substr(dash + 1), nullptr, 16), path});
    }
    return out;
}

// `per_mapping` addresses spread over each executable mapping.
std::vector<uint64_t> spread_addresses(pid_t pid, size_t per_mapping)
{
    std::vector<uint64_t> ips;
    for (const auto& t : text_mappings(pid))
        for (size_t i = 0; i < per_mapping; ++i)
            ips.push_back(t.start + (t.end - t.start) * i / per_mapping + 7);
    return ips;
}

std::string described(const Frame& f)
{
    return f.to_string() + " @" + std::to_string(f.module_offset);
}

// A process of another binary than the test's, stopped while the test looks at it.
class Child {
public:
    explicit Child(const char* path)
    {
        char* argv[] = {const_cast<char*>(path), const_cast<char*>("1000"), nullptr};
        if (posix_spawn(&pid_, path, nullptr, nullptr, argv, environ) != 0)
            pid_ = 0;
        // Until it runs the new binary with its libraries mapped: asleep (state S) after the exec.
        for (int i = 0; pid_ && i < 200; ++i) {
            std::ifstream st("/proc/" + std::to_string(pid_) + "/stat");
            std::string s;
            std::getline(st, s);
            std::error_code ec;
            const auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid_) + "/exe", ec);
            if (s.find(") S ") != std::string::npos && exe.filename() == std::filesystem::path(path).filename())
                break;
            ::usleep(10000);
        }
    }
    ~Child()
    {
        if (pid_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = 0;
};

TEST(SymbolCache, NamesEveryAddressAsTheProcesssOwnViewDoes)
{
    const auto ips = spread_addresses(::getpid(), 150);
    ASSERT_GT(ips.size(), 300u); // the test binary and at least libc and libstdc++
    SymbolCache cache;
    auto own = ProcessSymbolizer::open(::getpid());
    auto cached = ProcessSymbolizer::open(::getpid(), &cache);
    ASSERT_TRUE(own && cached);
    size_t named = 0;
    for (uint64_t ip : ips) {
        const Frame a = own->symbolize(ip);
        const Frame b = cached->symbolize(ip);
        EXPECT_EQ(described(a), described(b)) << std::hex << ip;
        named += !a.function.empty();
    }
    EXPECT_GT(named, ips.size() / 2); // the comparison is over named frames, not only over bare offsets
    const auto s = cache.stats();
    EXPECT_GT(s.misses, ips.size() / 2); // the cache answered (not the fallback to the process's view)
    EXPECT_GE(s.files, 3u);
}

TEST(SymbolCache, ASecondProcessOfABinaryIsAnsweredFromTheCacheWithTheSameNames)
{
    Child first("/bin/sleep");
    Child second("/bin/sleep");
    ASSERT_TRUE(first.pid() && second.pid());
    SymbolCache cache;
    const auto first_ips = spread_addresses(first.pid(), 200);
    const auto second_ips = spread_addresses(second.pid(), 200);
    ASSERT_EQ(first_ips.size(), second_ips.size());
    ASSERT_GE(first_ips.size(), 400u); // sleep and libc

    auto a = ProcessSymbolizer::open(first.pid(), &cache);
    ASSERT_TRUE(a);
    for (uint64_t ip : first_ips)
        a->symbolize(ip);
    const auto warm = cache.stats();

    auto own = ProcessSymbolizer::open(second.pid());
    auto b = ProcessSymbolizer::open(second.pid(), &cache);
    ASSERT_TRUE(own && b);
    for (uint64_t ip : second_ips)
        EXPECT_EQ(described(own->symbolize(ip)), described(b->symbolize(ip))) << std::hex << ip;
    const auto after = cache.stats();
    // The same file offsets (each process loads its files elsewhere): every lookup the first process's addresses
    // made is a hit for the second's, nothing is opened again.
    EXPECT_GT(warm.misses, first_ips.size() / 2);
    EXPECT_EQ(after.misses, warm.misses);
    EXPECT_EQ(after.hits - warm.hits, warm.hits + warm.misses);
    EXPECT_EQ(after.entries, warm.entries);
}

TEST(SymbolCache, StaysWithinItsEntryBound)
{
    SymbolCache cache(SymbolCache::Limits{.entries = 50, .idle_rounds = 6});
    auto sym = ProcessSymbolizer::open(::getpid(), &cache);
    ASSERT_TRUE(sym);
    const auto ips = spread_addresses(::getpid(), 60);
    for (uint64_t ip : ips) {
        sym->symbolize(ip);
        ASSERT_LE(cache.stats().entries, 50u);
    }
    EXPECT_GT(cache.stats().misses, 100u);
    // Evicted names come back the same. (The files the cache opened are closed first: libdwfl maps each whole
    // file privately, and such a mapping next to the loader's mappings of that file would make this process's own
    // view, opened now, take both for one module at the wrong base.)
    cache.end_round();
    auto own = ProcessSymbolizer::open(::getpid());
    auto again = ProcessSymbolizer::open(::getpid(), &cache);
    for (uint64_t ip : ips)
        EXPECT_EQ(described(own->symbolize(ip)), described(again->symbolize(ip)));
    EXPECT_LE(cache.stats().entries, 50u);
}

TEST(SymbolCache, ClosesFilesAtTheEndOfARoundAndForgetsFilesNoLongerLookedUp)
{
    SymbolCache cache(SymbolCache::Limits{.entries = 1000, .idle_rounds = 2});
    auto sym = ProcessSymbolizer::open(::getpid(), &cache);
    ASSERT_TRUE(sym);
    sym->symbolize(reinterpret_cast<uint64_t>(&::getpid));
    EXPECT_EQ(cache.stats().open_files, 1u); // libc, to answer the miss
    EXPECT_EQ(cache.stats().files, 1u);
    cache.end_round();
    EXPECT_EQ(cache.stats().open_files, 0u); // its ELF is not kept mapped between rounds
    EXPECT_EQ(cache.stats().files, 1u);      // its names are
    cache.end_round();
    EXPECT_EQ(cache.stats().files, 1u); // one round without a lookup in it
    cache.end_round();
    EXPECT_EQ(cache.stats().files, 0u); // two
    EXPECT_EQ(cache.stats().entries, 0u);
}

// Takes CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE out of this process's effective set, as the agent's drop after
// start does under the systemd unit (which never grants CAP_CHECKPOINT_RESTORE). False when capset fails.
bool drop_map_files_capabilities()
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0)
        return false;
    data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
    data[CAP_CHECKPOINT_RESTORE / 32].effective &= ~(1u << (CAP_CHECKPOINT_RESTORE % 32));
    return ::syscall(SYS_capset, &header, data) == 0;
}

// The agent identifies a mapped file without /proc/PID/map_files (which the kernel opens only to CAP_SYS_ADMIN or
// CAP_CHECKPOINT_RESTORE): the cache still answers for another process, with the names its own view gives.
TEST(SymbolCache, IdentifiesFilesWithoutMapFiles)
{
    Child sleeper("/bin/sleep");
    ASSERT_TRUE(sleeper.pid());
    const auto ips = spread_addresses(sleeper.pid(), 100);
    ASSERT_GE(ips.size(), 200u); // sleep and libc
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        int bad = 0;
        if (!drop_map_files_capabilities())
            bad |= 1;
        // The test means something only if map_files is closed to this process now.
        const Text t = text_mappings(sleeper.pid()).front();
        char link[96];
        std::snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", sleeper.pid(),
                      static_cast<unsigned long long>(t.start), static_cast<unsigned long long>(t.end));
        struct stat st {};
        if (::stat(link, &st) == 0 || errno != EPERM) {
            std::fprintf(stderr, "stat %s: %s\n", link, std::strerror(errno));
            bad |= 2;
        }
        SymbolCache cache;
        auto own = ProcessSymbolizer::open(sleeper.pid());
        auto cached = ProcessSymbolizer::open(sleeper.pid(), &cache);
        if (!own || !cached)
            bad |= 4;
        size_t named = 0;
        for (uint64_t ip : ips) {
            const Frame a = own->symbolize(ip);
            if (described(a) != described(cached->symbolize(ip)))
                bad |= 8;
            named += !a.function.empty();
        }
        if (named <= ips.size() / 2)
            bad |= 16;
        if (cache.stats().misses <= ips.size() / 2 || cache.stats().files < 2) // the cache answered
            bad |= 32;
        ::_exit(bad);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    // 1: capset failed, 2: map_files still open, 4: no view, 8: a name differs, 16: few names, 32: no cache answers
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

// A path that names another file than the one the process mapped, while the mapped one is still linked (so maps
// shows no " (deleted)"): here another copy bind-mounted over it, in a mount namespace of the test's own. The
// path's device and inode are not the maps line's, so the cache does not answer and the process's own view names it.
TEST(SymbolCache, LeavesAPathNamingAnotherFileToTheProcesssOwnView)
{
    const auto dir = std::filesystem::temp_directory_path() / ("memsight-symbol-cache-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto exe = dir / "sleep";
    std::filesystem::copy_file("/bin/sleep", exe, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file("/bin/sleep", dir / "other", std::filesystem::copy_options::overwrite_existing);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            ::_exit(1);
        int bad = 0;
        {
            Child sleeper(exe.c_str());
            if (!sleeper.pid() || ::mount((dir / "other").c_str(), exe.c_str(), nullptr, MS_BIND, nullptr) != 0)
                ::_exit(2);
            std::vector<uint64_t> ips;
            for (const auto& t : text_mappings(sleeper.pid()))
                if (t.path == exe.string())
                    for (size_t i = 0; i < 50; ++i)
                        ips.push_back(t.start + (t.end - t.start) * i / 50 + 7);
            if (ips.empty())
                bad |= 4; // the mapping is listed by its path, not as deleted
            SymbolCache cache;
            auto own = ProcessSymbolizer::open(sleeper.pid());
            auto cached = ProcessSymbolizer::open(sleeper.pid(), &cache);
            if (!own || !cached)
                ::_exit(8);
            for (uint64_t ip : ips)
                if (described(own->symbolize(ip)) != described(cached->symbolize(ip)))
                    bad |= 16;
            if (cache.stats().hits + cache.stats().misses != 0)
                bad |= 32; // the cache answered for a file the path does not name
        }
        ::_exit(bad);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(WIFEXITED(status));
    // 1: no mount namespace, 2: no bind mount, 4: mapping not listed, 8: no view, 16: a name differs, 32: cache
    // answered
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SymbolCache, RefusesAPathThatIsNoLongerTheMappedFile)
{
    SymbolCache cache;
    // An identity the file at that path does not have: it was replaced after the process mapped it.
    const FileId stale{1, 2, 3, 4};
    EXPECT_FALSE(cache.lookup(stale, "/proc/self/exe", 0, 0x1000));
    EXPECT_EQ(cache.stats().files, 0u);
    EXPECT_EQ(cache.stats().misses, 0u);
}

} // namespace
} // namespace memsight::symbolize
