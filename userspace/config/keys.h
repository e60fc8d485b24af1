#pragma once
// The table of configuration keys (keys.cpp): one row per key. YAML loading, validate(), defaults_for(), the
// embedded default file and the key table of docs/configuration.md are all derived from it, so adding a key is
// a field in Config plus a row here (docs/architecture.md, "How to add a config key").
#include "config/config.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace memsight::config {

// What a check has against a value (the message without the key, e.g. "must start with '/', got 'x'"), or nothing.
using Problem = std::optional<std::string>;

enum class Kind {
    Profile,    // dev | staging | prod: selects the defaults before every other key is applied
    Choice,     // a string, one of `choices`
    Text,       // a string that `check_text` accepts
    Duration,   // parse_duration syntax, min_duration..max_duration
    Count,      // a decimal integer, min..max (a uint32_t or uint64_t field)
    PowerOfTwo, // a Count that must also be a power of two
    Ratio,      // a fraction or a percentage ("0.02", "2%") that `check_number` accepts
    Number,     // a plain decimal number that `check_number` accepts
    Bool,       // true | false (and the other YAML 1.1 spellings yaml-cpp accepts)
    List,       // a YAML list of strings, each accepted by `check_text`, at most limits::kMaxSelectorEntries
};

// Where a key's value lives in Config. Written with MEMSIGHT_CONFIG_FIELD(member.path) in keys.cpp.
template <typename T> using Field = T& (*)(Config&);
using AnyField = std::variant<Field<Profile>, Field<std::string>, Field<Duration>, Field<uint32_t>, Field<uint64_t>,
                              Field<double>, Field<bool>, Field<std::vector<std::string>>>;

// The default of a key per profile, as YAML text ("10s", "2%", "[]", "\"\""): it is parsed like a value in a file,
// and written as it is into the embedded default file and the docs.
struct Defaults {
    std::string_view prod, staging, dev;
};
constexpr Defaults same(std::string_view v)
{
    return {v, v, v};
}

struct KeySpec {
    std::string_view path; // "processes.top_by_rss": the sections, then the key
    Kind kind;
    AnyField field;
    uint64_t min = 0, max = 0;               // Count, PowerOfTwo
    Duration min_duration{}, max_duration{}; // Duration
    std::span<const std::string_view> choices = {};
    Problem (*check_text)(std::string_view) = nullptr; // Text; List: each entry
    Problem (*check_number)(double) = nullptr;         // Ratio, Number
    // The "expected X" of "expected X, got 'y'" when the value is not of the kind; Text, Choice, Number and
    // Profile must give it, the other kinds have one.
    std::string_view expected = {};
    // Docs: the accepted values where the kind cannot derive them (Text, Ratio, Number), or what follows the
    // derived range ("; 0 = no limit"). Markdown; the default file's comment drops the backticks.
    std::string_view values = {};
    Defaults defaults;
    std::string_view doc; // what the key does: one paragraph, the comment in the default file, a docs column
};

// A map of keys ("escalation.selector"): only its comment in the default file.
struct SectionSpec {
    std::string_view path;
    std::string_view doc;
};

// Every key and section, in file order (the order of the default file, the docs and the "known:" lists).
std::span<const KeySpec> key_specs();
std::span<const SectionSpec> section_specs();
const KeySpec* find_key(std::string_view path); // nullptr if there is none

// The names directly under `section` ("" = the top level), in file order: keys and sections.
std::vector<std::string_view> child_names(std::string_view section);
bool is_section(std::string_view path);

// The problem with the value `c` holds for key `k` (validate() runs this for every key), or nothing.
Problem check_value(const KeySpec& k, const Config& c);
// The problem with an integer read for a Count or PowerOfTwo key before it is stored (it may not fit the field);
// `shown` is the text as written in the file.
Problem check_integer(const KeySpec& k, int64_t v, std::string_view shown);

// The accepted values of a key in Markdown, e.g. "100ms..1h", "`trace`, `debug`" (the docs' column).
std::string accepted_values(const KeySpec& k);
// The key table of docs/configuration.md (between <!-- keys:begin --> and <!-- keys:end -->), ending in "\n".
std::string render_keys_markdown();
// The default file for the prod profile, as embedded_default_yaml() returns it.
std::string render_default_yaml();

} // namespace memsight::config
