#include "cli/python_side.h"

#include "cli/commands.h"
#include "cli/fault_sampling.h"
#include "python/object_sites.h"
#include "python/watch.h"
#include "symbolize/symbolizer.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace memsight::cli {
namespace {

constexpr size_t kSitesPerType = 3;
constexpr size_t kWatchedClasses = 8; // classes growing at the warm-up whose new objects are recorded

struct Site {
    std::string function;                 // the Python function that made the objects
    uint64_t by_allocation = 0, by_page = 0; // live objects attributed, by either way
    std::vector<symbolize::Frame> frames; // its heaviest stack, native frames included (page faults)
};
struct TypeSites {
    uint64_t located = 0, by_allocation = 0, by_page = 0;
    std::vector<Site> sites; // most objects first, at most kSitesPerType
};

// The frame that made an object of `type` ("mod.Class"): the innermost named Python frame that is not a method
// of the class itself (its __init__ builds its attributes; its caller made it). Index into frames, or SIZE_MAX.
size_t maker_index(const std::vector<symbolize::Frame>& frames, std::string_view type)
{
    const auto dot = type.rfind('.');
    const std::string own = std::string(dot == std::string_view::npos ? type : type.substr(dot + 1)) + ".";
    size_t first = SIZE_MAX;
    for (size_t i = 0; i < frames.size(); ++i) {
        if (!frames[i].python || frames[i].function.empty())
            continue;
        if (first == SIZE_MAX)
            first = i;
        if (!frames[i].function.starts_with(own))
            return i;
    }
    return first;
}

} // namespace

struct PythonSide {
    pid_t pid = 0;
    python::Watch watch;
    std::unique_ptr<loader::AlwaysOnProbes> probes; // nullptr: no sites (why was logged)
    std::chrono::steady_clock::time_point warm_up_ends;
    bool allocations_watched = false;
    std::string allocation_note; // why the allocation probe is not attached, when it is not

    std::mutex mu; // pages, made, recorded
    python::PageStacks pages{4096};
    python::PageStacks made{1};
    std::map<uint64_t, uint64_t> recorded; // new objects recorded, per type object
    std::atomic<bool> stop{false};
    std::thread drainer;

    std::map<std::string, TypeSites> sites; // by type, for the growing types
    KernelCounters counters;

    void drain()
    {
        auto faults = probes->drain_faults();
        auto allocs = probes->drain_python_allocs();
        std::lock_guard lock(mu);
        for (const auto& fs : faults)
            pages.add(fs.user_stack, fs.addresses);
        for (const auto& a : allocs) {
            made.add(a.stack, {a.object});
            ++recorded[a.type];
        }
    }

    // At the end of the warm-up: the classes growing so far are the ones whose new objects are recorded.
    void watch_allocations()
    {
        allocations_watched = true;
        try {
            python::update(watch);
            size_t n = 0;
            for (const auto& d : python::growing_types(watch, kWatchedClasses)) {
                if (d.count_delta <= 0)
                    continue;
                for (uint64_t type : watch.latest.type_objects[d.type])
                    probes->watch_python_type(pid, type);
                ++n;
            }
            if (n == 0) {
                allocation_note = "no class grew during the warm-up";
                return;
            }
            probes->attach_python_allocs(pid, watch.interpreter.host_object);
        } catch (const UserError& e) {
            allocation_note = e.what();
            spdlog::warn("python: new objects are not recorded ({}): their sites come from page faults only",
                         e.what());
        }
    }

    void run()
    {
        while (!stop.load()) {
            std::this_thread::sleep_for(kFaultDrainEvery);
            if (!allocations_watched && std::chrono::steady_clock::now() >= warm_up_ends)
                watch_allocations();
            drain();
        }
    }

    void finish_threads()
    {
        if (drainer.joinable()) {
            stop = true;
            drainer.join();
            drain();
            counters = probes->counters();
        }
    }

    // New objects of these type objects were recorded: Debian trixie's 3.13 inlines PyType_GenericAlloc where it
    // makes instances of classes, so its probe sees other types only.
    bool recorded_any(const std::vector<uint64_t>& types) const
    {
        return std::any_of(types.begin(), types.end(), [&](uint64_t t) { return recorded.contains(t); });
    }

    ~PythonSide() { finish_threads(); }
};

void PythonSideDeleter::operator()(PythonSide* p) const
{
    delete p;
}

namespace {

// The sites of one type's live objects: by the allocation that made each object, when the allocation probe
// recorded any new object of the type (`by_allocation`); else by the page fault that brought its page in. Page faults are not mixed in when
// the probe worked: a page first touched by other code (a freed object of the same size, made elsewhere) would
// name that code. Stacks that differ only below the frame that made the objects (native frames, the class's own
// methods) are one site.
TypeSites type_sites(const std::string& type, const std::vector<uint64_t>& objects, const python::PageStacks& made,
                     const python::PageStacks& pages, bool by_allocation, symbolize::ProcessSymbolizer* sym)
{
    TypeSites out;
    const auto by_alloc = made.attribute(by_allocation ? objects : std::vector<uint64_t>{}, SIZE_MAX);
    const auto by_page = pages.attribute(by_allocation ? std::vector<uint64_t>{} : objects, SIZE_MAX);
    out.located = objects.size();
    out.by_allocation = by_alloc.attributed;
    out.by_page = by_page.attributed;
    std::map<std::vector<std::string>, Site> by_maker;
    for (const auto* a : {&by_alloc, &by_page}) {
        for (const auto& site : a->sites) {
            auto frames = symbolize::symbolize_stack(sym, site.stack);
            const size_t at = maker_index(frames, type);
            std::vector<std::string> key;
            for (size_t i = at; i < frames.size(); ++i)
                if (frames[i].python)
                    key.push_back(frames[i].to_string());
            auto& s = by_maker[key];
            if (s.function.empty())
                s.function = at == SIZE_MAX ? std::string("[no Python frame]") : frames[at].function;
            if (a == &by_alloc) {
                s.by_allocation += site.objects;
                if (s.frames.empty())
                    s.frames = std::move(frames);
            } else {
                s.by_page += site.objects;
                if (s.frames.empty() || s.by_allocation == 0) // a fault's stack has the native frames too
                    s.frames = std::move(frames);
            }
        }
    }
    for (auto& [key, s] : by_maker)
        out.sites.push_back(std::move(s));
    std::stable_sort(out.sites.begin(), out.sites.end(), [](const Site& x, const Site& y) {
        return x.by_allocation + x.by_page > y.by_allocation + y.by_page;
    });
    if (out.sites.size() > kSitesPerType)
        out.sites.resize(kSitesPerType);
    return out;
}

nlohmann::ordered_json frame_json(const symbolize::Frame& f)
{
    if (f.python)
        return {{"python", true}, {"function", f.function}, {"file", f.module}, {"line", f.line}};
    return {{"python", false}, {"function", f.function}, {"module", f.module}, {"offset", f.offset}};
}

// The Python frames of a stack, innermost first, as "fn (file:line)" (at most `max`).
std::string python_frames_text(const std::vector<symbolize::Frame>& frames, size_t max)
{
    std::string out;
    size_t n = 0;
    for (const auto& f : frames) {
        if (!f.python || f.function.empty())
            continue;
        if (n++ == max) {
            out += " <- ...";
            break;
        }
        out += (out.empty() ? "" : " <- ") + f.to_string();
    }
    return out.empty() ? "[no Python frame]" : out;
}

} // namespace

PythonSidePtr start_python_side(pid_t pid, std::chrono::milliseconds session)
{
    if (::kill(pid, 0) != 0 && errno == ESRCH)
        return nullptr; // the deep session says so, in one line
    PythonSidePtr side(new PythonSide);
    side->pid = pid;
    try {
        auto w = python::start_watch(pid);
        if (!w)
            return nullptr;
        side->watch = std::move(*w);
    } catch (const UserError& e) {
        spdlog::warn("python: no census: {}", e.what());
        return nullptr;
    }
    try {
        loader::AlwaysOnOptions opts;
        opts.lifecycle = false;
        opts.oom = false;
        opts.fault_sample_period = 1;
        opts.fault_tgid = pid;
        opts.fault_addresses = true;
        opts.python_allocs = true;
        side->probes = std::make_unique<loader::AlwaysOnProbes>(opts, [](const KernelEvent&) {});
        if (!side->probes->watch_python_process(pid))
            side->probes.reset();
    } catch (const UserError& e) {
        spdlog::warn("python: no Python sites for the growing classes: {}", e.what());
        side->probes.reset();
    }
    if (side->probes) {
        const auto warm_up = std::clamp<std::chrono::milliseconds>(session / 8, std::chrono::seconds(1),
                                                                   std::chrono::seconds(5));
        side->warm_up_ends = std::chrono::steady_clock::now() + warm_up;
        side->drainer = std::thread([s = side.get()] { s->run(); });
    }
    return side;
}

void finish_python_side(PythonSidePtr& side, size_t top)
{
    if (!side)
        return;
    side->finish_threads();
    auto& w = side->watch;
    try {
        python::update(w);
        if (!side->probes)
            return;
        python::CensusOptions locate;
        for (const auto& d : python::growing_types(w, top))
            locate.locate.insert(d.type);
        const auto census = python::take_census(*w.memory, w.interpreter, locate);
        auto sym = symbolize::ProcessSymbolizer::open(side->pid);
        for (const auto& [type, objects] : census.located)
            side->sites[type] = type_sites(type, objects, side->made, side->pages,
                                           side->recorded_any(census.type_objects.at(type)), sym.get());
    } catch (const UserError& e) { // the process exited during the session
        spdlog::warn("python: no closing census: {}", e.what());
        side.reset();
    }
}

nlohmann::ordered_json python_json(const PythonSide& side, size_t top)
{
    const auto& p = side.watch;
    nlohmann::ordered_json j;
    j["version"] = python::version_text(p.interpreter.layout.version_hex);
    j["census_span_seconds"] = std::chrono::duration<double>(p.latest.at - p.first.at).count();
    j["objects"] = p.latest.objects;
    j["skipped_objects"] = p.first.skipped_objects + p.latest.skipped_objects;
    j["python_stacks"] = side.probes != nullptr;
    if (side.probes) {
        uint64_t recorded = 0;
        for (const auto& [type, n] : side.recorded)
            recorded += n;
        j["allocation_probe"] = {{"attached", side.allocation_note.empty() && side.allocations_watched},
                                 {"note", side.allocation_note},
                                 {"recorded", recorded},
                                 {"calls", side.counters.python_alloc_calls},
                                 {"lost", side.counters.lost_python_alloc_ring}};
    }
    auto& types = j["growing_types"] = nlohmann::ordered_json::array();
    for (const auto& d : python::growing_types(p, top)) {
        nlohmann::ordered_json t{{"type", d.type},
                                 {"count", d.count_last},
                                 {"count_at_start", d.count_first},
                                 {"count_delta", d.count_delta},
                                 {"count_per_s", d.count_per_s},
                                 {"bytes", d.bytes_last},
                                 {"bytes_per_s", d.bytes_per_s}};
        if (auto it = side.sites.find(d.type); it != side.sites.end()) {
            const auto& ts = it->second;
            t["objects_located"] = ts.located;
            t["objects_by_allocation"] = ts.by_allocation;
            t["objects_by_page"] = ts.by_page;
            auto& sites = t["sites"] = nlohmann::ordered_json::array();
            for (const auto& site : ts.sites) {
                nlohmann::ordered_json sj{{"function", site.function},
                                          {"objects", site.by_allocation + site.by_page},
                                          {"objects_by_allocation", site.by_allocation},
                                          {"objects_by_page", site.by_page}};
                auto& fj = sj["frames"] = nlohmann::ordered_json::array();
                for (const auto& f : site.frames)
                    fj.push_back(frame_json(f));
                sites.push_back(std::move(sj));
            }
        }
        types.push_back(std::move(t));
    }
    return j;
}

void print_python(const PythonSide& side, size_t top)
{
    const auto& p = side.watch;
    const auto growth = python::growing_types(p, top);
    std::printf("\nPython %s: %llu GC-tracked objects; classes whose live instances grew over %.1f s (census at the "
                "start and the end):\n",
                python::version_text(p.interpreter.layout.version_hex).c_str(),
                static_cast<unsigned long long>(p.latest.objects),
                std::chrono::duration<double>(p.latest.at - p.first.at).count());
    if (growth.empty())
        std::printf("  none\n");
    for (const auto& d : growth) {
        std::printf("  %-40s %10llu live (+%lld, %.1f/s)  %s (+%s/s)\n", d.type.c_str(),
                    static_cast<unsigned long long>(d.count_last), static_cast<long long>(d.count_delta),
                    d.count_per_s, human_bytes(static_cast<double>(d.bytes_last)).c_str(),
                    human_bytes(d.bytes_per_s).c_str());
        const auto it = side.sites.find(d.type);
        if (it == side.sites.end())
            continue;
        const auto& ts = it->second;
        for (const auto& site : ts.sites)
            std::printf("      %8llu made by %s: %s\n",
                        static_cast<unsigned long long>(site.by_allocation + site.by_page), site.function.c_str(),
                        python_frames_text(site.frames, 4).c_str());
        std::printf("      %8llu not attributed (made before the allocation probe started, or on pages the process "
                    "already had)\n",
                    static_cast<unsigned long long>(ts.located - ts.by_allocation - ts.by_page));
    }
    if (side.probes && !side.allocation_note.empty())
        std::printf("  (new objects were not recorded: %s; sites by page faults)\n", side.allocation_note.c_str());
}

} // namespace memsight::cli
