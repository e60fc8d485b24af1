#pragma once
// Text helpers of the report renderers: escaping for HTML/SVG and Markdown, and how numbers, times and durations
// are written.
#include <string>
#include <string_view>

namespace memsight::report {

// For HTML text and attribute values (also SVG inside HTML, and XML): & < > " ' become entities; control characters
// (which XML forbids) and invalid UTF-8 bytes become U+FFFD.
std::string escape_html(std::string_view s);
// For a Markdown table cell: HTML-escaped (Markdown passes raw HTML through), and | \ ` * _ [ ] # backslash-escaped,
// newlines as spaces.
std::string escape_markdown(std::string_view s);
// Valid UTF-8 with control characters replaced by U+FFFD (what escape_html starts from).
std::string sanitize(std::string_view s);

// "512 B", "1.5 KiB", "20.0 MiB", "1.25 GiB"; negative values keep their sign; "-" for NaN.
std::string bytes(double v);
// bytes(v) + "/s"
std::string rate(double bytes_per_second);
// "45s", "12m", "3h 20m", "2d 4h"
std::string duration(double seconds);
// "0.93"
std::string ratio(double v);
// "93%"
std::string percent(double v);
// "2026-11-29 18:20:01Z" (UTC)
std::string utc_time(double unix_seconds);
// RFC 3339 "2026-11-29T18:20:01Z"
std::string rfc3339(double unix_seconds);
// An integer count: "3"; fractional counts (from increase()) rounded: "2".
std::string count(double v);
// The first 12 hex digits of a container id, "-" when empty.
std::string short_id(std::string_view container_id);
std::string base64(std::string_view data);

} // namespace memsight::report
