#include "symbolize/stack_unwinder.h"

#include "memsight/events.h"

#include <algorithm>

namespace memsight::symbolize {

StackUnwinder::StackUnwinder(UnwinderLimits limits) : limits_(limits), tokens_(limits.opens_per_second) {}

StackUnwinder::~StackUnwinder() = default;

bool StackUnwinder::take_open_token(pid_t tgid, Clock::time_point now)
{
    if (priority_.contains(tgid))
        return true;
    if (refilled_ != Clock::time_point{}) {
        const double seconds = std::chrono::duration<double>(now - refilled_).count();
        tokens_ = std::min(limits_.opens_per_second, tokens_ + seconds * limits_.opens_per_second);
    }
    refilled_ = now;
    if (tokens_ < 1)
        return false;
    tokens_ -= 1;
    return true;
}

void StackUnwinder::forget(pid_t tgid)
{
    if (auto it = by_pid_.find(tgid); it != by_pid_.end()) {
        lru_.erase(it->second);
        by_pid_.erase(it);
    }
}

StackUnwinder::View* StackUnwinder::view_for(pid_t tgid, uint64_t ip, Clock::time_point now)
{
    View* old = nullptr;
    bool for_miss = false; // reopened because `ip` is in no module of the old view (a dlopen since)
    if (auto it = by_pid_.find(tgid); it != by_pid_.end()) {
        old = &*it->second;
        const bool stale = now - old->opened > limits_.max_age;
        for_miss = !stale && old->sym && !old->reopened_for_miss && !old->sym->maps(ip);
        if (!stale && !for_miss) {
            lru_.splice(lru_.begin(), lru_, it->second);
            return old;
        }
    }
    if (!take_open_token(tgid, now))
        return old; // keep the old view, if any, until it can be replaced
    forget(tgid);
    lru_.push_front(View{tgid, ProcessSymbolizer::open(tgid), now, for_miss});
    ++stats_.opens;
    by_pid_[tgid] = lru_.begin();
    evict_beyond_limit();
    return &lru_.front();
}

void StackUnwinder::evict_beyond_limit()
{
    // The least recently used first, prioritized processes only when nothing else is left.
    for (auto it = lru_.end(); lru_.size() > limits_.processes && it != lru_.begin();) {
        --it;
        if (priority_.contains(it->tgid))
            continue;
        by_pid_.erase(it->tgid);
        it = lru_.erase(it);
    }
    while (lru_.size() > limits_.processes) {
        by_pid_.erase(lru_.back().tgid);
        lru_.pop_back();
    }
}

void StackUnwinder::prioritize(std::set<pid_t> tgids)
{
    priority_ = std::move(tgids);
}

std::vector<uint64_t> StackUnwinder::unwind(pid_t tgid, const UserStackCopy& copy, Clock::time_point now)
{
    const uint64_t ip = copy.regs[MEMSIGHT_DWARF_REG_IP];
    if (View* v = view_for(tgid, ip, now); v && v->sym) {
        auto pcs = v->sym->unwind(copy);
        if (!pcs.empty()) {
            ++stats_.cfi;
            return pcs;
        }
    }
    ++stats_.frame_pointer;
    return frame_pointer_stack(copy);
}

StackUnwinder::Stats StackUnwinder::stats() const
{
    Stats s = stats_;
    s.cached = lru_.size();
    return s;
}

} // namespace memsight::symbolize
