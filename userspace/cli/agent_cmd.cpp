#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/deep_run.h"
#include "config/config.h"
#include "deep/targets.h"
#include "export/metrics_server.h"
#include "export/oom_record.h"
#include "export/oom_record_store.h"
#include "export/prometheus_exporter.h"
#include "export/web_config.h"
#include "loader/alloc_probes.h"
#include "memsight/version.h"
#include "util/error.h"
#include "util/privileges.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

namespace memsight::cli {
namespace {

struct AgentArgs {
    std::string config_file;
    std::string listen;
    std::string web_config; // --web-config: overrides the key web_config
    std::string interval;
    std::string log_level;
    std::vector<pid_t> deep_pids;
    std::string deep_cgroup;
    std::string deep_budget; // empty: deep.overhead_budget
};

config::Config effective_config(const AgentArgs& a)
{
    config::Config cfg = a.config_file.empty() ? config::load_yaml(config::embedded_default_yaml(), "<embedded>")
                                               : config::load_file(a.config_file);
    config::Overrides o;
    if (!a.listen.empty())
        o.listen = a.listen;
    if (!a.interval.empty())
        o.interval = duration_arg(a.interval, "--interval");
    if (!a.log_level.empty())
        o.log_level = a.log_level;
    config::apply_overrides(cfg, o);
    // Each layer checked what it set; this checks every key and rule on what the agent will run with, so a value
    // that some layer set without its key's check (a flag added later, say) stops here, not in the agent.
    config::validate(cfg);
    return cfg;
}

int run_agent(const AgentArgs& args)
{
    // Two malloc arenas, not glibc's 8 per core: the agent's threads (HTTP workers, scan loop, ring-buffer pump)
    // each kept megabytes in arenas of their own after building an exposition (tests/bench/results/load.md).
    ::mallopt(M_ARENA_MAX, 2);
    const config::Config cfg = effective_config(args);
    set_log_level(cfg.log_level);
    const auto& stop = stop_flag();
    const bool manual = !args.deep_pids.empty() || !args.deep_cgroup.empty();
    if (!args.deep_budget.empty() && !manual)
        throw UserError("--deep-overhead-budget applies to the session of --deep-pid or --deep-cgroup; give one");
    const double budget =
        args.deep_budget.empty() ? cfg.deep_overhead_budget : budget_arg(args.deep_budget, "--deep-overhead-budget");
    exporter::check_bindable(cfg.listen); // fail fast, before loading BPF
    // Likewise a bad web config: the agent never serves with less protection than the file asks for.
    const std::string web_path = args.web_config.empty() ? cfg.web_config : args.web_config;
    const exporter::WebConfig web = web_path.empty() ? exporter::WebConfig{} : exporter::load_web_config(web_path);

    // Everything that forks (the probe-cost calibration) happens here, before the metrics server's threads.
    agent::Agent agent(cfg);
    if (manual) {
        std::vector<pid_t> pids;
        for (pid_t p : args.deep_pids)
            pids.push_back(deep::pid_and_descendants(p, false).front());
        if (!args.deep_cgroup.empty())
            for (pid_t p : deep::processes_of_cgroup(args.deep_cgroup))
                pids.push_back(p);
        agent.watch(pids, budget);
    }
    auto collectable = std::make_shared<exporter::SnapshotCollectable>([&agent] { return agent.snapshot(); });
    auto health = [&agent, &stop, interval = cfg.interval] {
        return agent::judge_health(agent.progress(), analysis::Clock::now(), interval, stop.load());
    };
    // GET /oom: the forensic records, read from their directory at each request (so records written before a restart
    // are served too; the files are replaced atomically).
    exporter::Route oom{"/oom", [dir = agent.oom_records_dir()](const std::string& query) {
                            exporter::Reply r;
                            const auto limit = exporter::parse_oom_records_query(query);
                            if (const auto* problem = std::get_if<std::string>(&limit))
                                return exporter::Reply{400, "text/plain", *problem + "\n"};
                            if (dir.empty())
                                return exporter::Reply{404, "text/plain",
                                                       "OOM forensic records are off on this agent "
                                                       "(oom.forensics_dir is \"\" or could not be created)\n"};
                            const auto loaded = exporter::load_oom_records(dir, std::get<size_t>(limit));
                            r.body = exporter::oom_records_body(loaded.records);
                            return r;
                        }};
    exporter::MetricsServer server(cfg.listen, cfg.metrics_path, collectable, health, {std::move(oom)}, web);
    // Start-up is over: BPF loaded and attached, the port bound, RLIMIT_MEMLOCK raised (libbpf, at the first load).
    // What only start-up needed is dropped now; deep-tier sessions still attach later (docs/privileges.md).
    util::drop_unneeded_capabilities(loader::AllocProbes::kernel_has_uprobe_multi());
    std::string urls;
    for (const auto& e : server.endpoints())
        urls += (urls.empty() ? "" : ", ") + std::string(server.scheme()) + "://" + e + cfg.metrics_path;
    spdlog::info("memsight {} agent: profile {}, scanning every {} ms, metrics on {} (probes /healthz, /readyz; OOM "
                 "records /oom)",
                 kVersion, config::profile_name(cfg.profile), cfg.interval.count(), urls);
    if (!web_path.empty())
        spdlog::info("web config {}: {}, basic authentication {}", web_path, web.tls ? "TLS only" : "no TLS",
                     web.basic_auth_users.empty() ? "off" : "on (probes exempt)");
    agent.run(stop);
    spdlog::info("stopping");
    return 0;
}

} // namespace

void add_agent_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<AgentArgs>();
    auto* cmd = app.add_subcommand("agent", "Observe every process and serve Prometheus metrics");
    cmd->add_option("--config", args->config_file, "YAML config file (default: the embedded defaults)");
    cmd->add_option("--listen", args->listen, "Metrics endpoint ADDR:PORT (default 127.0.0.1:9756)");
    cmd->add_option("--web-config", args->web_config,
                    "TLS and basic auth of the endpoint: exporter-toolkit web config file (overrides web_config)");
    cmd->add_option("--interval", args->interval, "Reading period, e.g. 10s (overrides the config)");
    cmd->add_option("--log-level", args->log_level, "trace|debug|info|warn|error|off");
    cmd->add_option("--deep-pid", args->deep_pids, "Run a deep-tier session on this process (repeatable)");
    cmd->add_option("--deep-cgroup", args->deep_cgroup, "Run a deep-tier session on a cgroup or container");
    cmd->add_option("--deep-overhead-budget", args->deep_budget,
                    "Overhead budget of that session, e.g. 2% (default deep.overhead_budget; 0 = no limit)");
    cmd->callback([&run, args] { run = [args] { return run_agent(*args); }; });
}

} // namespace memsight::cli
