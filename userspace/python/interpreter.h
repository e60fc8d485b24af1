#pragma once
// Finding the CPython interpreter in a process: the mapped object (the executable of a static build, or
// libpython3.X.so) that defines _PyRuntime, where the process loaded it, its version and its layout.
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "python/layout.h"
#include "python/remote_memory.h"
#include "util/error.h"

namespace memsight::python {

struct Interpreter {
    std::string object;       // path of the object as /proc/PID/maps names it
    std::string host_object;  // a path memsight can open it at (through /proc/PID/root when it must)
    bool in_executable = false; // a statically linked interpreter (the executable defines _PyRuntime)
    uint64_t runtime = 0;     // address of _PyRuntime in the process
    uint64_t interp = 0;      // the first interpreter of _PyRuntime.interpreters (the newest; normally the main one)
    uint64_t code_type = 0;   // &PyCode_Type: what a code object's ob_type must be (0 when not found)
    uint64_t eval_start = 0, eval_end = 0; // _PyEval_EvalFrameDefault in the process (0 when not found)
    Layout layout;
};

// The process maps no CPython interpreter (callers that try every process skip it silently).
class NotPython : public UserError {
public:
    using UserError::UserError;
};

// Throws NotPython ("pid N is not a Python process (...)"), or UserError with one line: "pid N: Python older than
// 3.11 ...", "pid N: unsupported Python version 3.14.0 (...)", "pid N: Python 3.13.5 is a free-threaded build:
// not supported", "pid N: the interpreter is not initialized yet", and the errors of RemoteMemory.
Interpreter find_interpreter(pid_t pid, RemoteMemory& memory);

} // namespace memsight::python
