#include "config/config.h"
#include "config/keys.h"
#include "config/yaml_document.h"
#include "util/error.h"

#include <fcntl.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace memsight::config {

namespace {

using namespace std::chrono_literals;

constexpr size_t kMaxConfigFileBytes = 1 << 20;

std::string join(std::span<const std::string_view> items, std::string_view sep)
{
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i != 0)
            out += sep;
        out += items[i];
    }
    return out;
}

// ---- Rules between keys; the per-key ones are in the table (keys.cpp).

Problem check_growth_vs_interval(const Config& c)
{
    if (c.growth_window < c.interval)
        return "must be at least interval (" + format_duration(c.interval) + "), got " +
               format_duration(c.growth_window);
    return std::nullopt;
}

std::string interval_exceeds_growth_window(const Config& c)
{
    return "must not exceed processes.growth_window (" + format_duration(c.growth_window) + "), got " +
           format_duration(c.interval);
}

template <typename T> T& field(const KeySpec& k, Config& c)
{
    return std::get<Field<T>>(k.field)(c);
}

// ---- YAML walking: every key is read by its kind (keys.h) into its field.

class Loader {
public:
    explicit Loader(std::string_view source) : source_(source) {}

    Config load(std::string_view text)
    {
        // yaml-cpp reports errors at the end of input on the line after a final newline; clamp to the last line.
        last_line0_ = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
        if (!text.empty() && text.back() == '\n')
            --last_line0_;
        YAML::Node root;
        try {
            root = load_one_document(text);
        } catch (const YamlProblem& p) {
            fail(p.line, p.message + (p.second_document ? "; expected a single map of settings" : ""));
        }
        if (root.IsNull())
            return defaults_for(Profile::Prod);

        if (!root.IsMap())
            fail(root.Mark().line, "expected a map of settings at the top level, got " + describe(root));
        const std::vector<Entry> top = entries(root, "", child_names(""));

        // `profile:` selects the defaults before anything else, wherever it appears.
        Config cfg = defaults_for(Profile::Prod);
        for (const Entry& e : top) {
            const KeySpec* k = find_key(e.name);
            if (k == nullptr || k->kind != Kind::Profile)
                continue;
            const std::string s = scalar(e, k->path, k->expected);
            try {
                cfg = defaults_for(parse_profile(s));
            } catch (const ConfigError&) {
                fail(e.line,
                     std::string(k->path) + ": must be one of " + join(k->choices, ", ") + ", got " + quoted(s));
            }
        }
        load_entries(top, "", cfg);

        if (Problem p = check_growth_vs_interval(cfg)) {
            if (const auto it = lines_.find("processes.growth_window"); it != lines_.end())
                fail(it->second, "processes.growth_window: " + *p);
            const auto it = lines_.find("interval");
            fail(it == lines_.end() ? -1 : it->second, "interval: " + interval_exceeds_growth_window(cfg));
        }
        return cfg;
    }

    // One key's value (a YAML node), converted and checked as a file's value would be.
    void read(const KeySpec& k, const YAML::Node& value, int line, Config& cfg) const
    {
        read(k, Entry{std::string(k.path), value, line}, cfg);
    }

private:
    struct Entry {
        std::string name;
        YAML::Node value;
        int line; // 0-based line of the value (of the key when the value is empty)
    };

    void load_entries(const std::vector<Entry>& list, const std::string& section, Config& cfg)
    {
        for (const Entry& e : list) {
            const std::string path = section.empty() ? e.name : section + "." + e.name;
            if (is_section(path)) {
                load_entries(entries(e.value, path, child_names(path), e.line), path, cfg);
                continue;
            }
            const KeySpec* k = find_key(path);
            if (k == nullptr || k->kind == Kind::Profile)
                continue; // entries() accepts only known names; the profile was applied first
            read(*k, e, cfg);
            lines_[path] = e.line;
        }
    }

    void read(const KeySpec& k, const Entry& e, Config& cfg) const
    {
        const std::string_view path = k.path;
        const auto check = [&] {
            if (Problem p = check_value(k, cfg))
                fail(e.line, std::string(path) + ": " + *p);
        };
        switch (k.kind) {
        case Kind::Profile:
            field<Profile>(k, cfg) = parse_profile(scalar(e, path, k.expected));
            return;
        case Kind::Choice:
        case Kind::Text:
            field<std::string>(k, cfg) = scalar(e, path, k.expected);
            return check();
        case Kind::Duration:
            field<Duration>(k, cfg) = duration(e, path);
            return check();
        case Kind::Count:
        case Kind::PowerOfTwo: {
            const int64_t v = integer(e, path);
            if (Problem p = check_integer(k, v, e.value.Scalar()))
                fail(e.line, std::string(path) + ": " + *p);
            if (std::holds_alternative<Field<uint32_t>>(k.field))
                field<uint32_t>(k, cfg) = static_cast<uint32_t>(v);
            else
                field<uint64_t>(k, cfg) = static_cast<uint64_t>(v);
            return;
        }
        case Kind::Ratio:
            field<double>(k, cfg) = ratio(e, path);
            return check();
        case Kind::Number:
            field<double>(k, cfg) = number(e, path, k.expected);
            return check();
        case Kind::Bool:
            field<bool>(k, cfg) = boolean(e, path);
            return;
        case Kind::List:
            field<std::vector<std::string>>(k, cfg) = strings(e, path, k.check_text);
            return;
        }
    }

    // A fraction or percentage ("0.02", "2%").
    double ratio(const Entry& e, std::string_view path) const
    {
        const std::string s = scalar(e, path, "a fraction like 0.02 or a percentage like 2%");
        try {
            return parse_ratio(s);
        } catch (const ConfigError&) {
            fail(e.line,
                 std::string(path) + ": expected a fraction like 0.02 or a percentage like 2%, got " + quoted(s));
        }
    }

    // A plain decimal number (no percent sign).
    double number(const Entry& e, std::string_view path, std::string_view expected) const
    {
        const std::string s = scalar(e, path, expected);
        double v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
        if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
            fail(e.line, std::string(path) + ": expected " + std::string(expected) + ", got " + quoted(s));
        return v;
    }

    // A YAML list of non-empty strings (flow [a, b] or block "- a"); an empty value is an empty list.
    std::vector<std::string> strings(const Entry& e, std::string_view path, Problem (*check)(std::string_view)) const
    {
        std::vector<std::string> out;
        if (e.value.IsNull())
            return out;
        if (!e.value.IsSequence())
            fail(e.line, std::string(path) + ": expected a list like [a, b], got " + describe(e.value));
        for (const auto& item : e.value) {
            const int line = item.Mark().line >= 0 ? item.Mark().line : e.line;
            if (!item.IsScalar())
                fail(line, std::string(path) + ": expected a list of names, got " + describe(item) + " in it");
            if (Problem p = check(item.Scalar()))
                fail(line, std::string(path) + ": " + *p);
            out.push_back(item.Scalar());
        }
        if (out.size() > limits::kMaxSelectorEntries)
            fail(e.line, std::string(path) + ": at most " + std::to_string(limits::kMaxSelectorEntries) +
                             " entries, got " + std::to_string(out.size()));
        return out;
    }

    [[noreturn]] void fail(int line0, const std::string& msg) const
    {
        const int line = line0 < 0 ? 0 : std::min(line0, std::max(last_line0_, 0));
        throw ConfigError(std::string(source_) + ":" + std::to_string(line + 1) + ": " + msg);
    }

    static std::string describe(const YAML::Node& n)
    {
        switch (n.Type()) {
        case YAML::NodeType::Map:
            return "a map";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Scalar:
            return quoted(n.Scalar());
        default:
            return "an empty value";
        }
    }

    // The (validated) keys of a map, in file order: unknown, duplicate and non-scalar keys are errors.
    // An empty section (`processes:` with nothing under it) is an empty map.
    std::vector<Entry> entries(const YAML::Node& map, std::string_view section, std::span<const std::string_view> known,
                               int section_line = -1) const
    {
        std::vector<Entry> out;
        if (map.IsNull())
            return out;
        if (!map.IsMap())
            fail(section_line,
                 std::string(section) + ": expected a map of " + join(known, ", ") + ", got " + describe(map));
        for (const auto& pair : map) {
            const YAML::Node key = pair.first;
            const YAML::Node value = pair.second;
            const int key_line = key.Mark().line;
            if (!key.IsScalar())
                fail(key_line, "keys must be plain names, got " + describe(key) +
                                   (section.empty() ? std::string() : " in " + std::string(section)));
            const std::string& name = key.Scalar();
            if (std::find(known.begin(), known.end(), name) == known.end()) {
                if (section.empty())
                    fail(key_line, "unknown key " + quoted(name) + " (known: " + join(known, ", ") + ")");
                fail(key_line, "unknown key " + quoted(name) + " in " + std::string(section) +
                                   " (known: " + join(known, ", ") + ")");
            }
            for (const Entry& seen : out)
                if (seen.name == name)
                    fail(key_line, "duplicate key " +
                                       quoted(section.empty() ? name : std::string(section) + "." + name) +
                                       " (first set on line " + std::to_string(seen.line + 1) + ")");
            int line = key_line;
            if (!value.IsNull())
                line = std::max(line, value.Mark().line); // aliases carry their anchor's (earlier) position
            out.push_back(Entry{name, value, line});
        }
        return out;
    }

    std::string scalar(const Entry& e, std::string_view path, std::string_view expected) const
    {
        if (!e.value.IsScalar())
            fail(e.line, std::string(path) + ": expected " + std::string(expected) + ", got " + describe(e.value));
        return e.value.Scalar();
    }

    // A decimal integer; values beyond int64 are reported as out of range by the callers' checks.
    int64_t integer(const Entry& e, std::string_view path) const
    {
        const std::string s = scalar(e, path, "an integer");
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || end != s.data() + s.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range))
            fail(e.line, std::string(path) + ": expected an integer, got " + quoted(s));
        if (ec == std::errc::result_out_of_range)
            return s.front() == '-' ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
        return v;
    }

    Duration duration(const Entry& e, std::string_view path) const
    {
        const std::string s = scalar(e, path, "a duration like 10s");
        try {
            return parse_duration(s);
        } catch (const ConfigError&) {
            fail(e.line, std::string(path) + ": expected a duration like 10s, got " + quoted(s));
        }
    }

    bool boolean(const Entry& e, std::string_view path) const
    {
        const std::string s = scalar(e, path, "true or false");
        bool b = false;
        if (!YAML::convert<bool>::decode(e.value, b))
            fail(e.line, std::string(path) + ": expected true or false, got " + quoted(s));
        return b;
    }

    std::string_view source_;
    int last_line0_ = 0;
    std::map<std::string, int, std::less<>> lines_; // key path -> 0-based line, for the rules between keys
};

// The built-in defaults of profile `p`: every key's default text (keys.cpp) read like a value in a file.
Config build_defaults(Profile p)
{
    Config c;
    const std::string source = "built-in defaults of profile " + std::string(profile_name(p)) + " (keys.cpp)";
    const Loader loader(source);
    for (const KeySpec& k : key_specs()) {
        const std::string_view text = p == Profile::Dev       ? k.defaults.dev
                                      : p == Profile::Staging ? k.defaults.staging
                                                              : k.defaults.prod;
        loader.read(k, YAML::Load(std::string(text)), 0, c);
    }
    c.profile = p;
    return c;
}

} // namespace

Config defaults_for(Profile p)
{
    static const std::array<Config, 3> built{build_defaults(Profile::Dev), build_defaults(Profile::Staging),
                                             build_defaults(Profile::Prod)};
    return built[p == Profile::Dev ? 0 : p == Profile::Staging ? 1 : 2];
}

Profile parse_profile(std::string_view s)
{
    if (s == "dev")
        return Profile::Dev;
    if (s == "staging")
        return Profile::Staging;
    if (s == "prod")
        return Profile::Prod;
    throw ConfigError("unknown profile " + quoted(s) + " (expected dev, staging or prod)");
}

std::string_view profile_name(Profile p)
{
    switch (p) {
    case Profile::Dev:
        return "dev";
    case Profile::Staging:
        return "staging";
    case Profile::Prod:
        return "prod";
    }
    return "prod";
}

Duration parse_duration(std::string_view s)
{
    const auto bad = [s](std::string_view why) -> ConfigError {
        return ConfigError("invalid duration " + quoted(s) + ": " + std::string(why));
    };
    if (s.empty())
        throw ConfigError("empty duration (expected e.g. 10s, 250ms or 1h30m)");
    if (s.front() == '-')
        throw bad("must not be negative");

    int64_t total = 0;
    size_t i = 0;
    while (i < s.size()) {
        const size_t num_begin = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9')
            ++i;
        const size_t unit_begin = i;
        while (i < s.size() && s[i] >= 'a' && s[i] <= 'z')
            ++i;
        const std::string_view number = s.substr(num_begin, unit_begin - num_begin);
        const std::string_view unit = s.substr(unit_begin, i - unit_begin);
        if (unit.empty() && i < s.size())
            throw bad("unexpected " + quoted(s.substr(i, 1)) + " (use whole numbers with a unit, like 1s500ms)");
        if (number.empty())
            throw bad("expected a number before " + quoted(unit));
        if (unit.empty())
            throw bad("missing unit after " + std::string(number) + " (use ms, s, m, h, d or w)");

        int64_t factor = 0;
        if (unit == "ms")
            factor = 1;
        else if (unit == "s")
            factor = 1000;
        else if (unit == "m")
            factor = 60 * 1000;
        else if (unit == "h")
            factor = 60 * 60 * 1000;
        else if (unit == "d")
            factor = 24 * 60 * 60 * 1000;
        else if (unit == "w")
            factor = 7 * 24 * 60 * 60 * 1000;
        else
            throw bad("unknown unit " + quoted(unit) + " (use ms, s, m, h, d or w)");

        int64_t value = 0;
        const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
        int64_t scaled = 0;
        if (ec != std::errc{} || end != number.data() + number.size() ||
            __builtin_mul_overflow(value, factor, &scaled) || __builtin_add_overflow(total, scaled, &total))
            throw bad("too large");
    }
    return Duration{total};
}

double parse_ratio(std::string_view s)
{
    const bool percent = !s.empty() && s.back() == '%';
    const std::string_view number = percent ? s.substr(0, s.size() - 1) : s;
    double v = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v, std::chars_format::fixed);
    if (number.empty() || ec != std::errc{} || end != number.data() + number.size() || !std::isfinite(v))
        throw ConfigError("expected a fraction like 0.02 or a percentage like 2%, got " + quoted(s));
    return percent ? v / 100.0 : v;
}

std::string format_ratio(double r)
{
    // The fewest decimals that parse back to the same value (no exponent: parse_ratio takes fixed notation).
    char buf[64];
    for (int decimals = 0; decimals <= 20; ++decimals) {
        std::snprintf(buf, sizeof(buf), "%.*f%%", decimals, r * 100.0);
        if (parse_ratio(buf) == r)
            return buf;
    }
    std::snprintf(buf, sizeof(buf), "%.25f", r);
    return buf;
}

std::string format_duration(Duration d)
{
    int64_t ms = d.count();
    if (ms == 0)
        return "0s";
    std::string out;
    uint64_t rest = ms < 0 ? 0 - static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
    if (ms < 0)
        out = "-";
    constexpr std::array<std::pair<uint64_t, std::string_view>, 4> units{
        {{3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}}};
    for (const auto& [factor, name] : units) {
        if (rest >= factor) {
            out += std::to_string(rest / factor);
            out += name;
            rest %= factor;
        }
    }
    return out;
}

void validate(const Config& c)
{
    for (const KeySpec& k : key_specs())
        if (Problem p = check_value(k, c))
            throw ConfigError(std::string(k.path) + ": " + *p);
    // The rules between keys.
    if (Problem p = check_growth_vs_interval(c))
        throw ConfigError("processes.growth_window: " + *p);
}

void apply_overrides(Config& c, const Overrides& o)
{
    Config next = c;
    // Each flag sets one key and is checked by that key's row, its message naming the flag.
    const auto check = [&next](std::string_view flag, std::string_view key) {
        if (Problem p = check_value(*find_key(key), next))
            throw ConfigError(std::string(flag) + ": " + *p);
    };
    if (o.listen) {
        next.listen = *o.listen;
        check("--listen", "listen");
    }
    if (o.interval) {
        next.interval = *o.interval;
        check("--interval", "interval");
        if (check_growth_vs_interval(next))
            throw ConfigError("--interval: " + interval_exceeds_growth_window(next));
    }
    if (o.log_level) {
        next.log_level = *o.log_level;
        check("--log-level", "log_level");
    }
    c = std::move(next);
}

Config load_yaml(std::string_view yaml_text, std::string_view source_name)
{
    return Loader(source_name).load(yaml_text);
}

Config load_file(const std::string& path)
{
    const auto cannot = [&path](const std::string& why) {
        return ConfigError("cannot read config " + path + ": " + why);
    };
    struct Fd {
        int fd;
        ~Fd()
        {
            if (fd >= 0)
                ::close(fd);
        }
    } file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0)
        throw cannot(std::strerror(errno));
    std::string text;
    std::array<char, 16384> buf{};
    for (;;) {
        const ssize_t n = ::read(file.fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw cannot(std::strerror(errno));
        }
        if (n == 0)
            break;
        text.append(buf.data(), static_cast<size_t>(n));
        if (text.size() > kMaxConfigFileBytes)
            throw cannot("larger than " + std::to_string(kMaxConfigFileBytes / 1024) + " KiB");
    }
    return load_yaml(text, path);
}

} // namespace memsight::config
