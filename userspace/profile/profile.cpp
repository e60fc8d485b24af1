// pprof and folded-stack encoders for deep-tier profiles (see profile.h).
#include "profile/profile.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <map>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <zlib.h>

#include "profile/pprof.pb.h"

namespace memsight::profile {
namespace {

std::string hex(uint64_t v)
{
    char buf[2 + 16 + 1];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

// Interns strings into Profile.string_table; index 0 is "".
class StringTable {
public:
    explicit StringTable(pprof::Profile& profile) : profile_(profile) { intern(""); }

    int64_t intern(const std::string& s)
    {
        auto [it, inserted] = index_.try_emplace(s, static_cast<int64_t>(profile_.string_table_size()));
        if (inserted) {
            profile_.add_string_table(s);
        }
        return it->second;
    }

private:
    pprof::Profile& profile_;
    std::unordered_map<std::string, int64_t> index_;
};

void add_value_type(pprof::ValueType* vt, StringTable& strings, const std::string& type, const std::string& unit)
{
    vt->set_type(strings.intern(type));
    vt->set_unit(strings.intern(unit));
}

// gzip (RFC 1952) of `data` via zlib.
std::string gzip(const std::string& data)
{
    z_stream zs{};
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("pprof: zlib deflateInit2 failed");
    }
    std::string out;
    out.resize(deflateBound(&zs, static_cast<uLong>(std::min<size_t>(data.size(), std::numeric_limits<uLong>::max()))) +
               64);
    size_t in_pos = 0;
    size_t out_pos = 0;
    constexpr size_t kChunk = std::numeric_limits<uInt>::max();
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (zs.avail_in == 0 && in_pos < data.size()) {
            const size_t n = std::min(kChunk, data.size() - in_pos);
            zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_pos));
            zs.avail_in = static_cast<uInt>(n);
            in_pos += n;
        }
        if (out_pos == out.size()) {
            out.resize(out.size() * 2);
        }
        const size_t room = std::min(kChunk, out.size() - out_pos);
        zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_pos);
        zs.avail_out = static_cast<uInt>(room);
        rc = deflate(&zs, in_pos == data.size() ? Z_FINISH : Z_NO_FLUSH);
        out_pos += room - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            deflateEnd(&zs);
            throw std::runtime_error("pprof: zlib deflate failed");
        }
    }
    deflateEnd(&zs);
    out.resize(out_pos);
    return out;
}

struct MappingInfo {
    uint64_t id = 0;
    bool has_functions = false;
    bool has_range = false;
    uint64_t min_address = 0; // lowest address seen in the module, and its module offset
    uint64_t min_offset = 0;
    uint64_t max_address = 0; // highest address seen
};

constexpr uint64_t kPage = 4096;

// The mapping's address range as /proc/pid/maps would show the module's code: page-aligned around the addresses
// seen, with the file offset of its start (address - memory_start + file_offset = module offset). pprof uses these
// to find the ELF segment when it re-symbolizes, so a mapping that starts at the load base with offset 0 (the
// non-executable first segment) would not do.
void set_range(pprof::Mapping& pm, const MappingInfo& m)
{
    if (!m.has_range) {
        return;
    }
    uint64_t start = m.min_address & ~(kPage - 1);
    if (m.min_address - start > m.min_offset) { // load base not page-aligned: start at the base itself
        start = m.min_address - m.min_offset;
    }
    const uint64_t offset = m.min_offset - (m.min_address - start);
    uint64_t limit = m.max_address == std::numeric_limits<uint64_t>::max() ? m.max_address : m.max_address + 1;
    if (limit <= std::numeric_limits<uint64_t>::max() - (kPage - 1)) {
        limit = (limit + kPage - 1) & ~(kPage - 1);
    }
    pm.set_memory_start(start);
    pm.set_memory_limit(limit);
    pm.set_file_offset(offset);
}

// Shared objects ("libc.so.6", "libfoo.so", "ld-linux-x86-64.so.2") and pseudo-files ("[vdso]") are not the main
// executable.
bool is_library(std::string_view file)
{
    if (file.empty() || file.front() == '[') {
        return true;
    }
    const size_t so = file.rfind(".so");
    if (so == std::string_view::npos) {
        return false;
    }
    const std::string_view rest = file.substr(so + 3);
    return rest.empty() || rest.front() == '.' || rest.front() == '_' || rest.front() == '-';
}

std::string folded_escape(std::string s)
{
    for (char& c : s) {
        if (c == ';') {
            c = ':';
        } else if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return s;
}

} // namespace

std::string frame_name(const Frame& frame)
{
    if (!frame.function.empty()) {
        return frame.function;
    }
    if (!frame.module.empty()) {
        return frame.module + "+" + hex(frame.module_offset);
    }
    return hex(frame.address);
}

std::string to_pprof_gz(const std::vector<Sample>& samples, const ProfileMeta& meta)
{
    pprof::Profile profile;
    StringTable strings(profile);

    add_value_type(profile.add_sample_type(), strings, "alloc_objects", "count");
    add_value_type(profile.add_sample_type(), strings, "alloc_space", "bytes");
    add_value_type(profile.add_sample_type(), strings, "inuse_objects", "count");
    add_value_type(profile.add_sample_type(), strings, "inuse_space", "bytes");
    profile.set_default_sample_type(strings.intern("inuse_space"));
    add_value_type(profile.mutable_period_type(), strings, "space", "bytes");
    profile.set_period(meta.sample_period);
    profile.set_time_nanos(meta.time_nanos);
    profile.set_duration_nanos(meta.duration_nanos);
    if (!meta.comment.empty()) {
        profile.add_comment(strings.intern(meta.comment));
    }

    // Mappings first: one per module, the main executable first (pprof treats mapping 1 as the main binary).
    std::vector<std::string> modules; // first-seen order
    std::map<std::string, MappingInfo> mappings;
    for (const Sample& s : samples) {
        for (const Frame& f : s.stack) {
            if (f.module.empty()) {
                continue;
            }
            auto [it, inserted] = mappings.try_emplace(f.module);
            MappingInfo& m = it->second;
            if (inserted) {
                modules.push_back(f.module);
            }
            m.has_functions = m.has_functions || !f.function.empty();
            if (f.module_offset > f.address) {
                continue; // inconsistent frame: no load base to derive a range from
            }
            if (!m.has_range || f.address < m.min_address) {
                m.min_address = f.address;
                m.min_offset = f.module_offset;
            }
            m.max_address = m.has_range ? std::max(m.max_address, f.address) : f.address;
            m.has_range = true;
        }
    }
    auto main_binary =
        std::find_if(modules.begin(), modules.end(), [](const std::string& m) { return !is_library(m); });
    if (main_binary != modules.end()) {
        std::rotate(modules.begin(), main_binary, main_binary + 1);
    }
    for (const std::string& module : modules) {
        MappingInfo& m = mappings.at(module);
        pprof::Mapping* pm = profile.add_mapping();
        m.id = static_cast<uint64_t>(profile.mapping_size());
        pm->set_id(m.id);
        pm->set_filename(strings.intern(module));
        pm->set_has_functions(m.has_functions);
        set_range(*pm, m);
    }

    std::map<std::pair<std::string, std::string>, uint64_t> funcs; // (name, module) -> id
    std::map<std::pair<uint64_t, std::string>, uint64_t> locs;     // (address, module) -> id

    auto function_for = [&](const Frame& f) -> uint64_t {
        std::string name = frame_name(f);
        auto [it, inserted] = funcs.try_emplace({name, f.module}, 0);
        if (inserted) {
            pprof::Function* fn = profile.add_function();
            it->second = static_cast<uint64_t>(profile.function_size());
            fn->set_id(it->second);
            // Only the demangled name is known: system_name (the raw symbol) stays "", which also tells pprof the
            // name is final (it would otherwise re-"demangle" it and drop C++ parameter lists).
            fn->set_name(strings.intern(name));
        }
        return it->second;
    };

    auto location_for = [&](const Frame& f) -> uint64_t {
        auto [it, inserted] = locs.try_emplace({f.address, f.module}, 0);
        if (inserted) {
            pprof::Location* loc = profile.add_location();
            it->second = static_cast<uint64_t>(profile.location_size());
            loc->set_id(it->second);
            loc->set_address(f.address);
            if (!f.module.empty()) {
                loc->set_mapping_id(mappings.at(f.module).id);
            }
            loc->add_line()->set_function_id(function_for(f));
        }
        return it->second;
    };

    for (const Sample& s : samples) {
        pprof::Sample* ps = profile.add_sample();
        for (const Frame& f : s.stack) { // innermost first, as pprof expects
            ps->add_location_id(location_for(f));
        }
        ps->add_value(s.alloc_objects);
        ps->add_value(s.alloc_space);
        ps->add_value(s.inuse_objects);
        ps->add_value(s.inuse_space);
    }

    std::string raw;
    if (!profile.SerializeToString(&raw)) {
        throw std::runtime_error("pprof: protobuf serialization failed");
    }
    return gzip(raw);
}

bool is_folded_value(const std::string& value)
{
    return std::find(kFoldedValues.begin(), kFoldedValues.end(), value) != kFoldedValues.end();
}

std::string to_folded(const std::vector<Sample>& samples, const std::string& value, const std::string& root)
{
    // In kFoldedValues' order.
    constexpr std::array<int64_t Sample::*, kFoldedValues.size()> fields{&Sample::inuse_space, &Sample::inuse_objects,
                                                                         &Sample::alloc_space, &Sample::alloc_objects};
    const auto at = std::find(kFoldedValues.begin(), kFoldedValues.end(), value);
    if (at == kFoldedValues.end())
        throw std::invalid_argument("unknown profile value '" + value +
                                    "' (expected inuse_space, inuse_objects, alloc_space or alloc_objects)");
    int64_t Sample::*field = fields[static_cast<size_t>(at - kFoldedValues.begin())];

    const std::string root_frame = folded_escape(root);
    std::map<std::string, int64_t> totals; // sorted output, identical stacks merged
    for (const Sample& s : samples) {
        const int64_t v = s.*field;
        if (v == 0) {
            continue;
        }
        std::string key = root_frame;
        for (auto it = s.stack.rbegin(); it != s.stack.rend(); ++it) { // outermost first
            if (!key.empty()) {
                key += ';';
            }
            key += folded_escape(frame_name(*it));
        }
        if (key.empty()) {
            key = "[unknown]";
        }
        totals[key] += v;
    }

    std::string out;
    for (const auto& [stack, total] : totals) {
        if (total == 0) {
            continue;
        }
        out += stack;
        out += ' ';
        out += std::to_string(total);
        out += '\n';
    }
    return out;
}

} // namespace memsight::profile
