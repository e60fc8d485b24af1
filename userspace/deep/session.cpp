#include "deep/session.h"

#include "deep/allocators.h"
#include "procfs/proc_parse.h"
#include "procfs/read_file.h"
#include "python/frames.h"
#include "util/error.h"

#include <spdlog/spdlog.h>
#include <time.h>

#include <map>

namespace memsight::deep {
namespace {

std::optional<procfs::ProcStat> stat_of(pid_t pid)
{
    auto text = procfs::read_file("/proc/" + std::to_string(pid) + "/stat");
    return text ? procfs::parse_stat(*text) : std::nullopt;
}

uint64_t now_ns()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace

Session::Session(const SessionOptions& opts)
{
    loader::AllocProbeOptions po;
    po.sample_bytes = opts.sample_bytes;
    po.max_outstanding = opts.max_outstanding     ? opts.max_outstanding
                         : opts.sample_bytes <= 1 ? kDefaultMaxOutstandingExact
                                                  : kDefaultMaxOutstandingSampled;
    probes_ = std::make_unique<loader::AllocProbes>(po, [this](const memsight_map_event& ev) {
        switch (ev.type) {
        case MEMSIGHT_MAP_MMAP:
            regions_.on_mmap(ev.tgid, ev.addr, ev.len, ev.stack, ev.ts_ns);
            break;
        case MEMSIGHT_MAP_MUNMAP:
            regions_.on_munmap(ev.tgid, ev.addr, ev.len);
            break;
        case MEMSIGHT_MAP_MREMAP:
            regions_.on_mremap(ev.tgid, ev.old_addr, ev.old_len, ev.addr, ev.len, ev.ts_ns);
            break;
        default:
            break;
        }
    });
    std::string refusals;
    for (pid_t pid : opts.pids) {
        targets_.push_back(attach_process(pid));
        const auto& t = targets_.back();
        if (t.refused)
            refusals += (refusals.empty() ? "" : "; ") + t.refusal;
    }
    if (traced_pids().empty())
        throw UserError(refusals.empty() ? "no process to trace" : refusals);
}

TargetReport Session::attach_process(pid_t pid)
{
    TargetReport t;
    t.pid = pid;
    const auto st = stat_of(pid);
    if (!st) {
        t.refused = true;
        t.refusal = "no such process: " + std::to_string(pid);
        return t;
    }
    t.comm = st->comm;
    ProcessAllocators found;
    try {
        found = detect_allocators(pid);
    } catch (const UserError& e) {
        t.refused = true;
        t.refusal = e.what();
        return t;
    }
    if (found.is_go) {
        t.refused = true;
        t.refusal = "pid " + std::to_string(pid) + " (" + t.comm + ") is a Go program (" + found.go_reason +
                    "): the deep tier never puts uretprobes on Go binaries because Go moves goroutine stacks and "
                    "they would crash it; the always-on tier (memsight agent, memsight faults) still covers it";
        return t;
    }
    t.active = found.active;
    for (const auto& obj : found.objects) {
        std::string names;
        for (const auto& sym : obj.symbols) {
            if (!loader::AllocProbes::is_probed_symbol(sym.name))
                continue;
            if (sym.ifunc) {
                // Its offset is the resolver, run once at relocation: a probe there would see no allocation.
                t.attach_errors.push_back(obj.path + ":" + sym.name +
                                          ": an IFUNC symbol (its address is the resolver that picks the "
                                          "implementation, not the allocator): not probed");
                continue;
            }
            std::string error;
            if (probes_->attach(pid, obj.host_path, sym.name, sym.file_offset, error))
                names += (names.empty() ? "" : ", ") + sym.name;
            else
                t.attach_errors.push_back(obj.path + ":" + sym.name + ": " + error);
        }
        if (!names.empty())
            t.hooked.push_back(obj.kind + " " + obj.path + ": " + names);
        for (const auto& m : obj.missing)
            t.missing.push_back(obj.kind + ": " + m);
    }
    if (t.hooked.empty()) {
        t.refused = true;
        std::string why = "no allocator functions found to probe";
        if (!t.attach_errors.empty())
            why = "no allocator function could be probed (" + t.attach_errors.front() +
                  (t.attach_errors.size() > 1 ? ", ..." : "") + ")";
        else if (!found.warnings.empty()) // the allocator may be in a file that could not be read
            why += " (" + found.warnings.front() + (found.warnings.size() > 1 ? ", ..." : "") + ")";
        t.refusal = "pid " + std::to_string(pid) + " (" + t.comm + "): " + why;
        return t;
    }
    // A CPython process: its sites name Python functions (docs/python.md).
    if (auto source = python::stack_source_of(pid)) {
        try {
            probes_->watch_python(pid, *source);
            t.python = true;
        } catch (const UserError& e) {
            spdlog::warn("{}: native frames only", e.what());
        }
    }
    start_times_.insert({pid, st->starttime_ticks});
    return t;
}

std::vector<pid_t> Session::traced_pids() const
{
    std::vector<pid_t> out;
    for (const auto& [pid, start] : start_times_)
        out.push_back(pid);
    return out;
}

void Session::poll(int timeout_ms)
{
    probes_->poll(timeout_ms);
}

bool Session::all_gone() const
{
    for (const auto& [pid, start] : start_times_) {
        const auto st = stat_of(pid);
        if (st && st->starttime_ticks == start && st->state != 'Z' && st->state != 'X')
            return false;
    }
    return true;
}

std::string Session::who() const
{
    constexpr size_t kNamed = 3;
    std::string out;
    size_t n = 0;
    for (const auto& t : targets_) {
        if (t.refused)
            continue;
        if (n++ < kNamed)
            out += (out.empty() ? "pid " : ", pid ") + std::to_string(t.pid) + " (" + t.comm + ")";
    }
    if (n > kNamed)
        out += " and " + std::to_string(n - kNamed) + " more";
    return out;
}

std::vector<SiteReading> Session::read() const
{
    std::map<std::pair<uint32_t, uint64_t>, SiteReading> heap;
    std::map<uint32_t, SiteReading*> by_slot;
    for (const auto& s : probes_->sites()) {
        auto& r = heap[{s.tgid, s.stack_id}];
        by_slot[s.slot] = &r;
        r.tgid = s.tgid;
        r.stack_id = s.stack_id;
        r.alloc_bytes = static_cast<double>(s.stats.alloc_bytes);
        r.alloc_count = static_cast<double>(s.stats.alloc_count_q10) / 1024.0;
        r.free_bytes = static_cast<double>(s.stats.free_bytes);
        r.free_count = static_cast<double>(s.stats.free_count_q10) / 1024.0;
        r.live_bytes = r.alloc_bytes - r.free_bytes;
        r.live_count = r.alloc_count - r.free_count;
    }
    const uint64_t now = now_ns();
    for (const auto& o : probes_->outstanding()) {
        auto it = by_slot.find(o.info.slot);
        if (it == by_slot.end())
            continue;
        it->second->ages_s.push_back(static_cast<double>(now - std::min<uint64_t>(now, o.info.ts_ns)) / 1e9);
        it->second->weights.push_back(static_cast<double>(o.info.w_bytes));
    }
    std::vector<SiteReading> out;
    for (auto& [key, r] : heap)
        out.push_back(std::move(r));
    for (const auto& m : regions_.sites()) {
        SiteReading r;
        r.tgid = m.tgid;
        r.stack_id = m.stack_id;
        r.mmap = true;
        r.live_bytes = static_cast<double>(m.live_bytes);
        r.live_count = static_cast<double>(m.live_regions);
        r.alloc_bytes = static_cast<double>(m.mapped_bytes);
        r.free_bytes = static_cast<double>(m.unmapped_bytes);
        for (uint64_t ts : m.region_ts_ns) {
            r.ages_s.push_back(static_cast<double>(now - std::min<uint64_t>(now, ts)) / 1e9);
            r.weights.push_back(0);
        }
        out.push_back(std::move(r));
    }
    return out;
}

} // namespace memsight::deep
