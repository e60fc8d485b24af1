// A cgroup path -> container identity (procfs/container.h). The path comes from /proc/PID/cgroup, which a
// container runtime (or anyone with cgroupfs write access) names: the identity must stay well-formed.
#include "procfs/container.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace memsight::procfs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view path(reinterpret_cast<const char*>(data), size);
    const ContainerIdentity id = identify_container(path);
    // container.h: a container id is 64 lower-case hex digits or empty (a bare id outside docker and kubepods
    // may have no runtime: that is "unknown", not an error).
    if (!id.container_id.empty()) {
        if (id.container_id.size() != 64)
            std::abort();
        for (const char c : id.container_id)
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                std::abort();
    }
    if (id.pod_uid.size() > size)
        std::abort();
    return 0;
}
