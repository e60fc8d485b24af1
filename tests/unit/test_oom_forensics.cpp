// OOM forensic records: building one from a synthetic kill and the victim's history, its JSON shape against schema 1
// (docs/oom-forensics.md), file names, atomic writes, retention by count and age, loading newest first, GET /oom's
// query, the agent-side queue (OomForensics), the tables that keep a gone victim's readings, and the story told by
// `memsight oom --explain`.
#include "agent/oom_forensics.h"
#include "analysis/containers.h"
#include "analysis/process_table.h"
#include "config/config.h"
#include "export/oom_record.h"
#include "export/oom_record_store.h"
#include "export/oom_story.h"
#include "profile/session_profile.h"
#include "test_files.h"
#include "util/error.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace memsight {
namespace {

using namespace std::chrono_literals;
using SysClock = std::chrono::system_clock;
using json = nlohmann::ordered_json;

// 2026-11-29T18:20:01.123Z
const SysClock::time_point kKill = SysClock::time_point{} + 1795976401123ms;
const analysis::Clock::time_point kT0 = analysis::Clock::time_point{} + 1000h;
const std::string kDockerId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const std::string kDockerCgroup = "/docker/" + kDockerId;
constexpr uint64_t kMiB = 1 << 20;

analysis::OomKill kill_of(pid_t pid = 4242, SysClock::time_point when = kKill)
{
    analysis::OomKill k;
    k.pid = pid;
    k.comm = "api";
    k.cgroup = kDockerCgroup;
    k.identity = procfs::identify_container(kDockerCgroup);
    k.anon_rss = 60 * kMiB;
    k.file_rss = 1 * kMiB;
    k.shmem_rss = 0;
    k.total_vm = 70 * kMiB;
    k.pgtables = 200 * 1024;
    k.oom_score_adj = 0;
    k.uid = 1000;
    k.trigger_pid = pid;
    k.trigger_comm = "api";
    k.time = when;
    k.seen = kT0;
    k.attribution = "exit";
    return k;
}

// Five readings one second apart, 12 MiB to 60 MiB, the last one 1 s before the kill.
analysis::VictimContext context_of(pid_t pid = 4242)
{
    analysis::VictimContext c;
    c.pid = pid;
    c.comm = "api";
    c.cmdline = "/usr/bin/api --port 8080";
    c.cgroup = kDockerCgroup;
    c.memcg_known = true;
    c.memcg_limit = 64 * kMiB;
    c.memcg_usage = 63 * kMiB;
    c.memcg_usage_time = kKill - 1s; // the container's last reading
    for (int i = 0; i < 5; ++i) {
        const auto t = kKill - std::chrono::seconds(5 - i);
        c.process.push_back({t, (12 + 12 * static_cast<uint64_t>(i)) * kMiB, 0});
        c.container.push_back(
            {t, (13 + 12 * static_cast<uint64_t>(i)) * kMiB, (12 + 12 * static_cast<uint64_t>(i)) * kMiB});
    }
    c.growth_bytes_per_second = 12.0 * kMiB;
    c.leak_suspicion = 0;
    c.container_growth_bytes_per_second = 12.0 * kMiB;
    c.container_leak_suspicion = 0;
    c.growth_sites = {{"leak_one_record", 40.0 * kMiB}, {"parse_request", 8.0 * kMiB}};
    return c;
}

std::vector<std::string> keys_of(const json& j)
{
    std::vector<std::string> out;
    for (const auto& [k, v] : j.items())
        out.push_back(k);
    return out;
}

std::vector<std::string> listing(const std::string& dir)
{
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

void set_mtime(const std::string& path, SysClock::time_point t)
{
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    struct timespec times[2] = {{s, 0}, {s, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// ---- the record

TEST(OomRecord, IdAndFileNameAreTheKillTimeAndPid)
{
    EXPECT_EQ(exporter::oom_record_id(kKill, 4242), "20261129T182001.123Z-4242");
    EXPECT_EQ(exporter::oom_record_file_name("20261129T182001.123Z-4242"), "oom-20261129T182001.123Z-4242.json");
    EXPECT_TRUE(exporter::is_oom_record_file_name("oom-20261129T182001.123Z-4242.json"));
    for (const char* other :
         {"oom-20261129T182001.123Z-.json", "oom-20261129T182001.123Z-42a.json", "oom-20261129T182001.123-4242.json",
          "oom-20261129X182001.123Z-4242.json", ".oom-20261129T182001.123Z-4242.json.tmp",
          "oom-20261129T182001.123Z-4242.json.tmp", "memsight-api-4242-20261129T182001.123Z.pb.gz", "notes.json"})
        EXPECT_FALSE(exporter::is_oom_record_file_name(other)) << other;
}

TEST(OomRecord, SchemaOneKeysInOrder)
{
    const json r = exporter::oom_record(kill_of(), context_of(), {1.0, 300}, {"/p/memsight-api-4242-x.pb.gz"});
    EXPECT_EQ(keys_of(r), (std::vector<std::string>{"schema", "id", "time", "victim", "kill", "history", "before_kill",
                                                    "growth_sites", "profiles"}));
    EXPECT_EQ(keys_of(r["victim"]), (std::vector<std::string>{"pid", "comm", "cmdline", "uid", "oom_score_adj",
                                                              "container_id", "pod_uid", "cgroup"}));
    EXPECT_EQ(keys_of(r["kill"]), (std::vector<std::string>{"resident_bytes", "total_vm_bytes", "pgtables_bytes",
                                                            "trigger", "memcg", "attribution"}));
    EXPECT_EQ(keys_of(r["kill"]["resident_bytes"]), (std::vector<std::string>{"anon", "file", "shmem"}));
    EXPECT_EQ(keys_of(r["kill"]["trigger"]), (std::vector<std::string>{"pid", "comm"}));
    EXPECT_EQ(keys_of(r["kill"]["memcg"]), (std::vector<std::string>{"limit_bytes", "usage_bytes", "usage_time"}));
    EXPECT_EQ(keys_of(r["history"]),
              (std::vector<std::string>{"interval_seconds", "window_seconds", "readings", "process", "container"}));
    EXPECT_EQ(keys_of(r["history"]["process"][0]), (std::vector<std::string>{"time", "resident_bytes", "swap_bytes"}));
    EXPECT_EQ(keys_of(r["history"]["container"][0]),
              (std::vector<std::string>{"time", "usage_bytes", "working_set_bytes"}));
    EXPECT_EQ(keys_of(r["before_kill"]),
              (std::vector<std::string>{"growth_bytes_per_second", "leak_suspicion",
                                        "container_growth_bytes_per_second", "container_leak_suspicion"}));
    EXPECT_EQ(keys_of(r["growth_sites"][0]), (std::vector<std::string>{"site", "bytes"}));
}

TEST(OomRecord, FromASyntheticKillAndHistory)
{
    const json r = exporter::oom_record(kill_of(), context_of(), {1.0, 300}, {"/p/a.pb.gz"});
    EXPECT_EQ(r["schema"], 1);
    EXPECT_EQ(r["id"], "20261129T182001.123Z-4242");
    EXPECT_EQ(r["time"], "2026-11-29T18:20:01.123Z");
    EXPECT_EQ(r["victim"]["pid"], 4242);
    EXPECT_EQ(r["victim"]["comm"], "api");
    EXPECT_EQ(r["victim"]["cmdline"], "/usr/bin/api --port 8080");
    EXPECT_EQ(r["victim"]["uid"], 1000);
    EXPECT_EQ(r["victim"]["container_id"], kDockerId);
    EXPECT_EQ(r["victim"]["pod_uid"], "");
    EXPECT_EQ(r["victim"]["cgroup"], kDockerCgroup);
    EXPECT_EQ(r["kill"]["resident_bytes"]["anon"], 60 * kMiB);
    EXPECT_EQ(r["kill"]["resident_bytes"]["file"], kMiB);
    EXPECT_EQ(r["kill"]["total_vm_bytes"], 70 * kMiB);
    EXPECT_EQ(r["kill"]["pgtables_bytes"], 200 * 1024);
    EXPECT_EQ(r["kill"]["trigger"]["pid"], 4242);
    EXPECT_EQ(r["kill"]["memcg"]["limit_bytes"], 64 * kMiB);
    EXPECT_EQ(r["kill"]["memcg"]["usage_bytes"], 63 * kMiB);
    EXPECT_EQ(r["kill"]["memcg"]["usage_time"], "2026-11-29T18:20:00.123Z");
    EXPECT_EQ(r["kill"]["attribution"], "exit");
    EXPECT_EQ(r["history"]["interval_seconds"], 1.0);
    EXPECT_EQ(r["history"]["window_seconds"], 300.0);
    EXPECT_EQ(r["history"]["readings"], 5);
    ASSERT_EQ(r["history"]["process"].size(), 5u);
    EXPECT_EQ(r["history"]["process"][0]["time"], "2026-11-29T18:19:56.123Z");
    EXPECT_EQ(r["history"]["process"][0]["resident_bytes"], 12 * kMiB);
    EXPECT_EQ(r["history"]["process"][4]["time"], "2026-11-29T18:20:00.123Z");
    EXPECT_EQ(r["history"]["process"][4]["resident_bytes"], 60 * kMiB);
    EXPECT_EQ(r["history"]["container"][4]["usage_bytes"], 61 * kMiB);
    EXPECT_EQ(r["history"]["container"][4]["working_set_bytes"], 60 * kMiB);
    EXPECT_EQ(r["before_kill"]["growth_bytes_per_second"], 12.0 * kMiB);
    EXPECT_EQ(r["before_kill"]["leak_suspicion"], 0.0);
    EXPECT_EQ(r["growth_sites"][0]["site"], "leak_one_record");
    EXPECT_EQ(r["growth_sites"][0]["bytes"], 40 * kMiB);
    EXPECT_EQ(r["profiles"], json::array({"/p/a.pb.gz"}));
}

TEST(OomRecord, UnknownsAreNullAndEmptyListsOutsideAContainer)
{
    analysis::OomKill k = kill_of();
    k.cgroup = "";
    k.identity = {};
    k.attribution = "none";
    analysis::VictimContext c;
    c.pid = 4242;
    c.cgroup = "/memsight-oom-7"; // what the agent read; not a container
    const json r = exporter::oom_record(k, c, {10.0, 300}, {});
    EXPECT_EQ(r["victim"]["cgroup"], "/memsight-oom-7");
    EXPECT_EQ(r["victim"]["container_id"], "");
    EXPECT_EQ(r["victim"]["cmdline"], "");
    EXPECT_TRUE(r["kill"]["memcg"]["limit_bytes"].is_null());
    EXPECT_TRUE(r["kill"]["memcg"]["usage_bytes"].is_null());
    EXPECT_TRUE(r["kill"]["memcg"]["usage_time"].is_null());
    EXPECT_EQ(r["history"]["readings"], 0);
    EXPECT_EQ(r["history"]["process"], json::array());
    EXPECT_EQ(r["history"]["container"], json::array());
    for (const char* key :
         {"growth_bytes_per_second", "leak_suspicion", "container_growth_bytes_per_second", "container_leak_suspicion"})
        EXPECT_TRUE(r["before_kill"][key].is_null()) << key;
    EXPECT_EQ(r["growth_sites"], json::array());
    EXPECT_EQ(r["profiles"], json::array());
}

TEST(OomRecord, TheKillsCgroupWinsOverTheOneReadAtTheKill)
{
    analysis::VictimContext c = context_of();
    c.cgroup = "/somewhere/else";
    const json r = exporter::oom_record(kill_of(), c, {1.0, 300}, {});
    EXPECT_EQ(r["victim"]["cgroup"], kDockerCgroup); // from the victim's exit record
}

// ---- GET /oom's query

TEST(OomRecordsQuery, LimitDefaultsTo50AndMustBeAPositiveWholeNumber)
{
    EXPECT_EQ(std::get<size_t>(exporter::parse_oom_records_query("")), 50u);
    EXPECT_EQ(std::get<size_t>(exporter::parse_oom_records_query("limit=5")), 5u);
    EXPECT_EQ(std::get<size_t>(exporter::parse_oom_records_query("limit=100000")), 100000u);
    EXPECT_EQ(std::get<size_t>(exporter::parse_oom_records_query("&limit=3&")), 3u);
    for (const char* bad : {"limit=0", "limit=-1", "limit=x", "limit=", "limit", "limit=5x", "limit=100001",
                            "limit=99999999999999999999"}) {
        const auto r = exporter::parse_oom_records_query(bad);
        ASSERT_TRUE(std::holds_alternative<std::string>(r)) << bad;
        EXPECT_NE(std::get<std::string>(r).find("limit must be a whole number from 1 to 100000"), std::string::npos)
            << std::get<std::string>(r);
        EXPECT_EQ(std::get<std::string>(r).find('\n'), std::string::npos);
    }
    const auto other = exporter::parse_oom_records_query("limt=5");
    ASSERT_TRUE(std::holds_alternative<std::string>(other));
    EXPECT_EQ(std::get<std::string>(other), "unknown query parameter 'limt' (only limit=N)");
}

TEST(OomRecordsQuery, BodyIsRecordsNewestFirstAsGiven)
{
    const json a = {{"id", "b"}}, b = {{"id", "a"}};
    EXPECT_EQ(exporter::oom_records_body({a, b}), "{\"records\":[{\"id\":\"b\"},{\"id\":\"a\"}]}\n");
    EXPECT_EQ(exporter::oom_records_body({}), "{\"records\":[]}\n");
}

// ---- the directory

TEST(OomRecordStore, WritesAtomicallyAndReadsBack)
{
    test::TempDir dir;
    exporter::prepare_oom_record_dir(dir.path() + "/oom");
    const json r = exporter::oom_record(kill_of(), context_of(), {1.0, 300}, {});
    const std::string path = exporter::write_oom_record(dir.path() + "/oom", r);
    EXPECT_EQ(path, dir.path() + "/oom/oom-20261129T182001.123Z-4242.json");
    // Only the record: no temporary file and no write probe left behind.
    EXPECT_EQ(listing(dir.path() + "/oom"), std::vector<std::string>{"oom-20261129T182001.123Z-4242.json"});
    const auto loaded = exporter::load_oom_records(dir.path() + "/oom", 50);
    ASSERT_EQ(loaded.records.size(), 1u);
    EXPECT_EQ(loaded.records[0], r);
    EXPECT_EQ(keys_of(loaded.records[0]).front(), "schema"); // the order survives the round trip
}

TEST(OomRecordStore, WriteErrorsThrowWithTheFileAndReason)
{
    test::TempDir dir;
    const json r = exporter::oom_record(kill_of(), context_of(), {1.0, 300}, {});
    try {
        exporter::write_oom_record(dir.path() + "/missing", r);
        FAIL() << "no error";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
    }
}

TEST(OomRecordStore, DirectoryIsCreatedOrRefusedInOneLine)
{
    test::TempDir dir;
    EXPECT_NO_THROW(exporter::prepare_oom_record_dir(dir.path() + "/a/b/oom"));
    EXPECT_TRUE(std::filesystem::is_directory(dir.path() + "/a/b/oom"));
    test::write_text(dir.path() + "/file", "x");
    try {
        exporter::prepare_oom_record_dir(dir.path() + "/file/oom");
        FAIL() << "no error";
    } catch (const UserError& e) {
        EXPECT_NE(std::string(e.what()).find("cannot create the OOM record directory"), std::string::npos) << e.what();
    }
}

TEST(OomRecordStore, LoadsNewestFirstUpToTheLimitAndSkipsBrokenFiles)
{
    test::TempDir dir;
    for (int i = 0; i < 4; ++i)
        exporter::write_oom_record(dir.path(), exporter::oom_record(kill_of(100 + i, kKill + std::chrono::minutes(i)),
                                                                    context_of(100 + i), {1.0, 300}, {}));
    test::write_text(dir.path() + "/oom-20261129T182001.123Z-1.json", "{not json");
    test::write_text(dir.path() + "/notes.txt", "not a record");
    const auto all = exporter::load_oom_records(dir.path(), 50);
    EXPECT_EQ(all.total, 5u);
    ASSERT_EQ(all.records.size(), 4u);
    EXPECT_EQ(all.records[0]["victim"]["pid"], 103);
    EXPECT_EQ(all.records[3]["victim"]["pid"], 100);
    ASSERT_EQ(all.unreadable.size(), 1u);
    EXPECT_EQ(all.unreadable[0].rfind("oom-20261129T182001.123Z-1.json: ", 0), 0u) << all.unreadable[0];
    const auto two = exporter::load_oom_records(dir.path(), 2);
    ASSERT_EQ(two.records.size(), 2u);
    EXPECT_EQ(two.records[0]["victim"]["pid"], 103);
    EXPECT_EQ(two.records[1]["victim"]["pid"], 102);
}

TEST(OomRecordStore, MissingDirectoryHasNoRecordsUnreadableOneThrows)
{
    test::TempDir dir;
    EXPECT_TRUE(exporter::load_oom_records(dir.path() + "/none", 50).records.empty());
    test::write_text(dir.path() + "/file", "x");
    EXPECT_THROW(exporter::load_oom_records(dir.path() + "/file", 50), UserError);
}

TEST(OomRecordStore, RetentionByCountRemovesTheOldestAndNothingElse)
{
    test::TempDir dir;
    const auto now = SysClock::now();
    for (int i = 0; i < 5; ++i) {
        const auto path = exporter::write_oom_record(
            dir.path(), exporter::oom_record(kill_of(100 + i, kKill + std::chrono::minutes(i)), context_of(), {}, {}));
        set_mtime(path, now - std::chrono::minutes(10 - i));
    }
    test::write_text(dir.path() + "/notes.txt", "kept");
    test::write_text(dir.path() + "/memsight-api-1-20261129T182001.123Z.pb.gz", "a profile: kept");
    const auto removed = exporter::apply_oom_record_retention(dir.path(), 3, 24h, now);
    EXPECT_EQ(removed,
              (std::vector<std::string>{"oom-20261129T182001.123Z-100.json", "oom-20261129T182101.123Z-101.json"}));
    EXPECT_EQ(listing(dir.path()),
              (std::vector<std::string>{"memsight-api-1-20261129T182001.123Z.pb.gz", "notes.txt",
                                        "oom-20261129T182201.123Z-102.json", "oom-20261129T182301.123Z-103.json",
                                        "oom-20261129T182401.123Z-104.json"}));
}

TEST(OomRecordStore, RetentionByAge)
{
    test::TempDir dir;
    const auto now = SysClock::now();
    const auto old = exporter::write_oom_record(dir.path(), exporter::oom_record(kill_of(1), context_of(), {}, {}));
    const auto young =
        exporter::write_oom_record(dir.path(), exporter::oom_record(kill_of(2, kKill + 1h), context_of(), {}, {}));
    set_mtime(old, now - 8 * 24h);
    set_mtime(young, now - 6 * 24h);
    EXPECT_EQ(exporter::apply_oom_record_retention(dir.path(), 100, std::chrono::seconds(7 * 24h), now),
              std::vector<std::string>{"oom-20261129T182001.123Z-1.json"});
    EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"oom-20261129T192001.123Z-2.json"});
}

// ---- the agent side: queue, capture, write, count

agent::OomForensicsOptions options_for(const std::string& dir)
{
    agent::OomForensicsOptions o;
    o.dir = dir;
    o.max_files = 10;
    o.max_age = std::chrono::seconds(24h);
    o.record = {1.0, 300};
    o.hold = 10s;
    return o;
}

TEST(OomForensics, WritesTheKillWithItsCapturedContext)
{
    test::TempDir dir;
    agent::OomForensics f(options_for(dir.path() + "/oom"));
    f.open();
    ASSERT_TRUE(f.enabled());
    f.on_victim(context_of(), kT0);
    f.on_kill(kill_of());
    f.flush(kT0, nullptr, [](const analysis::OomKill& k, analysis::VictimContext& c) {
        EXPECT_EQ(k.pid, 4242);
        EXPECT_EQ(c.cmdline, "/usr/bin/api --port 8080");
        return std::vector<std::string>{"/p/memsight-api-4242-20261129T181901.000Z.pb.gz"};
    });
    EXPECT_EQ(f.written(), 1u);
    EXPECT_EQ(f.failed(), 0u);
    const auto loaded = exporter::load_oom_records(dir.path() + "/oom", 50);
    ASSERT_EQ(loaded.records.size(), 1u);
    EXPECT_EQ(loaded.records[0]["history"]["readings"], 5);
    EXPECT_EQ(loaded.records[0]["profiles"][0], "/p/memsight-api-4242-20261129T181901.000Z.pb.gz");
}

TEST(OomForensics, AKillWithoutContextStillGetsARecord)
{
    test::TempDir dir;
    agent::OomForensics f(options_for(dir.path()));
    f.open();
    f.on_kill(kill_of());
    f.flush(kT0, nullptr, nullptr);
    const auto loaded = exporter::load_oom_records(dir.path(), 50);
    ASSERT_EQ(loaded.records.size(), 1u);
    EXPECT_EQ(loaded.records[0]["history"]["readings"], 0);
    EXPECT_EQ(loaded.records[0]["victim"]["comm"], "api");
}

TEST(OomForensics, WaitsForADeepSessionOnTheVictimUpToTheHold)
{
    test::TempDir dir;
    agent::OomForensics f(options_for(dir.path()));
    f.open();
    f.on_victim(context_of(), kT0);
    f.on_kill(kill_of());
    bool traced = true;
    const auto is_traced = [&](pid_t pid) { return traced && pid == 4242; };
    f.flush(kT0 + 1s, is_traced, nullptr);
    EXPECT_EQ(f.written(), 0u);
    f.flush(kT0 + 9s, is_traced, nullptr);
    EXPECT_EQ(f.written(), 0u);
    f.flush(kT0 + 10s, is_traced, nullptr); // the hold is over
    EXPECT_EQ(f.written(), 1u);

    f.on_victim(context_of(77), kT0);
    f.on_kill(kill_of(77));
    f.flush(
        kT0 + 1s, [](pid_t pid) { return pid == 77; }, nullptr);
    EXPECT_EQ(f.written(), 1u);
    f.flush(
        kT0 + 2s, [](pid_t) { return false; }, nullptr); // the session ended
    EXPECT_EQ(f.written(), 2u);
    EXPECT_EQ(exporter::load_oom_records(dir.path(), 50).records[0]["history"]["readings"], 5); // context kept
}

TEST(OomForensics, AWriteErrorIsCountedAndTheNextRecordStillWritten)
{
    test::TempDir dir;
    const std::string oom = dir.path() + "/oom";
    agent::OomForensics f(options_for(oom));
    f.open();
    ASSERT_TRUE(f.enabled());
    std::filesystem::remove_all(oom); // the directory vanished: as a full disk, the write fails
    f.on_kill(kill_of(1));
    f.flush(kT0, nullptr, nullptr);
    EXPECT_EQ(f.written(), 0u);
    EXPECT_EQ(f.failed(), 1u);
    std::filesystem::create_directories(oom);
    f.on_kill(kill_of(2));
    f.flush(kT0, nullptr, nullptr);
    EXPECT_EQ(f.written(), 1u);
    EXPECT_EQ(f.failed(), 1u);
}

TEST(OomForensics, RetentionAppliesAtEachWrite)
{
    test::TempDir dir;
    auto o = options_for(dir.path());
    o.max_files = 2;
    agent::OomForensics f(o);
    f.open();
    for (int i = 0; i < 4; ++i) {
        f.on_kill(kill_of(10 + i, kKill + std::chrono::seconds(i)));
        f.flush(kT0, nullptr, nullptr);
    }
    EXPECT_EQ(f.written(), 4u);
    const auto loaded = exporter::load_oom_records(dir.path(), 50);
    ASSERT_EQ(loaded.total, 2u);
    EXPECT_EQ(loaded.records[0]["victim"]["pid"], 13);
    EXPECT_EQ(loaded.records[1]["victim"]["pid"], 12);
}

TEST(OomForensics, OffWhenEmptyOrWhenTheDirectoryCannotBeCreated)
{
    agent::OomForensics off(options_for(""));
    off.open();
    EXPECT_FALSE(off.enabled());
    off.on_kill(kill_of());
    off.flush(kT0, nullptr, nullptr);
    EXPECT_EQ(off.written() + off.failed(), 0u);

    test::TempDir dir;
    agent::OomForensics unopened(options_for(dir.path()));
    EXPECT_FALSE(unopened.enabled()); // nothing happens before open(): not even the directory is made
    test::write_text(dir.path() + "/file", "x");
    agent::OomForensics refused(options_for(dir.path() + "/file/oom"));
    refused.open();
    EXPECT_FALSE(refused.enabled());
    EXPECT_EQ(refused.dir(), "");
}

TEST(OomForensics, RecordsFromBeforeARestartAreKeptAndServed)
{
    test::TempDir dir;
    {
        agent::OomForensics first(options_for(dir.path()));
        first.open();
        first.on_kill(kill_of(1));
        first.flush(kT0, nullptr, nullptr);
    }
    agent::OomForensics second(options_for(dir.path()));
    second.open();
    second.on_kill(kill_of(2, kKill + 1s));
    second.flush(kT0, nullptr, nullptr);
    const auto loaded = exporter::load_oom_records(dir.path(), 50);
    ASSERT_EQ(loaded.records.size(), 2u);
    EXPECT_EQ(loaded.records[0]["victim"]["pid"], 2);
    EXPECT_EQ(loaded.records[1]["victim"]["pid"], 1);
}

// ---- the tables keep a gone victim's readings

analysis::ProcessSample sample(pid_t pid, uint64_t rss_anon, uint64_t swap = 0)
{
    analysis::ProcessSample s;
    s.pid = pid;
    s.comm = "victim";
    s.start_ticks = 100;
    s.rss_anon = rss_anon;
    s.swap = swap;
    return s;
}

TEST(ProcessTableHistory, ReadingsOfAProcessThatExitedAreKeptForAWhile)
{
    analysis::ProcessTable t(60s);
    for (int i = 0; i < 4; ++i)
        t.update(sample(7, (10 + static_cast<uint64_t>(i)) * kMiB, static_cast<uint64_t>(i) * 4096),
                 kT0 + std::chrono::seconds(i));
    t.set_cmdline(7, "victim --grow");
    auto live = t.history(7);
    ASSERT_TRUE(live);
    EXPECT_FALSE(live->gone);
    ASSERT_EQ(live->readings.size(), 4u);
    EXPECT_EQ(live->readings[3].resident, 13 * kMiB);
    EXPECT_EQ(live->readings[3].swap, 3u * 4096);
    EXPECT_EQ(live->readings[0].time, kT0);

    ASSERT_TRUE(t.remove(7)); // its exit event
    EXPECT_FALSE(t.find(7));
    auto gone = t.history(7);
    ASSERT_TRUE(gone);
    EXPECT_TRUE(gone->gone);
    EXPECT_EQ(gone->readings.size(), 4u);
    EXPECT_EQ(gone->view.cmdline, "victim --grow");
    EXPECT_GT(gone->view.growth_bytes_per_second, 0);

    // Another process leaving much later pushes it out.
    t.update(sample(8, kMiB), kT0 + 100s);
    t.drop_stale(kT0 + 101s); // 8 was not seen by this scan
    EXPECT_FALSE(t.history(7));
    EXPECT_TRUE(t.history(8));
}

TEST(ProcessTableHistory, CmdlineIsAskedForWhenNewAndAfterExec)
{
    analysis::ProcessTable t(60s);
    t.update(sample(7, kMiB), kT0);
    EXPECT_TRUE(t.needs_cmdline(7));
    t.set_cmdline(7, "sh -c x");
    EXPECT_FALSE(t.needs_cmdline(7));
    t.update(sample(7, kMiB), kT0 + 1s);
    EXPECT_FALSE(t.needs_cmdline(7));
    t.on_exec(7, "grow");
    EXPECT_TRUE(t.needs_cmdline(7));
    EXPECT_FALSE(t.needs_cmdline(99));
}

TEST(ContainerTrendsHistory, UsageAndWorkingSetKeptAfterTheContainerIsGone)
{
    analysis::ContainerTrends trends(60s);
    for (int i = 0; i < 3; ++i) {
        analysis::ContainerView c;
        c.identity = procfs::identify_container(kDockerCgroup);
        c.cgroup = kDockerCgroup;
        c.memory.usage = (20 + static_cast<uint64_t>(i)) * kMiB;
        c.memory.working_set = (10 + static_cast<uint64_t>(i)) * kMiB;
        c.memory.limit = 64 * kMiB;
        std::vector<analysis::ContainerView> v{c};
        trends.update(v, kT0 + std::chrono::seconds(i));
    }
    std::vector<analysis::ContainerView> none;
    trends.update(none, kT0 + 3s); // its last process exited
    auto h = trends.history(kDockerId);
    ASSERT_TRUE(h);
    ASSERT_EQ(h->readings.size(), 3u);
    EXPECT_EQ(h->readings[2].usage, 22 * kMiB);
    EXPECT_EQ(h->readings[2].working_set, 12 * kMiB);
    EXPECT_EQ(h->limit, 64 * kMiB);
    EXPECT_GT(h->growth_bytes_per_second, 0);
    trends.update(none, kT0 + 3s + analysis::ContainerTrends::kGoneKeep + 1s);
    EXPECT_FALSE(trends.history(kDockerId));
    EXPECT_FALSE(trends.history(""));
}

// ---- the victim's profiles

TEST(ProfilesOfProcess, ThisPidAndCommSinceItStarted)
{
    test::TempDir dir;
    const auto start = kKill - 10min;
    for (const auto& name :
         {profile::profile_file_name("api", 4242, start + 1min), profile::profile_file_name("api", 4242, start + 5min),
          profile::profile_file_name("api", 4242, start - 1min),   // an earlier process with the same pid
          profile::profile_file_name("api", 42, start + 1min),     // another pid
          profile::profile_file_name("api-4242", 1, start + 1min), // a comm that looks like it
          profile::profile_file_name("web", 4242, start + 1min)})
        test::write_text(dir.path() + "/" + name, "x");
    EXPECT_EQ(profile::profiles_of_process(dir.path(), "api", 4242, start),
              (std::vector<std::string>{dir.path() + "/" + profile::profile_file_name("api", 4242, start + 1min),
                                        dir.path() + "/" + profile::profile_file_name("api", 4242, start + 5min)}));
    EXPECT_TRUE(profile::profiles_of_process(dir.path() + "/none", "api", 4242, start).empty());
}

// ---- config

TEST(OomForensicsConfig, DefaultsInEveryProfileAndChecks)
{
    for (const auto p : {config::Profile::Dev, config::Profile::Staging, config::Profile::Prod}) {
        const auto c = config::defaults_for(p);
        EXPECT_EQ(c.oom_forensics_dir, "/var/lib/memsight/oom");
        EXPECT_EQ(c.oom_forensics_max_files, 100u);
        EXPECT_EQ(c.oom_forensics_max_age, std::chrono::hours(168));
    }
    EXPECT_EQ(config::load_yaml("oom:\n  forensics_dir: \"\"\n", "t.yaml").oom_forensics_dir, "");
    EXPECT_EQ(config::load_yaml("oom:\n  forensics_max_age: 24h\n", "t.yaml").oom_forensics_max_age,
              std::chrono::hours(24));
    try {
        config::load_yaml("oom:\n  forensics_dir: var/oom\n", "t.yaml");
        FAIL() << "a relative directory was accepted";
    } catch (const config::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("must be an absolute path (or empty: write no records)"),
                  std::string::npos)
            << e.what();
    }
    // /oom is served next to the metrics: the metrics cannot take its path.
    EXPECT_THROW(config::load_yaml("metrics_path: /oom\n", "t.yaml"), config::ConfigError);
}

// ---- the story

TEST(OomStory, TellsWhoWhenWhereHowBigAndHowItGrew)
{
    const json r = exporter::oom_record(kill_of(), context_of(), {1.0, 300}, {"/p/a.pb.gz"});
    const std::string s = exporter::oom_story(r);
    EXPECT_NE(s.find("OOM kill at 2026-11-29T18:20:01.123Z: pid 4242 (api), uid 1000\n"), std::string::npos) << s;
    EXPECT_NE(s.find("  command:  /usr/bin/api --port 8080\n"), std::string::npos) << s;
    EXPECT_NE(s.find("container 3f1b0a9c8d7e, memory cgroup " + kDockerCgroup + " (from its exit record)"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("RSS 61.0 MiB (anon 60.0 MiB, file 1.0 MiB, shmem 0 B), 95% of the memory limit 64.0 MiB "
                     "(cgroup usage 63.0 MiB 1.0 s before the kill)"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("RSS 12.0 MiB → 60.0 MiB over 5 readings in 4.0 s, +12.0 MiB/s; leak suspicion 0.00 (too "
                     "early to say: it needs 60 s of readings)"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("container working set 12.0 MiB → 60.0 MiB over 5 readings in 4.0 s, +12.0 MiB/s"),
              std::string::npos)
        << s;
    EXPECT_NE(s.find("  sites:    leak_one_record 40.0 MiB, parse_request 8.0 MiB\n"), std::string::npos) << s;
    EXPECT_NE(s.find("  profiles: /p/a.pb.gz\n"), std::string::npos) << s;
    EXPECT_NE(s.find("  record:   20261129T182001.123Z-4242\n"), std::string::npos) << s;
}

TEST(OomStory, AVictimWithoutReadingsOrLimit)
{
    analysis::OomKill k = kill_of();
    k.anon_rss = k.file_rss = k.shmem_rss = 0; // a kernel before 6.1
    analysis::VictimContext c;
    c.pid = 4242;
    const std::string s = exporter::oom_story(exporter::oom_record(k, c, {10.0, 300}, {}));
    EXPECT_NE(s.find("RSS not in the kernel's record (Linux before 6.1)"), std::string::npos) << s;
    EXPECT_NE(s.find("no memory limit on its cgroup (or unknown)"), std::string::npos) << s;
    EXPECT_NE(s.find("no readings before the kill (it lived less than one scan interval, 10.0 s"), std::string::npos)
        << s;
    EXPECT_EQ(s.find("profiles:"), std::string::npos) << s;
    EXPECT_EQ(exporter::oom_story(json::object()).find("OOM kill at : pid ? (?)"), 0u); // never throws
}

TEST(OomStory, ParsesItsOwnTimes)
{
    EXPECT_DOUBLE_EQ(*exporter::parse_rfc3339("2026-11-29T18:20:01.123Z"), 1795976401.123);
    EXPECT_FALSE(exporter::parse_rfc3339("2026-11-29 18:20:01"));
}

} // namespace
} // namespace memsight
