#include "cli/commands.h"
#include "config/config.h"
#include "util/error.h"

#include <cstdio>
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

std::chrono::milliseconds positive_duration_arg(const std::string& s, const char* option)
{
    const auto d = duration_arg(s, option);
    if (d.count() <= 0)
        throw UserError(std::string(option) + " must be more than 0, got '" + s + "'");
    return d;
}

void choice_arg(const std::string& value, std::initializer_list<std::string_view> choices, const char* option)
{
    std::string list;
    size_t i = 0;
    for (auto c : choices) {
        if (c == value)
            return;
        list += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(c);
        ++i;
    }
    throw UserError(std::string(option) + " must be " + list + ", got '" + value + "'");
}

void at_least_one(long long value, const char* option)
{
    if (value < 1)
        throw UserError(std::string(option) + " must be at least 1, got " + std::to_string(value));
}

std::string mib(double bytes)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1fMiB", bytes / (1024.0 * 1024.0));
    return buf;
}

std::string human_bytes(double bytes)
{
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

} // namespace memsight::cli
