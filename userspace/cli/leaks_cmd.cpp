#include "cli/commands.h"
#include "cli/deep_run.h"
#include "deep/governor.h"
#include "cli/python_side.h"
#include "util/error.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>

namespace memsight::cli {
namespace {

struct LeaksArgs {
    DeepTargets targets;
    std::string duration = "30s";
    std::string interval = "5s";
    std::string min_age = "10s";
    uint64_t sample_bytes = 1;
    uint32_t max_outstanding = 0;
    size_t top = 10;
    std::string format = "text";
    std::string overhead_budget = "2%";
};

const char* kCounterNames[] = {
    "alloc_calls",    "free_calls",          "sampled_allocations",       "frees_matched",
    "implicit_frees", "failed_allocations",  "lost_outstanding_map_full", "lost_site_map_full",
    "lost_stack",     "lost_entry_map_full", "lost_ringbuf_full"};
static_assert(std::size(kCounterNames) == MEMSIGHT_ACNT__MAX);

nlohmann::ordered_json to_json(const DeepRun& run, const std::vector<deep::SiteReport>& sites, const LeaksArgs& a)
{
    const deep::Session& session = run.driver->session();
    const double elapsed_s = run.driver->elapsed_s();
    nlohmann::ordered_json j;
    j["version"] = 1;
    j["duration_seconds"] = elapsed_s;
    j["sample_bytes"] = session.sample_bytes();
    j["exact"] = session.sample_bytes() <= 1;
    j["min_age_seconds"] = std::chrono::duration<double>(duration_arg(a.min_age, "--min-age")).count();
    auto& targets = j["targets"] = nlohmann::ordered_json::array();
    for (const auto& t : session.targets()) {
        targets.push_back({{"pid", t.pid},
                           {"comm", t.comm},
                           {"allocator", t.active},
                           {"hooked", t.hooked},
                           {"missing", t.missing},
                           {"python_frames", t.python},
                           {"attach_errors", t.attach_errors},
                           {"refused", t.refused},
                           {"reason", t.refusal}});
    }
    const auto c = session.counters();
    auto& counters = j["counters"] = nlohmann::ordered_json::object();
    for (size_t i = 0; i < c.size(); ++i)
        counters[kCounterNames[i]] = c[i];
    j["ended"] = deep::end_reason_name(run.ended);
    const auto estimate = run.driver->overhead_estimate();
    const auto cost = run.driver->hit_cost();
    auto& overhead = j["overhead"] = nlohmann::ordered_json::object();
    overhead["budget"] = run.driver->overhead_budget();
    overhead["estimate"] = estimate ? nlohmann::ordered_json(*estimate) : nullptr;
    overhead["cost_per_hit_seconds"] = cost ? cost->seconds_per_hit : 0.0;
    overhead["cost_measured"] = cost && cost->measured;
    auto& out = j["sites"] = nlohmann::ordered_json::array();
    for (size_t i = 0; i < std::min(a.top, sites.size()); ++i) {
        const auto& s = sites[i];
        out.push_back({{"pid", s.tgid},
                       {"comm", s.comm},
                       {"kind", s.mmap ? "mmap" : "heap"},
                       {"site", s.site},
                       {"stack", s.stack},
                       {"live_bytes", s.live_bytes},
                       {"live_count", s.live_count},
                       {"live_bytes_older_than_min_age", s.live_bytes_older_than_min_age},
                       {"alloc_bytes", s.alloc_bytes},
                       {"alloc_count", s.alloc_count},
                       {"free_bytes", s.free_bytes},
                       {"free_count", s.free_count},
                       {"alloc_bytes_per_second", s.alloc_bytes_per_second},
                       {"free_bytes_per_second", s.free_bytes_per_second},
                       {"age_seconds", {{"p50", s.age_p50_s}, {"p90", s.age_p90_s}, {"max", s.age_max_s}}},
                       {"live_bytes_series", s.live_series},
                       {"growing", s.growing}});
    }
    return j;
}

void print_text(const DeepRun& run, const std::vector<deep::SiteReport>& sites, const LeaksArgs& a)
{
    const deep::Session& session = run.driver->session();
    const double elapsed_s = run.driver->elapsed_s();
    std::printf(
        "memsight leaks: %.1f s, %s\n", elapsed_s,
        session.sample_bytes() <= 1
            ? "exact (every allocation)"
            : ("sampled, one sample per " + std::to_string(session.sample_bytes()) + " bytes on average").c_str());
    for (const auto& t : session.targets()) {
        if (t.refused) {
            std::printf("pid %d: refused: %s\n", t.pid, t.refusal.c_str());
            continue;
        }
        std::printf("pid %d (%s), allocator %s\n", t.pid, t.comm.c_str(), t.active.c_str());
        for (const auto& h : t.hooked)
            std::printf("  hooked %s\n", h.c_str());
        if (!t.missing.empty()) {
            std::string m;
            for (const auto& x : t.missing)
                m += (m.empty() ? "" : ", ") + x;
            std::printf("  not defined (not probed): %s\n", m.c_str());
        }
    }
    const auto c = session.counters();
    std::printf("lost: outstanding map full %llu, site map full %llu, stacks %llu; implicit frees %llu\n",
                static_cast<unsigned long long>(c[MEMSIGHT_ACNT_LOST_OUTSTANDING_FULL]),
                static_cast<unsigned long long>(c[MEMSIGHT_ACNT_LOST_SITES_FULL]),
                static_cast<unsigned long long>(c[MEMSIGHT_ACNT_LOST_STACK]),
                static_cast<unsigned long long>(c[MEMSIGHT_ACNT_IMPLICIT_FREES]));
    if (const double budget = run.driver->overhead_budget(); budget > 0) {
        const auto estimate = run.driver->overhead_estimate();
        std::printf("overhead: %s%.1f%% of the traced CPU estimated (budget %s)%s\n", estimate ? "" : "~",
                    estimate.value_or(0) * 100, deep::format_budget(budget).c_str(),
                    run.ended == deep::EndReason::Overhead ? "; STOPPED early by the budget" : "");
    }
    size_t shown = 0;
    for (const auto& s : sites) {
        if (shown++ == a.top)
            break;
        std::printf("\n#%zu %s%s  live %s in %.0f blocks (%s older than %s)  [%s, pid %u]\n", shown, s.site.c_str(),
                    s.growing ? "  GROWING" : "", human_bytes(s.live_bytes).c_str(), s.live_count,
                    human_bytes(s.live_bytes_older_than_min_age).c_str(), a.min_age.c_str(), s.mmap ? "mmap" : "heap",
                    s.tgid);
        std::printf("   alloc %s/s, free %s/s; ages p50 %.1fs p90 %.1fs max %.1fs\n",
                    human_bytes(s.alloc_bytes_per_second).c_str(), human_bytes(s.free_bytes_per_second).c_str(), s.age_p50_s,
                    s.age_p90_s, s.age_max_s);
        for (const auto& f : s.stack)
            std::printf("     %s\n", f.c_str());
    }
    std::fflush(stdout);
}

int run_leaks(const LeaksArgs& a)
{
    choice_arg(a.format, {"text", "json"}, "--format");
    DeepRunOptions o;
    o.sample_bytes = a.sample_bytes;
    o.max_outstanding = a.max_outstanding;
    o.duration = duration_arg(a.duration, "--duration");
    o.interval = duration_arg(a.interval, "--interval");
    o.min_age = duration_arg(a.min_age, "--min-age");
    o.overhead_budget = budget_arg(a.overhead_budget, "--overhead-budget");
    auto py = a.targets.pid ? start_python_side(a.targets.pid, o.duration) : nullptr;
    DeepRun run = run_deep_session(a.targets, o);
    finish_python_side(py, a.top);
    const auto sites = run.driver->report();
    if (a.format == "json") {
        auto j = to_json(run, sites, a);
        if (py)
            j["python"] = python_json(*py, a.top);
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        print_text(run, sites, a);
        if (py)
            print_python(*py, a.top);
    }
    return 0;
}

} // namespace

void add_leaks_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<LeaksArgs>();
    auto* cmd =
        app.add_subcommand("leaks", "Deep tier: hook one process's allocator and report live memory by call site");
    add_target_options(cmd, args->targets);
    cmd->add_option("--duration", args->duration, "Session length (default 30s)");
    cmd->add_option("--interval", args->interval, "Reading period for growth (default 5s)");
    cmd->add_option("--min-age", args->min_age, "Live blocks older than this count as leak candidates (default 10s)");
    cmd->add_option("--sample-bytes", args->sample_bytes, "Mean bytes between samples; 1 = every allocation (default)");
    cmd->add_option("--top", args->top, "Sites to show (default 10)");
    cmd->add_option("--format", args->format, "text or json");
    add_capacity_option(cmd, args->max_outstanding);
    add_budget_option(cmd, args->overhead_budget);
    cmd->callback([&run, args] { run = [args] { return run_leaks(*args); }; });
}

} // namespace memsight::cli
