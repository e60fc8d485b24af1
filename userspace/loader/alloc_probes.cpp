#include "loader/alloc_probes.h"

#include "deep/alloc_hooks.h"
#include "loader/libbpf_owners.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/privileges.h"

#include "alloc.skel.h"
#include "memsight/sampling.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>
#include <system_error>
#include <thread>
#include <tuple>

namespace memsight::loader {
namespace {

struct SkelDeleter {
    void operator()(alloc* s) const { alloc__destroy(s); }
};

// The entry and (when the handler has one) return program of a hook, by their names in bpf/alloc.bpf.c.
std::pair<bpf_program*, bpf_program*> programs(const bpf_object* obj, const deep::HookSpec& hook)
{
    auto* entry = bpf_object__find_program_by_name(obj, std::string(hook.handler->entry).c_str());
    auto* exit = hook.handler->exit.empty()
                     ? nullptr
                     : bpf_object__find_program_by_name(obj, std::string(hook.handler->exit).c_str());
    return {entry, exit};
}

// Handler programs the table names that the object lacks (a typo in the table, a renamed BPF program).
std::vector<std::string> missing_programs(const bpf_object* obj)
{
    std::set<std::string> missing;
    for (const auto& h : deep::kHooks) {
        if (!h.probed())
            continue;
        const auto [entry, exit] = programs(obj, h);
        if (entry == nullptr)
            missing.insert(std::string(h.handler->entry));
        if (exit == nullptr && !h.handler->exit.empty())
            missing.insert(std::string(h.handler->exit));
    }
    return {missing.begin(), missing.end()};
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

namespace {

// A read-only mapping of a BPF_F_MMAPABLE array map.
class MappedArray {
public:
    MappedArray() = default;
    MappedArray(const MappedArray&) = delete;
    MappedArray& operator=(const MappedArray&) = delete;
    ~MappedArray()
    {
        if (base_ != MAP_FAILED)
            ::munmap(base_, len_);
    }
    void map(bpf_map* m)
    {
        const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
        len_ = (static_cast<size_t>(bpf_map__value_size(m)) * bpf_map__max_entries(m) + page - 1) / page * page;
        base_ = ::mmap(nullptr, len_, PROT_READ, MAP_SHARED, bpf_map__fd(m), 0);
        if (base_ == MAP_FAILED)
            throw UserError(std::string("cannot map the deep-tier map ") + bpf_map__name(m) + ": " +
                            std::strerror(errno));
    }
    template <typename T> const volatile T* as() const { return static_cast<const volatile T*>(base_); }

private:
    void* base_ = MAP_FAILED;
    size_t len_ = 0;
};

// From Linux 6.6's uapi (the Debian 12 headers predate them).
constexpr auto kAttachUprobeMulti = static_cast<bpf_attach_type>(48); // BPF_TRACE_UPROBE_MULTI
constexpr uint32_t kUprobeMultiReturn = 1;                            // BPF_F_UPROBE_MULTI_RETURN

// A uprobe as a uprobe_multi link (one offset, one process) or as a perf-event link (older kernels).
struct Link {
    util::UniqueFd fd;
    LinkPtr perf;
};

// BPF_LINK_CREATE for a uprobe_multi link, with bpf_attr's link_create layout (libbpf 1.1 has no API for it).
// Returns an invalid fd and sets errno on failure.
util::UniqueFd attach_uprobe_multi(int prog_fd, bool retprobe, pid_t pid, const std::string& binary,
                                   uint64_t file_offset)
{
    struct {
        uint32_t prog_fd, target_fd, attach_type, flags;
        uint64_t path, offsets, ref_ctr_offsets, cookies;
        uint32_t cnt, multi_flags, pid, pad;
    } attr{};
    static_assert(sizeof(attr) == 64, "bpf_attr.link_create.uprobe_multi layout");
    attr.prog_fd = static_cast<uint32_t>(prog_fd);
    attr.attach_type = kAttachUprobeMulti;
    attr.path = reinterpret_cast<uint64_t>(binary.c_str());
    attr.offsets = reinterpret_cast<uint64_t>(&file_offset);
    attr.cnt = 1;
    attr.multi_flags = retprobe ? kUprobeMultiReturn : 0;
    attr.pid = static_cast<uint32_t>(pid);
    return util::UniqueFd(static_cast<int>(::syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr))));
}

// Whether the kernel has uprobe_multi links, asked with a program loaded for them: a link on "/" (not a
// regular file) fails with EBADF where they exist, EINVAL where the attach type is unknown (libbpf's probe).
bool has_uprobe_multi(int prog_fd)
{
    const util::UniqueFd fd = attach_uprobe_multi(prog_fd, false, 0, "/", 0);
    return !fd && errno == EBADF;
}

uint32_t round_up_pow2(uint64_t n)
{
    uint32_t p = 1;
    while (p < n && p < (1u << 31))
        p <<= 1;
    return p;
}

} // namespace

struct AllocProbes::Impl {
    std::unique_ptr<alloc, SkelDeleter> skel;
    RingPtr ring;
    MappedArray out_keys;
    MappedArray out_info;
    uint32_t buckets = 0;
    bool multi = false; // links are uprobe_multi links (else perf-event uprobes)
    // (pid, binary, offset, retprobe) -> link; one probe per function and process.
    std::map<std::tuple<pid_t, std::string, uint64_t, bool>, Link> links;
    MapEventHandler on_map;

    static int on_record(void* ctx, void* data, size_t size)
    {
        if (size >= sizeof(memsight_map_event))
            static_cast<Impl*>(ctx)->on_map(*static_cast<const memsight_map_event*>(data));
        return 0;
    }

    // A table the BPF side reads by index. A short or failed fill would leave zeros there (e.g. every sampled
    // weight 0): refuse to run instead.
    static void fill(bpf_map* map, const std::vector<uint32_t>& values)
    {
        if (bpf_map__max_entries(map) != values.size())
            throw UserError(std::string("deep-tier map ") + bpf_map__name(map) + " has " +
                            std::to_string(bpf_map__max_entries(map)) + " entries, userspace fills " +
                            std::to_string(values.size()) + " (BPF object and binary disagree)");
        const int fd = bpf_map__fd(map);
        for (uint32_t i = 0; i < values.size(); ++i)
            if (bpf_map_update_elem(fd, &i, &values[i], BPF_ANY) != 0)
                throw UserError(std::string("cannot fill the deep-tier map ") + bpf_map__name(map) + ": " +
                                errno_text(errno));
    }

    static void set_entries(bpf_map* map, uint32_t n)
    {
        if (int err = bpf_map__set_max_entries(map, n); err != 0)
            throw UserError(std::string("cannot size the deep-tier map ") + bpf_map__name(map) + " to " +
                            std::to_string(n) + " entries: " + errno_text(err));
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
    // The outstanding table: a power of two of buckets for max_outstanding blocks, and a spill of 1/16 of
    // that (at least 1024) for blocks whose bucket is full.
    impl_->buckets = std::max<uint32_t>(MEMSIGHT_OUT_PAGE_BUCKETS,
                                        round_up_pow2(std::max<uint64_t>(opts.max_outstanding, 1) / MEMSIGHT_OUT_WAYS));
    auto configure = [&](alloc* s) {
        s->rodata->sample_bytes = sample_bytes_;
        s->rodata->page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        s->rodata->out_mask = impl_->buckets - 1;
        Impl::set_entries(s->maps.out_keys, impl_->buckets);
        Impl::set_entries(s->maps.out_info, impl_->buckets * MEMSIGHT_OUT_WAYS);
        Impl::set_entries(s->maps.out_spill, std::max<uint32_t>(1024, impl_->buckets / 2));
    };
    auto* skel = impl_->skel.get();
    if (const auto missing = missing_programs(skel->obj); !missing.empty())
        throw UserError("the deep-tier BPF object lacks the program " + missing.front() +
                        " that the allocator hook table (deep/alloc_hooks.h) names");
    configure(skel);
    // uprobe_multi links (Linux 6.6+) run the program straight from the uprobe, without the perf-event layer
    // in between: about 160 fewer instructions per hit (docs/performance.md). Programs are loaded for that
    // attach type and, where the kernel lacks it, loaded again for perf-event uprobes.
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, skel->obj) bpf_program__set_expected_attach_type(prog, kAttachUprobeMulti);
    const libbpf_print_fn_t previous = libbpf_set_print(nullptr); // a kernel that refuses it is expected
    int err = alloc__load(skel);
    libbpf_set_print(previous);
    impl_->multi = err == 0 && has_uprobe_multi(bpf_program__fd(skel->progs.malloc_enter));
    if (!impl_->multi) {
        impl_->skel.reset(alloc__open());
        if (!impl_->skel)
            throw UserError("cannot open the deep-tier BPF object: " + errno_text(errno));
        skel = impl_->skel.get();
        configure(skel);
        err = alloc__load(skel);
    }
    if (err)
        throw UserError("cannot load the deep-tier BPF programs: " + errno_text(err) + " (libbpf's log is above)");
    Impl::fill(skel->maps.weight_table, make_weight_table());
    Impl::fill(skel->maps.log_table, make_log_table());
    impl_->out_keys.map(skel->maps.out_keys);
    impl_->out_info.map(skel->maps.out_info);
    impl_->ring.reset(ring_buffer__new(bpf_map__fd(skel->maps.map_events), &Impl::on_record, impl_.get(), nullptr));
    if (!impl_->ring)
        throw UserError("cannot open the deep-tier ring buffer: " + errno_text(errno));
}

namespace {

// Detaching a uprobe waits for RCU grace periods (~60 ms per link here); detaching them concurrently overlaps
// those waits, which turns minutes into a fraction of a second at the end of a session. Up to kDetachThreads
// threads (and the caller) take links from a shared index: a cgroup session has thousands of links (100
// processes: 2,200), and a thread per link meant thousands of threads, each one more task against a pids limit.
// Measured on a 100-process cgroup session (2,200 links, Linux 6.18, 2 vCPUs): 8 threads 16.4-17.2 s, 32 threads
// 4.1-4.6 s, 64 threads 2.3-3.0 s, 128 threads 1.1-1.2 s, 256 threads 0.59-0.61 s, a thread per link 0.60 s: the
// overlap stops helping near 256.
constexpr size_t kDetachThreads = 256;

void destroy_concurrently(std::vector<Link> links)
{
    std::atomic<size_t> next{0};
    auto work = [&links, &next] {
        for (size_t i; (i = next.fetch_add(1)) < links.size();)
            links[i] = Link{};
    };
    std::vector<std::thread> threads;
    const size_t helpers = std::min(kDetachThreads, links.size()) - (links.empty() ? 0 : 1);
    threads.reserve(helpers);
    try {
        for (size_t i = 0; i < helpers; ++i)
            threads.emplace_back(work);
    } catch (const std::system_error&) {
        // No more threads (a pids limit): the ones started and this thread detach the rest, only more slowly.
    }
    work();
    for (auto& t : threads)
        t.join();
}

} // namespace

AllocProbes::~AllocProbes()
{
    std::vector<Link> links;
    for (auto& [key, link] : impl_->links)
        links.push_back(std::move(link));
    destroy_concurrently(std::move(links));
}

bool AllocProbes::kernel_has_uprobe_multi()
{
    // The smallest program of the deep tier's type (r0 = 0; exit), loaded for uprobe_multi links: a kernel without
    // them refuses the attach type at load, one with them answers the link probe.
    const bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = kAttachUprobeMulti);
    const util::UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "memsight_probe", "GPL", insns, 2, &opts));
    return prog && has_uprobe_multi(prog.get());
}

bool AllocProbes::is_probed_symbol(const std::string& symbol)
{
    const auto* hook = deep::find_hook(symbol);
    return hook != nullptr && hook->probed();
}

std::vector<std::string> AllocProbes::missing_handler_programs()
{
    std::unique_ptr<alloc, SkelDeleter> skel(alloc__open());
    if (!skel)
        throw UserError("cannot open the deep-tier BPF object: " + errno_text(errno));
    return missing_programs(skel->obj);
}

bool AllocProbes::attach(pid_t pid, const std::string& binary, const std::string& symbol, uint64_t file_offset,
                         std::string& error)
{
    const auto* hook = deep::find_hook(symbol);
    if (hook == nullptr || !hook->probed()) {
        error = "not a probed function";
        return false;
    }
    const auto [enter, exit] = programs(impl_->skel->obj, *hook);
    auto attach_one = [&](bpf_program* prog, bool retprobe) {
        const auto key = std::make_tuple(pid, binary, file_offset, retprobe);
        if (impl_->links.contains(key))
            return true; // an alias (mmap64 = mmap) already probed
        Link link;
        if (impl_->multi)
            link.fd = attach_uprobe_multi(bpf_program__fd(prog), retprobe, pid, binary, file_offset);
        else
            link.perf.reset(bpf_program__attach_uprobe(prog, retprobe, pid, binary.c_str(), file_offset));
        if (!link.fd && !link.perf) {
            error = errno_text(errno);
            return false;
        }
        impl_->links.emplace(key, std::move(link));
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
    // The table is read while the programs change it. A way is published only once its block is written (low
    // bit clear); reading the address again after the block tells a way that was freed or reused meanwhile,
    // which is skipped: it is no longer the block that was read.
    std::vector<Outstanding> out;
    const auto* keys = impl_->out_keys.as<memsight_out_bucket>();
    const auto* info = impl_->out_info.as<memsight_alloc_info>();
    for (uint32_t b = 0; b < impl_->buckets; ++b) {
        for (uint32_t w = 0; w < MEMSIGHT_OUT_WAYS; ++w) {
            const uint64_t addr = keys[b].addr[w];
            if (addr == 0 || (addr & 1))
                continue;
            const auto& v = info[static_cast<size_t>(b) * MEMSIGHT_OUT_WAYS + w];
            Outstanding o{addr, {v.size, v.w_bytes, v.ts_ns, v.slot, v.tgid}};
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (keys[b].addr[w] == addr)
                out.push_back(o);
        }
    }
    for_each_entry<memsight_alloc_key, memsight_alloc_info>(
        bpf_map__fd(impl_->skel->maps.out_spill), [&](const memsight_alloc_key& k, const memsight_alloc_info& v) {
            out.push_back({k.addr, v});
        });
    return out;
}

void AllocProbes::watch_python(pid_t pid, const python::StackSource& source)
{
    const auto key = static_cast<uint32_t>(pid);
    if (int err = bpf_map__update_elem(impl_->skel->maps.python_procs, &key, sizeof key, &source.bpf,
                                       sizeof source.bpf, BPF_ANY))
        throw UserError("cannot watch the Python frames of pid " + std::to_string(pid) + ": " + std::strerror(-err));
    impl_->skel->bss->python_targets = 1;
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
