#include "util/listen_address.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

namespace memsight::util {
namespace {

bool is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

bool all_numeric(std::string_view host)
{
    return std::all_of(host.begin(), host.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

std::string numeric_text(const sockaddr* sa, socklen_t len)
{
    char host[NI_MAXHOST] = {};
    char port[NI_MAXSERV] = {};
    if (::getnameinfo(sa, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return "?";
    return sa->sa_family == AF_INET6 ? "[" + std::string(host) + "]:" + port : std::string(host) + ":" + port;
}

struct AddrinfoFree {
    void operator()(addrinfo* p) const { ::freeaddrinfo(p); }
};

} // namespace

bool http_server_has_ipv6()
{
    return mg_check_feature(8) != 0; // 8: built with USE_IPV6 (civetweb.h)
}

std::variant<ListenAddress, std::string> parse_listen(std::string_view s)
{
    const std::string usage = "must be ADDR:PORT like 127.0.0.1:9756, [::1]:9756 or HOSTNAME:9756, got " + quoted(s);
    std::string_view host;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        const size_t close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
            return usage;
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
        if (host.empty())
            return "host part is empty in " + quoted(s);
        in6_addr buf{};
        if (::inet_pton(AF_INET6, std::string(host).c_str(), &buf) != 1)
            return "invalid IPv6 address " + quoted(host) + " in " + quoted(s);
    } else {
        const size_t colon = s.rfind(':');
        if (colon == std::string_view::npos)
            return usage;
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (host.empty())
            return "host part is empty in " + quoted(s) + " (use 0.0.0.0:PORT to listen on every IPv4 address)";
        if (host.find(':') != std::string_view::npos)
            return "IPv6 addresses must be in brackets, like [::1]:9756, got " + quoted(s);
        if (!std::all_of(host.begin(), host.end(), [](char c) { return is_host_char(static_cast<unsigned char>(c)); }))
            return "invalid host " + quoted(host) + " in " + quoted(s);
        in_addr buf{};
        if (all_numeric(host) && ::inet_pton(AF_INET, std::string(host).c_str(), &buf) != 1)
            return "invalid IPv4 address " + quoted(host) + " in " + quoted(s);
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
        return "port must be a number between 1 and 65535, got " + quoted(port) + " in " + quoted(s);
    return ListenAddress{std::string(host), static_cast<uint16_t>(value)};
}

std::variant<std::vector<Endpoint>, std::string> resolve_listen(std::string_view s)
{
    auto parsed = parse_listen(s);
    if (auto* problem = std::get_if<std::string>(&parsed))
        return *problem;
    const auto& a = std::get<ListenAddress>(parsed);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* raw = nullptr;
    const std::string port = std::to_string(a.port);
    const int rc = ::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &raw);
    std::unique_ptr<addrinfo, AddrinfoFree> list(raw);
    if (rc != 0)
        return "host " + quoted(a.host) + " in " + quoted(s) + " does not resolve (" + ::gai_strerror(rc) +
               "); give an IP address, or a name in /etc/hosts or DNS";
    std::vector<Endpoint> out;
    bool v6_dropped = false;
    for (const addrinfo* p = list.get(); p != nullptr; p = p->ai_next) {
        if ((p->ai_family != AF_INET && p->ai_family != AF_INET6) || p->ai_addrlen > sizeof(sockaddr_storage))
            continue;
        if (p->ai_family == AF_INET6 && !http_server_has_ipv6()) {
            v6_dropped = true;
            continue;
        }
        Endpoint e;
        std::memcpy(&e.addr, p->ai_addr, p->ai_addrlen);
        e.len = p->ai_addrlen;
        e.text = numeric_text(p->ai_addr, p->ai_addrlen);
        if (std::none_of(out.begin(), out.end(), [&](const Endpoint& o) { return o.text == e.text; }))
            out.push_back(std::move(e));
    }
    if (out.empty() && v6_dropped)
        return quoted(s) + " is IPv6 only, and this build's HTTP server (civetweb built without IPv6, as Debian "
                           "ships it) listens on IPv4 addresses only";
    if (out.empty())
        return "host " + quoted(a.host) + " in " + quoted(s) + " has no IPv4 or IPv6 address";
    return out;
}

} // namespace memsight::util
