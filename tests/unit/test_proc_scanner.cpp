// Tests for the /proc scanner over a fake proc tree built in a temp dir from the procfs fixtures.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "analysis/proc_scanner.h"
#include "procfs/read_file.h"
#include "test_files.h"

namespace memsight::analysis {
namespace {

using memsight::test::TempDir;
using memsight::test::write_text;

namespace fs = std::filesystem;

const std::string kFixtures = MEMSIGHT_FIXTURES;
const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const std::string kPodId = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
const std::string kPodUid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";
constexpr uint64_t kKiB = 1024;

std::string fixture(const std::string& name)
{
    auto text = procfs::read_file(kFixtures + "/procfs/" + name);
    EXPECT_TRUE(text.has_value()) << name;
    return text.value_or("");
}

std::string stat_line(pid_t pid, const std::string& comm, uint64_t minflt, uint64_t majflt, uint64_t start)
{
    return std::to_string(pid) + " (" + comm + ") S 1 " + std::to_string(pid) + " " + std::to_string(pid) +
           " 0 -1 4194560 " + std::to_string(minflt) + " 0 " + std::to_string(majflt) + " 0 10 5 0 0 20 0 1 0 " +
           std::to_string(start) + " 123456789 2048 18446744073709551615 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
}

std::string status_text(const std::string& name, pid_t pid, uint64_t anon_kb, uint64_t file_kb, uint64_t shmem_kb,
                        uint64_t swap_kb, uint64_t hwm_kb)
{
    const uint64_t rss_kb = anon_kb + file_kb + shmem_kb;
    return "Name:\t" + name + "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t" + std::to_string(pid) + "\nPid:\t" +
           std::to_string(pid) + "\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n" + "VmHWM:\t" + std::to_string(hwm_kb) +
           " kB\nVmRSS:\t" + std::to_string(rss_kb) + " kB\nRssAnon:\t" + std::to_string(anon_kb) + " kB\nRssFile:\t" +
           std::to_string(file_kb) + " kB\nRssShmem:\t" + std::to_string(shmem_kb) + " kB\nVmSwap:\t" +
           std::to_string(swap_kb) + " kB\nThreads:\t1\n";
}

void add_process(const std::string& root, pid_t pid, const std::string& comm, uint64_t anon_kb, uint64_t start,
                 const std::string& cgroup_text)
{
    const std::string dir = root + "/" + std::to_string(pid);
    write_text(dir + "/stat", stat_line(pid, comm, 100 + pid, pid % 7, start));
    write_text(dir + "/status", status_text(comm, pid, anon_kb, 8, 4, 2, anon_kb + 100));
    write_text(dir + "/cgroup", cgroup_text);
}

// A fake /proc: a process from the fixtures (odd comm, v1 hybrid cgroups), a generated process in a
// Kubernetes pod (v2), a kernel thread, a pid directory whose files are gone and non-pid entries.
void make_proc(const std::string& root)
{
    write_text(root + "/31337/stat", fixture("stat_weird_comm"));
    write_text(root + "/31337/status", fixture("status_process"));
    write_text(root + "/31337/cgroup", fixture("cgroup_v1_hybrid"));
    add_process(root, 100, "worker", 2048, 5000, "0::/kubepods/burstable/pod" + kPodUid + "/" + kPodId + "\n");
    write_text(root + "/2/stat", fixture("stat_kthread"));
    write_text(root + "/2/status", fixture("status_kthread"));
    write_text(root + "/2/cgroup", "0::/\n");
    fs::create_directories(root + "/300"); // exited between readdir and open
    write_text(root + "/meminfo", "MemTotal: 1 kB\n");
    fs::create_directories(root + "/sys");
    fs::create_directories(root + "/0");
    fs::create_directories(root + "/-5");
    fs::create_directories(root + "/12abc");
    write_text(root + "/12abc/stat", stat_line(12, "bad", 1, 1, 1));
    write_text(root + "/12abc/status", status_text("bad", 12, 1, 1, 1, 1, 1));
    fs::create_symlink("31337", root + "/self");
}

std::vector<pid_t> pids_of(const std::vector<ProcessView>& v)
{
    std::vector<pid_t> out;
    for (const auto& p : v)
        out.push_back(p.sample.pid);
    return out;
}

TEST(ProcScanner, ReadProcessFromFixtures)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    make_proc(tmp.path());
    ProcScanner scanner(tmp.path());
    const auto s = scanner.read_process(31337);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->pid, 31337);
    EXPECT_EQ(s->comm, "my (weird) proc");
    EXPECT_EQ(s->start_ticks, 987654u);
    EXPECT_EQ(s->minflt, 52811u);
    EXPECT_EQ(s->majflt, 7u);
    EXPECT_EQ(s->rss_anon, 4096 * kKiB);
    EXPECT_EQ(s->rss_file, 14260 * kKiB);
    EXPECT_EQ(s->rss_shmem, 10288 * kKiB);
    EXPECT_EQ(s->rss(), 28644 * kKiB); // = VmRSS
    EXPECT_EQ(s->swap, 512 * kKiB);
    EXPECT_EQ(s->peak_rss, 30912 * kKiB);
}

TEST(ProcScanner, ReadProcessSkipsKernelThreadsAndMissingPids)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    make_proc(tmp.path());
    ProcScanner scanner(tmp.path());
    EXPECT_FALSE(scanner.read_process(2).has_value());   // kernel thread
    EXPECT_FALSE(scanner.read_process(300).has_value()); // no files
    EXPECT_FALSE(scanner.read_process(999).has_value()); // no directory
}

TEST(ProcScanner, ReadCgroupPicksTheMemoryHierarchy)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    make_proc(tmp.path());
    ProcScanner scanner(tmp.path());
    EXPECT_EQ(scanner.read_cgroup(31337),
              std::optional<std::string>("/system.slice/docker-" + kDockerId + ".scope")); // v1 memory line
    EXPECT_EQ(scanner.read_cgroup(100), std::optional<std::string>("/kubepods/burstable/pod" + kPodUid + "/" + kPodId));
    EXPECT_FALSE(scanner.read_cgroup(300).has_value());
}

TEST(ProcScanner, ScanFillsTheTableWithUserProcessesAndTheirCgroups)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    make_proc(tmp.path());
    ProcScanner scanner(tmp.path());
    ProcessTable table(std::chrono::minutes(5));
    EXPECT_EQ(scanner.scan(table), 2u);
    const auto all = table.snapshot();
    ASSERT_EQ(pids_of(all), (std::vector<pid_t>{100, 31337}));

    const ProcessView& w = all[0];
    EXPECT_EQ(w.sample.comm, "worker");
    EXPECT_EQ(w.sample.start_ticks, 5000u);
    EXPECT_EQ(w.sample.minflt, 200u);
    EXPECT_EQ(w.sample.majflt, 2u); // 100 % 7
    EXPECT_EQ(w.sample.rss_anon, 2048 * kKiB);
    EXPECT_EQ(w.sample.rss_file, 8 * kKiB);
    EXPECT_EQ(w.sample.rss_shmem, 4 * kKiB);
    EXPECT_EQ(w.sample.swap, 2 * kKiB);
    EXPECT_EQ(w.sample.peak_rss, 2148 * kKiB);
    EXPECT_EQ(w.cgroup, "/kubepods/burstable/pod" + kPodUid + "/" + kPodId);
    EXPECT_EQ(w.identity.container_id, kPodId);
    EXPECT_EQ(w.identity.pod_uid, kPodUid);

    const ProcessView& p = all[1];
    EXPECT_EQ(p.sample.comm, "my (weird) proc");
    EXPECT_EQ(p.cgroup, "/system.slice/docker-" + kDockerId + ".scope");
    EXPECT_EQ(p.identity.container_id, kDockerId);
    EXPECT_EQ(p.identity.runtime, "docker");
}

TEST(ProcScanner, ScanDropsVanishedProcesses)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    make_proc(tmp.path());
    ProcScanner scanner(tmp.path());
    ProcessTable table(std::chrono::minutes(5));
    ASSERT_EQ(scanner.scan(table), 2u);
    fs::remove_all(tmp.path() + "/100");
    add_process(tmp.path(), 200, "newcomer", 64, 7000, "0::/user.slice\n");
    EXPECT_EQ(scanner.scan(table), 2u);
    EXPECT_EQ(pids_of(table.snapshot()), (std::vector<pid_t>{200, 31337}));
    EXPECT_EQ(table.find(200)->cgroup, "/user.slice");
    EXPECT_EQ(table.find(200)->identity.container_id, "");
}

TEST(ProcScanner, ScanTracksGrowthBetweenScans)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    make_proc(tmp.path());
    ProcScanner scanner(tmp.path());
    ProcessTable table(std::chrono::minutes(5));
    scanner.scan(table);
    EXPECT_EQ(table.find(100)->growth_bytes_per_second, 0.0);
    add_process(tmp.path(), 100, "worker", 4096, 5000, "0::/user.slice\n");
    scanner.scan(table);
    // Real clock between the two scans: only the sign is deterministic.
    EXPECT_GT(table.find(100)->growth_bytes_per_second, 0.0);
    EXPECT_EQ(table.find(100)->sample.rss_anon, 4096 * kKiB);
}

TEST(ProcScanner, CgroupIsReReadAfterExecAndPidReuseButNotOnEveryScan)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    make_proc(tmp.path());
    ProcScanner scanner(tmp.path());
    ProcessTable table(std::chrono::minutes(5));
    scanner.scan(table);
    ASSERT_EQ(table.find(100)->identity.container_id, kPodId);

    // The process moves: not re-read on the next scan (the table does not ask for it) ...
    write_text(tmp.path() + "/100/cgroup", "0::/docker/" + kDockerId + "\n");
    scanner.scan(table);
    EXPECT_EQ(table.find(100)->identity.container_id, kPodId);
    // ... but after an exec it is.
    table.on_exec(100, "worker2");
    scanner.scan(table);
    EXPECT_EQ(table.find(100)->cgroup, "/docker/" + kDockerId);
    EXPECT_EQ(table.find(100)->identity.container_id, kDockerId);

    // A new process under the same pid (other start time) has its cgroup read at once.
    add_process(tmp.path(), 100, "reborn", 16, 9999, "0::/user.slice\n");
    scanner.scan(table);
    EXPECT_EQ(table.find(100)->sample.comm, "reborn");
    EXPECT_EQ(table.find(100)->sample.start_ticks, 9999u);
    EXPECT_EQ(table.find(100)->cgroup, "/user.slice");
    EXPECT_EQ(table.find(100)->identity.container_id, "");
}

TEST(ProcScanner, MissingCgroupFileLeavesTheProcessWithoutOne)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    add_process(tmp.path(), 100, "worker", 2048, 5000, "0::/docker/" + kDockerId + "\n");
    fs::remove(tmp.path() + "/100/cgroup");
    ProcScanner scanner(tmp.path());
    ProcessTable table(std::chrono::minutes(5));
    EXPECT_EQ(scanner.scan(table), 1u);
    EXPECT_EQ(table.find(100)->cgroup, "");
    // It appears later: the table keeps asking until it is read.
    write_text(tmp.path() + "/100/cgroup", "0::/docker/" + kDockerId + "\n");
    scanner.scan(table);
    EXPECT_EQ(table.find(100)->identity.container_id, kDockerId);
}

// A process that exits while it is being read: its stat was read, then its status is gone (ENOENT) or reads empty
// (the kernel's ESRCH after the task went away). It is skipped, never half-read, and the others are still read.
TEST(ProcScanner, ProcessVanishingBetweenItsFilesIsSkipped)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    make_proc(tmp.path());
    write_text(tmp.path() + "/400/stat", stat_line(400, "gone", 1, 0, 9000)); // status vanished after stat
    write_text(tmp.path() + "/401/stat", stat_line(401, "empty", 1, 0, 9100));
    write_text(tmp.path() + "/401/status", "");                                           // nothing to read any more
    write_text(tmp.path() + "/402/status", status_text("nostat", 402, 64, 8, 4, 2, 164)); // stat vanished first
    ProcScanner scanner(tmp.path());
    EXPECT_FALSE(scanner.read_process(400).has_value());
    EXPECT_FALSE(scanner.read_process(401).has_value());
    EXPECT_FALSE(scanner.read_process(402).has_value());
    ProcessTable table(std::chrono::minutes(5));
    EXPECT_EQ(scanner.scan(table), 2u);
    EXPECT_EQ(pids_of(table.snapshot()), (std::vector<pid_t>{100, 31337}));
}

// A read that fails after open succeeded (here EISDIR; for a /proc file of a process that exited, ESRCH) is no
// content, not the part read so far.
TEST(ReadFile, ErrorAfterOpenIsNullopt)
{
    TempDir tmp{"memsight_proc"};
    ASSERT_FALSE(tmp.path().empty());
    fs::create_directories(tmp.path() + "/dir");
    EXPECT_FALSE(procfs::read_file(tmp.path() + "/dir").has_value());
    EXPECT_FALSE(procfs::read_file(tmp.path() + "/missing").has_value());
    write_text(tmp.path() + "/empty", "");
    EXPECT_EQ(procfs::read_file(tmp.path() + "/empty"), std::optional<std::string>(""));
}

TEST(ProcScanner, MissingRootScansNothing)
{
    ProcScanner scanner("/nonexistent/memsight-proc-root");
    ProcessTable table(std::chrono::minutes(5));
    ProcessSample s;
    s.pid = 1;
    table.update(s, Clock::now() - std::chrono::seconds(1));
    EXPECT_EQ(scanner.scan(table), 0u);
    EXPECT_EQ(table.size(), 0u); // everything not seen by this scan is stale
}

} // namespace
} // namespace memsight::analysis
