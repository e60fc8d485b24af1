#pragma once
// The Python side of `memsight leaks --pid P` on a CPython process (docs/python.md):
//  - a heap census before the session and one after: the classes whose live instances grew;
//  - which Python code made those instances. After a warm-up (an eighth of the session, 1-5 s) a census names
//    the classes growing so far, and a return probe on PyType_GenericAlloc records each new object of those
//    classes with the Python stack that made it ("allocation"). Every page fault of the process is sampled too,
//    with its Python stack ("page"): where the probe records nothing (a build whose allocation path is inlined,
//    like Debian trixie's 3.13), a live object counts for the stack that faulted in its page.
//    A closing census locates every live instance of the growing classes and counts them per site.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>

#include <nlohmann/json.hpp>

namespace memsight::cli {

struct PythonSide;
struct PythonSideDeleter {
    void operator()(PythonSide* p) const;
};
using PythonSidePtr = std::unique_ptr<PythonSide, PythonSideDeleter>;

// nullptr, silently, for a process that is not Python; one warning line when it is but cannot be read, and one
// when the objects cannot be attributed to code (no BPF privilege, or its frames cannot be read).
PythonSidePtr start_python_side(pid_t pid, std::chrono::milliseconds session);
// After the session: the closing census and the sites. Resets `side` (with a warning) when the process exited.
void finish_python_side(PythonSidePtr& side, size_t top);

nlohmann::ordered_json python_json(const PythonSide& side, size_t top);
void print_python(const PythonSide& side, size_t top);

} // namespace memsight::cli
