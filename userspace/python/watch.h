#pragma once
// A CPython process watched over a deep-tier session (`memsight leaks`, the agent's sessions): a heap census at
// the start and the latest one, and the classes whose live instances grew in between.
#include "python/census.h"
#include "python/interpreter.h"
#include "python/remote_memory.h"

#include <sys/types.h>

#include <memory>
#include <optional>
#include <vector>

namespace memsight::python {

struct Watch {
    std::unique_ptr<RemoteMemory> memory;
    Interpreter interpreter;
    Census first, latest; // latest: the first until update()
};

// Finds the interpreter and takes the first census. nullopt when the process is not Python (NotPython); throws
// UserError when it is but cannot be read (an unsupported version, no permission, it exited).
std::optional<Watch> start_watch(pid_t pid);
// Takes a new latest census; throws UserError when the process exited.
void update(Watch& w);
// Types whose live count grew from the first census to the latest, fastest-growing first (ties by name), at most
// `top`.
std::vector<TypeDelta> growing_types(const Watch& w, size_t top);

} // namespace memsight::python
