#include "cli/commands.h"
#include "config/config.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

#include <csignal>

namespace memsight::cli {
namespace {

std::atomic<bool> g_stop{false};

void on_signal(int)
{
    g_stop.store(true);
}

} // namespace

const std::atomic<bool>& stop_flag()
{
    static const bool installed = [] {
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, nullptr);
        sigaction(SIGTERM, &sa, nullptr);
        return true;
    }();
    (void)installed;
    return g_stop;
}

void set_log_level(const std::string& level)
{
    const auto l = spdlog::level::from_str(level);
    if (l == spdlog::level::off && level != "off")
        throw UserError("unknown log level '" + level + "' (trace, debug, info, warn, error, off)");
    spdlog::set_level(l);
}

std::chrono::milliseconds duration_arg(const std::string& s, const char* option)
{
    try {
        return config::parse_duration(s);
    } catch (const config::ConfigError& e) {
        throw UserError(std::string(option) + ": " + e.what());
    }
}

} // namespace memsight::cli
