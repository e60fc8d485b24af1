#include "loader/alloc_probes.h"

#include "loader/libbpf_owners.h"
#include "util/error.h"
#include "util/privileges.h"

#include "alloc.skel.h"
#include "memsight/sampling.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>
#include <thread>
#include <tuple>

namespace memsight::loader {
namespace {

struct SkelDeleter {
    void operator()(alloc* s) const { alloc__destroy(s); }
};

// The functions memsight probes and the kind of probe each gets.
enum class Hook {
    Malloc,
    Calloc,
    Realloc,
    ReallocArray,
    PosixMemalign,
    AlignedAlloc,
    Memalign,
    Valloc,
    Pvalloc,
    New,
    Free,
    Mmap,
    Munmap,
    Mremap
};

const std::map<std::string, Hook>& hooks()
{
    static const std::map<std::string, Hook> table = {
        {"malloc", Hook::Malloc},
        {"calloc", Hook::Calloc},
        {"realloc", Hook::Realloc},
        {"reallocarray", Hook::ReallocArray},
        {"posix_memalign", Hook::PosixMemalign},
        {"aligned_alloc", Hook::AlignedAlloc},
        {"memalign", Hook::Memalign},
        {"valloc", Hook::Valloc},
        {"pvalloc", Hook::Pvalloc},
        {"free", Hook::Free},
        {"mmap", Hook::Mmap},
        {"mmap64", Hook::Mmap},
        {"munmap", Hook::Munmap},
        {"mremap", Hook::Mremap},
        // C++ operators, probed where an allocator library defines them itself (tcmalloc, jemalloc).
        {"_Znwm", Hook::New},
        {"_Znam", Hook::New},
        {"_ZnwmRKSt9nothrow_t", Hook::New},
        {"_ZnamRKSt9nothrow_t", Hook::New},
        {"_ZnwmSt11align_val_t", Hook::New},
        {"_ZnamSt11align_val_t", Hook::New},
        {"_ZdlPv", Hook::Free},
        {"_ZdaPv", Hook::Free},
        {"_ZdlPvm", Hook::Free},
        {"_ZdaPvm", Hook::Free},
        {"_ZdlPvSt11align_val_t", Hook::Free},
        {"_ZdaPvSt11align_val_t", Hook::Free},
        {"_ZdlPvmSt11align_val_t", Hook::Free},
        {"_ZdaPvmSt11align_val_t", Hook::Free},
    };
    return table;
}

// The entry program and, for functions whose result matters, the return program.
std::pair<bpf_program*, bpf_program*> programs(alloc* s, Hook h)
{
    auto& p = s->progs;
    switch (h) {
    case Hook::Malloc:
        return {p.malloc_enter, p.malloc_exit};
    case Hook::Calloc:
        return {p.calloc_enter, p.calloc_exit};
    case Hook::Realloc:
        return {p.realloc_enter, p.realloc_exit};
    case Hook::ReallocArray:
        return {p.reallocarray_enter, p.reallocarray_exit};
    case Hook::PosixMemalign:
        return {p.posix_memalign_enter, p.posix_memalign_exit};
    case Hook::AlignedAlloc:
        return {p.aligned_alloc_enter, p.aligned_alloc_exit};
    case Hook::Memalign:
        return {p.memalign_enter, p.memalign_exit};
    case Hook::Valloc:
        return {p.valloc_enter, p.valloc_exit};
    case Hook::Pvalloc:
        return {p.pvalloc_enter, p.pvalloc_exit};
    case Hook::New:
        return {p.new_enter, p.new_exit};
    case Hook::Free:
        return {p.free_enter, nullptr};
    case Hook::Mmap:
        return {p.mmap_enter, p.mmap_exit};
    case Hook::Munmap:
        return {p.munmap_enter, nullptr};
    case Hook::Mremap:
        return {p.mremap_enter, p.mremap_exit};
    }
    return {nullptr, nullptr};
}

std::string errno_text(int err)
{
    return std::strerror(err < 0 ? -err : err);
}

} // namespace

std::vector<uint32_t> make_weight_table()
{
    std::vector<uint32_t> t(MEMSIGHT_WEIGHT_TABLE_SIZE);
    for (size_t i = 0; i < t.size(); ++i) {
        // Midpoint of [i, i+1)/1024: the BPF side truncates x to the bucket below.
        const double x = (static_cast<double>(i) + 0.5) / 1024.0;
        const double f = x / -std::expm1(-x);
        t[i] = static_cast<uint32_t>(std::lround(f * 65536.0));
    }
    return t;
}

std::vector<uint32_t> make_log_table()
{
    std::vector<uint32_t> t(MEMSIGHT_LOG_TABLE_SIZE);
    for (size_t i = 0; i < t.size(); ++i)
        t[i] = static_cast<uint32_t>(std::lround(-std::log(0.5 + static_cast<double>(i) / 2048.0) * 65536.0));
    return t;
}

struct AllocProbes::Impl {
    std::unique_ptr<alloc, SkelDeleter> skel;
    RingPtr ring;
    // (pid, binary, offset, retprobe) -> link; one probe per function and process.
    std::map<std::tuple<pid_t, std::string, uint64_t, bool>, LinkPtr> links;
    MapEventHandler on_map;

    static int on_record(void* ctx, void* data, size_t size)
    {
        if (size >= sizeof(memsight_map_event))
            static_cast<Impl*>(ctx)->on_map(*static_cast<const memsight_map_event*>(data));
        return 0;
    }

    void fill(bpf_map* map, const std::vector<uint32_t>& values)
    {
        const int fd = bpf_map__fd(map);
        for (uint32_t i = 0; i < values.size(); ++i)
            bpf_map_update_elem(fd, &i, &values[i], BPF_ANY);
    }
};

AllocProbes::AllocProbes(const AllocProbeOptions& opts, MapEventHandler on_map_event)
    : impl_(std::make_unique<Impl>()), sample_bytes_(opts.sample_bytes ? opts.sample_bytes : 1)
{
    util::require_bpf_capabilities();
    util::require_kernel_btf();
    impl_->on_map = std::move(on_map_event);
    impl_->skel.reset(alloc__open());
    if (!impl_->skel)
        throw UserError("cannot open the deep-tier BPF object: " + errno_text(errno));
    auto* skel = impl_->skel.get();
    skel->rodata->sample_bytes = sample_bytes_;
    skel->rodata->page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    bpf_map__set_max_entries(skel->maps.outstanding, opts.max_outstanding);
    if (int err = alloc__load(skel); err)
        throw UserError("cannot load the deep-tier BPF programs: " + errno_text(err) +
                        " (run with --log-level debug for the verifier log)");
    impl_->fill(skel->maps.weight_table, make_weight_table());
    impl_->fill(skel->maps.log_table, make_log_table());
    impl_->ring.reset(ring_buffer__new(bpf_map__fd(skel->maps.map_events), &Impl::on_record, impl_.get(), nullptr));
    if (!impl_->ring)
        throw UserError("cannot open the deep-tier ring buffer: " + errno_text(errno));
}

namespace {

// Detaching a uprobe waits for an RCU grace period (~0.1 s each here); detaching them concurrently overlaps
// those waits, which turns seconds into a fraction of one at the end of a session.
void destroy_concurrently(std::vector<LinkPtr> links)
{
    std::vector<std::thread> threads;
    threads.reserve(links.size());
    for (auto& l : links)
        threads.emplace_back([link = std::move(l)]() mutable { link.reset(); });
    for (auto& t : threads)
        t.join();
}

} // namespace

AllocProbes::~AllocProbes()
{
    std::vector<LinkPtr> links;
    for (auto& [key, link] : impl_->links)
        links.push_back(std::move(link));
    destroy_concurrently(std::move(links));
}

bool AllocProbes::is_probed_symbol(const std::string& symbol)
{
    return hooks().contains(symbol);
}

bool AllocProbes::attach(pid_t pid, const std::string& binary, const std::string& symbol, uint64_t file_offset,
                         std::string& error)
{
    auto it = hooks().find(symbol);
    if (it == hooks().end()) {
        error = "not a probed function";
        return false;
    }
    const auto [enter, exit] = programs(impl_->skel.get(), it->second);
    auto attach_one = [&](bpf_program* prog, bool retprobe) {
        const auto key = std::make_tuple(pid, binary, file_offset, retprobe);
        if (impl_->links.contains(key))
            return true; // an alias (mmap64 = mmap) already probed
        bpf_link* link = bpf_program__attach_uprobe(prog, retprobe, pid, binary.c_str(), file_offset);
        if (!link) {
            error = errno_text(errno);
            return false;
        }
        impl_->links.emplace(key, link);
        return true;
    };
    // The return probe goes in first. A call that hits the entry probe while its return probe is not attached
    // yet would leave the thread's call depth at 1 for good, and every later call on that thread would look
    // nested and go unrecorded (seen on a malloc-heavy process). The other way round, a call entered before its
    // entry probe existed is simply not seen by the return probe (depth 0).
    if (exit && !attach_one(exit, true))
        return false;
    return attach_one(enter, false);
}

int AllocProbes::poll(int timeout_ms)
{
    const int n = ring_buffer__poll(impl_->ring.get(), timeout_ms);
    return n == -EINTR ? 0 : n;
}

AllocCounters AllocProbes::counters() const
{
    return sum_percpu_counters<MEMSIGHT_ACNT__MAX>(impl_->skel->maps.counters);
}

namespace {

template <typename Key, typename Value, typename Fn> void for_each_entry(int fd, Fn fn)
{
    Key key{};
    Key next{};
    const void* prev = nullptr;
    Value value{};
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, &value) == 0)
            fn(next, value);
        key = next;
        prev = &key;
    }
}

} // namespace

std::vector<SiteStats> AllocProbes::sites() const
{
    std::vector<SiteStats> out;
    const int stats_fd = bpf_map__fd(impl_->skel->maps.site_stats);
    for_each_entry<memsight_site_key, memsight_site>(
        bpf_map__fd(impl_->skel->maps.sites), [&](const memsight_site_key& k, const memsight_site& v) {
            SiteStats s{k.tgid, k.stack, v.slot, {}};
            // A site only an mmap call made has no allocator counters: skip it (the mmap regions report it).
            if (bpf_map_lookup_elem(stats_fd, &v.slot, &s.stats) == 0 && s.stats.alloc_count_q10 != 0)
                out.push_back(s);
        });
    return out;
}

std::vector<Outstanding> AllocProbes::outstanding() const
{
    std::vector<Outstanding> out;
    for_each_entry<memsight_alloc_key, memsight_alloc_info>(
        bpf_map__fd(impl_->skel->maps.outstanding), [&](const memsight_alloc_key& k, const memsight_alloc_info& v) {
            out.push_back({k.tgid, k.addr, v});
        });
    return out;
}

std::vector<uint64_t> AllocProbes::stack(uint32_t tgid, uint64_t stack_id) const
{
    if (stack_id == 0)
        return {};
    const memsight_site_key key{tgid, 0, stack_id};
    memsight_site site{};
    if (bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.sites), &key, &site) != 0)
        return {};
    const uint32_t nr = std::min<uint32_t>(site.nr, MEMSIGHT_ALLOC_STACK_DEPTH);
    return {site.ips, site.ips + nr};
}

} // namespace memsight::loader
