// /proc/PID/maps text -> MapEntry (deep::parse_maps, deep/maps.cpp). Paths are the traced process's to choose
// (spaces, newlines escaped or not, " (deleted)" suffixes), so the parser must take any bytes.
#include "deep/allocators.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto entries = memsight::deep::parse_maps(text);
    for (const auto& e : entries) {
        if (e.perms.size() != 4 || e.path.size() > size)
            std::abort();
        if (e.deleted && !e.path.ends_with(" (deleted)"))
            std::abort();
        (void)e.executable();
    }
    return 0;
}
