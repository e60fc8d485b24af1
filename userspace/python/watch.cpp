#include "python/watch.h"

#include <algorithm>

namespace memsight::python {

std::optional<Watch> start_watch(pid_t pid)
{
    Watch w;
    w.memory = std::make_unique<RemoteMemory>(pid);
    try {
        w.interpreter = find_interpreter(pid, *w.memory);
    } catch (const NotPython&) {
        return std::nullopt;
    }
    w.first = take_census(*w.memory, w.interpreter);
    w.latest = w.first;
    return w;
}

void update(Watch& w)
{
    w.memory->refresh_maps();
    w.latest = take_census(*w.memory, w.interpreter);
}

std::vector<TypeDelta> growing_types(const Watch& w, size_t top)
{
    std::vector<TypeDelta> grown;
    for (auto& d : diff(w.first, w.latest))
        if (d.count_delta > 0)
            grown.push_back(std::move(d));
    std::sort(grown.begin(), grown.end(), [](const TypeDelta& a, const TypeDelta& b) {
        return a.count_per_s != b.count_per_s ? a.count_per_s > b.count_per_s : a.type < b.type;
    });
    if (grown.size() > top)
        grown.resize(top);
    return grown;
}

} // namespace memsight::python
