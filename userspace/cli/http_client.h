#pragma once
// A small HTTP/1.0 client (civetweb's, the library that serves the agent's endpoint) for the commands that
// read a running agent (`growth --agent`, `oom --explain --agent`) or a Prometheus server (`report`).
// Plain http only; errors are one-line UserErrors that name the server and the option it came from. POST is for
// `report --post-url` (a webhook).
#include <string>
#include <string_view>

namespace memsight::cli {

struct Url {
    std::string host;
    int port = 0;
    std::string path; // "" or "/prefix" (no trailing slash) when the URL names a base, e.g. Prometheus behind a prefix
    std::string text; // as shown to the user
};

// Parses http://HOST[:PORT][/PATH] (the scheme may be left out; IPv6 hosts in brackets). `option` names the flag in
// errors ("--agent"); a missing port is `default_port`, a missing or "/" path `default_path`.
Url parse_url(const std::string& s, const char* option, int default_port, const std::string& default_path);

// GET u.path + path_and_query; the body of a 200 answer, else a UserError naming `server` ("agent",
// "Prometheus server") and the URL: "agent unreachable at URL: why", "the agent at URL answered HTTP 404". With `accept_error_body` a 4xx/5xx answer's body is returned too (Prometheus' API
// explains its errors in JSON); `status` then tells the code.
struct HttpResponse {
    int status = 0;
    std::string body;
};
HttpResponse http_get(const Url& u, const std::string& path_and_query, const char* server, int timeout_ms = 10000,
                      bool accept_error_body = false);

// POST `body` (with `content_type`) to u.path (a webhook); the answer, or a UserError naming `server` and the URL as
// http_get does. Any 2xx answer is success.
HttpResponse http_post(const Url& u, const std::string& body, const std::string& content_type, const char* server,
                       int timeout_ms = 10000);

// Percent-encodes a query parameter value (RFC 3986 unreserved characters stay).
std::string url_encode(std::string_view s);

} // namespace memsight::cli
