// What is written from the key table (keys.cpp): the embedded default file and docs/configuration.md's key table.
#include "config/config.h"
#include "config/keys.h"

#include <string>

namespace memsight::config {

namespace {

constexpr std::string_view kPreamble = R"yaml(# memsight agent configuration (the built-in defaults, profile "prod").
#
# Precedence, lowest first: built-in defaults < the profile's defaults < this file
# < command-line flags (memsight agent --listen ADDR:PORT --interval DURATION --log-level LEVEL).
# Every key is optional; remove a key to get the selected profile's default for it.
# Durations are whole numbers with a unit, one or more in a row: 250ms, 10s, 5m, 1h, 1h30m.
# Reference: docs/configuration.md
#
# NOTE: every key below is set explicitly to the prod value. If you change `profile:`,
# delete the keys that the profile should choose, or they keep overriding it.
)yaml";

constexpr size_t kCommentWidth = 110;

std::string without_backticks(std::string_view s)
{
    std::string out;
    for (char c : s)
        if (c != '`')
            out += c;
    return out;
}

// `text` as "# " comment lines at `indent`, wrapped at spaces to kCommentWidth columns.
void comment(std::string& out, size_t indent, std::string_view text)
{
    const std::string prefix = std::string(indent, ' ') + "#";
    std::string line = prefix;
    size_t i = 0;
    while (i < text.size()) {
        const size_t space = text.find(' ', i);
        const std::string_view word = text.substr(i, space == std::string_view::npos ? text.npos : space - i);
        i = space == std::string_view::npos ? text.size() : space + 1;
        if (word.empty())
            continue;
        if (line.size() > prefix.size() && line.size() + 1 + word.size() > kCommentWidth) {
            out += line + "\n";
            line = prefix;
        }
        line += " ";
        line += word;
    }
    out += line + "\n";
}

size_t depth(std::string_view path)
{
    size_t n = 0;
    for (char c : path)
        n += c == '.';
    return n;
}

std::string_view last_name(std::string_view path)
{
    const size_t dot = path.rfind('.');
    return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

std::string_view section_doc(std::string_view path)
{
    for (const SectionSpec& s : section_specs())
        if (s.path == path)
            return s.doc;
    return {};
}

std::string table_cell(std::string_view s)
{
    std::string out;
    for (char c : s) {
        if (c == '|')
            out += '\\';
        out += c;
    }
    return out;
}

std::string code(std::string_view s)
{
    return "`" + table_cell(s) + "`";
}

std::string_view type_name(Kind kind)
{
    switch (kind) {
    case Kind::Profile:
    case Kind::Choice:
    case Kind::Text:
        return "string";
    case Kind::Duration:
        return "duration";
    case Kind::Count:
    case Kind::PowerOfTwo:
        return "integer";
    case Kind::Ratio:
        return "fraction or percentage";
    case Kind::Number:
        return "number";
    case Kind::Bool:
        return "boolean";
    case Kind::List:
        return "list of strings";
    }
    return "";
}

} // namespace

std::string render_default_yaml()
{
    std::string out(kPreamble);
    std::string_view previous; // the path of the key before, to know which sections are open
    for (const KeySpec& k : key_specs()) {
        // Open each section of k.path that the previous key was not in.
        for (size_t dot = k.path.find('.'); dot != std::string_view::npos; dot = k.path.find('.', dot + 1)) {
            const std::string_view section = k.path.substr(0, dot);
            if (previous.starts_with(section) && previous.size() > dot && previous[dot] == '.')
                continue;
            const size_t indent = 2 * depth(section);
            if (indent == 0)
                out += "\n";
            comment(out, indent, section_doc(section));
            out += std::string(indent, ' ') + std::string(last_name(section)) + ":\n";
        }
        const size_t indent = 2 * depth(k.path);
        if (indent == 0)
            out += "\n";
        comment(out, indent, k.doc);
        comment(out, indent, without_backticks("Values: " + accepted_values(k) + "."));
        out += std::string(indent, ' ') + std::string(last_name(k.path)) + ": " + std::string(k.defaults.prod) + "\n";
        previous = k.path;
    }
    return out;
}

std::string render_keys_markdown()
{
    std::string out = "| Key | Type | Accepted values | `prod` | `staging` | `dev` | Meaning |\n"
                      "|---|---|---|---|---|---|---|\n";
    for (const KeySpec& k : key_specs()) {
        const Defaults& d = k.defaults;
        const bool same = d.staging == d.prod && d.dev == d.prod;
        out += "| " + code(k.path) + " | " + std::string(type_name(k.kind)) + " | " + table_cell(accepted_values(k)) +
               " | " + code(d.prod) + " | " + (same ? "same" : code(d.staging)) + " | " +
               (same ? "same" : code(d.dev)) + " | " + table_cell(k.doc) + " |\n";
    }
    return out;
}

std::string_view embedded_default_yaml()
{
    static const std::string text = render_default_yaml();
    return text;
}

} // namespace memsight::config
