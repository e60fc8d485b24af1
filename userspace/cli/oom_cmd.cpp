#include "analysis/containers.h"
#include "analysis/oom.h"
#include "analysis/proc_scanner.h"
#include "cli/commands.h"
#include "cli/http_client.h"
#include "config/config.h"
#include "export/json.h"
#include "export/oom_record.h"
#include "export/oom_record_store.h"
#include "export/oom_story.h"
#include "loader/always_on.h"
#include "util/error.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace memsight::cli {
namespace {

constexpr int kDefaultAgentPort = 9756; // `memsight agent`'s default listen port
constexpr const char* kDefaultConfig = "/etc/memsight/memsight.yaml";

struct ExplainArgs {
    bool explain = false;
    std::string agent;
    std::string dir;
    std::string config_file;
    long long limit = 10;
    std::string format = "text";
};

// Where the records are and what they are: read from an agent's /oom or from the directory.
struct Records {
    std::vector<nlohmann::ordered_json> records; // newest first
    std::string source;                          // "the agent at URL", "DIR"
};

Records from_agent(const ExplainArgs& a)
{
    const Url url = parse_url(a.agent, "--agent", kDefaultAgentPort, "");
    const auto r = http_get(url, "/oom?limit=" + std::to_string(a.limit), "agent", 10000, true);
    std::string body = r.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
        body.pop_back();
    if (r.status == 404 && body.find("OOM forensic records are off") != std::string::npos)
        throw UserError("the agent at " + url.text + ": " + body);
    if (r.status != 200)
        throw UserError("the agent at " + url.text + " answered HTTP " + std::to_string(r.status) + " to /oom" +
                        (body.empty() || body.size() > 200 ? std::string() : ": " + body) +
                        (r.status == 404 ? " (an agent older than OOM forensic records?)" : ""));
    Records out{{}, "the agent at " + url.text};
    try {
        const auto doc = nlohmann::ordered_json::parse(r.body);
        for (const auto& rec : doc.at("records"))
            out.records.push_back(rec);
    } catch (const std::exception& e) {
        throw UserError("the agent at " + url.text + " answered /oom with no {\"records\": [...]}: " + e.what());
    }
    return out;
}

Records from_dir(const ExplainArgs& a)
{
    std::string dir = a.dir;
    if (dir.empty()) {
        // The agent's directory: from --config, else the packaged config file when there is one, else the default.
        const std::string file = !a.config_file.empty()                ? a.config_file
                                 : ::access(kDefaultConfig, F_OK) == 0 ? kDefaultConfig
                                                                       : std::string();
        const config::Config cfg =
            file.empty() ? config::load_yaml(config::embedded_default_yaml(), "<embedded>") : config::load_file(file);
        dir = cfg.oom_forensics_dir;
        if (dir.empty())
            throw UserError("oom.forensics_dir is \"\" in " + (file.empty() ? "the default config" : file) +
                            ": the agent keeps no OOM records (give --dir DIR or --agent URL)");
    }
    const auto loaded = exporter::load_oom_records(dir, static_cast<size_t>(a.limit));
    for (const auto& bad : loaded.unreadable)
        spdlog::warn("oom: skipped {}/{}", dir, bad);
    return {loaded.records, dir};
}

int run_explain(const ExplainArgs& a)
{
    choice_arg(a.format, {"text", "json"}, "--format");
    at_least_one(a.limit, "--limit");
    if (static_cast<unsigned long long>(a.limit) > exporter::kMaxOomRecordsLimit)
        throw UserError("--limit must be at most " + std::to_string(exporter::kMaxOomRecordsLimit) + ", got " +
                        std::to_string(a.limit));
    const Records r = a.agent.empty() ? from_dir(a) : from_agent(a);
    if (a.format == "json") {
        nlohmann::ordered_json out;
        out["records"] = r.records;
        std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return 0;
    }
    if (r.records.empty())
        throw UserError("no OOM records in " + r.source);
    for (size_t i = 0; i < r.records.size(); ++i)
        std::printf("%s%s", i == 0 ? "" : "\n", exporter::oom_story(r.records[i]).c_str());
    std::fflush(stdout);
    return 0;
}

int run_oom()
{
    const auto& stop = stop_flag();
    analysis::ProcScanner scanner;
    analysis::CgroupResolver cgroups(procfs::CgroupFs::detect());
    analysis::OomTracker tracker([](const analysis::OomKill& k) {
        std::printf("%s\n", exporter::oom_kill_json(k).c_str());
        std::fflush(stdout);
    });
    // The OOM join only: a kill, then its victim's exit with the victim's cgroup. One thread, so the /proc and
    // cgroupfs reads happen here; the kernel events are rare.
    auto on_event = [&](const KernelEvent& event) {
        const auto now = analysis::Clock::now();
        if (const auto* oom = std::get_if<OomEvent>(&event)) {
            const auto s = oom->comm.empty() ? scanner.read_process(oom->victim) : std::nullopt;
            tracker.on_mark_victim(*oom, s ? s->comm : "", scanner.read_cgroup(oom->victim), now);
        } else if (const auto* exit = std::get_if<ExitEvent>(&event); exit && exit->oom_victim) {
            tracker.on_victim_exit(exit->pid, exit->cgroup_id ? cgroups.path(exit->cgroup_id, now) : std::nullopt);
        }
    };

    loader::AlwaysOnOptions opts;
    opts.lifecycle = false;
    opts.page_faults = false;
    opts.ringbuf_bytes = 256 * 1024;
    loader::AlwaysOnProbes probes(opts, on_event);
    spdlog::info("watching for OOM kills (one JSON line each); Ctrl-C to stop");
    while (!stop.load()) {
        probes.poll(200);
        tracker.tick(analysis::Clock::now());
    }
    tracker.tick(analysis::Clock::time_point::max());
    return 0;
}

} // namespace

void add_oom_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<ExplainArgs>();
    auto* cmd = app.add_subcommand(
        "oom", "Print one JSON line per OOM kill until interrupted; with --explain, tell the agent's OOM records");
    auto* explain = cmd->add_flag("--explain", args->explain,
                                  "Tell the agent's OOM forensic records (newest first) instead of streaming kills");
    auto* agent = cmd->add_option("--agent", args->agent,
                                  "Read the records from a running agent's /oom, e.g. http://127.0.0.1:9756");
    auto* dir = cmd->add_option("--dir", args->dir,
                                "Read the records from this directory (default: the config's "
                                "oom.forensics_dir)");
    auto* config =
        cmd->add_option("--config", args->config_file,
                        "The agent's YAML config, for oom.forensics_dir (default: /etc/memsight/memsight.yaml "
                        "when it exists, else the embedded defaults)");
    auto* limit = cmd->add_option("--limit", args->limit, "Records shown, newest first (default 10)");
    auto* format = cmd->add_option("--format", args->format, "text (default) or json");
    for (auto* o : {agent, dir, config, limit, format})
        o->needs(explain);
    agent->excludes(dir)->excludes(config);
    cmd->callback([&run, args] {
        if (args->explain)
            run = [args] { return run_explain(*args); };
        else
            run = [] { return run_oom(); };
    });
}

} // namespace memsight::cli
