// memsight: eBPF memory observer. Subcommands live in one file each.
#include "cli/commands.h"
#include "config/config.h"
#include "procfs/cgroup_namespace.h"
#include "util/error.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

int main(int argc, char** argv)
{
    // Logs go to stderr: stdout carries the commands' output (JSON lines, tables).
    spdlog::set_default_logger(spdlog::stderr_color_mt("memsight"));
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

    CLI::App app{"memsight: eBPF memory observer for Linux processes and containers"};
    app.require_subcommand(1);
    memsight::cli::Runner run;
    memsight::cli::add_agent_command(app, run);
    memsight::cli::add_oom_command(app, run);
    memsight::cli::add_top_command(app, run);
    memsight::cli::add_faults_command(app, run);
    memsight::cli::add_growth_command(app, run);
    memsight::cli::add_leaks_command(app, run);
    memsight::cli::add_profile_command(app, run);
    memsight::cli::add_pyheap_command(app, run);
    memsight::cli::add_report_command(app, run);
    memsight::cli::add_version_command(app, run);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success))
            return app.exit(e); // --help
        // Bad usage: one line in memsight's form, and exit status 2 (docs/cli.md), not CLI11's own codes.
        std::fprintf(stderr, "memsight: %s (memsight [COMMAND] --help lists the options)\n", e.what());
        return 2;
    }
    try {
        // Before any thread exists: a joined namespace is inherited by the threads created after it.
        memsight::procfs::adopt_host_cgroup_view();
        return run();
    } catch (const memsight::config::ConfigError& e) {
        std::fprintf(stderr, "memsight: %s\n", e.what());
    } catch (const memsight::UserError& e) {
        std::fprintf(stderr, "memsight: %s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "memsight: internal error: %s\n", e.what());
    }
    return 1;
}
