#include "analysis/growth_sites.h"

#include <algorithm>

namespace memsight::analysis {

void GrowthSites::add(pid_t pid, const std::vector<uint64_t>& stack, uint64_t samples, Clock::time_point now)
{
    if (samples == 0)
        return;
    auto& stacks = by_pid_[pid];
    auto it = stacks.find(stack);
    if (it == stacks.end()) {
        const bool full = count_ >= max_stacks_ || stacks.size() >= max_per_process_;
        if (full) {
            folded_ += samples;
            it = stacks.try_emplace(std::vector<uint64_t>{}).first;
        } else {
            it = stacks.emplace(stack, Readings{}).first;
        }
        if (it->second.empty())
            ++count_;
    }
    it->second.emplace_back(now, samples);
}

void GrowthSites::expire(Clock::time_point now, const std::set<pid_t>& live)
{
    for (auto p = by_pid_.begin(); p != by_pid_.end();) {
        auto& stacks = p->second;
        for (auto s = stacks.begin(); s != stacks.end();) {
            auto& r = s->second;
            while (!r.empty() && (!live.contains(p->first) || now - r.front().first > window_))
                r.pop_front();
            if (r.empty()) {
                s = stacks.erase(s);
                --count_;
            } else {
                ++s;
            }
        }
        p = stacks.empty() ? by_pid_.erase(p) : std::next(p);
    }
}

std::vector<GrowthSites::Stack> GrowthSites::stacks_of(pid_t pid) const
{
    std::vector<Stack> out;
    const auto p = by_pid_.find(pid);
    if (p == by_pid_.end())
        return out;
    for (const auto& [ips, readings] : p->second) {
        Stack s{ips, 0};
        for (const auto& [t, n] : readings)
            s.samples += n;
        out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(), [](const Stack& a, const Stack& b) { return a.samples > b.samples; });
    return out;
}

} // namespace memsight::analysis
