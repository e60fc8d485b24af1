#pragma once
// Which code made a type's live objects, from the page faults of a session: every page the process faulted in
// while sampled (period 1, with its Python stack) is remembered with the stack that touched it first, and each
// live object of the type (the census gives their addresses) counts for the stack that brought its page in.
// Objects on pages the process had before the sampling (slots reused in old pages) are counted as unattributed.
#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

namespace memsight::python {

class PageStacks {
public:
    // page_size 1 keys exact addresses: the objects an allocation probe saw made.
    explicit PageStacks(uint64_t page_size = 4096) : page_size_(page_size) {}

    // Samples of one stack (innermost first) at these faulting addresses. A page faulted again (freed and
    // reused) belongs to its latest stack.
    void add(const std::vector<uint64_t>& stack, const std::vector<uint64_t>& addresses);
    size_t pages() const { return page_.size(); }

    struct Site {
        std::vector<uint64_t> stack;
        uint64_t objects = 0;
    };
    struct Attribution {
        uint64_t objects = 0;    // objects looked up
        uint64_t attributed = 0; // on pages faulted in while sampled
        std::vector<Site> sites; // most objects first (ties: the order stacks were first seen), at most `top`
    };
    // `rest` (optional) receives the objects not attributed.
    Attribution attribute(const std::vector<uint64_t>& objects, size_t top,
                          std::vector<uint64_t>* rest = nullptr) const;

private:
    uint64_t page_size_;
    std::vector<std::vector<uint64_t>> stacks_;
    std::map<std::vector<uint64_t>, uint32_t> index_;
    std::unordered_map<uint64_t, uint32_t> page_; // page number -> index into stacks_
};

} // namespace memsight::python
