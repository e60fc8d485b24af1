#pragma once
// A heap census of a CPython process from outside: every object the cyclic GC tracks (instances of Python
// classes, containers, functions, types...), counted and sized per type, read with process_vm_readv while the
// target keeps running. Objects the GC does not track (int, float, str, bytes, and dicts/tuples CPython has
// untracked because they hold only atomic values) are not seen.
//
// Size of an object ("bytes"): tp_basicsize + |ob_size| * tp_itemsize, plus the GC header and, for types with a
// managed __dict__ or weakref list, the two pointers before it (sys.getsizeof's accounting), plus a list's item
// array (allocated * 8). Storage a container allocates separately (a dict's keys and values, a set's table,
// an instance's managed dict values) is not included: the census reads headers only.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "python/interpreter.h"
#include "python/layout.h"
#include "python/remote_memory.h"

namespace memsight::python {

struct TypeCount {
    std::string type; // module-qualified class name ("__main__.Session", "dict", "collections.OrderedDict")
    uint64_t count = 0;
    uint64_t bytes = 0;
};

struct Census {
    std::chrono::steady_clock::time_point at; // when the walk started
    double seconds = 0;                       // how long the walk took
    std::vector<TypeCount> types;             // most objects first
    uint64_t objects = 0, bytes = 0;
    // Nothing is dropped silently: objects whose header or type could not be read, and GC lists that kept
    // changing under the reader (walked partly: the objects before the break are counted).
    uint64_t skipped_objects = 0;
    uint64_t incomplete_lists = 0;
    uint64_t retries = 0;
    // Counted, but sized by tp_basicsize alone: generators and coroutines (their frame is inline, no ob_size)
    // and objects whose ob_size or list capacity is beyond belief (read while changing).
    uint64_t unsized_objects = 0;
    std::vector<std::string> notes; // one line per incomplete list
    uint64_t reads = 0;             // process_vm_readv calls
    // CensusOptions::locate: where each object of those types is (the object's address, after its GC header).
    std::unordered_map<std::string, std::vector<uint64_t>> located;
    // The type objects (PyTypeObject *) behind each name of `types` (two classes may share a name).
    std::unordered_map<std::string, std::vector<uint64_t>> type_objects;
};

struct CensusOptions {
    uint64_t max_objects_per_list = 50'000'000; // bound of one list walk (a corrupt or cyclic list ends here)
    int attempts = 3;                           // walks of a list that changed under the reader before giving up
    bool stop_target = false;                   // SIGSTOP the target during the walk (SIGCONT after)
    std::unordered_set<std::string> locate;     // types (as named in TypeCount) whose objects' addresses are kept
};

// Census of one interpreter. Throws UserError when the process exits, or when the GC list heads are not where
// the layout says (a layout check: the census then refuses rather than name objects from wrong offsets).
Census take_census(RemoteMemory& memory, const Interpreter& interpreter, const CensusOptions& options = {});

// ---- pure parts ----

// How Python names a class: "module.qualname", or the bare qualname for builtins (and when the module is
// unknown, as type.__repr__ does for a class without __module__).
std::string qualified_name(std::string_view module, std::string_view qualname);

// The census's size of one object (see above). `list_allocated` is used only when is_list.
uint64_t object_size(const Layout& layout, uint64_t basicsize, uint64_t itemsize, int64_t ob_size, uint64_t flags,
                     bool is_list, int64_t list_allocated);

// Growth per type between two censuses of the same process.
struct TypeDelta {
    std::string type;
    uint64_t count_first = 0, count_last = 0, bytes_first = 0, bytes_last = 0;
    int64_t count_delta = 0, bytes_delta = 0;
    double count_per_s = 0, bytes_per_s = 0;
};
// Every type whose count or bytes changed, most grown bytes first (then count); per second over the time
// between the two walks' starts.
std::vector<TypeDelta> diff(const Census& first, const Census& last);

// A str object's contents (compact strs of at most 1024 code units), read from the process; nullopt otherwise.
std::optional<std::string> read_str(RemoteMemory& memory, const Layout& layout, uint64_t addr);

// Compact str contents (PyUnicode kind 1, 2 or 4 code units) as UTF-8.
std::string code_units_to_utf8(const uint8_t* data, size_t length, unsigned kind);

} // namespace memsight::python
