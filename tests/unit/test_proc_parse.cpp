// Tests for the /proc/PID parsers (fixtures under tests/fixtures/procfs) and read_file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "procfs/proc_parse.h"
#include "procfs/read_file.h"

namespace memsight::procfs {
namespace {

constexpr uint64_t KiB = 1024;
const std::string kDocker64 = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";

std::string fixture(const std::string& name)
{
    auto text = read_file(std::string(MEMSIGHT_FIXTURES) + "/procfs/" + name);
    EXPECT_TRUE(text.has_value()) << "missing fixture " << name;
    return text.value_or("");
}

// ---- read_file ----

TEST(ProcReadFile, ReadsProcFilesWhoseStatSizeIsZero)
{
    const auto text = read_file("/proc/self/status");
    ASSERT_TRUE(text.has_value());
    EXPECT_EQ(text->rfind("Name:", 0), 0u);
    EXPECT_NE(text->find("Tgid:"), std::string::npos);
}

TEST(ProcReadFile, ReadsFilesLargerThanOneBufferExactly)
{
    const std::string path = testing::TempDir() + "memsight_read_file_" + std::to_string(getpid());
    std::string content;
    for (int i = 0; i < 3000; ++i)
        content += std::to_string(i) + (i % 7 == 0 ? "\n" : " ");
    {
        std::ofstream out(path, std::ios::binary);
        out << content;
    }
    const auto text = read_file(path);
    std::remove(path.c_str());
    ASSERT_TRUE(text.has_value());
    EXPECT_GT(content.size(), 8192u);
    EXPECT_EQ(*text, content);
}

TEST(ProcReadFile, MissingFileIsNullopt)
{
    EXPECT_FALSE(read_file("/proc/self/no-such-file").has_value());
    EXPECT_FALSE(read_file("").has_value());
}

// ---- text helpers ----

TEST(ProcText, ParseU64AcceptsOnlyWholeDecimalNumbers)
{
    EXPECT_EQ(text::parse_u64("0"), 0u);
    EXPECT_EQ(text::parse_u64("18446744073709551615"), UINT64_MAX);
    EXPECT_FALSE(text::parse_u64("18446744073709551616").has_value()); // overflow
    EXPECT_FALSE(text::parse_u64("-1").has_value());
    EXPECT_FALSE(text::parse_u64("12a").has_value());
    EXPECT_FALSE(text::parse_u64(" 12").has_value());
    EXPECT_FALSE(text::parse_u64("").has_value());
}

TEST(ProcText, SplitKeepsEmptyPiecesAndSplitWsDropsThem)
{
    EXPECT_EQ(text::split("a,,b", ','), (std::vector<std::string_view>{"a", "", "b"}));
    EXPECT_EQ(text::split("", ','), (std::vector<std::string_view>{""}));
    EXPECT_EQ(text::split_ws(" \t1616 \t kB "), (std::vector<std::string_view>{"1616", "kB"}));
    EXPECT_TRUE(text::split_ws("  \t ").empty());
    EXPECT_EQ(text::trim(" \tx y\r\n"), "x y");
}

// ---- /proc/PID/status ----

TEST(ProcStatusParse, NormalProcessInBytes)
{
    const auto st = parse_status(fixture("status_process"));
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->name, "postgres");
    EXPECT_EQ(st->tgid, 4242);
    EXPECT_EQ(st->ppid, 1187);
    EXPECT_EQ(st->uid, 999u);
    EXPECT_EQ(st->rss_anon, 4096 * KiB);
    EXPECT_EQ(st->rss_file, 14260 * KiB);
    EXPECT_EQ(st->rss_shmem, 10288 * KiB);
    EXPECT_EQ(st->vm_rss, 28644 * KiB);
    EXPECT_EQ(st->vm_hwm, 30912 * KiB);
    EXPECT_EQ(st->vm_swap, 512 * KiB);
    EXPECT_FALSE(st->kernel_thread);
    EXPECT_EQ(st->vm_rss, st->rss_anon + st->rss_file + st->rss_shmem);
}

TEST(ProcStatusParse, KernelThreadHasNoMemory)
{
    const auto st = parse_status(fixture("status_kthread"));
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->name, "kthreadd");
    EXPECT_EQ(st->tgid, 2);
    EXPECT_EQ(st->ppid, 0);
    EXPECT_TRUE(st->kernel_thread);
    EXPECT_EQ(st->vm_rss, 0u);
    EXPECT_EQ(st->rss_anon, 0u);
}

TEST(ProcStatusParse, NameKeepsInnerSpaces)
{
    const auto st = parse_status("Name:\tmy proc\nTgid:\t7\nVmRSS:\t   4 kB\n");
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->name, "my proc");
    EXPECT_EQ(st->vm_rss, 4 * KiB);
    EXPECT_FALSE(st->kernel_thread);
}

TEST(ProcStatusParse, MalformedInputIsNullopt)
{
    EXPECT_FALSE(parse_status("").has_value());
    EXPECT_FALSE(parse_status("garbage without colons\n").has_value());
    EXPECT_FALSE(parse_status("Tgid:\t7\n").has_value());                          // no Name
    EXPECT_FALSE(parse_status("Name:\tx\n").has_value());                          // no Tgid
    EXPECT_FALSE(parse_status("Name:\tx\nTgid:\tabc\n").has_value());              // bad pid
    EXPECT_FALSE(parse_status("Name:\tx\nTgid:\t7\nVmRSS:\t12 MB\n").has_value()); // bad unit
    EXPECT_FALSE(parse_status("Name:\tx\nTgid:\t7\nVmRSS:\t\n").has_value());      // no value
    EXPECT_FALSE(parse_status("Name:\tx\nTgid:\t7\nUid:\t-\n").has_value());
}

// ---- /proc/PID/stat ----

TEST(ProcStatParse, CommWithSpacesAndParentheses)
{
    const auto st = parse_stat(fixture("stat_weird_comm"));
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->pid, 31337);
    EXPECT_EQ(st->comm, "my (weird) proc");
    EXPECT_EQ(st->state, 'S');
    EXPECT_EQ(st->ppid, 1187);
    EXPECT_EQ(st->minflt, 52811u);
    EXPECT_EQ(st->majflt, 7u);
    EXPECT_EQ(st->utime_ticks, 1234u);
    EXPECT_EQ(st->stime_ticks, 567u);
    EXPECT_EQ(st->starttime_ticks, 987654u);
}

TEST(ProcStatParse, KernelThread)
{
    const auto st = parse_stat(fixture("stat_kthread"));
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->pid, 2);
    EXPECT_EQ(st->comm, "kthreadd");
    EXPECT_EQ(st->ppid, 0);
    EXPECT_EQ(st->starttime_ticks, 15u);
}

TEST(ProcStatParse, CommEndingInParenthesisAndSpace)
{
    const auto st = parse_stat("9 (a) b) ) R 1 9 9 0 -1 0 11 0 12 0 13 14 0 0 20 0 1 0 99 0 0\n");
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->comm, "a) b) ");
    EXPECT_EQ(st->state, 'R');
    EXPECT_EQ(st->ppid, 1);
    EXPECT_EQ(st->minflt, 11u);
    EXPECT_EQ(st->majflt, 12u);
    EXPECT_EQ(st->utime_ticks, 13u);
    EXPECT_EQ(st->stime_ticks, 14u);
    EXPECT_EQ(st->starttime_ticks, 99u);
}

TEST(ProcStatParse, MalformedInputIsNullopt)
{
    EXPECT_FALSE(parse_stat("").has_value());
    EXPECT_FALSE(parse_stat("12 cat R 1 2 3").has_value());                                       // no parentheses
    EXPECT_FALSE(parse_stat("12 (cat) R 1 12 12 0 -1 0 5 0 6 0 7 8 0 0 20 0 1 0").has_value());   // no field 22
    EXPECT_FALSE(parse_stat("x (cat) R 1 12 12 0 -1 0 5 0 6 0 7 8 0 0 20 0 1 0 9").has_value());  // bad pid
    EXPECT_FALSE(parse_stat("12 (cat) R 1 12 12 0 -1 0 z 0 6 0 7 8 0 0 20 0 1 0 9").has_value()); // bad minflt
    EXPECT_FALSE(parse_stat("12 )cat( R 1 12 12 0 -1 0 5 0 6 0 7 8 0 0 20 0 1 0 9").has_value());
}

// ---- /proc/PID/cgroup ----

TEST(ProcCgroupParse, HybridHostLines)
{
    const auto lines = parse_proc_cgroup(fixture("cgroup_v1_hybrid"));
    ASSERT_EQ(lines.size(), 13u);
    EXPECT_EQ(lines[0].hierarchy, 12);
    EXPECT_EQ(lines[0].controllers, (std::vector<std::string>{"hugetlb"}));
    EXPECT_EQ(lines[2].controllers, (std::vector<std::string>{"net_cls", "net_prio"}));
    EXPECT_EQ(lines[11].controllers, (std::vector<std::string>{"name=systemd"}));
    EXPECT_EQ(lines[12].hierarchy, 0);
    EXPECT_TRUE(lines[12].controllers.empty());
    EXPECT_EQ(lines[12].path, "/system.slice/docker.service");
    EXPECT_EQ(memory_cgroup_path(lines), "/system.slice/docker-" + kDocker64 + ".scope");
}

TEST(ProcCgroupParse, V2OnlyUsesTheUnifiedLine)
{
    const auto lines = parse_proc_cgroup(fixture("cgroup_v2"));
    ASSERT_EQ(lines.size(), 1u);
    const auto path = memory_cgroup_path(lines);
    ASSERT_TRUE(path.has_value());
    EXPECT_EQ(path->rfind("/kubepods.slice/kubepods-burstable.slice/", 0), 0u);
    EXPECT_TRUE(path->ends_with(".scope"));
}

TEST(ProcCgroupParse, PathMayContainColons)
{
    const auto lines = parse_proc_cgroup(fixture("cgroup_colon_path"));
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].path,
              "/system.slice/containerd.service/kubepods-burstable-pod0f1e2d3c_aaaa_bbbb_cccc_0123456789ab.slice:"
              "cri-containerd:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b");
}

TEST(ProcCgroupParse, MalformedLinesAreSkipped)
{
    const auto lines = parse_proc_cgroup("garbage\n3:memory\nx:memory:/a\n-1:cpu:/b\n\n0::/ok\n");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].path, "/ok");
    EXPECT_TRUE(parse_proc_cgroup("").empty());
}

TEST(ProcCgroupParse, MemoryPathAbsentWithoutMemoryOrUnifiedLine)
{
    EXPECT_FALSE(memory_cgroup_path({}).has_value());
    EXPECT_FALSE(memory_cgroup_path(parse_proc_cgroup("4:cpu:/a\n1:name=systemd:/b\n")).has_value());
    EXPECT_EQ(memory_cgroup_path(parse_proc_cgroup("0::/v2\n4:cpu,memory:/v1\n")), "/v1");
}

// ---- this machine ----

TEST(ProcCgroupParse, NormalizesPaths)
{
    using memsight::procfs::normalize_cgroup_path;
    EXPECT_EQ(normalize_cgroup_path("/a/b/../c"), "/a/c");
    EXPECT_EQ(normalize_cgroup_path("/a/./b//"), "/a/b");
    EXPECT_EQ(normalize_cgroup_path(""), "/");
    EXPECT_EQ(normalize_cgroup_path("/a/.."), "/");
    EXPECT_FALSE(normalize_cgroup_path("/..").has_value());
    EXPECT_FALSE(normalize_cgroup_path("/a/../../b").has_value());
}

// The agent in a cgroup namespace rooted at /kubepods/besteffort/pod<uid>/<agent>: other processes' paths read
// "/../../<sibling>" and resolve to the hierarchy's own paths.
TEST(ProcCgroupParse, ResolvesPathsAgainstTheNamespaceRoot)
{
    using memsight::procfs::set_cgroup_namespace_root;
    const std::string root = "/kubepods/besteffort/pod1/agent";
    set_cgroup_namespace_root(root);
    EXPECT_EQ(memory_cgroup_path(parse_proc_cgroup("0::/../../pod2/ctr\n")), "/kubepods/besteffort/pod2/ctr");
    EXPECT_EQ(memory_cgroup_path(parse_proc_cgroup("4:memory:/\n")), root);
    EXPECT_EQ(memory_cgroup_path(parse_proc_cgroup("4:memory:/../../../../system.slice/x\n")), "/system.slice/x");
    EXPECT_FALSE(memory_cgroup_path(parse_proc_cgroup("4:memory:/../../../../../x\n")).has_value()); // above "/"
    set_cgroup_namespace_root("/");
    EXPECT_EQ(memory_cgroup_path(parse_proc_cgroup("0::/../../pod2/ctr\n")), "/../../pod2/ctr"); // as read
}

TEST(ProcParseLive, ParsesOwnProcFiles)
{
    const auto status_text = read_file("/proc/self/status");
    const auto stat_text = read_file("/proc/self/stat");
    const auto cgroup_text = read_file("/proc/self/cgroup");
    ASSERT_TRUE(status_text && stat_text && cgroup_text);

    const auto status = parse_status(*status_text);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(status->tgid, getpid());
    EXPECT_EQ(status->ppid, getppid());
    EXPECT_EQ(status->uid, getuid());
    EXPECT_FALSE(status->kernel_thread);
    EXPECT_GT(status->vm_rss, 0u);
    EXPECT_GE(status->vm_hwm, status->vm_rss);
    EXPECT_EQ(status->vm_rss % 1024, 0u);

    const auto stat = parse_stat(*stat_text);
    ASSERT_TRUE(stat.has_value());
    EXPECT_EQ(stat->pid, getpid());
    EXPECT_EQ(stat->ppid, getppid());
    EXPECT_EQ(stat->state, 'R');
    EXPECT_GT(stat->minflt, 0u);
    EXPECT_GT(stat->starttime_ticks, 0u);
    EXPECT_EQ(status->name.substr(0, 15), stat->comm.substr(0, 15));

    const auto lines = parse_proc_cgroup(*cgroup_text);
    ASSERT_FALSE(lines.empty());
    const auto path = memory_cgroup_path(lines);
    ASSERT_TRUE(path.has_value());
    EXPECT_EQ(path->front(), '/');
}

} // namespace
} // namespace memsight::procfs
