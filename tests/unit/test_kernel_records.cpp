// Ring-buffer records (the BPF ABI) decoded into typed kernel events, and what is refused as malformed.
#include "loader/kernel_records.h"
#include "memsight/events.h"

#include <gtest/gtest.h>

#include <cstring>

namespace memsight::loader {
namespace {

template <size_t N> void set_comm(char (&dst)[N], const char* src)
{
    std::memset(dst, 0, N);
    std::memcpy(dst, src, std::min(N, std::strlen(src)));
}

memsight_exec_event exec_record(uint32_t pid, const char* comm)
{
    memsight_exec_event e{};
    e.h.type = MEMSIGHT_EV_EXEC;
    e.h.tgid = pid;
    set_comm(e.comm, comm);
    return e;
}

template <typename T> std::optional<KernelEvent> decode(const T& record)
{
    return decode_record(&record, sizeof(record));
}

TEST(KernelRecords, Exec)
{
    const auto e = decode(exec_record(100, "python3"));
    ASSERT_TRUE(e && std::holds_alternative<ExecEvent>(*e));
    EXPECT_EQ(std::get<ExecEvent>(*e).pid, 100);
    EXPECT_EQ(std::get<ExecEvent>(*e).comm, "python3");
}

TEST(KernelRecords, ExitCarriesPeakCgroupAndTheOomFlag)
{
    memsight_exit_event r{};
    r.h.type = MEMSIGHT_EV_EXIT;
    r.h.tgid = 42;
    r.flags = MEMSIGHT_EXIT_F_OOM_VICTIM;
    r.peak_rss_bytes = 123u << 20;
    r.cgroup_id = 4711;
    set_comm(r.comm, "victim");
    const auto e = decode(r);
    ASSERT_TRUE(e && std::holds_alternative<ExitEvent>(*e));
    const auto& x = std::get<ExitEvent>(*e);
    EXPECT_EQ(x.pid, 42);
    EXPECT_EQ(x.comm, "victim");
    EXPECT_EQ(x.peak_rss_bytes, 123u << 20);
    EXPECT_EQ(x.cgroup_id, 4711u);
    EXPECT_TRUE(x.oom_victim);
    r.flags = 0;
    EXPECT_FALSE(std::get<ExitEvent>(*decode(r)).oom_victim);
}

TEST(KernelRecords, OomCarriesEveryField)
{
    memsight_oom_event r{};
    r.h.type = MEMSIGHT_EV_OOM;
    r.h.tgid = 10;
    r.h.ts_ns = 123456789;
    r.trigger_tgid = 77;
    r.oom_score_adj = -500;
    r.uid = 1000;
    r.total_vm_bytes = 1;
    r.anon_rss_bytes = 2;
    r.file_rss_bytes = 3;
    r.shmem_rss_bytes = 4;
    r.pgtables_bytes = 5;
    // Comms that fill the whole field have no terminating NUL: not read past it.
    std::memcpy(r.comm, "0123456789abcdef", 16);
    std::memcpy(r.trigger_comm, "fedcba9876543210", 16);
    const auto e = decode(r);
    ASSERT_TRUE(e && std::holds_alternative<OomEvent>(*e));
    const auto& o = std::get<OomEvent>(*e);
    EXPECT_EQ(o.victim, 10);
    EXPECT_EQ(o.trigger, 77);
    EXPECT_EQ(o.oom_score_adj, -500);
    EXPECT_EQ(o.uid, 1000u);
    EXPECT_EQ(o.total_vm_bytes + o.anon_rss_bytes + o.file_rss_bytes + o.shmem_rss_bytes + o.pgtables_bytes, 15u);
    EXPECT_EQ(o.comm, "0123456789abcdef");
    EXPECT_EQ(o.trigger_comm, "fedcba9876543210");
    EXPECT_EQ(o.ts_ns, 123456789u); // the kill's time (analysis/oom.cpp puts it on the wall clock)
}

TEST(KernelRecords, ShortAndUnknownRecordsAreMalformed)
{
    EXPECT_FALSE(decode_record(nullptr, 0));
    alignas(8) unsigned char buf[sizeof(memsight_oom_event)] = {};
    EXPECT_FALSE(decode_record(buf, sizeof(memsight_event_header) - 1)); // shorter than a header

    const auto exec = exec_record(100, "python3");
    std::memcpy(buf, &exec, sizeof(exec));
    EXPECT_FALSE(decode_record(buf, sizeof(exec) - 1));
    memsight_exit_event exit{};
    exit.h.type = MEMSIGHT_EV_EXIT;
    std::memcpy(buf, &exit, sizeof(exit));
    EXPECT_FALSE(decode_record(buf, sizeof(exit) - 1));
    memsight_oom_event oom{};
    oom.h.type = MEMSIGHT_EV_OOM;
    std::memcpy(buf, &oom, sizeof(oom));
    EXPECT_FALSE(decode_record(buf, sizeof(memsight_event_header)));

    auto unknown = exec_record(100, "x");
    unknown.h.type = 99;
    EXPECT_FALSE(decode(unknown));

    // A longer record than the type needs is fine (a newer BPF side appending fields).
    alignas(8) unsigned char longer[sizeof(memsight_exec_event) + 8] = {};
    std::memcpy(longer, &exec, sizeof(exec));
    const auto e = decode_record(longer, sizeof(longer));
    ASSERT_TRUE(e);
    EXPECT_EQ(std::get<ExecEvent>(*e).comm, "python3");
}

} // namespace
} // namespace memsight::loader
