#pragma once
// Ring-buffer records of the always-on programs (the ABI in memsight/events.h) -> typed kernel events.
#include "memsight/kernel_events.h"

#include <cstddef>
#include <optional>

namespace memsight::loader {

// nullopt for a record too short for its type or of an unknown type (an ABI mismatch; counted as malformed).
std::optional<KernelEvent> decode_record(const void* data, size_t size);

} // namespace memsight::loader
