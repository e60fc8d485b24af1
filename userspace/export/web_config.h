#pragma once
// The agent's web configuration file (`memsight agent --web-config FILE`, config key `web_config`): TLS and basic
// authentication of its HTTP endpoint, in the file format of the Prometheus exporter-toolkit
// (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md), so one file can serve
// memsight and the node exporter alike. The subset memsight supports is in docs/security.md; a key of the format
// that memsight does not support is an error, not ignored, so nobody believes a setting is in force when it is not.
#include <map>
#include <string>
#include <string_view>

namespace memsight::exporter {

enum class ClientAuth {
    None,          // NoClientCert (the default)
    VerifyIfGiven, // VerifyClientCertIfGiven: a client may send no certificate; one it sends must verify
    Require,       // RequireAndVerifyClientCert: mutual TLS
};

enum class TlsVersion { Tls10, Tls11, Tls12, Tls13 };

struct TlsServerConfig {
    std::string cert_file; // PEM, the server's certificate (chain); absolute after parsing
    std::string key_file;  // PEM, its private key; absolute after parsing
    ClientAuth client_auth = ClientAuth::None;
    std::string client_ca_file; // PEM, the CAs client certificates must chain to; "" unless client_auth != None
    TlsVersion min_version = TlsVersion::Tls12;
    TlsVersion max_version = TlsVersion::Tls13;
};

struct WebConfig {
    bool tls = false; // tls_server_config given: every listening port is HTTPS
    TlsServerConfig tls_server;
    std::map<std::string, std::string> basic_auth_users; // user -> bcrypt hash; empty = no authentication
    std::string source;                                  // the file it came from, for errors found later
};

// Parses the file's text. A pure function (no file is opened, so the fuzzer can call it): relative paths are made
// absolute against `base_dir` (the file's directory) but not checked. Throws UserError, one line:
// "SOURCE:LINE: KEY: what is wrong", for invalid YAML, an unknown key (or one of the format memsight does not
// support), a wrong type, cert_file without key_file or the other way round, a client_ca_file without a client
// auth type that verifies (or the other way round), an unknown client_auth_type or TLS version, and a password hash
// that is not bcrypt. An empty file is a valid config with nothing in it.
WebConfig parse_web_config(std::string_view yaml, const std::string& base_dir,
                           const std::string& source = "<web config>");

// Reads and parses `path`, and checks that the files it names can be read: what the agent does at start-up. Errors
// name `path` (UserError, one line).
WebConfig load_web_config(const std::string& path);

// The directory of `path` as parse_web_config wants it: "." for a bare file name.
std::string directory_of(const std::string& path);

// "TLS12" etc., as the file spells it.
const char* tls_version_name(TlsVersion v);

} // namespace memsight::exporter
