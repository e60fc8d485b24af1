// memsight pyheap: live objects per Python type in a running CPython process, read from outside (no restart, no
// stop unless --stop), and their growth between the first and the last of several censuses.
#include "cli/commands.h"
#include "python/census.h"
#include "python/interpreter.h"
#include "python/remote_memory.h"
#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <thread>

namespace memsight::cli {
namespace {

struct PyheapArgs {
    pid_t pid = 0;
    std::string interval = "5s";
    int count = 1;
    size_t top = 20;
    std::string format = "text";
    bool stop = false;
};

nlohmann::json census_json(const python::Census& c, const python::Census& first, size_t top)
{
    nlohmann::json types = nlohmann::json::array();
    for (size_t i = 0; i < c.types.size() && i < top; ++i)
        types.push_back({{"type", c.types[i].type}, {"count", c.types[i].count}, {"bytes", c.types[i].bytes}});
    return {{"offset_s", std::chrono::duration<double>(c.at - first.at).count()},
            {"walk_s", c.seconds},
            {"objects", c.objects},
            {"bytes", c.bytes},
            {"types_total", c.types.size()},
            {"skipped_objects", c.skipped_objects},
            {"incomplete_lists", c.incomplete_lists},
            {"retries", c.retries},
            {"unsized_objects", c.unsized_objects},
            {"reads", c.reads},
            {"notes", c.notes},
            {"types", types}};
}

void print_census_line(const python::Census& c, int index, int count)
{
    std::printf("census %d/%d: %llu objects, %s in %.3f s (%zu types; %llu skipped, %llu incomplete lists, "
                "%llu retries, %llu sized by tp_basicsize alone)\n",
                index, count, static_cast<unsigned long long>(c.objects), mib(double(c.bytes)).c_str(), c.seconds,
                c.types.size(), static_cast<unsigned long long>(c.skipped_objects),
                static_cast<unsigned long long>(c.incomplete_lists), static_cast<unsigned long long>(c.retries), static_cast<unsigned long long>(c.unsized_objects));
    for (const auto& n : c.notes)
        std::printf("  note: %s\n", n.c_str());
    std::fflush(stdout);
}

int run_pyheap(const PyheapArgs& a)
{
    choice_arg(a.format, {"text", "json"}, "--format");
    if (a.pid <= 0)
        throw UserError("--pid must be a process id, got " + std::to_string(a.pid));
    at_least_one(static_cast<long long>(a.top), "--top");
    at_least_one(a.count, "--count");
    const auto interval = positive_duration_arg(a.interval, "--interval");

    python::RemoteMemory memory(a.pid);
    const auto interp = python::find_interpreter(a.pid, memory);
    const std::string version = python::version_text(interp.layout.version_hex);
    const bool text = a.format == "text";
    if (text)
        std::printf("pid %d: Python %s in %s (%s; layout from the %s)\n", a.pid, version.c_str(),
                    interp.object.c_str(), interp.in_executable ? "static build" : "shared libpython",
                    interp.layout.source.c_str());

    python::CensusOptions options;
    options.stop_target = a.stop;
    const auto& stop = stop_flag();
    std::vector<python::Census> censuses;
    auto next = std::chrono::steady_clock::now();
    for (int i = 0; i < a.count && !stop; ++i) {
        if (i > 0) {
            next += interval;
            while (!stop && std::chrono::steady_clock::now() < next)
                std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(
                    next - std::chrono::steady_clock::now(), std::chrono::milliseconds(100)));
            if (stop)
                break;
        }
        censuses.push_back(python::take_census(memory, interp, options));
        if (text)
            print_census_line(censuses.back(), i + 1, a.count);
    }
    if (censuses.empty())
        return 0;
    const auto& first = censuses.front();
    const auto& last = censuses.back();
    const auto growth = censuses.size() >= 2 ? python::diff(first, last) : std::vector<python::TypeDelta>{};
    const double span = std::chrono::duration<double>(last.at - first.at).count();

    if (!text) {
        nlohmann::json doc = {{"pid", a.pid},
                              {"python", version},
                              {"object", interp.object},
                              {"static", interp.in_executable},
                              {"layout", interp.layout.source}};
        doc["censuses"] = nlohmann::json::array();
        for (const auto& c : censuses)
            doc["censuses"].push_back(census_json(c, first, a.top));
        nlohmann::json g = nlohmann::json::array();
        for (size_t i = 0; i < growth.size() && i < a.top; ++i) {
            const auto& d = growth[i];
            g.push_back({{"type", d.type},
                         {"count", d.count_last},
                         {"bytes", d.bytes_last},
                         {"count_first", d.count_first},
                         {"bytes_first", d.bytes_first},
                         {"count_delta", d.count_delta},
                         {"bytes_delta", d.bytes_delta},
                         {"count_per_s", d.count_per_s},
                         {"bytes_per_s", d.bytes_per_s}});
        }
        doc["growth"] = g;
        doc["growth_span_s"] = span;
        std::printf("%s\n", doc.dump().c_str());
        return 0;
    }

    std::printf("\n%12s %12s  %s\n", "COUNT", "BYTES", "TYPE");
    for (size_t i = 0; i < last.types.size() && i < a.top; ++i)
        std::printf("%12llu %12llu  %s\n", static_cast<unsigned long long>(last.types[i].count),
                    static_cast<unsigned long long>(last.types[i].bytes), last.types[i].type.c_str());
    if (censuses.size() >= 2) {
        std::printf("\ngrowth over %.1f s (census 1 -> %zu):\n%10s %12s %10s %12s %12s  %s\n", span, censuses.size(),
                    "COUNT/s", "BYTES/s", "+COUNT", "+BYTES", "COUNT", "TYPE");
        for (size_t i = 0; i < growth.size() && i < a.top; ++i) {
            const auto& d = growth[i];
            std::printf("%10.1f %12.1f %+10lld %+12lld %12llu  %s\n", d.count_per_s, d.bytes_per_s,
                        static_cast<long long>(d.count_delta), static_cast<long long>(d.bytes_delta),
                        static_cast<unsigned long long>(d.count_last), d.type.c_str());
        }
        if (growth.empty())
            std::printf("  (no type changed)\n");
    }
    return 0;
}

} // namespace

void add_pyheap_command(CLI::App& app, Runner& run)
{
    auto args = std::make_shared<PyheapArgs>();
    auto* cmd = app.add_subcommand(
        "pyheap", "Live objects per Python type in a CPython process (3.11-3.13), read from outside, and their growth");
    cmd->add_option("--pid", args->pid, "The Python process")->required();
    cmd->add_option("--interval", args->interval, "Time between censuses (default 5s)");
    cmd->add_option("--count", args->count, "Censuses to take (default 1; 2 or more also print the growth)");
    cmd->add_option("--top", args->top, "Types shown (default 20)");
    cmd->add_option("--format", args->format, "text (default) or json");
    cmd->add_flag("--stop", args->stop, "Stop the process (SIGSTOP) while each census reads it: exact counts");
    cmd->callback([&run, args] { run = [args] { return run_pyheap(*args); }; });
}

} // namespace memsight::cli
