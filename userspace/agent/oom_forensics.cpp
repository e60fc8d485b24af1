#include "agent/oom_forensics.h"

#include "config/config.h"
#include "export/oom_record_store.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

namespace memsight::agent {
namespace {

// A context whose kill never came (cannot happen with the OOM join, which always emits) is dropped after this.
constexpr auto kContextKeep = std::chrono::minutes(1);

} // namespace

void OomForensics::open()
{
    if (opts_.dir.empty()) {
        spdlog::info("oom: forensic records off (oom.forensics_dir is \"\")");
        return;
    }
    try {
        exporter::prepare_oom_record_dir(opts_.dir);
    } catch (const std::exception& e) {
        spdlog::warn("oom: {}; no forensic records will be written or served (OOM kills are still counted)", e.what());
        return;
    }
    dir_ = opts_.dir;
    const auto removed =
        exporter::apply_oom_record_retention(dir_, opts_.max_files, opts_.max_age, std::chrono::system_clock::now());
    size_t kept = 0;
    try {
        kept = exporter::load_oom_records(dir_, 0).total;
    } catch (const std::exception&) {
    }
    spdlog::info("oom: forensic records in {} ({} kept from before, {} removed by retention: at most {}, none older "
                 "than {})",
                 dir_, kept, removed.size(), opts_.max_files,
                 config::format_duration(std::chrono::duration_cast<config::Duration>(opts_.max_age)));
}

void OomForensics::on_kill(const analysis::OomKill& k)
{
    if (!enabled())
        return;
    std::lock_guard lock(mu_);
    queued_.push_back(k);
}

void OomForensics::on_victim(analysis::VictimContext ctx, analysis::Clock::time_point now)
{
    if (!enabled())
        return;
    const pid_t pid = ctx.pid;
    contexts_[pid] = {std::move(ctx), now};
}

void OomForensics::flush(analysis::Clock::time_point now, const std::function<bool(pid_t)>& traced,
                         const Complete& complete)
{
    if (!enabled())
        return;
    {
        std::lock_guard lock(mu_);
        for (auto& k : queued_)
            waiting_.push_back(std::move(k));
        queued_.clear();
    }
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (traced && traced(it->pid) && now - it->seen < opts_.hold) {
            ++it; // its deep session ends at the next scan (every traced process exited) and writes its profile
            continue;
        }
        analysis::VictimContext ctx;
        ctx.pid = it->pid;
        if (auto c = contexts_.find(it->pid); c != contexts_.end()) {
            ctx = std::move(c->second.first);
            contexts_.erase(c);
        }
        write(*it, std::move(ctx), complete);
        it = waiting_.erase(it);
    }
    std::erase_if(contexts_, [&](const auto& kv) { return now - kv.second.second > kContextKeep; });
}

void OomForensics::write(const analysis::OomKill& kill, analysis::VictimContext ctx, const Complete& complete)
{
    try {
        std::vector<std::string> profiles;
        if (complete)
            profiles = complete(kill, ctx);
        const auto record = exporter::oom_record(kill, ctx, opts_.record, profiles);
        const std::string path = exporter::write_oom_record(dir_, record);
        ++written_;
        spdlog::info("oom: wrote {} (pid {} ({}), {} readings before the kill)", path, kill.pid, kill.comm,
                     ctx.process.size());
        for (const auto& gone : exporter::apply_oom_record_retention(dir_, opts_.max_files, opts_.max_age,
                                                                     std::chrono::system_clock::now()))
            spdlog::debug("oom: retention removed {}/{}", dir_, gone);
    } catch (const std::exception& e) {
        ++failed_;
        // The record is lost for good (the victim is gone): an error, not a warning.
        spdlog::error("oom: no forensic record for pid {} ({}): {}", kill.pid, kill.comm, e.what());
    }
}

} // namespace memsight::agent
