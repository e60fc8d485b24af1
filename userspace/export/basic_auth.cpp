#include "export/basic_auth.h"

#include "util/error.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cctype>
#include <cstring>
#include <memory>

namespace memsight::exporter {
namespace {

// Checked against when the user is unknown, so that the answer takes as long as for a known user (cost 10, the
// cost htpasswd and the docs use). Its password is unknown to anyone and irrelevant: the result is ignored.
constexpr const char* kDummyHash = "$2y$10$.pQw6aA0EVL4imb5TepjdOYYj.9XLbVF2AD.pxkxORTxB71JlOKS.";

int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

// Standard base64 with padding (RFC 4648 section 4), as RFC 7617 asks; nullopt on anything else.
std::optional<std::string> base64_decode(std::string_view s)
{
    if (s.size() % 4 != 0)
        return std::nullopt;
    std::string out;
    out.reserve(s.size() / 4 * 3);
    for (size_t i = 0; i < s.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; ++j) {
            const char c = s[i + j];
            if (c == '=' && i + 4 == s.size() && j >= 2) {
                v[j] = 0;
                ++pad;
                continue;
            }
            if (pad > 0) // data after padding
                return std::nullopt;
            v[j] = base64_value(c);
            if (v[j] < 0)
                return std::nullopt;
        }
        const unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
        out += static_cast<char>((n >> 16) & 0xff);
        if (pad < 2)
            out += static_cast<char>((n >> 8) & 0xff);
        if (pad < 1)
            out += static_cast<char>(n & 0xff);
    }
    return out;
}

} // namespace

bool crypt_matches(std::string_view password, const std::string& hash)
{
    if (password.find('\0') != std::string_view::npos)
        return false;
    const std::string phrase(password);
    auto data = std::make_unique<crypt_data>(); // ~32 KiB: not on a civetweb worker's stack
    const char* out = crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
    // libxcrypt returns NULL or a string starting with '*' on failure (an unsupported or malformed setting).
    if (out == nullptr || out[0] == '*')
        return false;
    const size_t len = std::strlen(out);
    return len == hash.size() && CRYPTO_memcmp(out, hash.data(), len) == 0;
}

std::optional<std::pair<std::string, std::string>> parse_basic_authorization(std::string_view header)
{
    // The scheme is case-insensitive (RFC 9110 section 11.1); one or more spaces before the credentials.
    constexpr std::string_view kScheme = "basic";
    if (header.size() <= kScheme.size() || header[kScheme.size()] != ' ')
        return std::nullopt;
    for (size_t i = 0; i < kScheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i])
            return std::nullopt;
    std::string_view b64 = header.substr(kScheme.size());
    while (!b64.empty() && b64.front() == ' ')
        b64.remove_prefix(1);
    while (!b64.empty() && b64.back() == ' ')
        b64.remove_suffix(1);
    const auto decoded = base64_decode(b64);
    if (!decoded)
        return std::nullopt;
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos)
        return std::nullopt;
    return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users))
{
    if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1)
        throw UserError("basic authentication: no random bytes for the credential cache's key");
}

BasicAuth::Digest BasicAuth::digest(const std::string& user, const std::string& password, const std::string& hash) const
{
    // Lengths first, so that no two (user, password, hash) triples give the same input.
    std::string msg;
    for (const std::string* s : {&user, &password, &hash}) {
        msg += std::to_string(s->size());
        msg += ':';
        msg += *s;
    }
    Digest d{};
    unsigned len = 0;
    HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(msg.data()),
         msg.size(), d.data(), &len);
    OPENSSL_cleanse(msg.data(), msg.size());
    return d;
}

bool BasicAuth::check(const std::string& user, const std::string& password)
{
    const auto it = users_.find(user);
    if (it == users_.end()) {
        crypt_matches(password, kDummyHash);
        std::lock_guard lock(mu_);
        ++bcrypt_runs_;
        return false;
    }
    const Digest d = digest(user, password, it->second);
    {
        std::lock_guard lock(mu_);
        if (cache_.count(d) != 0)
            return true;
        ++bcrypt_runs_;
    }
    if (!crypt_matches(password, it->second)) // outside the lock: other scrapes need not wait for bcrypt
        return false;
    std::lock_guard lock(mu_);
    if (cache_.insert(d).second) {
        order_.push_back(d);
        if (order_.size() > kCacheEntries) {
            cache_.erase(order_.front());
            order_.pop_front();
        }
    }
    return true;
}

bool BasicAuth::allows(const char* authorization)
{
    if (authorization == nullptr)
        return false;
    auto creds = parse_basic_authorization(authorization);
    if (!creds)
        return false;
    const bool ok = check(creds->first, creds->second);
    OPENSSL_cleanse(creds->second.data(), creds->second.size());
    return ok;
}

size_t BasicAuth::cached() const
{
    std::lock_guard lock(mu_);
    return cache_.size();
}

size_t BasicAuth::bcrypt_runs() const
{
    std::lock_guard lock(mu_);
    return bcrypt_runs_;
}

} // namespace memsight::exporter
