// The web config file (exporter-toolkit's format, the subset memsight supports) and basic authentication against
// its bcrypt hashes.
#include "export/basic_auth.h"
#include "export/web_config.h"
#include "util/error.h"

#include <gtest/gtest.h>

#include <crypt.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

namespace {

using memsight::UserError;
using namespace memsight::exporter;

// htpasswd -nbBC 4 alice secret (cost 4 keeps the tests fast), htpasswd -nbBC 10 bob 'pa:ss w'.
const std::string kAliceHash = "$2y$04$hiWPWFr7x95.KWWDRv9D1OH2WR9Wydxu9PYnqBxi/kiFJuwoC2CD6";
const std::string kBobHash = "$2y$10$rMRw26rT4BrZPW9zwy06PeUYxuO.R0bEoLnyQqhvNsYbM0JjgA9sW";

// The error message of parsing `yaml`, or "" when it parses.
std::string error_of(const std::string& yaml)
{
    try {
        parse_web_config(yaml, "/etc/memsight", "web.yml");
    } catch (const UserError& e) {
        return e.what();
    }
    return "";
}

TEST(WebConfig, ParsesTlsMutualTlsAndUsers)
{
    const WebConfig c = parse_web_config("tls_server_config:\n"
                                         "  cert_file: tls/server.crt\n"
                                         "  key_file: /secrets/server.key\n"
                                         "  client_auth_type: RequireAndVerifyClientCert\n"
                                         "  client_ca_file: ca.pem\n"
                                         "  min_version: TLS13\n"
                                         "basic_auth_users:\n"
                                         "  alice: " +
                                             kAliceHash + "\n  bob: '" + kBobHash + "'\n",
                                         "/etc/memsight");
    EXPECT_TRUE(c.tls);
    // Relative paths are relative to the file's directory, as exporter-toolkit reads them.
    EXPECT_EQ(c.tls_server.cert_file, "/etc/memsight/tls/server.crt");
    EXPECT_EQ(c.tls_server.key_file, "/secrets/server.key");
    EXPECT_EQ(c.tls_server.client_ca_file, "/etc/memsight/ca.pem");
    EXPECT_EQ(c.tls_server.client_auth, ClientAuth::Require);
    EXPECT_EQ(c.tls_server.min_version, TlsVersion::Tls13);
    EXPECT_EQ(c.tls_server.max_version, TlsVersion::Tls13);
    ASSERT_EQ(c.basic_auth_users.size(), 2u);
    EXPECT_EQ(c.basic_auth_users.at("alice"), kAliceHash);
    EXPECT_EQ(c.basic_auth_users.at("bob"), kBobHash);
}

TEST(WebConfig, DefaultsAndEmptyFiles)
{
    const WebConfig tls = parse_web_config("tls_server_config: {cert_file: a.crt, key_file: a.key}\n", "dir");
    EXPECT_EQ(tls.tls_server.cert_file, "dir/a.crt");
    EXPECT_EQ(tls.tls_server.client_auth, ClientAuth::None);
    EXPECT_EQ(tls.tls_server.min_version, TlsVersion::Tls12);
    EXPECT_TRUE(tls.basic_auth_users.empty());

    for (const char* empty : {"", "\n", "# nothing\n", "basic_auth_users:\n"}) {
        const WebConfig c = parse_web_config(empty, "/x");
        EXPECT_FALSE(c.tls) << empty;
        EXPECT_TRUE(c.basic_auth_users.empty()) << empty;
    }
}

TEST(WebConfig, EachErrorIsOneLineNamingFileLineAndKey)
{
    const std::string users = "basic_auth_users:\n  alice: " + kAliceHash + "\n";
    const std::pair<std::string, std::string> cases[] = {
        {"tls_server_config: {cert_file: a.crt}\n", "web.yml:1: tls_server_config.key_file: missing"},
        {"tls_server_config:\n  key_file: a.key\n", "web.yml:1: tls_server_config.cert_file: missing"},
        {"tls_server_config:\n", "web.yml:1: tls_server_config: cert_file and key_file are required"},
        {"tls_server_config:\n  cert_file: a\n  key_file: b\n  cert_fiel: c\n",
         "web.yml:4: unknown key 'cert_fiel' in tls_server_config (known: cert_file, key_file,"},
        {users + "tls_config: {}\n",
         "web.yml:3: unknown key 'tls_config' (known: tls_server_config, basic_auth_users)"},
        {"rate_limit: {interval: 1s, burst: 20}\n", "web.yml:1: rate_limit: not supported by memsight"},
        {"tls_server_config:\n  cert: PEM\n", "web.yml:2: tls_server_config.cert: not supported by memsight"},
        {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n"
         "  client_ca_file: ca\n",
         "web.yml:4: tls_server_config.client_auth_type: RequireAnyClientCert accepts certificates it does not "
         "verify"},
        {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Yes\n",
         "web.yml:4: tls_server_config.client_auth_type: must be one of NoClientCert,"},
        {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n",
         "web.yml:4: tls_server_config.client_ca_file: set but client_auth_type is NoClientCert"},
        {"tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
         "web.yml:4: tls_server_config.client_ca_file: missing"},
        {"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS1.2\n",
         "web.yml:4: tls_server_config.min_version: must be one of TLS10, TLS11, TLS12, TLS13, got 'TLS1.2'"},
        {"tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
         "web.yml:1: tls_server_config.min_version: TLS13 is above max_version TLS12"},
        {"tls_server_config:\n  cert_file: [a]\n  key_file: b\n",
         "web.yml:2: tls_server_config.cert_file: expected a string, got a list"},
        {"basic_auth_users:\n  alice: secret\n", "web.yml:2: basic_auth_users.alice: not a bcrypt hash"},
        {"basic_auth_users:\n  alice: $1$abc$0123456789012345678901\n",
         "web.yml:2: basic_auth_users.alice: not a bcrypt hash"},
        {"basic_auth_users:\n  alice: " + kAliceHash.substr(0, 59) + "\n",
         "web.yml:2: basic_auth_users.alice: not a bcrypt hash"},
        {"basic_auth_users:\n  alice: " + kAliceHash + "\n  alice: " + kAliceHash + "\n",
         "web.yml:3: duplicate user 'alice' in basic_auth_users"},
        {"basic_auth_users:\n  'a:b': " + kAliceHash + "\n",
         "web.yml:2: basic_auth_users: user name 'a:b' contains ':'"},
        {"basic_auth_users: [alice]\n", "web.yml:1: basic_auth_users: expected a map of user: bcrypt hash, got a list"},
        {"basic_auth_users:\n  alice: {x: 1}\n",
         "web.yml:2: basic_auth_users.alice: expected a bcrypt hash, got a map"},
        {"tls_server_config: {cert_file: a, key_file: b}\ntls_server_config: {cert_file: a, key_file: b}\n",
         "web.yml:2: duplicate key 'tls_server_config' (first set on line 1)"},
        {"- a\n", "web.yml:1: expected a map with tls_server_config and/or basic_auth_users, got a list"},
        {"tls_server_config: {cert_file: a\n", "web.yml:1: invalid YAML:"},
        {"{}\n---\nbasic_auth_users: {}\n", "web.yml:3: more than one YAML document"},
    };
    for (const auto& [yaml, want] : cases) {
        const std::string got = error_of(yaml);
        EXPECT_TRUE(got.starts_with(want)) << "yaml:\n" << yaml << "got:  " << got << "\nwant: " << want << "...";
        EXPECT_EQ(got.find('\n'), std::string::npos) << got;
    }
}

TEST(WebConfig, HashesAreNeverEchoedInErrors)
{
    const std::string got = error_of("basic_auth_users:\n  alice: hunter2-plain-text\n");
    EXPECT_NE(got, "");
    EXPECT_EQ(got.find("hunter2"), std::string::npos) << got;
}

TEST(WebConfig, LoadChecksTheFilesItNamesRelativeToItsDirectory)
{
    const auto dir = std::filesystem::temp_directory_path() / ("memsight-web-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "tls");
    const auto web = (dir / "web.yml").string();
    std::ofstream(web) << "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: tls/server.key\n";
    std::ofstream(dir / "tls" / "server.crt") << "x";
    try {
        load_web_config(web);
        ADD_FAILURE() << "a missing key file must be an error";
    } catch (const UserError& e) {
        EXPECT_EQ(std::string(e.what()), web + ": tls_server_config.key_file: cannot read " + (dir / "tls").string() +
                                             "/server.key: No such file or directory");
    }
    std::ofstream(dir / "tls" / "server.key") << "x";
    const WebConfig c = load_web_config(web);
    EXPECT_EQ(c.tls_server.key_file, (dir / "tls" / "server.key").string());
    EXPECT_THROW(load_web_config((dir / "absent.yml").string()), UserError);
    std::filesystem::remove_all(dir);
}

TEST(BasicAuth, ParsesAuthorizationHeaders)
{
    auto c = parse_basic_authorization("Basic YWxpY2U6c2VjcmV0"); // alice:secret
    ASSERT_TRUE(c);
    EXPECT_EQ(c->first, "alice");
    EXPECT_EQ(c->second, "secret");
    c = parse_basic_authorization("basic  Ym9iOnBhOnNzIHc="); // bob:pa:ss w (the first colon separates)
    ASSERT_TRUE(c);
    EXPECT_EQ(c->first, "bob");
    EXPECT_EQ(c->second, "pa:ss w");
    c = parse_basic_authorization("Basic Og=="); // ":"
    ASSERT_TRUE(c);
    EXPECT_EQ(c->first, "");
    for (const char* bad : {"", "Basic", "Basic ", "Bearer YWxpY2U6c2VjcmV0", "Basic YWxpY2U",
                            "Basic YWxpY2U=", "Basic YW=xpY2U6", "Basic !!!!", "BasicYWxpY2U6c2VjcmV0"})
        EXPECT_FALSE(parse_basic_authorization(bad)) << bad;
}

TEST(BasicAuth, ChecksBcryptAndRemembersOnlySuccesses)
{
    EXPECT_TRUE(crypt_matches("secret", kAliceHash));
    EXPECT_FALSE(crypt_matches("secreT", kAliceHash));
    EXPECT_FALSE(crypt_matches(std::string_view("secret\0x", 8), kAliceHash));
    EXPECT_TRUE(crypt_matches("pa:ss w", kBobHash));

    BasicAuth auth({{"alice", kAliceHash}, {"bob", kBobHash}});
    EXPECT_TRUE(auth.enabled());
    EXPECT_FALSE(auth.allows(nullptr));
    EXPECT_FALSE(auth.allows("Basic YWxpY2U6d3Jvbmc="));     // alice:wrong
    EXPECT_FALSE(auth.allows("Basic bWFsbG9yeTpzZWNyZXQ=")); // mallory:secret, an unknown user
    EXPECT_EQ(auth.cached(), 0u);
    EXPECT_EQ(auth.bcrypt_runs(), 2u); // the unknown user paid bcrypt too

    EXPECT_TRUE(auth.allows("Basic YWxpY2U6c2VjcmV0")); // alice:secret
    EXPECT_EQ(auth.bcrypt_runs(), 3u);
    EXPECT_EQ(auth.cached(), 1u);
    for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(auth.allows("Basic YWxpY2U6c2VjcmV0"));
    EXPECT_EQ(auth.bcrypt_runs(), 3u); // remembered
    // Bob's right password under alice's name is not alice's.
    EXPECT_FALSE(auth.check("alice", "pa:ss w"));

    // A cached check is cheap; a cost-10 bcrypt is not: measured, so a regression to bcrypt per scrape shows.
    EXPECT_TRUE(auth.check("bob", "pa:ss w"));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i)
        EXPECT_TRUE(auth.check("bob", "pa:ss w"));
    const auto per_check = (std::chrono::steady_clock::now() - t0) / 100;
    EXPECT_LT(per_check, std::chrono::microseconds(200));
}

TEST(BasicAuth, CacheIsBoundedOldestFirst)
{
    // More users than the cache holds, each with a cost-4 hash made here (libxcrypt's gensalt).
    const size_t n = BasicAuth::kCacheEntries + 10;
    std::map<std::string, std::string> users;
    crypt_data data{};
    for (size_t i = 0; i < n; ++i) {
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        ASSERT_NE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt), nullptr);
        const char* hash = crypt_rn(("pw" + std::to_string(i)).c_str(), salt, &data, sizeof data);
        ASSERT_NE(hash, nullptr);
        users.emplace("user" + std::to_string(i), hash);
    }
    BasicAuth auth(users);
    for (size_t i = 0; i < n; ++i)
        ASSERT_TRUE(auth.check("user" + std::to_string(i), "pw" + std::to_string(i)));
    EXPECT_EQ(auth.cached(), BasicAuth::kCacheEntries);
    EXPECT_EQ(auth.bcrypt_runs(), n);
    EXPECT_TRUE(auth.check("user" + std::to_string(n - 1), "pw" + std::to_string(n - 1))); // newest: remembered
    EXPECT_EQ(auth.bcrypt_runs(), n);
    EXPECT_TRUE(auth.check("user0", "pw0")); // oldest: evicted, so bcrypt again
    EXPECT_EQ(auth.bcrypt_runs(), n + 1);
    EXPECT_EQ(auth.cached(), BasicAuth::kCacheEntries);
}

} // namespace
