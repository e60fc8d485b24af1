// Python stacks: tagged frame entries, weaving them into native stacks, and naming them from code objects.
#include "python/frames.h"

#include "python/census.h"
#include "util/error.h"

#include <spdlog/spdlog.h>

namespace memsight::python {
namespace {

constexpr uint64_t kMaxLinetable = 1u << 20; // a code object's location table beyond this is not believed

uint16_t offset16(uint64_t offset)
{
    return offset == Layout::kNoOffset || offset >= MEMSIGHT_PY_NO_OFFSET ? MEMSIGHT_PY_NO_OFFSET
                                                                          : static_cast<uint16_t>(offset);
}

// The location table's variable-length integers (CPython's Objects/locations.md): 6 bits per byte, bit 6 set
// while more follow; the signed form keeps the sign in bit 0.
struct Cursor {
    std::span<const uint8_t> t;
    size_t i = 0;
    bool bad = false;
    uint8_t byte()
    {
        if (i >= t.size()) {
            bad = true;
            return 0;
        }
        return t[i++];
    }
    uint64_t varint()
    {
        uint8_t b = byte();
        uint64_t v = b & 63;
        for (unsigned shift = 6; (b & 64) && !bad && shift < 64; shift += 6) {
            b = byte();
            v |= uint64_t(b & 63) << shift;
        }
        return v;
    }
    int64_t svarint()
    {
        const uint64_t v = varint();
        return (v & 1) ? -static_cast<int64_t>(v >> 1) : static_cast<int64_t>(v >> 1);
    }
};

} // namespace

EncodedFrame decode_frame(uint64_t entry)
{
    return {((entry & ~MEMSIGHT_PY_FRAME_TAG) >> MEMSIGHT_PY_UNIT_BITS) << 3,
            static_cast<uint32_t>(entry & ((uint64_t{1} << MEMSIGHT_PY_UNIT_BITS) - 1))};
}

std::optional<StackSource> stack_source(const Interpreter& in, std::string* why)
{
    const Layout& l = in.layout;
    if (!in.eval_start || !in.code_type) {
        if (why)
            *why = std::string(in.eval_start ? "PyCode_Type" : "_PyEval_EvalFrameDefault") + " not found in " +
                   in.object;
        return std::nullopt;
    }
    StackSource s;
    s.bpf.interp = in.interp;
    s.bpf.interp_threads_head = offset16(l.interp_threads_head);
    s.bpf.tstate_next = offset16(l.tstate_next);
    s.bpf.tstate_native_thread_id = offset16(l.tstate_native_thread_id);
    s.bpf.tstate_cframe = offset16(l.tstate_cframe);
    s.bpf.cframe_current_frame = offset16(l.cframe_current_frame);
    s.bpf.tstate_current_frame = offset16(l.tstate_current_frame);
    s.bpf.frame_previous = offset16(l.frame_previous);
    s.bpf.frame_code = offset16(l.frame_code);
    s.bpf.frame_instr = offset16(l.frame_instr);
    s.bpf.frame_owner = offset16(l.frame_owner);
    s.bpf.frame_is_entry = offset16(l.frame_is_entry);
    s.bpf.owner_cstack = l.owner_cstack == Layout::kNoOffset ? 0xff : static_cast<uint8_t>(l.owner_cstack);
    s.bpf.code_adaptive = offset16(l.code_adaptive);
    for (uint16_t o : {s.bpf.interp_threads_head, s.bpf.tstate_next, s.bpf.tstate_native_thread_id,
                       s.bpf.frame_previous, s.bpf.frame_code, s.bpf.frame_instr, s.bpf.frame_owner,
                       s.bpf.code_adaptive})
        if (o == MEMSIGHT_PY_NO_OFFSET) {
            if (why)
                *why = "Python " + version_text(l.version_hex) + ": its frame layout is not known";
            return std::nullopt;
        }
    s.eval_start = in.eval_start;
    s.eval_end = in.eval_end;
    return s;
}

std::optional<StackSource> stack_source_of(pid_t pid)
{
    std::string why;
    try {
        RemoteMemory memory(pid);
        if (auto source = stack_source(find_interpreter(pid, memory), &why))
            return source;
    } catch (const NotPython&) {
        return std::nullopt;
    } catch (const UserError& e) {
        why = e.what();
    }
    spdlog::warn("pid {}: no Python frames in its stacks ({}): native frames only", pid, why);
    return std::nullopt;
}

std::vector<uint64_t> weave(const std::vector<uint64_t>& native, std::span<const memsight_py_frame> py,
                            uint32_t entry_mask, const StackSource& source)
{
    std::vector<uint64_t> out;
    out.reserve(native.size() + py.size());
    size_t next = 0; // the next Python frame to place
    auto place = [&](size_t i) {
        if (uint64_t e = memsight_py_frame_entry(py[i].code, py[i].instr, source.bpf.code_adaptive))
            out.push_back(e);
    };
    for (size_t i = 0; i < native.size(); ++i) {
        // Return addresses (all but the first) point after the call: the call itself is one byte before.
        const uint64_t ip = i == 0 ? native[i] : native[i] - 1;
        if (ip >= source.eval_start && ip < source.eval_end && next < py.size()) {
            while (next < py.size()) {
                place(next);
                const bool outermost = next < 32 && (entry_mask >> next) & 1;
                ++next;
                if (outermost)
                    break;
            }
            continue;
        }
        out.push_back(native[i]);
    }
    for (; next < py.size(); ++next)
        place(next);
    return out;
}

std::optional<int> line_of(std::span<const uint8_t> linetable, int firstlineno, uint32_t unit)
{
    Cursor c{linetable};
    int64_t line = firstlineno;
    uint64_t start = 0;
    while (c.i < linetable.size()) {
        const uint8_t first = c.byte();
        if (!(first & 0x80))
            return std::nullopt; // not the first byte of an entry: malformed
        const unsigned code = (first >> 3) & 15, length = (first & 7) + 1;
        bool no_line = false;
        if (code == 15) {
            no_line = true;
        } else if (code == 14) { // long form: line delta, end line delta, start and end columns
            line += c.svarint();
            c.varint();
            c.varint();
            c.varint();
        } else if (code == 13) { // no columns
            line += c.svarint();
        } else if (code >= 10) { // one-line form: the delta is in the code, then two column bytes
            line += code - 10;
            c.byte();
            c.byte();
        } else { // short form: one column byte
            c.byte();
        }
        if (c.bad)
            return std::nullopt;
        if (unit < start + length)
            return no_line || line <= 0 ? std::nullopt : std::optional<int>(static_cast<int>(line));
        start += length;
    }
    return std::nullopt;
}

std::unique_ptr<FrameNamer> FrameNamer::open(pid_t pid, std::string* why)
{
    try {
        auto memory = std::make_unique<RemoteMemory>(pid);
        Interpreter in = find_interpreter(pid, *memory);
        if (!in.code_type) {
            if (why)
                *why = "PyCode_Type not found in " + in.object;
            return nullptr;
        }
        return std::make_unique<FrameNamer>(std::move(memory), std::move(in));
    } catch (const UserError& e) {
        if (why)
            *why = e.what();
        return nullptr;
    }
}

FrameNamer::FrameNamer(std::unique_ptr<RemoteMemory> memory, Interpreter in)
    : memory_(std::move(memory)), in_(std::move(in))
{
}

const FrameNamer::Code& FrameNamer::code(uint64_t addr)
{
    auto [it, fresh] = codes_.try_emplace(addr);
    Code& c = it->second;
    if (!fresh)
        return c;
    const Layout& l = in_.layout;
    try {
        uint64_t type = 0, qualname = 0, filename = 0, linetable = 0;
        int32_t firstlineno = 0;
        if (!memory_->read(addr + l.ob_type, &type, 8) || type != in_.code_type ||
            !memory_->read(addr + l.code_qualname, &qualname, 8) ||
            !memory_->read(addr + l.code_filename, &filename, 8) ||
            !memory_->read(addr + l.code_linetable, &linetable, 8) ||
            !memory_->read(addr + l.code_firstlineno, &firstlineno, 4))
            return c;
        auto function = read_str(*memory_, l, qualname);
        auto file = read_str(*memory_, l, filename);
        if (!function || !file)
            return c;
        int64_t size = 0;
        if (linetable && memory_->read(linetable + l.ob_size, &size, 8) && size > 0 &&
            static_cast<uint64_t>(size) <= kMaxLinetable) {
            c.linetable.resize(static_cast<size_t>(size));
            if (!memory_->read(linetable + l.bytes_ob_sval, c.linetable.data(), c.linetable.size()))
                c.linetable.clear();
        }
        c.function = std::move(*function);
        c.file = std::move(*file);
        c.firstlineno = firstlineno;
        c.ok = true;
    } catch (const UserError&) { // the process exited: its frames stay unnamed
    }
    return c;
}

std::optional<FrameName> FrameNamer::name(uint64_t entry)
{
    if (!is_python_frame(entry))
        return std::nullopt;
    const auto [addr, units] = decode_frame(entry);
    const Code& c = code(addr);
    if (!c.ok)
        return std::nullopt;
    return FrameName{c.function, c.file, line_of(c.linetable, c.firstlineno, units).value_or(0)};
}

} // namespace memsight::python
