#include "export/oom_record.h"

#include "export/json.h"
#include "profile/session_profile.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace memsight::exporter {
namespace {

constexpr std::string_view kPrefix = "oom-";
constexpr std::string_view kSuffix = ".json";
constexpr size_t kStamp = 8 + 1 + 6 + 1 + 3 + 1; // 20261129T182001.123Z

nlohmann::ordered_json optional_number(const std::optional<double>& v)
{
    if (!v || !std::isfinite(*v))
        return nullptr;
    return *v;
}

nlohmann::ordered_json optional_bytes(const std::optional<uint64_t>& v)
{
    if (!v)
        return nullptr;
    return *v;
}

bool digits(std::string_view s)
{
    if (s.empty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    return true;
}

} // namespace

std::string oom_record_id(std::chrono::system_clock::time_point time, pid_t pid)
{
    return profile::file_stamp(time) + "Z-" + std::to_string(pid);
}

std::string oom_record_file_name(const std::string& id)
{
    return std::string(kPrefix) + id + std::string(kSuffix);
}

bool is_oom_record_file_name(const std::string& name)
{
    if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix))
        return false;
    const std::string_view id(name.data() + kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
    if (id.size() < kStamp + 2 || id[kStamp] != '-')
        return false;
    if (!profile::is_file_stamp(id.substr(0, kStamp - 1)) || id[kStamp - 1] != 'Z')
        return false;
    return digits(id.substr(kStamp + 1));
}

nlohmann::ordered_json oom_record(const analysis::OomKill& kill, const analysis::VictimContext& victim,
                                  const OomRecordSettings& settings, const std::vector<std::string>& profiles)
{
    using json = nlohmann::ordered_json;
    // The cgroup of the kill's attribution (the victim's exit record: exact), else the one the agent read.
    const std::string& cgroup = kill.cgroup.empty() ? victim.cgroup : kill.cgroup;
    const procfs::ContainerIdentity identity =
        kill.cgroup.empty() ? procfs::identify_container(victim.cgroup) : kill.identity;

    json j;
    j["schema"] = kOomRecordSchema;
    j["id"] = oom_record_id(kill.time, kill.pid);
    j["time"] = rfc3339(kill.time);

    json v;
    v["pid"] = kill.pid;
    v["comm"] = kill.comm.empty() ? victim.comm : kill.comm;
    v["cmdline"] = victim.cmdline;
    v["uid"] = kill.uid;
    v["oom_score_adj"] = kill.oom_score_adj;
    v["container_id"] = identity.container_id;
    v["pod_uid"] = identity.pod_uid;
    v["cgroup"] = cgroup;
    j["victim"] = std::move(v);

    json k;
    k["resident_bytes"] = {{"anon", kill.anon_rss}, {"file", kill.file_rss}, {"shmem", kill.shmem_rss}};
    k["total_vm_bytes"] = kill.total_vm;
    k["pgtables_bytes"] = kill.pgtables;
    k["trigger"] = {{"pid", kill.trigger_pid}, {"comm", kill.trigger_comm}};
    k["memcg"] = {{"limit_bytes", optional_bytes(victim.memcg_limit)},
                  {"usage_bytes", optional_bytes(victim.memcg_usage)},
                  {"usage_time", victim.memcg_usage && victim.memcg_usage_time ? json(rfc3339(*victim.memcg_usage_time))
                                                                               : json(nullptr)}};
    k["attribution"] = kill.attribution;
    j["kill"] = std::move(k);

    json h;
    h["interval_seconds"] = settings.interval_seconds;
    h["window_seconds"] = settings.window_seconds;
    h["readings"] = victim.process.size();
    json process = json::array();
    for (const auto& r : victim.process)
        process.push_back({{"time", rfc3339(r.time)}, {"resident_bytes", r.resident}, {"swap_bytes", r.swap}});
    h["process"] = std::move(process);
    json container = json::array();
    for (const auto& r : victim.container)
        container.push_back(
            {{"time", rfc3339(r.time)}, {"usage_bytes", r.usage}, {"working_set_bytes", r.working_set}});
    h["container"] = std::move(container);
    j["history"] = std::move(h);

    j["before_kill"] = {
        {"growth_bytes_per_second", optional_number(victim.growth_bytes_per_second)},
        {"leak_suspicion", optional_number(victim.leak_suspicion)},
        {"container_growth_bytes_per_second", optional_number(victim.container_growth_bytes_per_second)},
        {"container_leak_suspicion", optional_number(victim.container_leak_suspicion)}};

    json sites = json::array();
    for (const auto& s : victim.growth_sites)
        sites.push_back({{"site", s.site}, {"bytes", static_cast<uint64_t>(std::llround(std::max(0.0, s.bytes)))}});
    j["growth_sites"] = std::move(sites);
    j["profiles"] = profiles;
    return j;
}

std::variant<size_t, std::string> parse_oom_records_query(std::string_view query)
{
    size_t limit = kDefaultOomRecordsLimit;
    while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view param = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (param.empty())
            continue;
        const size_t eq = param.find('=');
        const std::string_view key = param.substr(0, eq);
        if (key != "limit")
            return "unknown query parameter '" + std::string(key) + "' (only limit=N)";
        const std::string_view value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
        size_t n = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n < 1 ||
            n > kMaxOomRecordsLimit)
            return "limit must be a whole number from 1 to " + std::to_string(kMaxOomRecordsLimit) + ", got '" +
                   std::string(value) + "'";
        limit = n;
    }
    return limit;
}

std::string oom_records_body(const std::vector<nlohmann::ordered_json>& records)
{
    nlohmann::ordered_json body;
    body["records"] = nlohmann::ordered_json::array();
    for (const auto& r : records)
        body["records"].push_back(r);
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

} // namespace memsight::exporter
