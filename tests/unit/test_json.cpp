// Tests for the one-line JSON of an OOM kill (`memsight oom --json`; tests/e2e/test_oom.py reads it).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "export/json.h"

namespace memsight::exporter {
namespace {

using namespace std::chrono;

const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const std::string kPodUid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";

analysis::OomKill kill()
{
    analysis::OomKill k;
    // 2024-03-05T13:04:05.678Z
    k.time = system_clock::time_point{sys_days{2024y / March / 5}} + 13h + 4min + 5s + 678ms;
    k.pid = 4242;
    k.comm = "oom_victim";
    k.cgroup = "/kubepods/burstable/pod" + kPodUid + "/" + kDockerId;
    k.identity.container_id = kDockerId;
    k.identity.pod_uid = kPodUid;
    k.anon_rss = 300u << 20;
    k.file_rss = 20u << 20;
    k.shmem_rss = 4u << 20;
    k.total_vm = 900u << 20;
    k.pgtables = 1u << 20;
    k.oom_score_adj = -500;
    k.uid = 1000;
    k.trigger_pid = 77;
    k.trigger_comm = "allocator";
    k.attribution = "exit";
    return k;
}

TEST(OomKillJson, ExactLine)
{
    EXPECT_EQ(oom_kill_json(kill()),
              "{\"time\":\"2024-03-05T13:04:05.678Z\",\"pid\":4242,\"comm\":\"oom_victim\",\"container_id\":\"" +
                  kDockerId + "\",\"pod_uid\":\"" + kPodUid + "\",\"cgroup\":\"/kubepods/burstable/pod" + kPodUid +
                  "/" + kDockerId +
                  "\",\"rss_bytes\":339738624,\"anon_rss_bytes\":314572800,\"file_rss_bytes\":20971520,"
                  "\"shmem_rss_bytes\":4194304,\"total_vm_bytes\":943718400,\"pgtables_bytes\":1048576,"
                  "\"oom_score_adj\":-500,\"uid\":1000,\"trigger_pid\":77,\"trigger_comm\":\"allocator\","
                  "\"attribution\":\"exit\"}");
}

TEST(OomKillJson, KeysAndTypes)
{
    const std::string line = oom_kill_json(kill());
    EXPECT_EQ(line.find('\n'), std::string::npos); // one line
    const auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.is_object());
    std::vector<std::string> keys;
    for (const auto& [key, value] : j.items())
        keys.push_back(key);
    // nlohmann::json sorts keys; the set is what matters here.
    const std::vector<std::string> want = {
        "anon_rss_bytes", "attribution",    "cgroup",       "comm",        "container_id", "file_rss_bytes",
        "oom_score_adj",  "pgtables_bytes", "pid",          "pod_uid",     "rss_bytes",    "shmem_rss_bytes",
        "time",           "total_vm_bytes", "trigger_comm", "trigger_pid", "uid"};
    EXPECT_EQ(keys, want);
    for (const char* k : {"time", "comm", "container_id", "pod_uid", "cgroup", "trigger_comm", "attribution"})
        EXPECT_TRUE(j[k].is_string()) << k;
    for (const char* k : {"pid", "trigger_pid", "oom_score_adj"})
        EXPECT_TRUE(j[k].is_number_integer()) << k;
    for (const char* k : {"rss_bytes", "anon_rss_bytes", "file_rss_bytes", "shmem_rss_bytes", "total_vm_bytes",
                          "pgtables_bytes", "uid"}) {
        EXPECT_TRUE(j[k].is_number_unsigned()) << k;
    }
    // What tests/e2e/test_oom.py relies on.
    EXPECT_EQ(j["pid"].get<int>(), 4242);
    EXPECT_EQ(j["comm"], "oom_victim");
    EXPECT_EQ(j["attribution"], "exit");
    EXPECT_EQ(j["anon_rss_bytes"].get<uint64_t>(), 314572800u);
    EXPECT_EQ(j["rss_bytes"].get<uint64_t>(), 314572800u + 20971520u + 4194304u);
    EXPECT_EQ(j["oom_score_adj"].get<int>(), -500);
}

TEST(OomKillJson, TimeIsRfc3339UtcWithMilliseconds)
{
    analysis::OomKill k = kill();
    k.time = system_clock::time_point{};
    EXPECT_EQ(nlohmann::json::parse(oom_kill_json(k))["time"], "1970-01-01T00:00:00.000Z");
    k.time = system_clock::time_point{sys_days{2000y / January / 1}} + 23h + 59min + 59s + 999ms + 999us;
    EXPECT_EQ(nlohmann::json::parse(oom_kill_json(k))["time"], "2000-01-01T23:59:59.999Z"); // truncated, not rounded
    k.time = system_clock::time_point{sys_days{2038y / January / 19}} + 3h + 14min + 8s + 7ms;
    EXPECT_EQ(nlohmann::json::parse(oom_kill_json(k))["time"], "2038-01-19T03:14:08.007Z");
}

TEST(OomKillJson, EmptyAttributionFieldsAndUnresolvedCgroup)
{
    analysis::OomKill k = kill();
    k.cgroup.clear();
    k.identity = {};
    k.attribution = "none";
    const auto j = nlohmann::json::parse(oom_kill_json(k));
    EXPECT_EQ(j["cgroup"], "");
    EXPECT_EQ(j["container_id"], "");
    EXPECT_EQ(j["pod_uid"], "");
    EXPECT_EQ(j["attribution"], "none");
}

TEST(OomKillJson, StringsAreEscapedAndInvalidUtf8Replaced)
{
    analysis::OomKill k = kill();
    k.comm = "a\"b\\c\nd";
    k.trigger_comm = std::string("x\xff") + "y"; // comm bytes are not necessarily UTF-8
    const std::string line = oom_kill_json(k);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_NE(line.find("\"comm\":\"a\\\"b\\\\c\\nd\""), std::string::npos) << line;
    const auto j = nlohmann::json::parse(line); // valid JSON despite the invalid byte
    EXPECT_EQ(j["comm"], "a\"b\\c\nd");
    EXPECT_EQ(j["trigger_comm"], "x\xEF\xBF\xBDy"); // U+FFFD
}

} // namespace
} // namespace memsight::exporter
