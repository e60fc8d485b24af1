// Automatic escalation decisions: the selector, the per-process cool-down and the planner (threshold, concurrency
// limit, processes never escalated).
#include "agent/escalation.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace memsight::agent {
namespace {

using namespace std::chrono_literals;
using Selector = config::Config::Selector;

const std::string kId = "3f1b0a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
const Clock::time_point kT0 = Clock::time_point{} + 1000h;

analysis::ProcessView proc(pid_t pid, const std::string& comm, double suspicion, uint64_t start = 100,
                           const std::string& cgroup = "/user.slice")
{
    analysis::ProcessView p;
    p.sample.pid = pid;
    p.sample.comm = comm;
    p.sample.start_ticks = start;
    p.leak_suspicion = suspicion;
    p.cgroup = cgroup;
    p.identity = procfs::identify_container(cgroup);
    return p;
}

std::vector<pid_t> pids(const EscalationPlan& plan)
{
    std::vector<pid_t> out;
    for (const auto& p : plan.start)
        out.push_back(p.sample.pid);
    return out;
}

config::Config::Escalation escalation(uint32_t max_concurrent = 2)
{
    config::Config::Escalation e;
    e.enabled = true;
    e.threshold = 0.8;
    e.cooldown = 10min;
    e.max_concurrent = max_concurrent;
    return e;
}

TEST(CgroupEntry, PathMatchesItselfAndBelowByWholeComponents)
{
    EXPECT_TRUE(cgroup_entry_matches("/docker", "/docker", ""));
    EXPECT_TRUE(cgroup_entry_matches("/docker", "/docker/" + kId, kId));
    EXPECT_TRUE(cgroup_entry_matches("/docker/", "/docker/" + kId, kId));
    EXPECT_FALSE(cgroup_entry_matches("/docker", "/dockerd/x", ""));
    EXPECT_FALSE(cgroup_entry_matches("/docker/" + kId, "/docker", ""));
    EXPECT_TRUE(cgroup_entry_matches("/", "/anything", ""));
}

TEST(CgroupEntry, HexIsAContainerIdPrefixIgnoringCase)
{
    EXPECT_TRUE(cgroup_entry_matches(kId.substr(0, 12), "/docker/" + kId, kId));
    EXPECT_TRUE(cgroup_entry_matches("3F1B0A9C8D7E", "/docker/" + kId, kId));
    EXPECT_TRUE(cgroup_entry_matches(kId, "/docker/" + kId, kId));
    EXPECT_FALSE(cgroup_entry_matches("3f1b0a9c8d7f", "/docker/" + kId, kId));
    EXPECT_FALSE(cgroup_entry_matches(kId.substr(0, 12), "/user.slice", "")); // not in a container
}

TEST(Selector, EmptyAllowsEverything)
{
    EXPECT_TRUE(selector_allows(Selector{}, "anything", "/x", ""));
}

TEST(Selector, IncludeCommGlobs)
{
    Selector s;
    s.include_comm = {"java", "python*"};
    EXPECT_TRUE(selector_allows(s, "java", "/", ""));
    EXPECT_TRUE(selector_allows(s, "python3.11", "/", ""));
    EXPECT_FALSE(selector_allows(s, "javac", "/", ""));
    EXPECT_FALSE(selector_allows(s, "postgres", "/", ""));
}

TEST(Selector, ExcludeWinsOverInclude)
{
    Selector s;
    s.include_comm = {"*"};
    s.exclude_comm = {"postgres"};
    EXPECT_TRUE(selector_allows(s, "java", "/", ""));
    EXPECT_FALSE(selector_allows(s, "postgres", "/", ""));
    s.exclude_cgroup = {kId.substr(0, 16)};
    EXPECT_FALSE(selector_allows(s, "java", "/docker/" + kId, kId));
    EXPECT_TRUE(selector_allows(s, "java", "/user.slice", ""));
}

TEST(Selector, EveryIncludeListMustMatch)
{
    Selector s;
    s.include_comm = {"java"};
    s.include_cgroup = {"/kubepods"};
    EXPECT_TRUE(selector_allows(s, "java", "/kubepods/burstable/pod1/" + kId, kId));
    EXPECT_FALSE(selector_allows(s, "java", "/user.slice", ""));
    EXPECT_FALSE(selector_allows(s, "node", "/kubepods/burstable/pod1/" + kId, kId));
}

TEST(Cooldown, KeyedByPidAndStartTimeAndExpires)
{
    Cooldown c(10min);
    const ProcessKey a{42, 1000};
    c.start(a, kT0);
    EXPECT_TRUE(c.cooling(a, kT0 + 9min));
    EXPECT_FALSE(c.cooling(a, kT0 + 10min));
    EXPECT_FALSE(c.cooling({42, 2000}, kT0 + 1min)); // the pid reused by another process
    EXPECT_FALSE(c.cooling({43, 1000}, kT0 + 1min));
    c.prune(kT0 + 5min);
    EXPECT_EQ(c.size(), 1u);
    c.prune(kT0 + 10min);
    EXPECT_EQ(c.size(), 0u);
}

TEST(EscalationPlanner, ThresholdAndOrderMostSuspiciousFirst)
{
    EscalationPlanner p(escalation(2), 1);
    const auto plan =
        p.plan({proc(10, "a", 0.79), proc(11, "b", 0.85), proc(12, "c", 1.0), proc(13, "d", 0.8)}, {}, 0, kT0);
    EXPECT_EQ(pids(plan), (std::vector<pid_t>{12, 11})); // 13 (exactly at the threshold) waits for a slot
    EXPECT_EQ(plan.newly_deferred, 1u);
}

TEST(EscalationPlanner, DisabledStartsNothing)
{
    auto e = escalation();
    e.enabled = false;
    EscalationPlanner p(e, 1);
    EXPECT_TRUE(p.plan({proc(10, "a", 1.0)}, {}, 0, kT0).start.empty());
}

TEST(EscalationPlanner, NeverItselfNorAProcessAlreadyTraced)
{
    EscalationPlanner p(escalation(4), 10);
    const auto plan = p.plan({proc(10, "memsight", 1.0), proc(11, "b", 1.0), proc(12, "c", 1.0)}, {11}, 0, kT0);
    EXPECT_EQ(pids(plan), (std::vector<pid_t>{12}));
}

TEST(EscalationPlanner, SelectorFilters)
{
    auto e = escalation(4);
    e.selector.exclude_comm = {"postgres"};
    EscalationPlanner p(e, 1);
    EXPECT_EQ(pids(p.plan({proc(10, "postgres", 1.0), proc(11, "java", 1.0)}, {}, 0, kT0)), (std::vector<pid_t>{11}));
}

TEST(EscalationPlanner, MaxConcurrentCountsRunningSessions)
{
    EscalationPlanner p(escalation(2), 1);
    const std::vector<analysis::ProcessView> all{proc(10, "a", 1.0), proc(11, "b", 0.9), proc(12, "c", 0.95)};
    EXPECT_EQ(pids(p.plan(all, {}, 1, kT0)), (std::vector<pid_t>{10}));
    EXPECT_TRUE(p.plan(all, {}, 2, kT0).start.empty());
}

TEST(EscalationPlanner, DeferredCountedOncePerWait)
{
    EscalationPlanner p(escalation(1), 1);
    const std::vector<analysis::ProcessView> all{proc(10, "a", 1.0), proc(11, "b", 0.9)};
    EXPECT_EQ(p.plan(all, {}, 1, kT0).newly_deferred, 2u);
    EXPECT_EQ(p.plan(all, {}, 1, kT0 + 1s).newly_deferred, 0u); // still the same two waiting
    EXPECT_EQ(p.plan({proc(11, "b", 0.9)}, {}, 1, kT0 + 2s).newly_deferred, 0u);
    EXPECT_EQ(p.plan(all, {}, 1, kT0 + 3s).newly_deferred, 1u); // 10 waits again
}

TEST(EscalationPlanner, CooldownAfterASessionOrARefusal)
{
    EscalationPlanner p(escalation(2), 1);
    p.cool_down({10, 100}, kT0);
    const std::vector<analysis::ProcessView> all{proc(10, "a", 1.0), proc(11, "b", 1.0)};
    EXPECT_EQ(pids(p.plan(all, {}, 0, kT0 + 1min)), (std::vector<pid_t>{11}));
    EXPECT_EQ(pids(p.plan(all, {}, 0, kT0 + 10min)), (std::vector<pid_t>{10, 11}));
    // The same pid with another start time is another process: not cooling.
    p.cool_down({10, 100}, kT0 + 10min);
    EXPECT_EQ(pids(p.plan({proc(10, "a", 1.0, 555)}, {}, 0, kT0 + 11min)), (std::vector<pid_t>{10}));
}

} // namespace
} // namespace memsight::agent
