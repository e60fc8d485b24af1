#include "loader/always_on.h"

#include "loader/kernel_records.h"
#include "loader/libbpf_owners.h"
#include "memsight/events.h"
#include "symbolize/stack_unwinder.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/privileges.h"

#include "always_on.skel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <utility>

namespace memsight::loader {
namespace {

struct SkelDeleter {
    void operator()(always_on* s) const { always_on__destroy(s); }
};

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args)
{
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
    std::string_view msg(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
    while (!msg.empty() && msg.back() == '\n')
        msg.remove_suffix(1);
    if (level == LIBBPF_WARN)
        spdlog::warn("libbpf: {}", msg);
    else
        spdlog::debug("libbpf: {}", msg);
    return n;
}

std::string errno_text(int err)
{
    return std::strerror(err < 0 ? -err : err);
}

int open_fault_counter(int cpu, uint64_t period)
{
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_PAGE_FAULTS;
    attr.sample_period = period;
    attr.sample_type = PERF_SAMPLE_RAW;
    return static_cast<int>(::syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
}

} // namespace

struct AlwaysOnProbes::Impl {
    std::unique_ptr<always_on, SkelDeleter> skel;
    std::vector<LinkPtr> links;
    std::vector<util::UniqueFd> perf_fds;
    RingPtr ring;
    EventHandler handler;
    std::atomic<uint64_t> malformed{0};

    // Copied fault stacks (stack window > 0): drained from the ring, unwound and counted per (process, stack)
    // until drain_faults() takes them. The ring-buffer thread and the caller of drain_faults() both drain.
    RingPtr fault_ring;
    std::mutex fault_mu; // fault_ring, unwinder, pending, pending_full
    symbolize::StackUnwinder unwinder;
    std::map<std::pair<uint32_t, std::vector<uint64_t>>, FaultStack> pending;
    uint64_t pending_full = 0;
    std::map<uint32_t, python::StackSource> python; // watch_python()
    bool keep_addresses = false;
    RingPtr alloc_ring; // python_allocs: consumed under fault_mu
    std::vector<LinkPtr> alloc_links;
    std::vector<PythonAlloc> allocs;

    static int on_python_alloc(void* ctx, void* data, size_t size)
    {
        auto* self = static_cast<Impl*>(ctx);
        memsight_py_alloc e;
        if (size < sizeof(e)) {
            ++self->malformed;
            return 0;
        }
        std::memcpy(&e, data, sizeof(e));
        PythonAlloc a{e.tgid, e.type, e.obj, {}};
        if (auto py = self->python.find(e.tgid); py != self->python.end() && e.py_nframes <= MEMSIGHT_PY_MAX_FRAMES)
            a.stack = python::weave({}, std::span<const memsight_py_frame>(e.py, e.py_nframes), e.py_entry_mask,
                                    py->second);
        self->allocs.push_back(std::move(a));
        return 0;
    }

    void forget_python(uint32_t tgid) // under fault_mu
    {
        if (python.erase(tgid))
            bpf_map__delete_elem(skel->maps.python_procs, &tgid, sizeof tgid, 0);
    }

    static int on_record(void* ctx, void* data, size_t size)
    {
        auto* self = static_cast<Impl*>(ctx);
        auto event = decode_record(data, size);
        if (!event) {
            ++self->malformed;
            return 0;
        }
        if (self->fault_ring) { // a new program, or a pid that may be reused: the process's view is stale
            pid_t gone = 0;
            if (const auto* e = std::get_if<ExecEvent>(&*event))
                gone = e->pid;
            else if (const auto* x = std::get_if<ExitEvent>(&*event))
                gone = x->pid;
            if (gone) {
                std::lock_guard lock(self->fault_mu);
                self->unwinder.forget(gone);
                self->forget_python(static_cast<uint32_t>(gone));
            }
        }
        self->handler(*event);
        return 0;
    }

    // Called under fault_mu, from ring_buffer__consume.
    static int on_fault_stack(void* ctx, void* data, size_t size)
    {
        auto* self = static_cast<Impl*>(ctx);
        memsight_fault_stack h;
        if (size < sizeof(h)) {
            ++self->malformed;
            return 0;
        }
        std::memcpy(&h, data, sizeof(h));
        if (h.stack_len > size - sizeof(h)) {
            ++self->malformed;
            return 0;
        }
        symbolize::UserStackCopy copy;
        copy.tid = static_cast<pid_t>(h.tid);
        std::copy(std::begin(h.regs), std::end(h.regs), copy.regs.begin());
        copy.stack = {static_cast<const uint8_t*>(data) + sizeof(h), h.stack_len};
        std::pair key{h.tgid, self->unwinder.unwind(static_cast<pid_t>(h.tgid), copy)};
        if (h.py_nframes > 0 && h.py_nframes <= MEMSIGHT_PY_MAX_FRAMES) {
            if (auto py = self->python.find(h.tgid); py != self->python.end())
                key.second = python::weave(key.second, std::span<const memsight_py_frame>(h.py, h.py_nframes),
                                           h.py_entry_mask, py->second);
        }
        auto it = self->pending.find(key);
        if (it == self->pending.end()) {
            if (self->pending.size() >= MEMSIGHT_FAULT_MAP_ENTRIES) {
                ++self->pending_full;
                return 0;
            }
            FaultStack fs{h.tgid, std::string(h.comm, strnlen(h.comm, sizeof(h.comm))), key.second, 0, {}};
            it = self->pending.emplace(std::move(key), std::move(fs)).first;
        }
        ++it->second.samples;
        if (self->keep_addresses)
            it->second.addresses.push_back(h.addr);
        return 0;
    }

    void consume_fault_stacks()
    {
        std::lock_guard lock(fault_mu);
        if (fault_ring)
            ring_buffer__consume(fault_ring.get());
    }

    void attach_tracepoint(bpf_program* prog, const std::string& events_dir, const char* category, const char* name)
    {
        util::require_tracepoint(events_dir, category, name);
        bpf_link* link = bpf_program__attach_tracepoint(prog, category, name);
        if (!link) {
            throw UserError(std::string("cannot attach tracepoint ") + category + ":" + name + ": " +
                            errno_text(errno));
        }
        links.emplace_back(link);
    }
};

AlwaysOnProbes::AlwaysOnProbes(const AlwaysOnOptions& opts, EventHandler handler) : impl_(std::make_unique<Impl>())
{
    util::require_bpf_capabilities();
    util::require_kernel_btf();
    libbpf_set_print(libbpf_log);
    impl_->handler = std::move(handler);

    impl_->skel.reset(always_on__open());
    if (!impl_->skel)
        throw UserError("cannot open the always-on BPF object: " + errno_text(errno));
    auto* skel = impl_->skel.get();
    skel->rodata->page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    if (int err = bpf_map__set_max_entries(skel->maps.events, opts.ringbuf_bytes); err)
        throw UserError("invalid ring buffer size " + std::to_string(opts.ringbuf_bytes) + ": " + errno_text(err));
    fault_period_ = opts.fault_sample_period ? opts.fault_sample_period : kDefaultFaultSamplePeriod;
    skel->rodata->fault_period = fault_period_;
    if (opts.stack_window > MEMSIGHT_FAULT_STACK_MAX)
        throw UserError("stack window " + std::to_string(opts.stack_window) + " is larger than the most the BPF "
                        "program copies (" + std::to_string(MEMSIGHT_FAULT_STACK_MAX) + " bytes)");
    const uint32_t window = opts.page_faults ? opts.stack_window : 0;
    skel->rodata->stack_window = window;
    skel->rodata->fault_tgid = static_cast<uint32_t>(opts.fault_tgid);
    impl_->keep_addresses = opts.fault_addresses;
    const auto page = static_cast<uint32_t>(::sysconf(_SC_PAGESIZE));
    if (int err = bpf_map__set_max_entries(skel->maps.fault_stacks, window ? kFaultStackRingBytes : page); err)
        throw UserError("cannot size the fault-stack ring buffer: " + errno_text(err));
    if (int err = bpf_map__set_max_entries(skel->maps.python_allocs, opts.python_allocs ? 2u << 20 : page); err)
        throw UserError("cannot size the Python allocation ring buffer: " + errno_text(err));
    bpf_program__set_autoload(skel->progs.handle_fault_sample, opts.page_faults);
    bpf_program__set_autoload(skel->progs.handle_fault_tp, opts.page_faults);
    if (int err = always_on__load(skel); err) {
        throw UserError("cannot load the always-on BPF programs: " + errno_text(err) +
                        " (run with --log-level debug for the verifier log)");
    }

    const std::string events_dir = util::ensure_tracefs();
    if (opts.lifecycle) {
        impl_->attach_tracepoint(skel->progs.handle_exec, events_dir, "sched", "sched_process_exec");
        impl_->attach_tracepoint(skel->progs.handle_exit, events_dir, "sched", "sched_process_exit");
    } else if (opts.oom) {
        // OOM victims' cgroups arrive with their exit records.
        impl_->attach_tracepoint(skel->progs.handle_exit, events_dir, "sched", "sched_process_exit");
    }
    if (opts.oom)
        impl_->attach_tracepoint(skel->progs.handle_mark_victim, events_dir, "oom", "mark_victim");

    if (opts.page_faults)
        attach_fault_sampler();
    else
        fault_period_ = 0;
    if (window && fault_source_ == "raw_tracepoint") { // the perf-event fallback walks frame pointers
        stack_window_ = window;
        impl_->fault_ring.reset(ring_buffer__new(bpf_map__fd(skel->maps.fault_stacks), &Impl::on_fault_stack,
                                                 impl_.get(), nullptr));
        if (!impl_->fault_ring)
            throw UserError("cannot open the fault-stack ring buffer: " + errno_text(errno));
        spdlog::info("page-fault stacks: {} bytes of user stack copied per sample, unwound with the binaries' CFI",
                     window);
    }

    if (opts.python_allocs) {
        impl_->alloc_ring.reset(ring_buffer__new(bpf_map__fd(skel->maps.python_allocs), &Impl::on_python_alloc,
                                                 impl_.get(), nullptr));
        if (!impl_->alloc_ring)
            throw UserError("cannot open the Python allocation ring buffer: " + errno_text(errno));
    }

    impl_->ring.reset(ring_buffer__new(bpf_map__fd(skel->maps.events), &Impl::on_record, impl_.get(), nullptr));
    if (!impl_->ring)
        throw UserError("cannot open the BPF ring buffer: " + errno_text(errno));
}

// Prefers the x86 raw tracepoint page_fault_user with the countdown in BPF (a few instructions per fault);
// falls back to a sampling software perf event per CPU (portable, ~300 instructions on every fault).
void AlwaysOnProbes::attach_fault_sampler()
{
    auto* skel = impl_->skel.get();
    if (bpf_link* link = bpf_program__attach_raw_tracepoint(skel->progs.handle_fault_tp, "page_fault_user")) {
        impl_->links.emplace_back(link);
        fault_source_ = "raw_tracepoint";
        spdlog::info("page-fault sampling: raw tracepoint page_fault_user, one sample every {} faults per CPU",
                     fault_period_);
        return;
    }
    spdlog::info("page-fault sampling: raw tracepoint page_fault_user unavailable ({}), using perf events",
                 errno_text(errno));
    const int ncpu = libbpf_num_possible_cpus();
    int attached = 0;
    for (int cpu = 0; cpu < ncpu; ++cpu) {
        util::UniqueFd fd(open_fault_counter(cpu, fault_period_));
        if (!fd) {
            if (errno != ENODEV) { // ENODEV: CPU possible but offline
                ++attach_failures_;
                spdlog::warn("page-fault sampling: perf_event_open on cpu {} failed: {}", cpu, errno_text(errno));
            }
            continue;
        }
        bpf_link* link = bpf_program__attach_perf_event(skel->progs.handle_fault_sample, fd.get());
        if (!link) {
            ++attach_failures_;
            spdlog::warn("page-fault sampling: attach on cpu {} failed: {}", cpu, errno_text(errno));
            continue;
        }
        impl_->links.emplace_back(link);
        impl_->perf_fds.push_back(std::move(fd));
        ++attached;
    }
    if (attached == 0)
        throw UserError("cannot sample page faults: perf_event_open(PERF_COUNT_SW_PAGE_FAULTS) failed on "
                        "every CPU (need CAP_PERFMON); disable with kernel.page_faults.enabled: false");
    fault_source_ = "perf_event";
    spdlog::info("page-fault sampling: perf events on {} CPUs, one sample every {} faults per CPU", attached,
                 fault_period_);
}

AlwaysOnProbes::~AlwaysOnProbes() = default;

int AlwaysOnProbes::poll(int timeout_ms)
{
    int n = ring_buffer__poll(impl_->ring.get(), timeout_ms);
    impl_->consume_fault_stacks();
    return n == -EINTR ? 0 : n;
}

static_assert(MEMSIGHT_CNT__MAX == 11, "KernelCounters names every kernel counter: add the new one there too");

KernelCounters AlwaysOnProbes::counters() const
{
    const auto c = sum_percpu_counters<MEMSIGHT_CNT__MAX>(impl_->skel->maps.counters);
    KernelCounters k;
    k.exec_seen = c[MEMSIGHT_CNT_EXEC_SEEN];
    k.exit_seen = c[MEMSIGHT_CNT_EXIT_SEEN];
    k.oom_seen = c[MEMSIGHT_CNT_OOM_SEEN];
    k.fault_samples = c[MEMSIGHT_CNT_FAULT_SAMPLES];
    k.lost_ringbuf_full = c[MEMSIGHT_CNT_LOST_RINGBUF_FULL];
    k.lost_stack_map = c[MEMSIGHT_CNT_LOST_STACK_MAP];
    k.lost_fault_map_full = c[MEMSIGHT_CNT_LOST_FAULT_MAP_FULL];
    k.lost_oom_map_full = c[MEMSIGHT_CNT_LOST_OOM_MAP_FULL];
    k.lost_fault_stack_ring = c[MEMSIGHT_CNT_LOST_FAULT_STACK_RING];
    k.python_alloc_calls = c[MEMSIGHT_CNT_PY_ALLOC_CALLS];
    k.lost_python_alloc_ring = c[MEMSIGHT_CNT_LOST_PY_ALLOC_RING];
    k.malformed_records = impl_->malformed.load();
    std::lock_guard lock(impl_->fault_mu);
    k.lost_fault_map_full += impl_->pending_full;
    const auto u = impl_->unwinder.stats();
    k.fault_stacks_cfi = u.cfi;
    k.fault_stacks_frame_pointer = u.frame_pointer;
    return k;
}

void AlwaysOnProbes::prioritize_unwinding(std::set<pid_t> tgids)
{
    std::lock_guard lock(impl_->fault_mu);
    impl_->unwinder.prioritize(std::move(tgids));
}

void AlwaysOnProbes::watch_python(pid_t tgid, const python::StackSource& source)
{
    std::lock_guard lock(impl_->fault_mu);
    const auto key = static_cast<uint32_t>(tgid);
    if (int err = bpf_map__update_elem(impl_->skel->maps.python_procs, &key, sizeof key, &source.bpf,
                                       sizeof source.bpf, BPF_ANY))
        throw UserError("cannot watch the Python frames of pid " + std::to_string(tgid) + ": " + errno_text(-err));
    impl_->python[key] = source;
}

bool AlwaysOnProbes::watch_python_process(pid_t tgid)
{
    if (!stack_window_) // the kernel's frame-pointer walk (no window, or perf events): no BPF reads Python frames
        return false;
    auto source = python::stack_source_of(tgid);
    if (!source)
        return false;
    try {
        watch_python(tgid, *source);
    } catch (const UserError& e) { // the map is full: this process's stacks stay native
        spdlog::warn("{}: native frames only", e.what());
        return false;
    }
    return true;
}

void AlwaysOnProbes::attach_python_allocs(pid_t tgid, const std::string& binary)
{
    std::lock_guard lock(impl_->fault_mu);
    if (!impl_->alloc_ring)
        throw UserError("the Python allocation probe was not set up (AlwaysOnOptions::python_allocs)");
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = true, .func_name = "PyType_GenericAlloc");
    bpf_link* link = bpf_program__attach_uprobe_opts(impl_->skel->progs.python_alloc_return, tgid, binary.c_str(), 0,
                                                     &opts);
    if (!link)
        throw UserError("cannot attach a return probe to PyType_GenericAlloc in " + binary + ": " +
                        errno_text(errno));
    impl_->alloc_links.emplace_back(link);
}

void AlwaysOnProbes::watch_python_type(pid_t tgid, uint64_t type)
{
    const memsight_py_type_key key{static_cast<uint32_t>(tgid), 0, type};
    const uint8_t one = 1;
    if (int err = bpf_map__update_elem(impl_->skel->maps.python_types, &key, sizeof key, &one, sizeof one, BPF_ANY))
        throw UserError("cannot watch a Python type of pid " + std::to_string(tgid) + ": " + errno_text(-err));
}

std::vector<PythonAlloc> AlwaysOnProbes::drain_python_allocs()
{
    std::lock_guard lock(impl_->fault_mu);
    if (impl_->alloc_ring)
        ring_buffer__consume(impl_->alloc_ring.get());
    return std::exchange(impl_->allocs, {});
}

std::vector<FaultStack> AlwaysOnProbes::drain_faults()
{
    std::vector<FaultStack> out;
    if (!fault_period_)
        return out;
    if (impl_->fault_ring) {
        impl_->consume_fault_stacks();
        std::lock_guard lock(impl_->fault_mu);
        out.reserve(impl_->pending.size());
        for (auto& [key, fs] : impl_->pending)
            out.push_back(std::move(fs));
        impl_->pending.clear();
        return out;
    }
    const int faults_fd = bpf_map__fd(impl_->skel->maps.faults);
    const int stacks_fd = bpf_map__fd(impl_->skel->maps.stacks);

    std::vector<memsight_fault_key> keys;
    memsight_fault_key key{};
    memsight_fault_key next{};
    void* prev = nullptr;
    while (bpf_map_get_next_key(faults_fd, prev, &next) == 0) {
        keys.push_back(next);
        key = next;
        prev = &key;
    }

    std::set<int32_t> stack_ids;
    std::array<uint64_t, MEMSIGHT_MAX_STACK_DEPTH> ips{};
    for (const auto& k : keys) {
        uint64_t samples = 0;
        if (bpf_map_lookup_and_delete_elem(faults_fd, &k, &samples) != 0) {
            // Kernels before 5.14 cannot look up and delete hash entries in one step.
            if (bpf_map_lookup_elem(faults_fd, &k, &samples) != 0)
                continue;
            bpf_map_delete_elem(faults_fd, &k);
        }
        FaultStack fs;
        fs.tgid = k.tgid;
        fs.comm.assign(k.comm, strnlen(k.comm, sizeof(k.comm)));
        fs.samples = samples;
        if (k.user_stack_id >= 0) {
            stack_ids.insert(k.user_stack_id);
            ips.fill(0);
            if (bpf_map_lookup_elem(stacks_fd, &k.user_stack_id, ips.data()) == 0) {
                for (uint64_t ip : ips) {
                    if (!ip)
                        break;
                    fs.user_stack.push_back(ip);
                }
            }
        }
        out.push_back(std::move(fs));
    }
    for (int32_t id : stack_ids)
        bpf_map_delete_elem(stacks_fd, &id);
    return out;
}

std::string libbpf_version()
{
    return std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version());
}

} // namespace memsight::loader
