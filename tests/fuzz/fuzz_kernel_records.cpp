// Ring-buffer records of the always-on BPF programs -> typed kernel events (loader/kernel_records.h). The bytes
// come from the kernel, but a BPF object of another version (an ABI mismatch) or a short record must be refused,
// never read beyond `size`. The decoder gets a heap copy of exactly `size` bytes (malloc-aligned, as ring buffer
// records are 8-aligned), so ASan catches a read past the record's end.
#include "loader/kernel_records.h"
#include "memsight/events.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::unique_ptr<uint8_t[]> record(new uint8_t[size]);
    if (size > 0)
        std::memcpy(record.get(), data, size);
    const auto event = memsight::loader::decode_record(record.get(), size);
    if (event && size < sizeof(memsight_event_header))
        std::abort();
    return 0;
}
