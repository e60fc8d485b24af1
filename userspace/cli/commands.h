#pragma once
#include <CLI/CLI.hpp>

#include <atomic>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

namespace memsight::cli {

// Each subcommand registers its options and a callback that runs it and returns the exit code.
using Runner = std::function<int()>;
void add_agent_command(CLI::App& app, Runner& run);
void add_oom_command(CLI::App& app, Runner& run);
void add_top_command(CLI::App& app, Runner& run);
void add_faults_command(CLI::App& app, Runner& run);
void add_growth_command(CLI::App& app, Runner& run);
void add_version_command(CLI::App& app, Runner& run);
void add_leaks_command(CLI::App& app, Runner& run);
void add_profile_command(CLI::App& app, Runner& run);
void add_pyheap_command(CLI::App& app, Runner& run);
void add_report_command(CLI::App& app, Runner& run);

// SIGINT/SIGTERM set the returned flag (installed once).
const std::atomic<bool>& stop_flag();
// Sets the log level ("trace".."off"); throws UserError for an unknown one.
void set_log_level(const std::string& level);
// Parses a CLI duration via the config syntax ("10s"); throws ConfigError.
std::chrono::milliseconds duration_arg(const std::string& s, const char* option);
// "512 B", "1.5 MiB"
std::string human_bytes(double bytes);
// "1.5MiB", whatever the size
std::string mib(double bytes);
// The same, and more than 0: throws "OPTION must be more than 0, got 'S'".
std::chrono::milliseconds positive_duration_arg(const std::string& s, const char* option);
// Throws "OPTION must be a, b or c, got 'VALUE'" unless `value` is one of `choices`.
void choice_arg(const std::string& value, std::initializer_list<std::string_view> choices, const char* option);
// Throws "OPTION must be at least 1, got N" when `value` is below 1.
void at_least_one(long long value, const char* option);

} // namespace memsight::cli
