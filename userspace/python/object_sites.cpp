#include "python/object_sites.h"

#include <algorithm>

namespace memsight::python {

void PageStacks::add(const std::vector<uint64_t>& stack, const std::vector<uint64_t>& addresses)
{
    if (addresses.empty())
        return;
    auto [it, fresh] = index_.try_emplace(stack, static_cast<uint32_t>(stacks_.size()));
    if (fresh)
        stacks_.push_back(stack);
    for (uint64_t a : addresses)
        page_[a / page_size_] = it->second;
}

PageStacks::Attribution PageStacks::attribute(const std::vector<uint64_t>& objects, size_t top,
                                              std::vector<uint64_t>* rest) const
{
    Attribution out;
    std::vector<uint64_t> per_stack(stacks_.size());
    for (uint64_t o : objects) {
        ++out.objects;
        if (auto it = page_.find(o / page_size_); it != page_.end()) {
            ++out.attributed;
            ++per_stack[it->second];
        } else if (rest) {
            rest->push_back(o);
        }
    }
    std::vector<uint32_t> order;
    for (uint32_t i = 0; i < per_stack.size(); ++i)
        if (per_stack[i])
            order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return per_stack[a] > per_stack[b]; });
    if (order.size() > top)
        order.resize(top);
    for (uint32_t i : order)
        out.sites.push_back({stacks_[i], per_stack[i]});
    return out;
}

} // namespace memsight::python
