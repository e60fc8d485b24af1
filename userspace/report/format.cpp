#include "report/format.h"

#include "report/report.h"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace memsight::report {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

// Length of the valid UTF-8 sequence at s[i], 0 if invalid.
size_t utf8_length(std::string_view s, size_t i)
{
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    unsigned min = 0;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (i + n > s.size())
        return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
        const auto d = static_cast<unsigned char>(s[i + k]);
        if ((d & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

std::string fixed(double v, int decimals)
{
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
    return buf;
}

} // namespace

std::string sanitize(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t n = utf8_length(s, i);
        if (n == 0) {
            out += kReplacement;
            ++i;
        } else if (n == 1 && (c < 0x20 || c == 0x7F)) {
            out += kReplacement;
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::string escape_html(std::string_view s)
{
    std::string out;
    for (const char c : sanitize(s)) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string escape_markdown(std::string_view s)
{
    // Markdown's specials first, on the raw text, then HTML's: the entities HTML escaping makes (&#39;) must not get
    // a backslash.
    std::string marked;
    for (const char c : sanitize(s)) {
        switch (c) {
        case '|':
        case '\\':
        case '`':
        case '*':
        case '_':
        case '[':
        case ']':
        case '#':
            marked += '\\';
            marked += c;
            break;
        default:
            marked += c;
        }
    }
    return escape_html(marked);
}

std::string bytes(double v)
{
    if (std::isnan(v))
        return "-";
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    const bool negative = v < 0;
    double a = std::fabs(v);
    int u = 0;
    while (a >= 1024 && u < 5) {
        a /= 1024;
        ++u;
    }
    std::string text = u == 0 ? fixed(a, 0) : fixed(a, a < 10 ? 2 : a < 100 ? 1 : 0);
    return (negative ? "-" : "") + text + " " + units[u];
}

std::string rate(double bytes_per_second)
{
    return bytes(bytes_per_second) + "/s";
}

std::string duration(double seconds)
{
    if (std::isnan(seconds))
        return "-";
    if (std::isinf(seconds))
        return "never";
    const auto s = static_cast<long long>(std::llround(std::fabs(seconds)));
    const std::string sign = seconds < 0 ? "-" : "";
    if (s < 60)
        return sign + std::to_string(s) + "s";
    if (s < 3600)
        return sign + std::to_string(s / 60) + "m" + (s % 60 ? " " + std::to_string(s % 60) + "s" : "");
    if (s < 86400)
        return sign + std::to_string(s / 3600) + "h" +
               ((s % 3600) / 60 ? " " + std::to_string((s % 3600) / 60) + "m" : "");
    return sign + std::to_string(s / 86400) + "d" +
           ((s % 86400) / 3600 ? " " + std::to_string((s % 86400) / 3600) + "h" : "");
}

std::string ratio(double v)
{
    return std::isnan(v) ? "-" : fixed(v, 2);
}

std::string percent(double v)
{
    return std::isnan(v) ? "-" : fixed(v * 100, v * 100 < 10 ? 1 : 0) + "%";
}

namespace {
std::string time_text(double unix_seconds, const char* format)
{
    const auto t = static_cast<std::time_t>(std::floor(unix_seconds));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof(buf), format, &tm);
    return buf;
}
} // namespace

std::string utc_time(double unix_seconds)
{
    return time_text(unix_seconds, "%Y-%m-%d %H:%M:%SZ");
}

std::string rfc3339(double unix_seconds)
{
    return time_text(unix_seconds, "%Y-%m-%dT%H:%M:%SZ");
}

std::string count(double v)
{
    if (std::isnan(v))
        return "-";
    return std::to_string(std::llround(v));
}

std::string short_id(std::string_view container_id)
{
    if (container_id.empty())
        return "-";
    return std::string(container_id.substr(0, 12));
}

std::string base64(std::string_view data)
{
    static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        const unsigned n = (static_cast<unsigned char>(data[i]) << 16) |
                           (static_cast<unsigned char>(data[i + 1]) << 8) | static_cast<unsigned char>(data[i + 2]);
        out += table[(n >> 18) & 63];
        out += table[(n >> 12) & 63];
        out += table[(n >> 6) & 63];
        out += table[n & 63];
    }
    if (i < data.size()) {
        unsigned n = static_cast<unsigned char>(data[i]) << 16;
        if (i + 1 < data.size())
            n |= static_cast<unsigned char>(data[i + 1]) << 8;
        out += table[(n >> 18) & 63];
        out += table[(n >> 12) & 63];
        out += i + 1 < data.size() ? table[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string subject_name(const Subject& s)
{
    std::string name = !s.comm.empty() ? s.comm : !s.cgroup.empty() ? s.cgroup : short_id(s.container_id);
    std::string detail;
    if (!s.pid.empty())
        detail = "pid " + s.pid;
    if (!s.container_id.empty() && !s.comm.empty())
        detail += (detail.empty() ? "" : ", ") + std::string("container ") + short_id(s.container_id);
    return detail.empty() ? name : name + " (" + detail + ")";
}

} // namespace memsight::report
