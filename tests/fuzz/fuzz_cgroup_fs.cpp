// cgroupfs and mountinfo text -> their parsers (procfs/cgroup_fs.h): /proc/self/mountinfo (mount points are named
// by whoever mounts them, escapes included), memory.stat / memory.events / memory.oom_control, and the limit files.
// A container's own files are written by its kernel, but the agent must not trust their shape.
#include "procfs/cgroup_fs.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace memsight::procfs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto m = find_memory_cgroup_mount(text)) {
        // Unescaping only shortens a field: the mount point and root come out of the text, never longer.
        if (m->mount_point.size() > size || m->root.size() > size)
            std::abort();
    }
    for (const auto& [key, value] : parse_flat_keyed(text)) {
        if (key.empty() || key.size() > size)
            std::abort();
        (void)value;
    }
    if (auto limit = parse_limit(text)) {
        if (*limit >= (uint64_t{1} << 62)) // "no limit" must read as nullopt, never as a number
            std::abort();
    }
    return 0;
}
