#include "export/json.h"

#include <nlohmann/json.hpp>

#include <ctime>

namespace memsight::exporter {

std::string rfc3339(std::chrono::system_clock::time_point t)
{
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(ms % 1000));
    return buf;
}

std::string oom_kill_json(const analysis::OomKill& k)
{
    nlohmann::ordered_json j;
    j["time"] = rfc3339(k.time);
    j["pid"] = k.pid;
    j["comm"] = k.comm;
    j["container_id"] = k.identity.container_id;
    j["pod_uid"] = k.identity.pod_uid;
    j["cgroup"] = k.cgroup;
    j["rss_bytes"] = k.anon_rss + k.file_rss + k.shmem_rss;
    j["anon_rss_bytes"] = k.anon_rss;
    j["file_rss_bytes"] = k.file_rss;
    j["shmem_rss_bytes"] = k.shmem_rss;
    j["total_vm_bytes"] = k.total_vm;
    j["pgtables_bytes"] = k.pgtables;
    j["oom_score_adj"] = k.oom_score_adj;
    j["uid"] = k.uid;
    j["trigger_pid"] = k.trigger_pid;
    j["trigger_comm"] = k.trigger_comm;
    j["attribution"] = k.attribution;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace memsight::exporter
