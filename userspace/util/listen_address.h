#pragma once
// The one parser of ADDR:PORT listen addresses, shared by config checks and the HTTP server's bind.
//
//   127.0.0.1:9756   an IPv4 literal
//   [::1]:9756       an IPv6 literal, in brackets
//   node-7:9756      a host name: it is resolved (getaddrinfo: /etc/hosts, DNS) and the server listens on
//                    every address it resolves to, IPv4 and IPv6; a name that does not resolve is refused
//                    when the config is checked, before anything else starts.
// IPv6 needs an HTTP server built with it: Debian's civetweb is not, so there an IPv6 literal (or a name with
// only IPv6 addresses) is refused at config time, and a name with both kinds listens on its IPv4 addresses.
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace memsight::util {

struct ListenAddress {
    std::string host; // without brackets
    uint16_t port = 0;
};

// One resolved socket address.
struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
    std::string text; // numeric form, "127.0.0.1:9756" or "[::1]:9756"
};

// Splits and checks the syntax (no name lookup). The error is one line naming the input.
std::variant<ListenAddress, std::string> parse_listen(std::string_view s);

// Whether the HTTP server (civetweb) can listen on IPv6 addresses.
bool http_server_has_ipv6();

// parse_listen, then the numeric addresses the server can listen on: a literal as it is, a host name through
// getaddrinfo (each distinct address once, in the resolver's order). The error says why, e.g. that the name does not
// resolve.
std::variant<std::vector<Endpoint>, std::string> resolve_listen(std::string_view s);

} // namespace memsight::util
