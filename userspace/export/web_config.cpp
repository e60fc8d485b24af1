#include "export/web_config.h"

#include "config/yaml_document.h"

#include "util/error.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <utility>
#include <vector>

namespace memsight::exporter {
namespace {

// Keys of exporter-toolkit's format that memsight does not implement: named as such in the error, so that a file
// written for another exporter fails with a reason rather than "unknown key".
constexpr std::array kUnsupportedTop = {"http_server_config", "rate_limit"};
constexpr std::array kUnsupportedTls = {"cert",
                                        "key",
                                        "client_ca",
                                        "client_allowed_sans",
                                        "cipher_suites",
                                        "prefer_server_cipher_suites",
                                        "curve_preferences"};
constexpr std::array kKnownTop = {"tls_server_config", "basic_auth_users"};
constexpr std::array kKnownTls = {"cert_file",      "key_file",    "client_auth_type",
                                  "client_ca_file", "min_version", "max_version"};

template <size_t N> bool contains(const std::array<const char*, N>& names, const std::string& s)
{
    return std::any_of(names.begin(), names.end(), [&](const char* n) { return s == n; });
}

template <size_t N> std::string join(const std::array<const char*, N>& names)
{
    std::string out;
    for (const char* n : names)
        out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
}

class Parser {
public:
    Parser(std::string_view text, const std::string& base_dir, const std::string& source)
        : text_(text), base_dir_(base_dir), source_(source)
    {
        last_line0_ = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
        if (!text.empty() && text.back() == '\n')
            --last_line0_;
    }

    WebConfig parse()
    {
        YAML::Node root;
        try {
            root = config::load_one_document(text_);
        } catch (const config::YamlProblem& p) {
            fail(p.line, p.message + (p.second_document ? "; expected one map" : ""));
        }
        WebConfig cfg;
        cfg.source = source_;
        if (root.IsNull())
            return cfg; // an empty file: no TLS, no authentication (as exporter-toolkit reads it)
        if (!root.IsMap())
            fail(root.Mark().line,
                 "expected a map with tls_server_config and/or basic_auth_users, got " + describe(root));
        for (const auto& [name, value, line] : entries(root, "", kKnownTop, kUnsupportedTop)) {
            if (name == "tls_server_config")
                read_tls(value, line, cfg);
            else
                read_users(value, line, cfg);
        }
        return cfg;
    }

private:
    struct Entry {
        std::string name;
        YAML::Node value;
        int line0;
    };

    [[noreturn]] void fail(int line0, const std::string& msg) const
    {
        const int line = line0 < 0 ? 0 : std::min(line0, std::max(last_line0_, 0));
        throw UserError(source_ + ":" + std::to_string(line + 1) + ": " + msg);
    }

    static std::string describe(const YAML::Node& n)
    {
        switch (n.Type()) {
        case YAML::NodeType::Map:
            return "a map";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Scalar:
            return "a value";
        default:
            return "an empty value";
        }
    }

    // The keys of a map in file order; unknown, unsupported, duplicate and non-scalar keys are errors.
    template <size_t K, size_t U>
    std::vector<Entry> entries(const YAML::Node& map, const std::string& section,
                               const std::array<const char*, K>& known,
                               const std::array<const char*, U>& unsupported) const
    {
        std::vector<Entry> out;
        const std::string in = section.empty() ? "" : " in " + section;
        for (const auto& pair : map) {
            const int line0 = pair.first.Mark().line;
            if (!pair.first.IsScalar())
                fail(line0, "keys must be plain names, got " + describe(pair.first) + in);
            const std::string& name = pair.first.Scalar();
            if (contains(unsupported, name))
                fail(line0, prefixed(section, name) + ": not supported by memsight (supported: " + join(known) +
                                "; see docs/security.md)");
            if (!contains(known, name))
                fail(line0, "unknown key " + memsight::quoted(name) + in + " (known: " + join(known) + ")");
            for (const Entry& seen : out)
                if (seen.name == name)
                    fail(line0, "duplicate key " + memsight::quoted(prefixed(section, name)) + " (first set on line " +
                                    std::to_string(seen.line0 + 1) + ")");
            out.push_back(Entry{name, pair.second, line0});
        }
        return out;
    }

    static std::string prefixed(const std::string& section, const std::string& name)
    {
        return section.empty() ? name : section + "." + name;
    }

    std::string scalar(const Entry& e, const std::string& path) const
    {
        if (e.value.IsNull())
            return "";
        if (!e.value.IsScalar())
            fail(e.line0, path + ": expected a string, got " + describe(e.value));
        return e.value.Scalar();
    }

    std::string file_path(const std::string& p) const
    {
        if (p.empty() || p.front() == '/' || base_dir_.empty())
            return p;
        return base_dir_ + (base_dir_.back() == '/' ? "" : "/") + p;
    }

    TlsVersion version(const Entry& e, const std::string& path) const
    {
        static constexpr std::array<std::pair<const char*, TlsVersion>, 4> kNames = {{{"TLS10", TlsVersion::Tls10},
                                                                                      {"TLS11", TlsVersion::Tls11},
                                                                                      {"TLS12", TlsVersion::Tls12},
                                                                                      {"TLS13", TlsVersion::Tls13}}};
        const std::string s = scalar(e, path);
        for (const auto& [name, v] : kNames)
            if (s == name)
                return v;
        fail(e.line0, path + ": must be one of TLS10, TLS11, TLS12, TLS13, got " + memsight::quoted(s));
    }

    void read_tls(const YAML::Node& node, int line0, WebConfig& cfg) const
    {
        if (!node.IsMap() && !node.IsNull())
            fail(line0, "tls_server_config: expected a map with cert_file and key_file, got " + describe(node));
        TlsServerConfig& t = cfg.tls_server;
        int ca_line0 = line0;
        int auth_line0 = line0;
        bool max_given = false;
        if (node.IsMap())
            for (const Entry& e : entries(node, "tls_server_config", kKnownTls, kUnsupportedTls)) {
                const std::string path = "tls_server_config." + e.name;
                if (e.name == "cert_file") {
                    t.cert_file = file_path(scalar(e, path));
                } else if (e.name == "key_file") {
                    t.key_file = file_path(scalar(e, path));
                } else if (e.name == "client_ca_file") {
                    t.client_ca_file = file_path(scalar(e, path));
                    ca_line0 = e.line0;
                } else if (e.name == "min_version") {
                    t.min_version = version(e, path);
                } else if (e.name == "max_version") {
                    t.max_version = version(e, path);
                    max_given = true;
                } else {
                    t.client_auth = client_auth(e, path);
                    auth_line0 = e.line0;
                }
            }
        if (t.cert_file.empty() && t.key_file.empty())
            fail(line0, "tls_server_config: cert_file and key_file are required (remove tls_server_config to serve "
                        "plain HTTP)");
        if (t.cert_file.empty())
            fail(line0, "tls_server_config.cert_file: missing (key_file is set)");
        if (t.key_file.empty())
            fail(line0, "tls_server_config.key_file: missing (cert_file is set)");
        if (!t.client_ca_file.empty() && t.client_auth == ClientAuth::None)
            fail(ca_line0, "tls_server_config.client_ca_file: set but client_auth_type is NoClientCert; set "
                           "client_auth_type: RequireAndVerifyClientCert");
        if (t.client_ca_file.empty() && t.client_auth != ClientAuth::None)
            fail(auth_line0, "tls_server_config.client_ca_file: missing (client_auth_type verifies client "
                             "certificates against it)");
        if (t.min_version > t.max_version)
            fail(line0, std::string("tls_server_config.min_version: ") + tls_version_name(t.min_version) +
                            " is above max_version " + tls_version_name(t.max_version) +
                            (max_given ? "" : " (the default)"));
        cfg.tls = true;
    }

    ClientAuth client_auth(const Entry& e, const std::string& path) const
    {
        const std::string s = scalar(e, path);
        if (s.empty() || s == "NoClientCert")
            return ClientAuth::None;
        if (s == "VerifyClientCertIfGiven")
            return ClientAuth::VerifyIfGiven;
        if (s == "RequireAndVerifyClientCert")
            return ClientAuth::Require;
        if (s == "RequestClientCert" || s == "RequireAnyClientCert")
            fail(e.line0, path + ": " + s +
                              " accepts certificates it does not verify; not supported by memsight (use "
                              "RequireAndVerifyClientCert)");
        fail(e.line0, path +
                          ": must be one of NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert, got " +
                          memsight::quoted(s));
    }

    // A bcrypt hash in modular crypt format: $2a$, $2b$ or $2y$, a two-digit cost 04..31, then 22 characters of
    // salt and 31 of hash in bcrypt's base-64 alphabet. Checked here so that a plain-text password or a SHA hash
    // is refused at start-up, not at the first request.
    static bool is_bcrypt(const std::string& h)
    {
        if (h.size() != 60 || h[0] != '$' || h[1] != '2' || (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') ||
            h[3] != '$' || h[6] != '$')
            return false;
        if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9')
            return false;
        const int cost = (h[4] - '0') * 10 + (h[5] - '0');
        if (cost < 4 || cost > 31)
            return false;
        return std::all_of(h.begin() + 7, h.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '/';
        });
    }

    void read_users(const YAML::Node& node, int line0, WebConfig& cfg) const
    {
        if (node.IsNull())
            return; // `basic_auth_users:` with nobody: no authentication, as exporter-toolkit reads it
        if (!node.IsMap())
            fail(line0, "basic_auth_users: expected a map of user: bcrypt hash, got " + describe(node));
        for (const auto& pair : node) {
            const int key_line0 = pair.first.Mark().line;
            if (!pair.first.IsScalar())
                fail(key_line0, "basic_auth_users: user names must be plain strings, got " + describe(pair.first));
            const std::string& user = pair.first.Scalar();
            const std::string path = "basic_auth_users." + user;
            if (user.empty())
                fail(key_line0, "basic_auth_users: empty user name");
            // RFC 7617: the user-id of basic authentication cannot contain a colon (it separates the password).
            if (user.find(':') != std::string::npos)
                fail(key_line0, "basic_auth_users: user name " + memsight::quoted(user) + " contains ':'");
            if (user.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos)
                fail(key_line0, "basic_auth_users: user name contains a control character");
            if (cfg.basic_auth_users.count(user) != 0)
                fail(key_line0, "duplicate user " + memsight::quoted(user) + " in basic_auth_users");
            if (!pair.second.IsScalar())
                fail(key_line0, path + ": expected a bcrypt hash, got " + describe(pair.second));
            // The value is not echoed: it may be a password someone pasted by mistake.
            if (!is_bcrypt(pair.second.Scalar()))
                fail(key_line0, path + ": not a bcrypt hash (expected $2y$ and a cost, 60 characters, e.g. from "
                                       "`htpasswd -nbBC 10 USER PASSWORD`)");
            cfg.basic_auth_users.emplace(user, pair.second.Scalar());
        }
    }

    std::string_view text_;
    const std::string& base_dir_;
    const std::string& source_;
    int last_line0_ = 0;
};

void check_readable(const std::string& file, const std::string& what, const std::string& source)
{
    if (::access(file.c_str(), R_OK) != 0)
        throw UserError(source + ": " + what + ": cannot read " + file + ": " + std::strerror(errno));
}

} // namespace

WebConfig parse_web_config(std::string_view yaml, const std::string& base_dir, const std::string& source)
{
    return Parser(yaml, base_dir, source).parse();
}

std::string directory_of(const std::string& path)
{
    const std::string dir = std::filesystem::path(path).parent_path().string();
    return dir.empty() ? "." : dir;
}

WebConfig load_web_config(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw UserError("cannot read web config " + path + ": " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad())
        throw UserError("cannot read web config " + path + ": " + std::strerror(errno));
    WebConfig cfg = parse_web_config(text.str(), directory_of(std::filesystem::absolute(path).string()), path);
    if (cfg.tls) {
        check_readable(cfg.tls_server.cert_file, "tls_server_config.cert_file", path);
        check_readable(cfg.tls_server.key_file, "tls_server_config.key_file", path);
        if (!cfg.tls_server.client_ca_file.empty())
            check_readable(cfg.tls_server.client_ca_file, "tls_server_config.client_ca_file", path);
    }
    return cfg;
}

const char* tls_version_name(TlsVersion v)
{
    switch (v) {
    case TlsVersion::Tls10:
        return "TLS10";
    case TlsVersion::Tls11:
        return "TLS11";
    case TlsVersion::Tls12:
        return "TLS12";
    default:
        return "TLS13";
    }
}

} // namespace memsight::exporter
