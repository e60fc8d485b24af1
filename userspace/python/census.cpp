// The heap census: walks the interpreter's GC lists with bounded, validated reads and sums objects per type.
#include "python/census.h"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <thread>
#include <unordered_set>

#include "procfs/proc_parse.h"
#include "procfs/read_file.h"
#include "util/error.h"

namespace memsight::python {
namespace {

constexpr uint64_t kTagBits = 3;          // low bits of _gc_prev (and _gc_next while collecting) are flags
constexpr size_t kMaxNameBytes = 1024;    // longer qualnames / modules are not read
constexpr uint64_t kMaxDictEntries = 1u << 16;
constexpr uint64_t kMaxBasicSize = 1u << 24; // a type claiming more is not a type: its objects are skipped
constexpr uint64_t kMaxItems = uint64_t{1} << 32; // an ob_size or list capacity beyond this is not believed

bool plausible_pointer(uint64_t p)
{
    return p != 0 && (p & 7) == 0 && p < (uint64_t{1} << 56);
}

struct TypeInfo {
    bool ok = false; // readable: else its objects are counted as skipped
    std::string name;
    uint64_t basicsize = 0, itemsize = 0, flags = 0;
    bool is_list = false;
    // tp_itemsize is set but the ob_size slot holds something else (generators keep their frame inline and
    // have no ob_size): sized by tp_basicsize alone, and counted as not fully sized.
    bool no_ob_size = false;
    bool located = false; // CensusOptions::locate names it: its objects' addresses are kept
};

bool without_ob_size(std::string_view static_type_name)
{
    return static_type_name == "generator" || static_type_name == "coroutine" ||
           static_type_name == "async_generator";
}

class Walker {
public:
    Walker(RemoteMemory& memory, const Interpreter& in, const CensusOptions& options)
        : mem_(memory), in_(in), l_(in.layout), options_(options)
    {
    }

    Census run();

private:
    struct Tally {
        uint64_t count = 0, bytes = 0;
        std::vector<uint64_t> addresses; // of a located type's objects
    };
    struct Walk {
        bool complete = false;
        std::string why; // when not complete
        uint64_t objects = 0, skipped = 0, unsized = 0;
        std::unordered_map<uint64_t, Tally> by_type; // type address -> tally
    };

    Walk walk_list(uint64_t head, const std::unordered_set<uint64_t>& heads);
    const TypeInfo& type_info(uint64_t type);
    TypeInfo read_type(uint64_t type);
    std::optional<std::string> read_str(uint64_t addr) { return python::read_str(mem_, l_, addr); }
    std::optional<uint64_t> dict_lookup(uint64_t dict, std::string_view key);
    bool collecting();
    void check_heads(const std::vector<uint64_t>& heads);

    RemoteMemory& mem_;
    const Interpreter& in_;
    const Layout& l_;
    const CensusOptions& options_;
    std::unordered_map<uint64_t, TypeInfo> types_;
    uint64_t module_key_ = 0; // address of the interned "__module__" once found
};

// The value of a str key in a combined-table dict (a type's __dict__), or nullopt.
std::optional<uint64_t> Walker::dict_lookup(uint64_t dict, std::string_view key)
{
    uint64_t keys = 0, values = 0;
    if (!plausible_pointer(dict) || !mem_.read(dict + l_.dict_ma_keys, &keys, 8) ||
        !mem_.read(dict + l_.dict_ma_values, &values, 8) || values != 0 || !plausible_pointer(keys))
        return std::nullopt;
    uint8_t header[40];
    if (!mem_.read(keys, header, sizeof header))
        return std::nullopt;
    const uint8_t log2_index_bytes = header[l_.dk_log2_index_bytes], kind = header[l_.dk_kind];
    int64_t nentries = 0;
    std::memcpy(&nentries, header + l_.dk_nentries, sizeof nentries);
    if (log2_index_bytes > 24 || kind > 1 || nentries < 0 || static_cast<uint64_t>(nentries) > kMaxDictEntries)
        return std::nullopt;
    const size_t entry = kind == 0 ? 24 : 16; // PyDictKeyEntry {hash, key, value} / PyDictUnicodeEntry {key, value}
    const size_t key_at = kind == 0 ? 8 : 0;
    std::vector<uint64_t> entries(static_cast<size_t>(nentries) * entry / 8);
    const uint64_t first = keys + l_.dk_indices + (uint64_t{1} << log2_index_bytes);
    if (!entries.empty() && !mem_.read(first, entries.data(), entries.size() * 8))
        return std::nullopt;
    const bool cached = key == "__module__" && module_key_ != 0;
    for (int pass = cached ? 0 : 1; pass < 2; ++pass) { // pass 0: by the cached address; 1: by reading the keys
        for (size_t i = 0; i < static_cast<size_t>(nentries); ++i) {
            const uint64_t k = entries[(i * entry + key_at) / 8], v = entries[(i * entry + key_at + 8) / 8];
            if (k == 0)
                continue;
            if (pass == 0 ? k == module_key_ : read_str(k) == key) {
                if (key == "__module__")
                    module_key_ = k;
                return v;
            }
        }
    }
    return std::nullopt;
}

TypeInfo Walker::read_type(uint64_t type)
{
    TypeInfo t;
    std::vector<uint8_t> b(l_.tp_dict + 8);
    if (!plausible_pointer(type) || !mem_.read(type, b.data(), b.size()))
        return t;
    auto u64 = [&](uint64_t off) {
        uint64_t v = 0;
        std::memcpy(&v, b.data() + off, 8);
        return v;
    };
    t.basicsize = u64(l_.tp_basicsize);
    t.itemsize = u64(l_.tp_itemsize);
    t.flags = u64(l_.tp_flags);
    if (t.basicsize == 0 || t.basicsize > kMaxBasicSize || t.itemsize > kMaxBasicSize)
        return t;
    const auto tp_name = mem_.read_cstring(u64(l_.tp_name), kMaxNameBytes);
    if (!tp_name || tp_name->empty())
        return t;
    t.name = *tp_name;
    if (t.flags & l_.flag_heaptype) {
        // A class statement's type has tp_name "Session": the module comes from its __dict__['__module__'] and
        // the nesting from ht_qualname, as type.__repr__ builds "<class 'app.views.Session'>".
        uint64_t qualname_ptr = 0;
        const auto qualname =
            mem_.read(type + l_.ht_qualname, &qualname_ptr, 8) ? read_str(qualname_ptr) : std::nullopt;
        const auto module_ptr = dict_lookup(u64(l_.tp_dict), "__module__");
        const auto module = module_ptr ? read_str(*module_ptr) : std::nullopt;
        if (qualname)
            t.name = qualified_name(module.value_or(""), *qualname);
    }
    t.is_list = !(t.flags & l_.flag_heaptype) && t.name == "list";
    t.no_ob_size = t.itemsize != 0 && !(t.flags & l_.flag_heaptype) && without_ob_size(t.name);
    t.ok = true;
    return t;
}

const TypeInfo& Walker::type_info(uint64_t type)
{
    auto it = types_.find(type);
    if (it == types_.end()) {
        TypeInfo t = read_type(type);
        t.located = t.ok && options_.locate.contains(t.name);
        it = types_.emplace(type, std::move(t)).first;
    }
    return it->second;
}

bool Walker::collecting()
{
    const auto c = mem_.read_value<int32_t>(in_.interp + l_.interp_gc + l_.gc_collecting);
    return c && *c != 0;
}

// The layout check: every list head must be an empty list (pointing to itself) or link to a node that links
// back to it. A table that does not fit the binary fails here instead of producing names from wrong offsets.
void Walker::check_heads(const std::vector<uint64_t>& heads)
{
    const auto id = mem_.read_value<int64_t>(in_.interp + l_.interp_id);
    for (int attempt = 0;; ++attempt) {
        bool ok = id && *id >= 0 && *id < (1 << 20);
        for (uint64_t h : heads) {
            uint64_t head[2] = {0, 0}, next[2] = {0, 0};
            ok = ok && mem_.read(h, head, sizeof head);
            if (ok && (head[0] & ~kTagBits) != h) // not empty: the first node must link back to the head
                ok = plausible_pointer(head[0] & ~kTagBits) && mem_.read(head[0] & ~kTagBits, next, sizeof next) &&
                     (next[1] & ~kTagBits) == h;
        }
        if (ok)
            return;
        if (attempt + 1 >= options_.attempts)
            throw UserError("pid " + std::to_string(mem_.pid()) + ": Python " + version_text(l_.version_hex) +
                            ": the GC lists are not where the layout (" + l_.source +
                            ") says: this build is not supported");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

Walker::Walk Walker::walk_list(uint64_t head, const std::unordered_set<uint64_t>& heads)
{
    Walk w;
    uint64_t prev = head;
    uint64_t first[2];
    if (!mem_.read(head, first, sizeof first)) {
        w.why = "its head is unreadable";
        return w;
    }
    uint64_t node = first[0] & ~kTagBits;
    // One read per object: the GC header, then ob_refcnt, ob_type, ob_size and (lists) ob_item, allocated.
    const size_t want = l_.gc_head_size + l_.list_allocated + 8;
    std::vector<uint8_t> buf(want);
    auto at = [&](uint64_t off) {
        uint64_t v = 0;
        std::memcpy(&v, buf.data() + off, 8);
        return v;
    };
    while (node != head) {
        if (w.objects + w.skipped >= options_.max_objects_per_list) {
            w.why = "more than " + std::to_string(options_.max_objects_per_list) + " objects";
            return w;
        }
        if (!plausible_pointer(node) || heads.contains(node)) {
            w.why = heads.contains(node) ? "it was merged into another list" : "a link is not a pointer";
            return w;
        }
        size_t got = want;
        if (!mem_.read_cached(node, buf.data(), got)) {
            got = l_.gc_head_size + l_.ob_type + 8; // a small object at the end of a mapping
            if (!mem_.read_cached(node, buf.data(), got)) {
                w.why = "an object is unreadable (freed?)";
                return w;
            }
        }
        if ((at(8) & ~kTagBits) != prev) { // _gc_prev must point back where we came from
            w.why = "it changed under the reader";
            return w;
        }
        const uint64_t obj = l_.gc_head_size;
        const TypeInfo& t = type_info(at(obj + l_.ob_type));
        const bool var = t.itemsize != 0 || t.is_list;
        if (!t.ok || (var && got < want)) {
            ++w.skipped;
        } else {
            int64_t ob_size = t.itemsize == 0 || t.no_ob_size ? 0 : static_cast<int64_t>(at(obj + l_.ob_size));
            if ((t.flags & l_.flag_long_subclass) && l_.long_tag_shift != 0) // 3.12+: lv_tag, digits << 3
                ob_size = ob_size >> l_.long_tag_shift;
            int64_t allocated = t.is_list ? static_cast<int64_t>(at(obj + l_.list_allocated)) : 0;
            const uint64_t items = ob_size < 0 ? uint64_t(0) - uint64_t(ob_size) : uint64_t(ob_size);
            if (t.no_ob_size || items > kMaxItems || (allocated < 0 || uint64_t(allocated) > kMaxItems)) {
                ++w.unsized; // sized by tp_basicsize alone
                if (!t.no_ob_size)
                    ob_size = allocated = 0;
            }
            auto& tally = w.by_type[at(obj + l_.ob_type)];
            ++tally.count;
            tally.bytes += object_size(l_, t.basicsize, t.itemsize, ob_size, t.flags, t.is_list, allocated);
            if (t.located)
                tally.addresses.push_back(node + l_.gc_head_size);
            ++w.objects;
        }
        prev = node;
        node = at(0) & ~kTagBits;
    }
    w.complete = true;
    return w;
}

Census Walker::run()
{
    Census c;
    c.at = std::chrono::steady_clock::now();
    const uint64_t gc = in_.interp + l_.interp_gc;
    const auto generation0 = mem_.read_value<uint64_t>(gc + l_.gc_generation0);
    if (!generation0 || *generation0 < gc || *generation0 >= gc + l_.gc_state_size)
        throw UserError("pid " + std::to_string(mem_.pid()) + ": Python " + version_text(l_.version_hex) +
                        ": the GC state's generation0 pointer is not inside it (layout: " + l_.source +
                        "): this build is not supported");
    std::vector<uint64_t> head_addrs;
    std::unordered_set<uint64_t> heads;
    for (const auto& list : l_.gc_lists) {
        head_addrs.push_back((list.from_generation0 ? *generation0 : gc) + list.offset);
        heads.insert(head_addrs.back());
    }
    check_heads(head_addrs);

    std::unordered_map<uint64_t, Tally> by_type;
    for (size_t i = 0; i < l_.gc_lists.size(); ++i) {
        std::unordered_set<uint64_t> others = heads;
        others.erase(head_addrs[i]);
        Walk best;
        for (int attempt = 0; attempt < options_.attempts; ++attempt) {
            if (attempt > 0) {
                ++c.retries;
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            if (collecting()) { // the target's collector is moving objects between lists right now
                best.why = "the target's GC was collecting";
                continue;
            }
            mem_.clear_cache(); // a retry reads afresh
            Walk w = walk_list(head_addrs[i], others);
            const bool done = w.complete;
            if (done || w.objects + w.skipped >= best.objects + best.skipped)
                best = std::move(w);
            if (done)
                break;
        }
        if (!best.complete) {
            ++c.incomplete_lists;
            c.notes.push_back(l_.gc_lists[i].name + ": walk stopped after " + std::to_string(best.objects) +
                              " objects in each of " + std::to_string(options_.attempts) + " attempts (" + best.why +
                              "); the rest of that list is not counted");
        }
        c.skipped_objects += best.skipped;
        c.unsized_objects += best.unsized;
        for (auto& [type, t] : best.by_type) {
            by_type[type].count += t.count;
            by_type[type].bytes += t.bytes;
            auto& into = by_type[type].addresses;
            into.insert(into.end(), t.addresses.begin(), t.addresses.end());
        }
    }

    std::map<std::string, TypeCount> by_name; // distinct type objects can share a name (two classes "Foo")
    for (const auto& [type, t] : by_type) {
        auto& tc = by_name[types_.at(type).name];
        tc.type = types_.at(type).name;
        c.type_objects[tc.type].push_back(type);
        tc.count += t.count;
        tc.bytes += t.bytes;
        if (!t.addresses.empty()) {
            auto& into = c.located[tc.type];
            into.insert(into.end(), t.addresses.begin(), t.addresses.end());
        }
        c.objects += t.count;
        c.bytes += t.bytes;
    }
    for (auto& [name, tc] : by_name)
        c.types.push_back(std::move(tc));
    std::stable_sort(c.types.begin(), c.types.end(), [](const TypeCount& a, const TypeCount& b) {
        return a.count != b.count ? a.count > b.count : a.bytes > b.bytes;
    });
    c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.at).count();
    return c;
}

// SIGSTOP for the walk (when asked), SIGCONT however the walk ends.
class StopGuard {
public:
    StopGuard(pid_t pid, bool stop) : pid_(stop ? pid : 0)
    {
        if (pid_ == 0)
            return;
        if (::kill(pid_, SIGSTOP) != 0)
            throw UserError("cannot stop process " + std::to_string(pid_) + ": " + std::strerror(errno));
        for (int i = 0; i < 200; ++i) { // until every thread is stopped (state T), at most ~1 s
            const auto text = procfs::read_file("/proc/" + std::to_string(pid_) + "/stat");
            const auto st = text ? procfs::parse_stat(*text) : std::nullopt;
            if (!st || st->state == 'T')
                break;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    ~StopGuard()
    {
        if (pid_ != 0)
            ::kill(pid_, SIGCONT);
    }
    StopGuard(const StopGuard&) = delete;
    StopGuard& operator=(const StopGuard&) = delete;

private:
    pid_t pid_;
};

} // namespace

Census take_census(RemoteMemory& memory, const Interpreter& interpreter, const CensusOptions& options)
{
    memory.refresh_maps();
    const uint64_t reads_before = memory.reads();
    StopGuard stop(memory.pid(), options.stop_target);
    Walker walker(memory, interpreter, options);
    Census c = walker.run();
    c.reads = memory.reads() - reads_before;
    return c;
}

std::string qualified_name(std::string_view module, std::string_view qualname)
{
    if (module.empty() || module == "builtins")
        return std::string(qualname);
    return std::string(module) + "." + std::string(qualname);
}

uint64_t object_size(const Layout& layout, uint64_t basicsize, uint64_t itemsize, int64_t ob_size, uint64_t flags,
                     bool is_list, int64_t list_allocated)
{
    const uint64_t items = ob_size < 0 ? static_cast<uint64_t>(-ob_size) : static_cast<uint64_t>(ob_size);
    uint64_t size = basicsize + items * itemsize + layout.gc_head_size;
    if (flags & layout.flags_preheader)
        size += 2 * sizeof(uint64_t);
    if (is_list && list_allocated > 0)
        size += static_cast<uint64_t>(list_allocated) * sizeof(uint64_t);
    return size;
}

std::vector<TypeDelta> diff(const Census& first, const Census& last)
{
    const double dt = std::chrono::duration<double>(last.at - first.at).count();
    std::map<std::string, TypeDelta> by_name;
    for (const auto& t : first.types) {
        auto& d = by_name[t.type];
        d.count_first = t.count;
        d.bytes_first = t.bytes;
    }
    for (const auto& t : last.types) {
        auto& d = by_name[t.type];
        d.count_last = t.count;
        d.bytes_last = t.bytes;
    }
    std::vector<TypeDelta> out;
    for (auto& [name, d] : by_name) {
        d.type = name;
        d.count_delta = static_cast<int64_t>(d.count_last) - static_cast<int64_t>(d.count_first);
        d.bytes_delta = static_cast<int64_t>(d.bytes_last) - static_cast<int64_t>(d.bytes_first);
        if (d.count_delta == 0 && d.bytes_delta == 0)
            continue;
        d.count_per_s = dt > 0 ? static_cast<double>(d.count_delta) / dt : 0;
        d.bytes_per_s = dt > 0 ? static_cast<double>(d.bytes_delta) / dt : 0;
        out.push_back(std::move(d));
    }
    std::stable_sort(out.begin(), out.end(), [](const TypeDelta& a, const TypeDelta& b) {
        return a.bytes_delta != b.bytes_delta ? a.bytes_delta > b.bytes_delta : a.count_delta > b.count_delta;
    });
    return out;
}

std::string code_units_to_utf8(const uint8_t* data, size_t length, unsigned kind)
{
    std::string out;
    out.reserve(length);
    for (size_t i = 0; i < length; ++i) {
        uint32_t cp = 0;
        std::memcpy(&cp, data + i * kind, kind); // little-endian code units
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            cp = 0xfffd;
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xc0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xe0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (cp & 0x3f));
        }
    }
    return out;
}

std::optional<std::string> read_str(RemoteMemory& memory, const Layout& layout, uint64_t addr)
{
    if (!plausible_pointer(addr))
        return std::nullopt;
    uint8_t header[40];
    if (!memory.read(addr, header, sizeof header))
        return std::nullopt;
    int64_t length = 0;
    uint32_t state = 0;
    std::memcpy(&length, header + layout.unicode_length, sizeof length);
    std::memcpy(&state, header + layout.unicode_state, sizeof state);
    const unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (!compact || length < 0 || static_cast<uint64_t>(length) > kMaxNameBytes || (kind != 1 && kind != 2 && kind != 4))
        return std::nullopt;
    const uint64_t data = addr + (ascii ? layout.ascii_object_size : layout.compact_object_size);
    std::vector<uint8_t> units(static_cast<size_t>(length) * kind);
    if (!units.empty() && !memory.read(data, units.data(), units.size()))
        return std::nullopt;
    return code_units_to_utf8(units.data(), static_cast<size_t>(length), kind);
}

} // namespace memsight::python
