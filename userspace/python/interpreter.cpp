#include "python/interpreter.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <variant>

#include "deep/allocators.h"
#include "deep/elf_file.h"
#include "procfs/read_file.h"
#include "util/error.h"

namespace memsight::python {
namespace {

struct Candidate {
    deep::MapEntry first; // the mapping of file offset 0
    bool is_exe = false;
};

// The executable and every mapped libpython*: the only objects that can define _PyRuntime (an embedding
// program links libpython or is itself a static build).
std::vector<Candidate> candidates(const std::vector<deep::MapEntry>& maps, const std::string& exe)
{
    std::vector<Candidate> out;
    std::set<std::string> seen;
    for (const auto& e : maps) {
        if (e.offset != 0 || e.path.empty() || e.path.front() != '/' || !seen.insert(e.path).second)
            continue;
        const std::string base = std::filesystem::path(e.path).filename().string();
        const bool is_exe = e.path == exe;
        if (is_exe || base.starts_with("libpython"))
            out.push_back({e, is_exe});
    }
    std::stable_partition(out.begin(), out.end(), [](const Candidate& c) { return !c.is_exe; });
    return out; // libpython first: a dynamically linked python3 executable defines no _PyRuntime
}

} // namespace

Interpreter find_interpreter(pid_t pid, RemoteMemory& memory)
{
    const std::string who = "pid " + std::to_string(pid);
    const std::string base = "/proc/" + std::to_string(pid);
    const auto maps_text = procfs::read_file(base + "/maps");
    if (!maps_text)
        throw UserError("no such process: " + std::to_string(pid));
    std::error_code ec;
    const std::string exe = std::filesystem::read_symlink(base + "/exe", ec).string();

    std::string problems;
    for (const auto& c : candidates(deep::parse_maps(*maps_text), exe)) {
        std::string why;
        const auto host = deep::host_file(base, c.first, &why);
        auto elf = host ? deep::ElfFile::open(host->path, &why) : std::nullopt;
        if (!elf) {
            problems += "; " + why;
            continue;
        }
        const auto runtime = elf->find_any_symbol("_PyRuntime");
        const auto file_start = elf->vaddr_of_file_start();
        if (!runtime || !file_start)
            continue;
        const uint64_t bias = c.first.start - *file_start;

        const auto version_sym = elf->find_any_symbol("Py_Version");
        if (!version_sym)
            throw UserError(who + ": Python older than 3.11 in " + c.first.path +
                            " (no Py_Version symbol): not supported");
        const auto version = memory.read_value<uint32_t>(bias + version_sym->vaddr);
        if (!version)
            throw UserError(who + ": cannot read Py_Version in " + c.first.path);

        std::vector<uint8_t> start(kDebugOffsetsBytes);
        const uint64_t runtime_addr = bias + runtime->vaddr;
        if (!memory.read(runtime_addr, start.data(), start.size()))
            throw UserError(who + ": cannot read _PyRuntime in " + c.first.path);
        auto layout = select_layout(*version, start);
        if (auto* e = std::get_if<LayoutError>(&layout))
            throw UserError(who + ": " + e->message);

        Interpreter in;
        in.object = c.first.path;
        in.host_object = host->path;
        in.in_executable = c.is_exe;
        in.runtime = runtime_addr;
        in.layout = std::get<Layout>(std::move(layout));
        const auto head = memory.read_value<uint64_t>(runtime_addr + in.layout.runtime_interpreters_head);
        if (!head)
            throw UserError(who + ": cannot read _PyRuntime.interpreters");
        if (*head == 0)
            throw UserError(who + ": the Python interpreter is not initialized yet (or already finalized)");
        in.interp = *head;
        if (const auto code_type = elf->find_any_symbol("PyCode_Type"))
            in.code_type = bias + code_type->vaddr;
        if (const auto eval = elf->find_any_symbol("_PyEval_EvalFrameDefault"); eval && eval->size) {
            in.eval_start = bias + eval->vaddr;
            in.eval_end = in.eval_start + eval->size;
        }
        return in;
    }
    throw NotPython(who + " is not a Python process (no mapped executable or libpython defines _PyRuntime" +
                    problems + ")");
}

} // namespace memsight::python
