#include "config/config.h"
#include "config/keys.h"
#include "util/listen_address.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <variant>

namespace {

using namespace std::chrono_literals;
using memsight::config::apply_overrides;
using memsight::config::Config;
using memsight::config::ConfigError;
using memsight::config::defaults_for;
using memsight::config::Duration;
using memsight::config::embedded_default_yaml;
using memsight::config::format_duration;
using memsight::config::load_file;
using memsight::config::load_yaml;
using memsight::config::Overrides;
using memsight::config::parse_duration;
using memsight::config::parse_profile;
using memsight::config::Profile;
using memsight::config::profile_name;
using memsight::config::validate;

void expect_same(const Config& a, const Config& b)
{
    EXPECT_EQ(a.profile, b.profile);
    EXPECT_EQ(a.listen, b.listen);
    EXPECT_EQ(a.metrics_path, b.metrics_path);
    EXPECT_EQ(a.interval, b.interval);
    EXPECT_EQ(a.log_level, b.log_level);
    EXPECT_EQ(a.top_processes_by_rss, b.top_processes_by_rss);
    EXPECT_EQ(a.top_processes_by_growth, b.top_processes_by_growth);
    EXPECT_EQ(a.growth_window, b.growth_window);
    EXPECT_EQ(a.exit_peaks_top, b.exit_peaks_top);
    EXPECT_EQ(a.exit_peaks_window, b.exit_peaks_window);
    EXPECT_EQ(a.max_oom_series, b.max_oom_series);
    EXPECT_EQ(a.ringbuf_bytes, b.ringbuf_bytes);
    EXPECT_EQ(a.page_faults_enabled, b.page_faults_enabled);
    EXPECT_EQ(a.page_fault_sample_period, b.page_fault_sample_period);
    EXPECT_EQ(a.deep_sample_bytes, b.deep_sample_bytes);
    EXPECT_EQ(a.deep_top_sites, b.deep_top_sites);
    EXPECT_EQ(a.deep_max_duration, b.deep_max_duration);
    EXPECT_EQ(a.deep_overhead_budget, b.deep_overhead_budget);
    EXPECT_EQ(a.escalation.enabled, b.escalation.enabled);
    EXPECT_EQ(a.escalation.threshold, b.escalation.threshold);
    EXPECT_EQ(a.escalation.duration, b.escalation.duration);
    EXPECT_EQ(a.escalation.cooldown, b.escalation.cooldown);
    EXPECT_EQ(a.escalation.max_concurrent, b.escalation.max_concurrent);
    EXPECT_EQ(a.escalation.selector.include_comm, b.escalation.selector.include_comm);
    EXPECT_EQ(a.escalation.selector.exclude_comm, b.escalation.selector.exclude_comm);
    EXPECT_EQ(a.escalation.selector.include_cgroup, b.escalation.selector.include_cgroup);
    EXPECT_EQ(a.escalation.selector.exclude_cgroup, b.escalation.selector.exclude_cgroup);
    EXPECT_EQ(a.escalation.profile_dir, b.escalation.profile_dir);
    EXPECT_EQ(a.escalation.retention_max_files, b.escalation.retention_max_files);
    EXPECT_EQ(a.escalation.retention_max_age, b.escalation.retention_max_age);
    EXPECT_TRUE(a == b);
}

// The message of the ConfigError thrown by load_yaml(text, "memsight.yaml"), or "" if none.
std::string error_of(const std::string& text)
{
    try {
        load_yaml(text, "memsight.yaml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

Config load(const std::string& text)
{
    return load_yaml(text, "memsight.yaml");
}

// ---------------------------------------------------------------- profiles and defaults

TEST(ConfigDefaults, Prod)
{
    const Config c = defaults_for(Profile::Prod);
    EXPECT_EQ(c.profile, Profile::Prod);
    EXPECT_EQ(c.listen, "127.0.0.1:9756");
    EXPECT_EQ(c.metrics_path, "/metrics");
    EXPECT_EQ(c.interval, 10s);
    EXPECT_EQ(c.log_level, "info");
    EXPECT_EQ(c.top_processes_by_rss, 20u);
    EXPECT_EQ(c.top_processes_by_growth, 10u);
    EXPECT_EQ(c.growth_window, 5min);
    EXPECT_EQ(c.exit_peaks_top, 10u);
    EXPECT_EQ(c.exit_peaks_window, 5min);
    EXPECT_EQ(c.max_oom_series, 500u);
    EXPECT_EQ(c.ringbuf_bytes, 1u << 20);
    EXPECT_TRUE(c.page_faults_enabled);
    EXPECT_EQ(c.page_fault_sample_period, 0u);
    EXPECT_EQ(c.deep_overhead_budget, 0.02);
    EXPECT_TRUE(c.escalation.enabled);
    EXPECT_EQ(c.escalation.threshold, 0.8);
    EXPECT_EQ(c.escalation.duration, 2min);
    EXPECT_EQ(c.escalation.cooldown, 1h);
    EXPECT_EQ(c.escalation.max_concurrent, 1u);
    EXPECT_TRUE(c.escalation.selector == Config::Selector{});
    EXPECT_EQ(c.escalation.profile_dir, "/var/lib/memsight/profiles");
    EXPECT_EQ(c.escalation.retention_max_files, 50u);
    EXPECT_EQ(c.escalation.retention_max_age, 168h);
    expect_same(c, Config{});
}

TEST(ConfigDefaults, Staging)
{
    Config expected;
    expected.profile = Profile::Staging;
    expected.interval = 5s;
    expected.top_processes_by_rss = 30;
    expected.top_processes_by_growth = 10;
    expected.growth_window = 5min;
    expected.deep_overhead_budget = 0.05;
    expected.escalation.threshold = 0.7;
    expected.escalation.cooldown = 30min;
    expected.escalation.max_concurrent = 2;
    expect_same(defaults_for(Profile::Staging), expected);
}

TEST(ConfigDefaults, Dev)
{
    Config expected;
    expected.profile = Profile::Dev;
    expected.interval = 2s;
    expected.top_processes_by_rss = 50;
    expected.top_processes_by_growth = 20;
    expected.growth_window = 2min;
    expected.exit_peaks_window = 1min;
    expected.growth_site_processes = 10;
    expected.growth_site_containers = 10;
    expected.log_level = "info";
    expected.deep_overhead_budget = 0.10;
    expected.escalation.threshold = 0.5;
    expected.escalation.duration = 1min;
    expected.escalation.cooldown = 10min;
    expected.escalation.max_concurrent = 2;
    expected.escalation.retention_max_files = 20;
    expected.escalation.retention_max_age = 24h;
    expect_same(defaults_for(Profile::Dev), expected);
}

TEST(ConfigDefaults, EveryProfileIsValid)
{
    for (Profile p : {Profile::Dev, Profile::Staging, Profile::Prod})
        EXPECT_NO_THROW(validate(defaults_for(p))) << profile_name(p);
}

TEST(ConfigProfile, NamesRoundTrip)
{
    for (Profile p : {Profile::Dev, Profile::Staging, Profile::Prod})
        EXPECT_EQ(parse_profile(profile_name(p)), p);
    EXPECT_EQ(profile_name(Profile::Dev), "dev");
    EXPECT_EQ(profile_name(Profile::Staging), "staging");
    EXPECT_EQ(profile_name(Profile::Prod), "prod");
}

TEST(ConfigProfile, UnknownNameThrows)
{
    EXPECT_THROW(parse_profile("production"), ConfigError);
    EXPECT_THROW(parse_profile("Prod"), ConfigError);
    EXPECT_THROW(parse_profile(""), ConfigError);
    try {
        parse_profile("qa");
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "unknown profile 'qa' (expected dev, staging or prod)");
    }
}

// ---------------------------------------------------------------- loading

TEST(ConfigLoad, EmptyTextGivesProdDefaults)
{
    expect_same(load(""), defaults_for(Profile::Prod));
    expect_same(load("# nothing but a comment\n\n"), defaults_for(Profile::Prod));
    expect_same(load("---\n"), defaults_for(Profile::Prod));
    expect_same(load("~\n"), defaults_for(Profile::Prod));
}

TEST(ConfigLoad, ProfileSelectsDefaults)
{
    expect_same(load("profile: dev\n"), defaults_for(Profile::Dev));
    expect_same(load("profile: staging\n"), defaults_for(Profile::Staging));
    expect_same(load("profile: prod\n"), defaults_for(Profile::Prod));
}

TEST(ConfigLoad, ProfileAfterOtherKeysIsAppliedFirst)
{
    const Config c = load("interval: 3s\n"
                          "processes:\n"
                          "  top_by_rss: 7\n"
                          "profile: dev\n");
    Config expected = defaults_for(Profile::Dev);
    expected.interval = 3s;
    expected.top_processes_by_rss = 7;
    expect_same(c, expected);
}

TEST(ConfigLoad, ProfileKeepsItsOtherDefaults)
{
    const Config c = load("profile: staging\nlog_level: debug\n");
    EXPECT_EQ(c.profile, Profile::Staging);
    EXPECT_EQ(c.interval, 5s);
    EXPECT_EQ(c.top_processes_by_rss, 30u);
    EXPECT_EQ(c.log_level, "debug");
}

TEST(ConfigLoad, EveryKeyOverrides)
{
    const Config c = load(R"(profile: staging
listen: "127.0.0.2:9100"
metrics_path: /m
interval: 1m30s
log_level: warn
processes:
  top_by_rss: 0
  top_by_growth: 10000
  growth_window: 2h
exit_peaks:
  top: 1000
  window: 1s
oom:
  max_series: 1
kernel:
  ringbuf_bytes: 4096
  page_faults:
    enabled: false
    sample_period: 10007
)");
    EXPECT_EQ(c.profile, Profile::Staging);
    EXPECT_EQ(c.listen, "127.0.0.2:9100");
    EXPECT_EQ(c.metrics_path, "/m");
    EXPECT_EQ(c.interval, 90s);
    EXPECT_EQ(c.log_level, "warn");
    EXPECT_EQ(c.top_processes_by_rss, 0u);
    EXPECT_EQ(c.top_processes_by_growth, 10000u);
    EXPECT_EQ(c.growth_window, 2h);
    EXPECT_EQ(c.exit_peaks_top, 1000u);
    EXPECT_EQ(c.exit_peaks_window, 1s);
    EXPECT_EQ(c.max_oom_series, 1u);
    EXPECT_EQ(c.ringbuf_bytes, 4096u);
    EXPECT_FALSE(c.page_faults_enabled);
    EXPECT_EQ(c.page_fault_sample_period, 10007u);
}

// Each key alone changes exactly its field.
TEST(ConfigLoad, EachKeyAloneOverridesOnlyItsField)
{
    struct Case {
        const char* yaml;
        void (*apply)(Config&);
    };
    const Case cases[] = {
        {"listen: 0.0.0.0:9100\n", [](Config& c) { c.listen = "0.0.0.0:9100"; }},
        {"metrics_path: /x/metrics\n", [](Config& c) { c.metrics_path = "/x/metrics"; }},
        {"interval: 250ms\n", [](Config& c) { c.interval = 250ms; }},
        {"log_level: trace\n", [](Config& c) { c.log_level = "trace"; }},
        {"processes:\n  top_by_rss: 3\n", [](Config& c) { c.top_processes_by_rss = 3; }},
        {"processes:\n  top_by_growth: 4\n", [](Config& c) { c.top_processes_by_growth = 4; }},
        {"processes:\n  growth_window: 1h\n", [](Config& c) { c.growth_window = 1h; }},
        {"exit_peaks:\n  top: 5\n", [](Config& c) { c.exit_peaks_top = 5; }},
        {"exit_peaks:\n  window: 30s\n", [](Config& c) { c.exit_peaks_window = 30s; }},
        {"oom:\n  max_series: 100000\n", [](Config& c) { c.max_oom_series = 100000; }},
        {"kernel:\n  ringbuf_bytes: 1073741824\n", [](Config& c) { c.ringbuf_bytes = 1u << 30; }},
        {"kernel:\n  page_faults:\n    enabled: false\n", [](Config& c) { c.page_faults_enabled = false; }},
        {"kernel:\n  page_faults:\n    sample_period: 1000000000\n",
         [](Config& c) { c.page_fault_sample_period = 1000000000; }},
    };
    for (const Case& k : cases) {
        SCOPED_TRACE(k.yaml);
        Config expected = defaults_for(Profile::Prod);
        k.apply(expected);
        expect_same(load(k.yaml), expected);
    }
}

TEST(ConfigLoad, EmptySectionsAreAccepted)
{
    expect_same(load("processes:\nexit_peaks:\noom:\nkernel:\n  page_faults:\n"), defaults_for(Profile::Prod));
}

TEST(ConfigLoad, FlowStyleQuotesAndCommentsAreAccepted)
{
    const Config c = load("processes: {top_by_rss: 8, growth_window: '10m'}  # comment\n"
                          "interval: \"5s\"\n");
    EXPECT_EQ(c.top_processes_by_rss, 8u);
    EXPECT_EQ(c.growth_window, 10min);
    EXPECT_EQ(c.interval, 5s);
}

TEST(ConfigLoad, BooleanSpellings)
{
    EXPECT_TRUE(load("kernel: {page_faults: {enabled: true}}").page_faults_enabled);
    EXPECT_TRUE(load("kernel: {page_faults: {enabled: yes}}").page_faults_enabled);
    EXPECT_FALSE(load("kernel: {page_faults: {enabled: off}}").page_faults_enabled);
    EXPECT_FALSE(load("kernel: {page_faults: {enabled: False}}").page_faults_enabled);
}

TEST(ConfigLoad, ListenForms)
{
    EXPECT_EQ(load("listen: localhost:1\n").listen, "localhost:1");
    EXPECT_EQ(load("listen: 0.0.0.0:65535\n").listen, "0.0.0.0:65535");
    // Any name that resolves: this machine's own.
    char host[256] = {};
    ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
    EXPECT_EQ(load("listen: " + std::string(host) + ":9756\n").listen, std::string(host) + ":9756");
    if (memsight::util::http_server_has_ipv6())
        EXPECT_EQ(load("listen: '[::]:65535'\n").listen, "[::]:65535");
}

// One behaviour for names: resolved when the config is checked, refused there when they do not resolve
// (".invalid" never does, RFC 2606), not accepted and then failing at bind.
TEST(ConfigErrors, ListenNameThatDoesNotResolve)
{
    const std::string e = error_of("listen: my-node.invalid:9756\n");
    EXPECT_EQ(
        e.rfind("memsight.yaml:1: listen: host 'my-node.invalid' in 'my-node.invalid:9756' does not resolve (", 0), 0u)
        << e;
    EXPECT_NE(e.find("give an IP address, or a name in /etc/hosts or DNS"), std::string::npos) << e;
}

TEST(ConfigErrors, ListenIpv6NeedsAnIpv6Server)
{
    if (memsight::util::http_server_has_ipv6())
        EXPECT_EQ(load("listen: '[::1]:9756'\n").listen, "[::1]:9756");
    else
        EXPECT_EQ(error_of("listen: '[::1]:9756'\n"),
                  "memsight.yaml:1: listen: '[::1]:9756' is IPv6 only, and this build's HTTP server (civetweb built "
                  "without IPv6, as Debian ships it) listens on IPv4 addresses only");
}

TEST(ConfigLoad, GrowthWindowEqualToIntervalIsAccepted)
{
    const Config c = load("interval: 1m\nprocesses:\n  growth_window: 1m\n");
    EXPECT_EQ(c.growth_window, c.interval);
}

// ---------------------------------------------------------------- errors: exact line and message

TEST(ConfigErrors, UnknownTopLevelKey)
{
    EXPECT_EQ(error_of("profile: prod\n"
                       "\n"
                       "# comment\n"
                       "listen: 127.0.0.1:9756\n"
                       "metrics_path: /metrics\n"
                       "log_level: info\n"
                       "intervall: 10s\n"),
              "memsight.yaml:7: unknown key 'intervall' (known: profile, listen, metrics_path, web_config, interval, "
              "log_level, "
              "processes, exit_peaks, growth_sites, oom, kernel, deep, escalation)");
}

TEST(ConfigErrors, UnknownNestedKey)
{
    EXPECT_EQ(error_of("processes:\n  top_by_rss: 5\n  top_rss: 5\n"),
              "memsight.yaml:3: unknown key 'top_rss' in processes (known: top_by_rss, top_by_growth, growth_window)");
    EXPECT_EQ(error_of("kernel:\n  page_faults:\n    enable: true\n"),
              "memsight.yaml:3: unknown key 'enable' in kernel.page_faults (known: enabled, sample_period, stack_window)");
    EXPECT_EQ(error_of("exit_peaks:\n  size: 1\n"),
              "memsight.yaml:2: unknown key 'size' in exit_peaks (known: top, window)");
    EXPECT_EQ(error_of("oom:\n\n  series: 1\n"), "memsight.yaml:3: unknown key 'series' in oom (known: max_series, "
                                                 "forensics_dir, forensics_max_files, forensics_max_age)");
}

TEST(ConfigErrors, UnknownKeyReportedEvenBeforeProfile)
{
    EXPECT_EQ(error_of("bogus: 1\nprofile: dev\n").rfind("memsight.yaml:1: unknown key 'bogus'", 0), 0u);
}

TEST(ConfigErrors, DuplicateKey)
{
    EXPECT_EQ(error_of("interval: 10s\nlog_level: info\ninterval: 5s\n"),
              "memsight.yaml:3: duplicate key 'interval' (first set on line 1)");
    EXPECT_EQ(error_of("processes:\n  top_by_rss: 1\n  top_by_rss: 2\n"),
              "memsight.yaml:3: duplicate key 'processes.top_by_rss' (first set on line 2)");
}

TEST(ConfigErrors, BadDuration)
{
    EXPECT_EQ(error_of("profile: prod\nlisten: 127.0.0.1:9756\ninterval: ten\n"),
              "memsight.yaml:3: interval: expected a duration like 10s, got 'ten'");
    EXPECT_EQ(error_of("interval: 10\n"), "memsight.yaml:1: interval: expected a duration like 10s, got '10'");
    EXPECT_EQ(error_of("processes:\n  growth_window: 5y\n"),
              "memsight.yaml:2: processes.growth_window: expected a duration like 10s, got '5y'");
    // Days are a unit (d, w), so 5d is a duration, out of this key's range.
    EXPECT_EQ(error_of("processes:\n  growth_window: 5d\n"),
              "memsight.yaml:2: processes.growth_window: must be between 100ms and 24h, got 120h");
    EXPECT_EQ(error_of("exit_peaks:\n  window: -1m\n"),
              "memsight.yaml:2: exit_peaks.window: expected a duration like 10s, got '-1m'");
}

TEST(ConfigErrors, DurationOutOfRange)
{
    EXPECT_EQ(error_of("interval: 50ms\n"), "memsight.yaml:1: interval: must be between 100ms and 1h, got 50ms");
    EXPECT_EQ(error_of("interval: 61m\n"), "memsight.yaml:1: interval: must be between 100ms and 1h, got 1h1m");
    EXPECT_EQ(error_of("exit_peaks:\n  window: 500ms\n"),
              "memsight.yaml:2: exit_peaks.window: must be between 1s and 24h, got 500ms");
    EXPECT_EQ(error_of("processes:\n  growth_window: 25h\n"),
              "memsight.yaml:2: processes.growth_window: must be between 100ms and 24h, got 25h");
}

TEST(ConfigErrors, GrowthWindowShorterThanInterval)
{
    // Blamed on growth_window when the file sets it...
    EXPECT_EQ(error_of("interval: 1m\nprocesses:\n  growth_window: 30s\n"),
              "memsight.yaml:3: processes.growth_window: must be at least interval (1m), got 30s");
    // ...on interval when growth_window comes from the profile.
    EXPECT_EQ(error_of("profile: dev\nlog_level: info\ninterval: 3m\n"),
              "memsight.yaml:3: interval: must not exceed processes.growth_window (2m), got 3m");
}

TEST(ConfigErrors, IntegerOutOfRange)
{
    EXPECT_EQ(error_of("profile: prod\n\nprocesses:\n  top_by_rss: 20000\n"),
              "memsight.yaml:4: processes.top_by_rss: must be between 0 and 10000, got 20000");
    EXPECT_EQ(error_of("processes:\n  top_by_growth: -1\n"),
              "memsight.yaml:2: processes.top_by_growth: must be between 0 and 10000, got -1");
    EXPECT_EQ(error_of("exit_peaks:\n  top: 1001\n"),
              "memsight.yaml:2: exit_peaks.top: must be between 0 and 1000, got 1001");
    EXPECT_EQ(error_of("oom:\n  max_series: 0\n"),
              "memsight.yaml:2: oom.max_series: must be between 1 and 100000, got 0");
    EXPECT_EQ(error_of("oom:\n  max_series: 99999999999999999999999\n"),
              "memsight.yaml:2: oom.max_series: must be between 1 and 100000, got 99999999999999999999999");
    EXPECT_EQ(error_of("kernel:\n  page_faults:\n    sample_period: 1000000001\n"),
              "memsight.yaml:3: kernel.page_faults.sample_period: must be between 0 and 1000000000, got 1000000001");
}

TEST(ConfigErrors, NotAnInteger)
{
    EXPECT_EQ(error_of("processes:\n  top_by_rss: many\n"),
              "memsight.yaml:2: processes.top_by_rss: expected an integer, got 'many'");
    EXPECT_EQ(error_of("processes:\n  top_by_rss: 2.5\n"),
              "memsight.yaml:2: processes.top_by_rss: expected an integer, got '2.5'");
    EXPECT_EQ(error_of("oom:\n  max_series: [1]\n"),
              "memsight.yaml:2: oom.max_series: expected an integer, got a list");
    EXPECT_EQ(error_of("oom:\n  max_series:\n"),
              "memsight.yaml:2: oom.max_series: expected an integer, got an empty value");
}

TEST(ConfigErrors, RingbufBytes)
{
    const std::string range = "must be a power of two between 4096 and 1073741824, got ";
    EXPECT_EQ(error_of("kernel:\n  ringbuf_bytes: 1000000\n"),
              "memsight.yaml:2: kernel.ringbuf_bytes: " + range + "1000000");
    EXPECT_EQ(error_of("kernel:\n  ringbuf_bytes: 2048\n"), "memsight.yaml:2: kernel.ringbuf_bytes: " + range + "2048");
    EXPECT_EQ(error_of("kernel:\n  ringbuf_bytes: 2147483648\n"),
              "memsight.yaml:2: kernel.ringbuf_bytes: " + range + "2147483648");
    EXPECT_EQ(error_of("kernel:\n  ringbuf_bytes: 0\n"), "memsight.yaml:2: kernel.ringbuf_bytes: " + range + "0");
    EXPECT_EQ(error_of("kernel:\n  ringbuf_bytes: -4096\n"),
              "memsight.yaml:2: kernel.ringbuf_bytes: " + range + "-4096");
}

TEST(ConfigErrors, Listen)
{
    EXPECT_EQ(
        error_of("listen: :9756\n"),
        "memsight.yaml:1: listen: host part is empty in ':9756' (use 0.0.0.0:PORT to listen on every IPv4 address)");
    EXPECT_EQ(
        error_of("listen: 127.0.0.1\n"),
        "memsight.yaml:1: listen: must be ADDR:PORT like 127.0.0.1:9756, [::1]:9756 or HOSTNAME:9756, got '127.0.0.1'");
    EXPECT_EQ(error_of("listen: 127.0.0.1:0\n"),
              "memsight.yaml:1: listen: port must be a number between 1 and 65535, got '0' in '127.0.0.1:0'");
    EXPECT_EQ(error_of("listen: 127.0.0.1:65536\n"),
              "memsight.yaml:1: listen: port must be a number between 1 and 65535, got '65536' in '127.0.0.1:65536'");
    EXPECT_EQ(error_of("listen: 'host:'\n"),
              "memsight.yaml:1: listen: port must be a number between 1 and 65535, got '' in 'host:'");
    EXPECT_EQ(error_of("listen: '::1:9756'\n"),
              "memsight.yaml:1: listen: IPv6 addresses must be in brackets, like [::1]:9756, got '::1:9756'");
    EXPECT_EQ(error_of("listen: '[]:9756'\n"), "memsight.yaml:1: listen: host part is empty in '[]:9756'");
    EXPECT_EQ(error_of("listen: '[zz]:9756'\n"), "memsight.yaml:1: listen: invalid IPv6 address 'zz' in '[zz]:9756'");
    EXPECT_EQ(
        error_of("listen: '[::1]9756'\n"),
        "memsight.yaml:1: listen: must be ADDR:PORT like 127.0.0.1:9756, [::1]:9756 or HOSTNAME:9756, got '[::1]9756'");
    EXPECT_EQ(error_of("listen: 300.1.1.1:80\n"),
              "memsight.yaml:1: listen: invalid IPv4 address '300.1.1.1' in '300.1.1.1:80'");
    EXPECT_EQ(error_of("listen: 'a b:80'\n"), "memsight.yaml:1: listen: invalid host 'a b' in 'a b:80'");
}

TEST(ConfigErrors, MetricsPath)
{
    EXPECT_EQ(error_of("metrics_path: metrics\n"), "memsight.yaml:1: metrics_path: must start with '/', got 'metrics'");
    EXPECT_EQ(error_of("metrics_path: ''\n"), "memsight.yaml:1: metrics_path: must start with '/', got ''");
    EXPECT_EQ(error_of("metrics_path: '/a b'\n"),
              "memsight.yaml:1: metrics_path: must not contain spaces or control characters, got '/a b'");
}

TEST(ConfigErrors, LogLevelAndProfile)
{
    EXPECT_EQ(error_of("log_level: verbose\n"),
              "memsight.yaml:1: log_level: must be one of trace, debug, info, warn, error, off, got 'verbose'");
    EXPECT_EQ(error_of("interval: 10s\nprofile: production\n"),
              "memsight.yaml:2: profile: must be one of dev, staging, prod, got 'production'");
    EXPECT_EQ(error_of("profile:\n  name: dev\n"),
              "memsight.yaml:2: profile: expected dev, staging or prod, got a map");
}

TEST(ConfigErrors, Boolean)
{
    EXPECT_EQ(error_of("kernel:\n  page_faults:\n    enabled: maybe\n"),
              "memsight.yaml:3: kernel.page_faults.enabled: expected true or false, got 'maybe'");
}

TEST(ConfigErrors, WrongShapes)
{
    EXPECT_EQ(error_of("processes: 20\n"),
              "memsight.yaml:1: processes: expected a map of top_by_rss, top_by_growth, growth_window, got '20'");
    EXPECT_EQ(error_of("kernel:\n  page_faults: true\n"),
              "memsight.yaml:2: kernel.page_faults: expected a map of enabled, sample_period, stack_window, got 'true'");
    EXPECT_EQ(error_of("interval:\n  - 10s\n"), "memsight.yaml:2: interval: expected a duration like 10s, got a list");
    EXPECT_EQ(error_of("log_level:\n"), "memsight.yaml:1: log_level: expected a log level, got an empty value");
    EXPECT_EQ(error_of("? [a, b]\n: 1\n"), "memsight.yaml:1: keys must be plain names, got a list");
}

TEST(ConfigErrors, TopLevelNotAMap)
{
    EXPECT_EQ(error_of("- interval: 10s\n"),
              "memsight.yaml:1: expected a map of settings at the top level, got a list");
    EXPECT_EQ(error_of("\n\nhello\n"), "memsight.yaml:3: expected a map of settings at the top level, got 'hello'");
}

TEST(ConfigErrors, MalformedYaml)
{
    EXPECT_EQ(error_of("interval: 10s\nprocesses: [1, 2\n"),
              "memsight.yaml:2: invalid YAML: end of sequence flow not found");
    EXPECT_EQ(error_of("a: 1\n b: 2\n"), "memsight.yaml:2: invalid YAML: illegal map value");
    EXPECT_EQ(error_of("interval: 10s\n\tlog_level: info\n"),
              "memsight.yaml:2: invalid YAML: illegal tab when looking for indentation");
    EXPECT_EQ(error_of("interval: *x\n"), "memsight.yaml:1: invalid YAML: the referenced anchor is not defined");
}

TEST(ConfigErrors, MoreThanOneDocument)
{
    EXPECT_EQ(error_of("interval: 10s\n---\ninterval: 5s\n"),
              "memsight.yaml:3: more than one YAML document; expected a single map of settings");
}

TEST(ConfigErrors, AreOneLineAndNameTheSource)
{
    const std::string bad[] = {"intervall: 1s\n", "interval: ten\n", "x: [\n", "- 1\n",
                               "processes:\n  top_by_rss: -3\n"};
    for (const std::string& text : bad) {
        try {
            load_yaml(text, "/etc/memsight/memsight.yaml");
            ADD_FAILURE() << "no error for " << text;
        } catch (const ConfigError& e) {
            const std::string msg = e.what();
            EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
            EXPECT_EQ(msg.rfind("/etc/memsight/memsight.yaml:", 0), 0u) << msg;
        }
    }
}

// ---------------------------------------------------------------- durations

TEST(ConfigDuration, Valid)
{
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("10s"), 10s);
    EXPECT_EQ(parse_duration("5m"), 5min);
    EXPECT_EQ(parse_duration("1h"), 1h);
    EXPECT_EQ(parse_duration("1h30m"), 90min);
    EXPECT_EQ(parse_duration("1m30s500ms"), 90500ms);
    EXPECT_EQ(parse_duration("0s"), 0ms);
    EXPECT_EQ(parse_duration("0010s"), 10s);
    EXPECT_EQ(parse_duration("90s"), 90s);
    // Days and weeks, for report periods (memsight report --since 7d).
    EXPECT_EQ(parse_duration("1d"), 24h);
    EXPECT_EQ(parse_duration("7d"), parse_duration("1w"));
    EXPECT_EQ(parse_duration("1w"), 168h);
    EXPECT_EQ(parse_duration("1d12h"), 36h);
    EXPECT_EQ(parse_duration("2562047788015h"), Duration{2562047788015LL * 3600000LL});
}

TEST(ConfigDuration, Invalid)
{
    const char* bad[] = {"",
                         "10",
                         "-5s",
                         "s",
                         "10y",
                         "1.5s",
                         "10 s",
                         " 10s",
                         "10s ",
                         "+1s",
                         "1S",
                         "1us",
                         "h1",
                         "1h30",
                         "ms",
                         "99999999999999999999s",
                         "2562047788016h",
                         "9223372036854775807ms1ms"};
    for (const char* s : bad)
        EXPECT_THROW(parse_duration(s), ConfigError) << "'" << s << "'";
}

TEST(ConfigDuration, Messages)
{
    const auto msg = [](std::string_view s) -> std::string {
        try {
            parse_duration(s);
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_EQ(msg(""), "empty duration (expected e.g. 10s, 250ms or 1h30m)");
    EXPECT_EQ(msg("-5s"), "invalid duration '-5s': must not be negative");
    EXPECT_EQ(msg("10"), "invalid duration '10': missing unit after 10 (use ms, s, m, h, d or w)");
    EXPECT_EQ(msg("10y"), "invalid duration '10y': unknown unit 'y' (use ms, s, m, h, d or w)");
    EXPECT_EQ(msg("10M"), "invalid duration '10M': unexpected 'M' (use whole numbers with a unit, like 1s500ms)");
    EXPECT_EQ(msg("s"), "invalid duration 's': expected a number before 's'");
    EXPECT_EQ(msg("1.5s"), "invalid duration '1.5s': unexpected '.' (use whole numbers with a unit, like 1s500ms)");
    EXPECT_EQ(msg("99999999999999999999s"), "invalid duration '99999999999999999999s': too large");
}

TEST(ConfigDuration, FormatRoundTrips)
{
    EXPECT_EQ(format_duration(0ms), "0s");
    EXPECT_EQ(format_duration(250ms), "250ms");
    EXPECT_EQ(format_duration(10s), "10s");
    EXPECT_EQ(format_duration(90min), "1h30m");
    EXPECT_EQ(format_duration(1500ms), "1s500ms");
    EXPECT_EQ(format_duration(48h), "48h");
    for (Duration d : {Duration{1}, Duration{999}, Duration{3600001}, Duration{86399999}})
        EXPECT_EQ(parse_duration(format_duration(d)), d);
}

// ---------------------------------------------------------------- embedded default file

TEST(ConfigEmbedded, EqualsProdDefaults)
{
    expect_same(load_yaml(embedded_default_yaml(), "<embedded>"), defaults_for(Profile::Prod));
}

TEST(ConfigEmbedded, SetsEveryKeyExplicitly)
{
    const YAML::Node n = YAML::Load(std::string(embedded_default_yaml()));
    const char* top[] = {"profile", "listen", "metrics_path", "interval", "log_level"};
    for (const char* k : top)
        EXPECT_TRUE(n[k].IsScalar()) << k;
    EXPECT_TRUE(n["processes"]["top_by_rss"].IsScalar());
    EXPECT_TRUE(n["processes"]["top_by_growth"].IsScalar());
    EXPECT_TRUE(n["processes"]["growth_window"].IsScalar());
    EXPECT_TRUE(n["exit_peaks"]["top"].IsScalar());
    EXPECT_TRUE(n["exit_peaks"]["window"].IsScalar());
    EXPECT_TRUE(n["oom"]["max_series"].IsScalar());
    EXPECT_TRUE(n["kernel"]["ringbuf_bytes"].IsScalar());
    EXPECT_TRUE(n["kernel"]["page_faults"]["enabled"].IsScalar());
    EXPECT_TRUE(n["kernel"]["page_faults"]["sample_period"].IsScalar());
    EXPECT_TRUE(n["deep"]["sample_bytes"].IsScalar());
    EXPECT_TRUE(n["deep"]["top_sites"].IsScalar());
    EXPECT_TRUE(n["deep"]["max_duration"].IsScalar());
    EXPECT_TRUE(n["deep"]["overhead_budget"].IsScalar());
    for (const char* k : {"enabled", "threshold", "duration", "cooldown", "max_concurrent", "profile_dir"})
        EXPECT_TRUE(n["escalation"][k].IsScalar()) << k;
    for (const char* k : {"include_comm", "exclude_comm", "include_cgroup", "exclude_cgroup"})
        EXPECT_TRUE(n["escalation"]["selector"][k].IsSequence()) << k;
    EXPECT_TRUE(n["escalation"]["retention"]["max_files"].IsScalar());
    EXPECT_TRUE(n["escalation"]["retention"]["max_age"].IsScalar());
    EXPECT_EQ(n["profile"].Scalar(), "prod");
}

TEST(ConfigDeep, KeysOverrideAndAreRangeChecked)
{
    const Config c = load_yaml("deep:\n  sample_bytes: 1\n  top_sites: 3\n  max_duration: 30s\n", "d.yaml");
    EXPECT_EQ(c.deep_sample_bytes, 1u);
    EXPECT_EQ(c.deep_top_sites, 3u);
    EXPECT_EQ(c.deep_max_duration, std::chrono::seconds(30));
    try {
        load_yaml("deep:\n  top_sites: 0\n", "d.yaml");
        FAIL() << "top_sites 0 accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("d.yaml:2: deep.top_sites: ", 0), 0u) << e.what();
    }
    try {
        load_yaml("deep:\n  budget: 2\n", "d.yaml");
        FAIL() << "unknown key accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("d.yaml:2: unknown key 'budget' in deep", 0), 0u) << e.what();
    }
}

TEST(ConfigDeep, OverheadBudgetAsFractionOrPercentage)
{
    EXPECT_EQ(load("deep:\n  overhead_budget: 0.05\n").deep_overhead_budget, 0.05);
    EXPECT_EQ(load("deep:\n  overhead_budget: 5%\n").deep_overhead_budget, 0.05);
    EXPECT_EQ(load("deep:\n  overhead_budget: 0.5%\n").deep_overhead_budget, 0.005);
    EXPECT_EQ(load("deep:\n  overhead_budget: 0\n").deep_overhead_budget, 0.0);
    EXPECT_EQ(load("deep:\n  overhead_budget: 100%\n").deep_overhead_budget, 1.0);
    EXPECT_EQ(error_of("deep:\n  overhead_budget: 2\n"),
              "memsight.yaml:2: deep.overhead_budget: must be between 0 and 1 (0% and 100%; 0 = no limit), got 2");
    EXPECT_EQ(error_of("deep:\n  overhead_budget: -1%\n"),
              "memsight.yaml:2: deep.overhead_budget: must be between 0 and 1 (0% and 100%; 0 = no limit), got "
              "-0.01");
    EXPECT_EQ(error_of("deep:\n  overhead_budget: lots\n"),
              "memsight.yaml:2: deep.overhead_budget: expected a fraction like 0.02 or a percentage like 2%, got "
              "'lots'");
    EXPECT_EQ(error_of("deep:\n  overhead_budget: 2 %\n"),
              "memsight.yaml:2: deep.overhead_budget: expected a fraction like 0.02 or a percentage like 2%, got "
              "'2 %'");
}

TEST(ConfigRatio, ParseAndFormatRoundTrip)
{
    using memsight::config::format_ratio;
    using memsight::config::parse_ratio;
    EXPECT_EQ(parse_ratio("0.02"), 0.02);
    EXPECT_EQ(parse_ratio("2%"), 0.02);
    EXPECT_EQ(parse_ratio("12.5%"), 0.125);
    EXPECT_THROW(parse_ratio(""), ConfigError);
    EXPECT_THROW(parse_ratio("%"), ConfigError);
    EXPECT_THROW(parse_ratio("1e-2"), ConfigError);
    EXPECT_THROW(parse_ratio("nan"), ConfigError);
    EXPECT_THROW(parse_ratio("0x1"), ConfigError);
    EXPECT_EQ(format_ratio(0.02), "2%");
    EXPECT_EQ(format_ratio(0.005), "0.5%");
    EXPECT_EQ(format_ratio(0), "0%");
    for (double r : {0.02, 0.05, 0.1, 0.333, 1.0 / 3, 0.0001})
        EXPECT_EQ(parse_ratio(format_ratio(r)), r) << r;
}

TEST(ConfigEscalation, KeysOverrideTheProfile)
{
    const Config c = load("profile: dev\n"
                          "escalation:\n"
                          "  enabled: false\n"
                          "  threshold: 0.9\n"
                          "  duration: 30s\n"
                          "  cooldown: 2h\n"
                          "  max_concurrent: 3\n"
                          "  selector:\n"
                          "    include_comm: [java, 'python*']\n"
                          "    exclude_comm:\n"
                          "      - postgres\n"
                          "    include_cgroup: [/kubepods, 3f1b0a9c8d7e]\n"
                          "    exclude_cgroup: []\n"
                          "  profile_dir: /tmp/profiles\n"
                          "  retention:\n"
                          "    max_files: 7\n"
                          "    max_age: 1h\n");
    const auto& e = c.escalation;
    EXPECT_FALSE(e.enabled);
    EXPECT_EQ(e.threshold, 0.9);
    EXPECT_EQ(e.duration, 30s);
    EXPECT_EQ(e.cooldown, 2h);
    EXPECT_EQ(e.max_concurrent, 3u);
    EXPECT_EQ(e.selector.include_comm, (std::vector<std::string>{"java", "python*"}));
    EXPECT_EQ(e.selector.exclude_comm, (std::vector<std::string>{"postgres"}));
    EXPECT_EQ(e.selector.include_cgroup, (std::vector<std::string>{"/kubepods", "3f1b0a9c8d7e"}));
    EXPECT_TRUE(e.selector.exclude_cgroup.empty());
    EXPECT_EQ(e.profile_dir, "/tmp/profiles");
    EXPECT_EQ(e.retention_max_files, 7u);
    EXPECT_EQ(e.retention_max_age, 1h);
    EXPECT_EQ(c.deep_overhead_budget, 0.10); // dev's, not overridden
}

TEST(ConfigEscalation, EmptySectionsKeepDefaultsAndEmptyDirMeansNoFiles)
{
    const Config c = load("escalation:\n  selector:\n  retention:\n  profile_dir: \"\"\n");
    Config want;
    want.escalation.profile_dir = "";
    expect_same(c, want);
}

TEST(ConfigEscalation, OneLineErrors)
{
    EXPECT_EQ(error_of("escalation:\n  threshold: 0\n"),
              "memsight.yaml:2: escalation.threshold: must be greater than 0 and at most 1, got 0");
    EXPECT_EQ(error_of("escalation:\n  threshold: 1.5\n"),
              "memsight.yaml:2: escalation.threshold: must be greater than 0 and at most 1, got 1.5");
    EXPECT_EQ(error_of("escalation:\n  threshold: high\n"),
              "memsight.yaml:2: escalation.threshold: expected a number like 0.8, got 'high'");
    EXPECT_EQ(error_of("escalation:\n  threshold: 80%\n"),
              "memsight.yaml:2: escalation.threshold: expected a number like 0.8, got '80%'");
    EXPECT_EQ(error_of("escalation:\n  max_concurrent: 0\n"),
              "memsight.yaml:2: escalation.max_concurrent: must be between 1 and 16, got 0");
    EXPECT_EQ(error_of("escalation:\n  cooldown: 0s\n"),
              "memsight.yaml:2: escalation.cooldown: must be between 1s and 168h, got 0s");
    EXPECT_EQ(error_of("escalation:\n  duration: 2d\n"),
              "memsight.yaml:2: escalation.duration: must be between 1s and 24h, got 48h");
    EXPECT_EQ(error_of("escalation:\n  enabled: sometimes\n"),
              "memsight.yaml:2: escalation.enabled: expected true or false, got 'sometimes'");
    EXPECT_EQ(error_of("escalation:\n  profile_dir: profiles\n"),
              "memsight.yaml:2: escalation.profile_dir: must be an absolute path (or empty: write no profiles), got "
              "'profiles'");
    EXPECT_EQ(error_of("escalation:\n  selector:\n    include_comm: java\n"),
              "memsight.yaml:3: escalation.selector.include_comm: expected a list like [a, b], got 'java'");
    EXPECT_EQ(error_of("escalation:\n  selector:\n    exclude_comm:\n      - ok\n      - ''\n"),
              "memsight.yaml:5: escalation.selector.exclude_comm: entries must be non-empty command names or globs "
              "like java or python*");
    EXPECT_EQ(error_of("escalation:\n  selector:\n    include_cgroup: [docker]\n"),
              "memsight.yaml:3: escalation.selector.include_cgroup: entries must be a cgroup path starting with '/' "
              "or a container id of 12 to 64 hex digits, got 'docker'");
    EXPECT_EQ(error_of("escalation:\n  selector:\n    include_cgroup: [[a]]\n"),
              "memsight.yaml:3: escalation.selector.include_cgroup: expected a list of names, got a list in it");
    EXPECT_EQ(error_of("escalation:\n  retention:\n    max_files: 0\n"),
              "memsight.yaml:3: escalation.retention.max_files: must be between 1 and 100000, got 0");
    EXPECT_EQ(error_of("escalation:\n  retention:\n    max_age: 10s\n"),
              "memsight.yaml:3: escalation.retention.max_age: must be between 1m and 8784h, got 10s");
    EXPECT_EQ(error_of("escalation:\n  selector:\n    comm: [a]\n"),
              "memsight.yaml:3: unknown key 'comm' in escalation.selector (known: include_comm, exclude_comm, "
              "include_cgroup, exclude_cgroup)");
    EXPECT_EQ(error_of("escalation: true\n"),
              "memsight.yaml:1: escalation: expected a map of enabled, threshold, duration, cooldown, "
              "max_concurrent, selector, profile_dir, retention, got 'true'");
}

TEST(ConfigEscalation, ValidateChecksBuiltConfigs)
{
    Config c;
    c.escalation.threshold = 0;
    try {
        validate(c);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "escalation.threshold: must be greater than 0 and at most 1, got 0");
    }
    c = Config{};
    c.deep_overhead_budget = 2;
    EXPECT_THROW(validate(c), ConfigError);
    c = Config{};
    c.escalation.selector.include_cgroup = {"abc"};
    EXPECT_THROW(validate(c), ConfigError);
}

TEST(ConfigEmbedded, EveryKeyIsDocumented)
{
    // Each line that sets a key has a comment on the line above it.
    std::istringstream in{std::string(embedded_default_yaml())};
    std::string line;
    std::string previous;
    int keys = 0;
    while (std::getline(in, line)) {
        const size_t first = line.find_first_not_of(' ');
        if (first != std::string::npos && line[first] != '#') {
            ++keys;
            const size_t prev_first = previous.find_first_not_of(' ');
            EXPECT_TRUE(prev_first != std::string::npos && previous[prev_first] == '#') << "undocumented: " << line;
        }
        previous = line;
    }
    // Every setting and every section header (kernel.page_faults, escalation.selector and .retention included).
    EXPECT_EQ(keys, static_cast<int>(memsight::config::key_specs().size() + memsight::config::section_specs().size()));
}

// ---------------------------------------------------------------- files

TEST(ConfigFile, MissingFile)
{
    try {
        load_file("/nonexistent/memsight.yaml");
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "cannot read config /nonexistent/memsight.yaml: No such file or directory");
    }
}

TEST(ConfigFile, Directory)
{
    try {
        load_file("/");
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "cannot read config /: Is a directory");
    }
}

TEST(ConfigFile, LoadsAndNamesThePathInErrors)
{
    char path[] = "/tmp/memsight_config_test_XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    {
        std::ofstream(path) << "profile: dev\ninterval: 3s\n";
    }
    const Config c = load_file(path);
    EXPECT_EQ(c.profile, Profile::Dev);
    EXPECT_EQ(c.interval, 3s);
    {
        std::ofstream(path) << "profile: dev\ninterval: soon\n";
    }
    try {
        load_file(path);
        ADD_FAILURE() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()), std::string(path) + ":2: interval: expected a duration like 10s, got 'soon'");
    }
    std::remove(path);
}

// ---------------------------------------------------------------- validate and flags

TEST(ConfigValidate, ReportsTheKey)
{
    Config c;
    c.ringbuf_bytes = 5000;
    EXPECT_THROW(validate(c), ConfigError);
    c = Config{};
    c.interval = 2h;
    try {
        validate(c);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "interval: must be between 100ms and 1h, got 2h");
    }
    c = Config{};
    c.growth_window = 1s;
    try {
        validate(c);
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "processes.growth_window: must be at least interval (10s), got 1s");
    }
}

TEST(ConfigOverrides, FlagsWin)
{
    Config c = load("profile: dev\nlisten: 127.0.0.1:1\ninterval: 3s\n");
    apply_overrides(c, Overrides{"127.0.0.3:9000", Duration{5000}});
    EXPECT_EQ(c.listen, "127.0.0.3:9000");
    EXPECT_EQ(c.interval, 5s);
    EXPECT_EQ(c.profile, Profile::Dev);
    EXPECT_EQ(c.growth_window, 2min);

    Config unchanged = c;
    apply_overrides(c, Overrides{});
    expect_same(c, unchanged);
}

TEST(ConfigOverrides, BadFlagsThrowAndLeaveConfigUnchanged)
{
    Config c;
    const Config before = c;
    try {
        apply_overrides(c, Overrides{"0.0.0.0:9100", Duration{10}});
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "--interval: must be between 100ms and 1h, got 10ms");
    }
    expect_same(c, before);
    try {
        apply_overrides(c, Overrides{"nohost", std::nullopt});
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(),
                     "--listen: must be ADDR:PORT like 127.0.0.1:9756, [::1]:9756 or HOSTNAME:9756, got 'nohost'");
    }
    try {
        apply_overrides(c, Overrides{std::nullopt, Duration{std::chrono::minutes(10)}});
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "--interval: must not exceed processes.growth_window (5m), got 10m");
    }
    expect_same(c, before);
}

TEST(ConfigOverrides, LogLevelFlagIsCheckedLikeTheKey)
{
    Config c;
    apply_overrides(c, Overrides{std::nullopt, std::nullopt, "debug"});
    EXPECT_EQ(c.log_level, "debug");
    try {
        apply_overrides(c, Overrides{std::nullopt, std::nullopt, "warning"});
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "--log-level: must be one of trace, debug, info, warn, error, off, got 'warning'");
    }
    EXPECT_EQ(c.log_level, "debug");
}

// ---------------------------------------------------------------- the key table (keys.cpp)

using memsight::config::key_specs;
using memsight::config::KeySpec;
using memsight::config::Kind;

// "a.b.c" set to `value` as a YAML file; the value is on line depth + 1.
std::string yaml_setting(std::string_view path, std::string_view value)
{
    std::string out;
    std::string indent;
    for (size_t start = 0;;) {
        const size_t dot = path.find('.', start);
        out += indent + std::string(path.substr(start, dot - start)) + ":";
        if (dot == std::string_view::npos)
            break;
        out += "\n";
        indent += "  ";
        start = dot + 1;
    }
    return out + " " + std::string(value) + "\n";
}

int value_line(std::string_view path)
{
    return 1 + static_cast<int>(std::count(path.begin(), path.end(), '.'));
}

void copy_field(const KeySpec& k, const Config& from, Config& to)
{
    std::visit([&](auto f) { f(to) = f(const_cast<Config&>(from)); }, k.field);
}

std::string validate_error(const Config& c)
{
    try {
        validate(c);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(ConfigTable, EmbeddedFileSetsEveryKeyToItsProdDefault)
{
    const YAML::Node file = YAML::Load(std::string(embedded_default_yaml()));
    for (const KeySpec& k : key_specs()) {
        SCOPED_TRACE(std::string(k.path));
        YAML::Node n = file;
        for (size_t start = 0;;) {
            const size_t dot = k.path.find('.', start);
            n.reset(n[std::string(k.path.substr(start, dot - start))]);
            ASSERT_TRUE(n.IsDefined());
            if (dot == std::string_view::npos)
                break;
            start = dot + 1;
        }
        const YAML::Node want = YAML::Load(std::string(k.defaults.prod));
        ASSERT_EQ(n.Type(), want.Type());
        if (want.IsScalar()) {
            EXPECT_EQ(n.Scalar(), want.Scalar());
        }
    }
}

// Each key read alone changes exactly its own field: set to its dev default over prod, it gives prod with that
// one field as dev has it.
TEST(ConfigTable, EachKeyWritesItsOwnField)
{
    const Config dev = defaults_for(Profile::Dev);
    int checked = 0;
    for (const KeySpec& k : key_specs()) {
        if (k.kind == Kind::Profile || k.defaults.dev == k.defaults.prod)
            continue;
        SCOPED_TRACE(std::string(k.path));
        Config want = defaults_for(Profile::Prod);
        copy_field(k, dev, want);
        EXPECT_FALSE(want == defaults_for(Profile::Prod));
        expect_same(load(yaml_setting(k.path, k.defaults.dev)), want);
        ++checked;
    }
    EXPECT_GE(checked, 10);
}

// validate() checks every key that has limits, and the file loader gives the same message with the file and line.
TEST(ConfigTable, EveryKeyWithLimitsIsValidatedAndLoadedAlike)
{
    for (const KeySpec& k : key_specs()) {
        SCOPED_TRACE(std::string(k.path));
        Config c;
        std::string text; // the same bad value in a file, "" when it cannot be written as one
        switch (k.kind) {
        case Kind::Profile:
        case Kind::Bool:
            continue; // every value of the type is accepted
        case Kind::Choice:
        case Kind::Text:
            std::get<memsight::config::Field<std::string>>(k.field)(c) = "relative x";
            text = "relative x";
            break;
        case Kind::Duration:
            std::get<memsight::config::Field<Duration>>(k.field)(c) = k.max_duration + Duration{1};
            text = format_duration(k.max_duration + Duration{1});
            break;
        case Kind::Count:
        case Kind::PowerOfTwo:
            if (std::holds_alternative<memsight::config::Field<uint32_t>>(k.field))
                std::get<memsight::config::Field<uint32_t>>(k.field)(c) = static_cast<uint32_t>(k.max + 1);
            else
                std::get<memsight::config::Field<uint64_t>>(k.field)(c) = k.max + 1;
            text = std::to_string(k.max + 1);
            break;
        case Kind::Ratio:
        case Kind::Number:
            std::get<memsight::config::Field<double>>(k.field)(c) = 2;
            text = "2";
            break;
        case Kind::List:
            std::get<memsight::config::Field<std::vector<std::string>>>(k.field)(c) = {""};
            text = "['']";
            break;
        }
        const std::string v = validate_error(c);
        EXPECT_EQ(v.rfind(std::string(k.path) + ": ", 0), 0u) << v;
        EXPECT_EQ(error_of(yaml_setting(k.path, text)),
                  "memsight.yaml:" + std::to_string(value_line(k.path)) + ": " + v);
    }
}

TEST(ConfigTable, KnownKeyListsFollowTheTable)
{
    using memsight::config::child_names;
    EXPECT_EQ(child_names("kernel"), (std::vector<std::string_view>{"ringbuf_bytes", "page_faults"}));
    EXPECT_EQ(child_names("escalation.retention"), (std::vector<std::string_view>{"max_files", "max_age"}));
    EXPECT_TRUE(memsight::config::is_section("kernel.page_faults"));
    EXPECT_FALSE(memsight::config::is_section("kernel.page_faults.enabled"));
    EXPECT_FALSE(memsight::config::is_section("kern"));
    EXPECT_EQ(memsight::config::find_key("kern"), nullptr);
}

TEST(ConfigTable, AcceptedValues)
{
    using memsight::config::accepted_values;
    using memsight::config::find_key;
    EXPECT_EQ(accepted_values(*find_key("interval")), "100ms..1h");
    EXPECT_EQ(accepted_values(*find_key("log_level")), "`trace`, `debug`, `info`, `warn`, `error`, `off`");
    EXPECT_EQ(accepted_values(*find_key("kernel.ringbuf_bytes")), "a power of two, 4096..1073741824 (4 KiB..1 GiB)");
    EXPECT_EQ(accepted_values(*find_key("processes.growth_window")), "100ms..24h, and at least `interval`");
    EXPECT_EQ(accepted_values(*find_key("escalation.selector.exclude_comm")),
              "non-empty `fnmatch(3)` globs on the command name; at most 1000 entries");
}

// ---------------------------------------------------------------- docs/configuration.md is generated

// `doc` with the text between the lines "<!-- NAME:begin -->" and "<!-- NAME:end -->" replaced by `body`.
std::string with_region(std::string doc, const std::string& name, const std::string& body)
{
    const std::string begin = "<!-- " + name + ":begin -->\n";
    const std::string end = "<!-- " + name + ":end -->";
    const size_t b = doc.find(begin);
    const size_t e = b == std::string::npos ? b : doc.find(end, b);
    if (b == std::string::npos || e == std::string::npos) {
        ADD_FAILURE() << "docs/configuration.md has no " << begin << "... " << end << " region";
        return doc;
    }
    return doc.replace(b + begin.size(), e - b - begin.size(), body);
}

TEST(ConfigDocs, KeyTableAndDefaultFileAreGeneratedFromTheTable)
{
    const std::string path = std::string(MEMSIGHT_FIXTURES) + "/../../docs/configuration.md";
    std::ifstream in(path);
    ASSERT_TRUE(in) << path;
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string doc = buf.str();
    std::string want = with_region(doc, "keys", memsight::config::render_keys_markdown());
    want = with_region(want, "default-yaml", "```yaml\n" + std::string(embedded_default_yaml()) + "```\n");
    if (want == doc)
        return;
    if (const char* update = std::getenv("MEMSIGHT_UPDATE_DOCS"); update != nullptr && *update != '\0') {
        std::ofstream(path) << want;
        std::printf("rewrote the generated regions of %s\n", path.c_str());
        return;
    }
    char fresh[] = "/tmp/memsight_configuration_md_XXXXXX";
    const int fd = mkstemp(fresh);
    ASSERT_GE(fd, 0);
    close(fd);
    std::ofstream(fresh) << want;
    std::string diff;
    if (FILE* p = popen(("diff -u '" + path + "' " + fresh + " 2>&1").c_str(), "r")) {
        char chunk[4096];
        for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, p)) > 0;)
            diff.append(chunk, n);
        pclose(p);
    }
    std::remove(fresh);
    ADD_FAILURE() << "docs/configuration.md does not match the key table (userspace/config/keys.cpp):\n"
                  << diff
                  << "\nRegenerate it with: MEMSIGHT_UPDATE_DOCS=1 build/tests/memsight_unit_tests "
                     "--gtest_filter='ConfigDocs.*'  (any build directory)";
}

} // namespace
