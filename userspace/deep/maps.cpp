// Parser for /proc/PID/maps. Pure: unit-tested on fixtures under tests/fixtures/maps.
#include <charconv>
#include <optional>

#include "deep/allocators.h"

namespace memsight::deep {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

// Splits off the next space-delimited field, then skips the spaces after it.
std::string_view next_field(std::string_view& s)
{
    const size_t end = std::min(s.find(' '), s.size());
    const std::string_view field = s.substr(0, end);
    s.remove_prefix(end);
    const size_t rest = s.find_first_not_of(' ');
    s.remove_prefix(rest == std::string_view::npos ? s.size() : rest);
    return field;
}

template <typename T> std::optional<T> parse_number(std::string_view s, int base)
{
    T v{};
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size())
        return std::nullopt;
    return v;
}

// "start-end" or "major:minor" (hex on both sides).
template <typename T> bool parse_pair(std::string_view s, char sep, T& a, T& b)
{
    const size_t pos = s.find(sep);
    if (pos == std::string_view::npos)
        return false;
    const auto x = parse_number<T>(s.substr(0, pos), 16);
    const auto y = parse_number<T>(s.substr(pos + 1), 16);
    if (!x || !y)
        return false;
    a = *x;
    b = *y;
    return true;
}

// "start-end perms offset major:minor inode [path]"; the path is the rest of the line after the
// padding and is kept verbatim (spaces included).
std::optional<MapEntry> parse_line(std::string_view line)
{
    MapEntry e;
    if (!parse_pair(next_field(line), '-', e.start, e.end))
        return std::nullopt;
    e.perms = std::string(next_field(line));
    if (e.perms.size() != 4)
        return std::nullopt;
    const auto offset = parse_number<uint64_t>(next_field(line), 16);
    if (!offset)
        return std::nullopt;
    e.offset = *offset;
    if (!parse_pair(next_field(line), ':', e.dev_major, e.dev_minor))
        return std::nullopt;
    const auto inode = parse_number<uint64_t>(next_field(line), 10);
    if (!inode)
        return std::nullopt;
    e.inode = *inode;
    e.path = std::string(line);
    e.deleted = e.path.size() > kDeletedSuffix.size() && e.path.ends_with(kDeletedSuffix);
    return e;
}

} // namespace

std::vector<MapEntry> parse_maps(std::string_view text)
{
    std::vector<MapEntry> out;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (auto e = parse_line(line))
            out.push_back(std::move(*e));
    }
    return out;
}

} // namespace memsight::deep
