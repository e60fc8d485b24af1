// /proc/PID/status, /proc/PID/stat and /proc/PID/cgroup text -> their parsers (procfs/proc_parse.h). A process
// controls its own comm (prctl) and, inside a container, what its cgroup paths are called: each parser gets the
// same bytes, so one corpus of real /proc files feeds all three.
#include "procfs/proc_parse.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace memsight::procfs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto st = parse_status(text)) {
        // A name longer than the kernel's comm (15) is allowed (a file can say anything) but the line bounds it.
        if (st->name.size() > size)
            std::abort();
    }
    if (auto st = parse_stat(text)) {
        if (st->comm.size() > size)
            std::abort();
    }
    const auto lines = parse_proc_cgroup(text);
    // With the host's view (root "/") the path is the file's, verbatim; CgroupFs::read refuses one with "..".
    (void)memory_cgroup_path(lines);
    // Inside a cgroup namespace the path is resolved against the agent's root: the result, which the agent
    // appends to the cgroupfs mount point, is absolute and never climbs above the hierarchy's root.
    set_cgroup_namespace_root("/kubepods/pod-agent");
    const auto path = memory_cgroup_path(lines);
    set_cgroup_namespace_root("/");
    if (path && (path->empty() || path->front() != '/' || path->find("/../") != std::string::npos ||
                 path->ends_with("/..") || path->find("//") != std::string::npos))
        std::abort();
    for (const auto& l : lines)
        (void)normalize_cgroup_path(l.path);
    for (const auto piece : text::split_ws(text))
        (void)text::parse_u64(piece);
    return 0;
}
