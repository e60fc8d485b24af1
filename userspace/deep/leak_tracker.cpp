#include "deep/leak_tracker.h"

#include "deep/site_names.h"
#include "procfs/read_file.h"
#include "util/error.h"

#include <algorithm>

namespace memsight::deep {
namespace {

double percentile(std::vector<double> v, double q)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

std::string read_comm(uint32_t tgid)
{
    auto c = procfs::read_file("/proc/" + std::to_string(tgid) + "/comm");
    return c ? c->substr(0, c->find('\n')) : std::string();
}

} // namespace

const std::vector<symbolize::Frame>& LeakTracker::frames_of(uint32_t tgid, uint64_t stack_id)
{
    auto key = std::make_pair(tgid, stack_id);
    if (auto it = frames_.find(key); it != frames_.end())
        return it->second;
    auto [sit, inserted] = symbolizers_.try_emplace(tgid);
    if (inserted) {
        comms_[tgid] = read_comm(tgid); // kept for the report: the process may be gone by then
        try {
            sit->second.emplace(static_cast<pid_t>(tgid));
        } catch (const UserError&) {
            // gone: addresses only
        }
    }
    std::vector<symbolize::Frame> frames;
    const auto ips = session_.stack(tgid, stack_id);
    for (size_t i = 0; i < ips.size(); ++i) {
        // Stacks are taken in return probes: every frame is a return address; look up the call instruction.
        const uint64_t ip = ips[i] - 1;
        if (sit->second) {
            frames.push_back(sit->second->symbolize(ip));
        } else {
            symbolize::Frame f;
            f.offset = ip;
            f.address = ip;
            frames.push_back(f);
        }
    }
    return frames_.emplace(key, std::move(frames)).first->second;
}

void LeakTracker::sample()
{
    last_ = session_.read();
    ++readings_;
    for (const auto& r : last_) {
        frames_of(r.tgid, r.stack_id); // symbolize while the process is alive
        auto& s = series_[{r.tgid, r.stack_id, r.mmap}];
        s.resize(readings_ - 1, 0.0); // a site first seen now was 0 before
        s.push_back(r.live_bytes);
    }
}

bool LeakTracker::is_growing(const std::vector<double>& series, double older_than_min_age)
{
    if (series.size() < 3 || older_than_min_age <= 0)
        return false;
    size_t rises = 0, falls = 0;
    for (size_t i = 1; i < series.size(); ++i) {
        rises += series[i] > series[i - 1] ? 1 : 0;
        falls += series[i] < series[i - 1] ? 1 : 0;
    }
    const size_t steps = series.size() - 1;
    const double peak = *std::max_element(series.begin(), series.end());
    const double net = series.back() - series.front();
    // A leak rises and (almost) never gives memory back; churn and caches go both ways; flat steps (a leak
    // that paused) are neutral.
    return rises * 2 >= steps && falls * 10 <= steps && net >= 4096 && net >= 0.1 * peak;
}

std::vector<SiteReport> LeakTracker::report(double elapsed_s) const
{
    const double min_age_s = std::chrono::duration<double>(min_age_).count();
    std::vector<SiteReport> out;
    for (const auto& r : last_) {
        SiteReport s;
        s.tgid = r.tgid;
        if (auto it = comms_.find(r.tgid); it != comms_.end())
            s.comm = it->second;
        s.mmap = r.mmap;
        s.stack_id = r.stack_id;
        if (auto it = frames_.find({r.tgid, r.stack_id}); it != frames_.end()) {
            s.frames = it->second;
            for (const auto& f : s.frames)
                s.stack.push_back(frame_text(f));
            if (!s.frames.empty())
                s.site = site_name(s.frames);
        }
        if (s.site.empty())
            s.site = r.stack_id == 0 ? "[stack lost]" : "[unknown]";
        s.live_bytes = r.live_bytes;
        s.live_count = r.live_count;
        s.alloc_bytes = r.alloc_bytes;
        s.alloc_count = r.alloc_count;
        s.free_bytes = r.free_bytes;
        s.free_count = r.free_count;
        if (elapsed_s > 0) {
            s.alloc_bytes_per_second = r.alloc_bytes / elapsed_s;
            s.free_bytes_per_second = r.free_bytes / elapsed_s;
        }
        for (size_t i = 0; i < r.ages_s.size(); ++i) {
            if (r.ages_s[i] >= min_age_s)
                s.live_bytes_older_than_min_age += r.mmap ? 0 : r.weights[i];
        }
        if (r.mmap && !r.ages_s.empty() && percentile(r.ages_s, 1.0) >= min_age_s)
            s.live_bytes_older_than_min_age = r.live_bytes; // regions: exact bytes, not per-sample weights
        s.age_p50_s = percentile(r.ages_s, 0.5);
        s.age_p90_s = percentile(r.ages_s, 0.9);
        s.age_max_s = percentile(r.ages_s, 1.0);
        if (auto it = series_.find({r.tgid, r.stack_id, r.mmap}); it != series_.end())
            s.live_series = it->second;
        s.growing = is_growing(s.live_series, s.live_bytes_older_than_min_age);
        out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(),
              [](const SiteReport& a, const SiteReport& b) { return a.live_bytes > b.live_bytes; });
    return out;
}

} // namespace memsight::deep
