#pragma once
// HTTP basic authentication against the bcrypt hashes of a web config (export/web_config.h).
//
// bcrypt is slow on purpose (cost 10: ~50-70 ms of CPU), and Prometheus sends the same credentials on every scrape,
// so a successful check is remembered: the cache holds HMAC-SHA-256 digests of (user, password, hash) under a key
// drawn at start-up, never a password, and at most kCacheEntries of them. Failed checks are not cached: each one pays
// bcrypt, and so does an unknown user (against a dummy hash), so that the time of an answer does not tell which user
// names exist.
#include <array>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace memsight::exporter {

// True when `password` hashes to `hash` (modular crypt format, bcrypt here) with libxcrypt; the two hashes are
// compared in constant time. False for a password with a NUL byte, which crypt cannot take.
bool crypt_matches(std::string_view password, const std::string& hash);

// The user and password of an Authorization header value "Basic BASE64(user:password)"; nullopt when it is not
// one (another scheme, bad base64, no colon).
std::optional<std::pair<std::string, std::string>> parse_basic_authorization(std::string_view header);

class BasicAuth {
public:
    static constexpr size_t kCacheEntries = 256;

    explicit BasicAuth(std::map<std::string, std::string> users);

    bool enabled() const { return !users_.empty(); }
    // The Authorization header's value (nullptr when absent) names a user and its right password.
    bool allows(const char* authorization);
    bool check(const std::string& user, const std::string& password);

    // For tests: how many successful checks are remembered, and how many times bcrypt ran.
    size_t cached() const;
    size_t bcrypt_runs() const;

private:
    using Digest = std::array<unsigned char, 32>;
    Digest digest(const std::string& user, const std::string& password, const std::string& hash) const;

    std::map<std::string, std::string> users_;
    std::array<unsigned char, 32> key_{};
    mutable std::mutex mu_;
    std::set<Digest> cache_;
    std::deque<Digest> order_; // oldest first, for eviction
    size_t bcrypt_runs_ = 0;
};

} // namespace memsight::exporter
