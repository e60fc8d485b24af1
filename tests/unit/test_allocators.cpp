// Tests for deep-tier allocator detection: the maps parser (fixtures under tests/fixtures/maps),
// ELF symbol lookup checked against this process's own runtime addresses, and detection on real
// processes (self, LD_PRELOADed jemalloc/tcmalloc, a deleted library, a static binary, Go).
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "deep/allocators.h"
#include "procfs/read_file.h"
#include "util/error.h"

extern char** environ;

namespace memsight::deep {
namespace {

namespace fs = std::filesystem;

const std::string kLibDir = "/usr/lib/x86_64-linux-gnu";

std::string fixture(const std::string& name)
{
    auto text = procfs::read_file(std::string(MEMSIGHT_FIXTURES) + "/maps/" + name);
    EXPECT_TRUE(text.has_value()) << "missing fixture " << name;
    return text.value_or("");
}

std::vector<MapEntry> self_maps()
{
    return parse_maps(procfs::read_file("/proc/self/maps").value_or(""));
}

// Path of the mapped object whose file name starts with `prefix` (e.g. "libc.so.6").
std::string self_mapped_path(const std::string& prefix)
{
    for (const auto& e : self_maps())
        if (fs::path(e.path).filename().string().starts_with(prefix))
            return e.path;
    return "";
}

// The file offset of runtime address `addr`, computed from the mapping that contains it.
std::optional<uint64_t> runtime_file_offset(const std::vector<MapEntry>& maps, uint64_t addr, std::string* path)
{
    for (const auto& e : maps) {
        if (addr >= e.start && addr < e.end) {
            *path = e.path;
            return addr - e.start + e.offset;
        }
    }
    return std::nullopt;
}

const ProbeSymbol* find(const std::vector<ProbeSymbol>& syms, const std::string& name)
{
    for (const auto& s : syms)
        if (s.name == name)
            return &s;
    return nullptr;
}

const AllocatorObject* find_kind(const ProcessAllocators& pa, const std::string& kind)
{
    for (const auto& o : pa.objects)
        if (o.kind == kind)
            return &o;
    return nullptr;
}

std::string user_error_of(const std::function<void()>& f)
{
    try {
        f();
    } catch (const UserError& e) {
        return e.what();
    }
    return "<no UserError thrown>";
}

// A temporary directory removed at scope exit.
struct TempDir {
    fs::path path;
    TempDir()
    {
        std::string tmpl = (fs::temp_directory_path() / "memsight_alloc_XXXXXX").string();
        path = ::mkdtemp(tmpl.data());
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// A child process killed and reaped at scope exit; stdout optionally captured through a pipe.
class Child {
public:
    Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, bool capture_stdout = false)
    {
        std::vector<std::string> env_store(extra_env);
        for (char** e = environ; *e != nullptr; ++e)
            env_store.emplace_back(*e);
        std::vector<char*> envp, args;
        for (auto& s : env_store)
            envp.push_back(s.data());
        envp.push_back(nullptr);
        std::vector<std::string> argv_store(argv);
        for (auto& s : argv_store)
            args.push_back(s.data());
        args.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        int fds[2] = {-1, -1};
        if (capture_stdout && ::pipe2(fds, O_CLOEXEC) == 0) {
            posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
            out_fd_ = fds[0];
        }
        if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data()) != 0)
            pid_ = -1;
        posix_spawn_file_actions_destroy(&actions);
        if (fds[1] >= 0)
            ::close(fds[1]);
    }
    ~Child()
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_fd_ >= 0)
            ::close(out_fd_);
    }
    pid_t pid() const { return pid_; }

    // Waits until the child's maps mention every one of `needles` (after exec and ld.so's work).
    bool wait_for_maps(const std::vector<std::string>& needles) const
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            const auto maps = procfs::read_file("/proc/" + std::to_string(pid_) + "/maps").value_or("");
            bool all = !maps.empty();
            for (const auto& n : needles)
                all = all && maps.find(n) != std::string::npos;
            if (all)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

    // One line of the child's stdout.
    std::string read_line() const
    {
        std::string line;
        char c = 0;
        while (out_fd_ >= 0 && ::read(out_fd_, &c, 1) == 1 && c != '\n')
            line += c;
        return line;
    }

private:
    pid_t pid_ = -1;
    int out_fd_ = -1;
};

bool run_ok(const std::string& cmd)
{
    return std::system(cmd.c_str()) == 0;
}

// ---- parse_maps ----

TEST(ParseMaps, GlibcProcess)
{
    const auto maps = parse_maps(fixture("glibc_process"));
    ASSERT_EQ(maps.size(), 37u);
    const auto& exe = maps[0];
    EXPECT_EQ(exe.start, 0x55fd18bbd000u);
    EXPECT_EQ(exe.end, 0x55fd18bbf000u);
    EXPECT_EQ(exe.perms, "r--p");
    EXPECT_EQ(exe.offset, 0u);
    EXPECT_EQ(exe.dev_major, 0xfeu);
    EXPECT_EQ(exe.dev_minor, 0u);
    EXPECT_EQ(exe.inode, 248056u);
    EXPECT_EQ(exe.path, "/usr/bin/sleep");
    EXPECT_FALSE(exe.deleted);
    EXPECT_FALSE(exe.executable());

    EXPECT_EQ(maps[5].path, "[heap]");
    const auto& libc_text = maps[15];
    EXPECT_EQ(libc_text.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    EXPECT_EQ(libc_text.perms, "r-xp");
    EXPECT_TRUE(libc_text.executable());
    EXPECT_EQ(libc_text.offset, 0x26000u);
    EXPECT_EQ(libc_text.inode, 332835u);
    EXPECT_EQ(maps[29].path, "[vdso]");
    EXPECT_EQ(maps.back().path, "[vsyscall]");
    EXPECT_EQ(maps.back().end, 0xffffffffff601000u);
}

TEST(ParseMaps, JemallocPreloadedProcess)
{
    const auto maps = parse_maps(fixture("jemalloc_preloaded"));
    ASSERT_EQ(maps.size(), 59u);
    int jemalloc_lines = 0;
    for (const auto& e : maps) {
        if (e.path == "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2") {
            ++jemalloc_lines;
            EXPECT_EQ(e.inode, 14884926u);
        }
    }
    EXPECT_EQ(jemalloc_lines, 5);
    // Anonymous mappings end in "0 " with no path.
    EXPECT_EQ(maps[5].inode, 0u);
    EXPECT_EQ(maps[5].path, "");
}

TEST(ParseMaps, PathsWithSpacesAndDeletedFiles)
{
    const auto maps = parse_maps(fixture("spaces_deleted"));
    ASSERT_EQ(maps.size(), 59u);
    EXPECT_EQ(maps[0].path, "/tmp/msfx/my dir/my sleep (deleted)");
    EXPECT_TRUE(maps[0].deleted);
    EXPECT_EQ(maps[0].inode, 10953287u);
    int deleted_lib = 0;
    for (const auto& e : maps)
        if (e.path == "/tmp/msfx/libjem-old.so (deleted)" && e.deleted)
            ++deleted_lib;
    EXPECT_EQ(deleted_lib, 5);
}

TEST(ParseMaps, StaticBinary)
{
    const auto maps = parse_maps(fixture("static_binary"));
    ASSERT_EQ(maps.size(), 12u);
    EXPECT_EQ(maps[0].start, 0x400000u);
    EXPECT_EQ(maps[1].perms, "r-xp");
    EXPECT_EQ(maps[1].offset, 0x1000u);
    EXPECT_EQ(maps[1].path, "/tmp/msfx/static_prog");
    for (const auto& e : maps)
        EXPECT_EQ(e.path.find(".so"), std::string::npos) << e.path;
}

TEST(ParseMaps, EdgeLines)
{
    const std::string text = "not a maps line\n"
                             "00400000-00401000 r-xp 00000000 103:0a 42  /a path/with  two spaces\n"
                             "\n"
                             "7f00-7f10 rw-p 0000 00:00 0 [anon:my region]\n"
                             "zz-10 r-xp 0 00:00 0 /bad/start\n"
                             "10-20 r-xp 0 0000 0 /bad/device\n"
                             "10-20 rwxp 10 fd:01 7 /no/newline/at/end (deleted)";
    const auto maps = parse_maps(text);
    ASSERT_EQ(maps.size(), 3u);
    EXPECT_EQ(maps[0].dev_major, 0x103u);
    EXPECT_EQ(maps[0].dev_minor, 0xau);
    EXPECT_EQ(maps[0].path, "/a path/with  two spaces");
    EXPECT_EQ(maps[1].path, "[anon:my region]");
    EXPECT_EQ(maps[2].path, "/no/newline/at/end (deleted)");
    EXPECT_TRUE(maps[2].deleted);
    EXPECT_EQ(maps[2].offset, 0x10u);
    EXPECT_TRUE(parse_maps("").empty());
}

// ---- find_symbols / is_go_binary ----

// The strong independent check: libc's malloc as resolved by the dynamic linker in THIS process,
// minus its mapping's start plus the mapping's file offset, must equal the offset computed from
// the ELF file's symbols and program headers.
void expect_offsets_match_runtime(const std::string& soname_prefix, const char* dl_name,
                                  const std::vector<std::string>& names)
{
    const std::string path = self_mapped_path(soname_prefix);
    ASSERT_FALSE(path.empty()) << soname_prefix << " not mapped in this process";
    void* handle = ::dlopen(dl_name, RTLD_LAZY | RTLD_NOLOAD);
    ASSERT_NE(handle, nullptr) << ::dlerror();
    const auto syms = find_symbols(path, names);
    const auto maps = self_maps();
    for (const auto& name : names) {
        SCOPED_TRACE(name);
        const auto* s = find(syms, name);
        ASSERT_NE(s, nullptr) << "not found in " << path;
        void* addr = ::dlsym(handle, name.c_str());
        ASSERT_NE(addr, nullptr);
        std::string mapped_path;
        const auto expected = runtime_file_offset(maps, reinterpret_cast<uint64_t>(addr), &mapped_path);
        ASSERT_TRUE(expected.has_value());
        EXPECT_EQ(mapped_path, path);
        EXPECT_EQ(s->file_offset, *expected);
        EXPECT_FALSE(s->ifunc);
    }
    ::dlclose(handle);
}

TEST(FindSymbols, LibcOffsetsMatchRuntimeAddresses)
{
    expect_offsets_match_runtime("libc.so.6", "libc.so.6",
                                 {"malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign",
                                  "valloc", "reallocarray", "mmap", "munmap", "mremap"});
}

TEST(FindSymbols, LibstdcxxOperatorOffsetsMatchRuntimeAddresses)
{
    expect_offsets_match_runtime("libstdc++.so.6", "libstdc++.so.6", {"_Znwm", "_Znam", "_ZdlPv", "_ZdaPv", "_ZdlPvm"});
}

TEST(FindSymbols, MallocFamilyIsNotIfuncButMemcpyIs)
{
    const std::string libc = self_mapped_path("libc.so.6");
    ASSERT_FALSE(libc.empty());
    const auto family = find_symbols(libc, hook_names(HookKind::MallocFamily));
    EXPECT_EQ(family.size(), hook_names(HookKind::MallocFamily).size()); // glibc defines all ten
    for (const auto& s : family)
        EXPECT_FALSE(s.ifunc) << s.name;
    // memcpy has two versions: memcpy@GLIBC_2.2.5 (FUNC) and the default memcpy@@GLIBC_2.14 (IFUNC).
    // The default one must win, flagged as an IFUNC (its offset is the resolver's).
    const auto memcpy_sym = find_symbols(libc, {"memcpy"});
    ASSERT_EQ(memcpy_sym.size(), 1u);
    EXPECT_TRUE(memcpy_sym[0].ifunc);
}

TEST(FindSymbols, AliasesAreMarked)
{
    const std::string libc = self_mapped_path("libc.so.6");
    const auto syms = find_symbols(libc, {"mmap", "mmap64", "malloc"});
    ASSERT_EQ(syms.size(), 3u);
    EXPECT_EQ(syms[0].alias_of, "");
    if (syms[1].file_offset == syms[0].file_offset)
        EXPECT_EQ(syms[1].alias_of, "mmap");
    else
        EXPECT_EQ(syms[1].alias_of, "");
    EXPECT_EQ(syms[2].alias_of, "");
}

TEST(FindSymbols, ImportsAreNotDefinitionsAndOrderFollowsNames)
{
    // /usr/bin/sleep imports malloc (undefined) and defines none of these.
    EXPECT_TRUE(find_symbols("/usr/bin/sleep", {"malloc", "free"}).empty());
    const auto syms = find_symbols(self_mapped_path("libc.so.6"), {"free", "no_such_symbol_xyz", "malloc"});
    ASSERT_EQ(syms.size(), 2u);
    EXPECT_EQ(syms[0].name, "free");
    EXPECT_EQ(syms[1].name, "malloc");
}

TEST(FindSymbols, ErrorsNameTheFile)
{
    EXPECT_EQ(user_error_of([] { find_symbols("/nonexistent/libfoo.so", {"malloc"}); }),
              "cannot open /nonexistent/libfoo.so: No such file or directory");
    const std::string text_file = std::string(MEMSIGHT_FIXTURES) + "/maps/glibc_process";
    EXPECT_NE(user_error_of([&] { find_symbols(text_file, {"malloc"}); }).find("is not an ELF file"),
              std::string::npos);
}

TEST(IsGoBinary, FalseForCBinariesAndNonElf)
{
    std::string reason = "untouched";
    EXPECT_FALSE(is_go_binary("/bin/true", &reason));
    EXPECT_EQ(reason, "untouched");
    EXPECT_FALSE(is_go_binary(std::string(MEMSIGHT_FIXTURES) + "/maps/glibc_process"));
    EXPECT_THROW(is_go_binary("/nonexistent/binary"), UserError);
}

// Builds a tiny Go program once (GOCACHE in a temp dir); skips when `go` is not installed.
class GoBinary : public testing::Test {
protected:
    static void SetUpTestSuite()
    {
        if (!run_ok("command -v go >/dev/null 2>&1"))
            return;
        dir_ = new TempDir;
        const auto d = dir_->path.string();
        std::ofstream(dir_->path / "main.go") << "package main\n\nimport (\n\t\"os\"\n\t\"time\"\n)\n\n"
                                                 "func main() {\n\tif len(os.Args) > 1 {\n"
                                                 "\t\ttime.Sleep(30 * time.Second)\n\t}\n}\n";
        const std::string env = "cd '" + d + "' && env GOCACHE='" + d + "/cache' GOPATH='" + d + "/gopath' HOME='" + d +
                                "' GOFLAGS= GO111MODULE=auto GOTOOLCHAIN=local CGO_ENABLED=0 ";
        built_ = run_ok(env + "go build -o hello main.go >build.log 2>&1") &&
                 run_ok(env + "go build -ldflags='-s -w' -o hello_stripped main.go >>build.log 2>&1");
        if (!built_)
            log_ = procfs::read_file(d + "/build.log").value_or("");
    }
    static void TearDownTestSuite()
    {
        delete dir_;
        dir_ = nullptr;
    }
    void SetUp() override
    {
        if (dir_ == nullptr)
            GTEST_SKIP() << "go is not installed (Debian: golang-go); Go detection not tested";
        ASSERT_TRUE(built_) << "go build failed:\n" << log_;
    }
    static std::string bin(const char* name) { return (dir_->path / name).string(); }

    static inline TempDir* dir_ = nullptr;
    static inline bool built_ = false;
    static inline std::string log_;
};

TEST_F(GoBinary, DetectedWithAndWithoutSymbols)
{
    std::string reason;
    EXPECT_TRUE(is_go_binary(bin("hello"), &reason));
    EXPECT_EQ(reason, "section .go.buildinfo");
    reason.clear();
    EXPECT_TRUE(is_go_binary(bin("hello_stripped"), &reason)); // -s -w: no .symtab
    EXPECT_EQ(reason, "section .go.buildinfo");
}

TEST_F(GoBinary, RunningGoProcessHasNoMalloc)
{
    Child child({bin("hello"), "sleep"}, {});
    ASSERT_GT(child.pid(), 0);
    ASSERT_TRUE(child.wait_for_maps({"hello"}));
    const auto pa = detect_allocators(child.pid());
    EXPECT_TRUE(pa.is_go);
    EXPECT_EQ(pa.go_reason, "section .go.buildinfo");
    EXPECT_EQ(pa.exe, bin("hello"));
    EXPECT_EQ(pa.active, ""); // CGO_ENABLED=0: Go's own allocator, no malloc to probe
    EXPECT_TRUE(pa.objects.empty());
}

// ---- detect_allocators on real processes ----

TEST(DetectAllocators, SelfUsesGlibc)
{
    const auto pa = detect_allocators(::getpid());
    EXPECT_EQ(pa.pid, ::getpid());
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // A sanitized build allocates through the sanitizer runtime's malloc, which comes first in the maps: detected as
    // an allocator of its own (as a preloaded allocator would be), not as glibc's.
    ASSERT_FALSE(pa.objects.empty());
    EXPECT_EQ(pa.active, "other");
    EXPECT_TRUE(pa.objects.front().soname.starts_with("libasan.so") ||
                pa.objects.front().soname.starts_with("libtsan.so"))
        << pa.objects.front().soname;
    GTEST_SKIP() << "sanitized build: the rest is about glibc's malloc";
#endif
    EXPECT_EQ(pa.active, "glibc");
    EXPECT_FALSE(pa.is_go);
    EXPECT_EQ(pa.exe, fs::read_symlink("/proc/self/exe").string());
    ASSERT_FALSE(pa.objects.empty());
    const auto& libc = pa.objects.front();
    EXPECT_EQ(libc.kind, "glibc");
    EXPECT_EQ(libc.soname, "libc.so.6");
    EXPECT_EQ(libc.path, self_mapped_path("libc.so.6"));
    EXPECT_EQ(libc.host_path, "/proc/" + std::to_string(::getpid()) + "/root" + libc.path);
    EXPECT_FALSE(libc.is_executable);
    for (const char* name : {"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
                             "memalign", "valloc", "pvalloc", "mmap", "mmap64", "munmap", "mremap"})
        EXPECT_TRUE(libc.defines(name)) << name;
    EXPECT_TRUE(libc.missing.empty());
    EXPECT_TRUE(libc.markers.empty());
    struct stat st {};
    ASSERT_EQ(::stat(libc.path.c_str(), &st), 0);
    EXPECT_EQ(libc.dev, st.st_dev);
    EXPECT_EQ(libc.ino, st.st_ino);
    EXPECT_EQ(libc.map_inode, st.st_ino);
    // Same offsets as the ELF helper on the file itself.
    const auto direct = find_symbols(libc.path, {"malloc", "free"});
    ASSERT_EQ(direct.size(), 2u);
    EXPECT_EQ(find(libc.symbols, "malloc")->file_offset, direct[0].file_offset);
    EXPECT_EQ(find(libc.symbols, "free")->file_offset, direct[1].file_offset);

    // C++ operators come from libstdc++ (this test binary is C++).
    const auto* cxx = find_kind(pa, "libstdc++");
    ASSERT_NE(cxx, nullptr);
    EXPECT_TRUE(cxx->defines("_Znwm"));
    EXPECT_TRUE(cxx->defines("_ZdlPv"));
    EXPECT_TRUE(cxx->missing.empty()); // not an allocator kind: no "missing" list
    // Each object once.
    for (size_t i = 0; i < pa.objects.size(); ++i)
        for (size_t j = i + 1; j < pa.objects.size(); ++j)
            EXPECT_FALSE(pa.objects[i].dev == pa.objects[j].dev && pa.objects[i].ino == pa.objects[j].ino);
}

void expect_preloaded_allocator(const std::string& lib, const std::string& kind, const std::string& marker)
{
    const std::string path = kLibDir + "/" + lib;
    if (!fs::exists(path))
        GTEST_SKIP() << path << " is not installed";
    Child child({"/bin/sleep", "5"}, {"LD_PRELOAD=" + path});
    ASSERT_GT(child.pid(), 0);
    ASSERT_TRUE(child.wait_for_maps({lib, "libc.so.6"}));
    const auto pa = detect_allocators(child.pid());
    EXPECT_EQ(pa.active, kind);
    EXPECT_EQ(pa.exe, fs::canonical("/bin/sleep").string());
    ASSERT_FALSE(pa.objects.empty());
    const auto& front = pa.objects.front();
    EXPECT_EQ(front.kind, kind);
    EXPECT_EQ(front.path, fs::canonical(path).string()); // maps shows the symlink's target
    EXPECT_TRUE(front.defines("malloc"));
    EXPECT_TRUE(front.defines("free"));
    EXPECT_TRUE(front.defines("_Znwm")); // both replace operator new too
    EXPECT_NE(std::find(front.markers.begin(), front.markers.end(), marker), front.markers.end());
    // glibc is still mapped and reported, just not active.
    const auto* glibc = find_kind(pa, "glibc");
    ASSERT_NE(glibc, nullptr);
    EXPECT_TRUE(glibc->defines("malloc"));
}

TEST(DetectAllocators, PreloadedJemallocIsActive)
{
    expect_preloaded_allocator("libjemalloc.so.2", "jemalloc", "mallctl");
}

TEST(DetectAllocators, PreloadedTcmallocIsActive)
{
    expect_preloaded_allocator("libtcmalloc.so.4", "tcmalloc", "tc_malloc");
}

TEST(DetectAllocators, DeletedLibraryIsReachedThroughMapFiles)
{
    const std::string original = kLibDir + "/libjemalloc.so.2";
    if (!fs::exists(original))
        GTEST_SKIP() << original << " is not installed";
    TempDir tmp;
    const auto copy = tmp.path / "libjem-old.so";
    fs::copy_file(original, copy);
    Child child({"/bin/sleep", "5"}, {"LD_PRELOAD=" + copy.string()});
    ASSERT_GT(child.pid(), 0);
    ASSERT_TRUE(child.wait_for_maps({"libjem-old.so", "libc.so.6"}));
    fs::remove(copy); // as after a package upgrade: maps now says " (deleted)"
    const auto pa = detect_allocators(child.pid());
    EXPECT_EQ(pa.active, "jemalloc");
    const auto& jem = pa.objects.front();
    EXPECT_EQ(jem.path, copy.string() + " (deleted)");
    EXPECT_TRUE(jem.deleted);
    EXPECT_NE(jem.host_path.find("/proc/" + std::to_string(child.pid()) + "/map_files/"), std::string::npos);
    EXPECT_EQ(jem.ino, jem.map_inode);
    // Same bytes as the installed library: same offsets.
    const auto expected = find_symbols(original, {"malloc"});
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_EQ(find(jem.symbols, "malloc")->file_offset, expected[0].file_offset);
}

TEST(DetectAllocators, StaticBinaryOffsetsMatchItsRuntimeAddress)
{
    if (!run_ok("command -v cc >/dev/null 2>&1"))
        GTEST_SKIP() << "no C compiler (cc) to build the static fixture";
    TempDir tmp;
    const auto src = tmp.path / "static_prog.c";
    const auto bin = tmp.path / "static prog"; // a space in the path, too
    std::ofstream(src) << "#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n"
                          "int main(void) {\n"
                          "    printf(\"%lx %lx\\n\", (unsigned long)&malloc, (unsigned long)&free);\n"
                          "    fflush(stdout);\n    pause();\n    return 0;\n}\n";
    if (!run_ok("cc -static -O1 -o '" + bin.string() + "' '" + src.string() + "' 2>/dev/null"))
        GTEST_SKIP() << "cc -static failed (static libc, Debian libc6-dev, missing?)";
    Child child({bin.string()}, {}, true);
    ASSERT_GT(child.pid(), 0);
    const std::string line = child.read_line(); // printed after exec: the mappings are final
    unsigned long malloc_addr = 0, free_addr = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%lx %lx", &malloc_addr, &free_addr), 2) << line;

    const auto pa = detect_allocators(child.pid());
    EXPECT_EQ(pa.active, "static");
    EXPECT_EQ(pa.exe, bin.string());
    ASSERT_FALSE(pa.objects.empty());
    const auto& exe = pa.objects.front();
    EXPECT_TRUE(exe.is_executable);
    EXPECT_EQ(exe.kind, "static");
    EXPECT_EQ(exe.path, bin.string());
    const auto maps = parse_maps(procfs::read_file("/proc/" + std::to_string(child.pid()) + "/maps").value_or(""));
    for (const auto& [name, addr] :
         {std::pair<std::string, unsigned long>{"malloc", malloc_addr}, {"free", free_addr}}) {
        SCOPED_TRACE(name);
        std::string mapped;
        const auto expected = runtime_file_offset(maps, addr, &mapped);
        ASSERT_TRUE(expected.has_value());
        EXPECT_EQ(mapped, bin.string());
        const auto* s = find(exe.symbols, name);
        ASSERT_NE(s, nullptr);
        EXPECT_EQ(s->file_offset, *expected);
        EXPECT_NE(s->vaddr, s->file_offset); // ET_EXEC at 0x400000: the conversion is not the identity
    }
}

// A process in another mount namespace: maps names files that exist only under /proc/PID/root.
// Simulated with a fake proc root whose PID/root holds the files at paths absent from the host.
TEST(DetectAllocators, FilesAreOpenedThroughTheProcessRoot)
{
    const std::string real_libc = self_mapped_path("libc.so.6");
    TempDir tmp;
    const auto proc = tmp.path / "4242";
    fs::create_directories(proc / "root/ns-only/lib");
    fs::create_directories(proc / "root/ns-only/bin");
    fs::copy_file(real_libc, proc / "root/ns-only/lib/libc.so.6");
    fs::copy_file("/bin/true", proc / "root/ns-only/bin/prog");
    fs::create_symlink("/ns-only/bin/prog", proc / "exe");
    struct stat libc_st {
    }, prog_st{};
    ASSERT_EQ(::stat((proc / "root/ns-only/lib/libc.so.6").c_str(), &libc_st), 0);
    ASSERT_EQ(::stat((proc / "root/ns-only/bin/prog").c_str(), &prog_st), 0);
    std::ofstream(proc / "maps") << "5600000000-5600001000 r-xp 00000000 08:01 " << prog_st.st_ino
                                 << "    /ns-only/bin/prog\n"
                                 << "7f0000000000-7f0000026000 r--p 00000000 08:01 " << libc_st.st_ino
                                 << "    /ns-only/lib/libc.so.6\n"
                                 << "7f0000026000-7f000017c000 r-xp 00026000 08:01 " << libc_st.st_ino
                                 << "    /ns-only/lib/libc.so.6\n"
                                 << "7f0000200000-7f0000201000 r-xp 00000000 08:01 99    /ns-only/lib/libgone.so\n";

    const auto pa = detect_allocators(4242, tmp.path.string());
    EXPECT_EQ(pa.exe, "/ns-only/bin/prog");
    EXPECT_EQ(pa.active, "glibc");
    ASSERT_EQ(pa.objects.size(), 1u);
    const auto& libc = pa.objects.front();
    EXPECT_EQ(libc.path, "/ns-only/lib/libc.so.6");
    EXPECT_EQ(libc.host_path, (proc / "root/ns-only/lib/libc.so.6").string());
    EXPECT_EQ(libc.dev, libc_st.st_dev);
    EXPECT_EQ(libc.ino, libc_st.st_ino);
    EXPECT_EQ(libc.map_dev_major, 8u);
    EXPECT_EQ(libc.map_dev_minor, 1u);
    EXPECT_EQ(find(libc.symbols, "malloc")->file_offset, find_symbols(real_libc, {"malloc"})[0].file_offset);
    // The unreachable library is reported, not silently dropped.
    ASSERT_EQ(pa.warnings.size(), 1u);
    EXPECT_NE(pa.warnings[0].find("/ns-only/lib/libgone.so"), std::string::npos);
}

// ---- errors ----

TEST(DetectAllocators, NoSuchProcess)
{
    const auto pid_max = std::stol(procfs::read_file("/proc/sys/kernel/pid_max").value_or("4194304"));
    const auto pid = static_cast<pid_t>(pid_max + 1); // above pid_max: never a live pid
    EXPECT_EQ(user_error_of([&] { detect_allocators(pid); }), "no such process: " + std::to_string(pid));
    EXPECT_EQ(user_error_of([] { detect_allocators(-1); }), "no such process: -1");
}

TEST(DetectAllocators, UnreadableMapsNamesTheFileAndErrno)
{
    TempDir tmp;
    fs::create_directories(tmp.path / "77" / "maps"); // a directory: open works, read fails
    EXPECT_EQ(user_error_of([&] { detect_allocators(77, tmp.path.string()); }),
              "cannot read " + (tmp.path / "77" / "maps").string() + ": Is a directory");
}

TEST(DetectAllocators, KernelThread)
{
    TempDir tmp;
    fs::create_directories(tmp.path / "2");
    std::ofstream(tmp.path / "2" / "maps");
    fs::copy_file(std::string(MEMSIGHT_FIXTURES) + "/procfs/stat_kthread", tmp.path / "2" / "stat");
    EXPECT_EQ(user_error_of([&] { detect_allocators(2, tmp.path.string()); }),
              "pid 2 is a kernel thread: nothing to trace");
    // The real kthreadd, where this pid namespace shows it.
    if (procfs::read_file("/proc/2/comm").value_or("") == "kthreadd\n") {
        EXPECT_EQ(user_error_of([] { detect_allocators(2); }), "pid 2 is a kernel thread: nothing to trace");
    }
}

TEST(DetectAllocators, Zombie)
{
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0)
        ::_exit(0);
    // Wait for the exit without reaping.
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
    EXPECT_EQ(user_error_of([&] { detect_allocators(pid); }),
              "pid " + std::to_string(pid) + " is a zombie (exited, not yet reaped): nothing to trace");
    ::waitpid(pid, nullptr, 0);
}

} // namespace
} // namespace memsight::deep
