#include "cli/http_client.h"

#include "util/error.h"

#include <civetweb.h>

#include <charconv>

namespace memsight::cli {

Url parse_url(const std::string& s, const char* option, int default_port, const std::string& default_path)
{
    const std::string opt = option;
    std::string rest = s;
    if (rest.starts_with("https://"))
        throw UserError(opt + ": https is not supported by memsight's HTTP client (docs/security.md), got '" + s +
                        "'");
    if (rest.starts_with("http://"))
        rest = rest.substr(7);
    Url u;
    u.port = default_port;
    u.path = default_path;
    if (const auto slash = rest.find('/'); slash != std::string::npos) {
        std::string path = rest.substr(slash);
        rest = rest.substr(0, slash);
        while (path.size() > 1 && path.ends_with('/'))
            path.pop_back();
        if (path != "/")
            u.path = path;
    }
    if (const auto colon = rest.rfind(':'); colon != std::string::npos && !rest.ends_with(']')) {
        const std::string port = rest.substr(colon + 1);
        int p = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535)
            throw UserError(opt + ": bad port '" + port + "' in '" + s + "'");
        u.port = p;
        rest = rest.substr(0, colon);
    }
    if (rest.starts_with('[') && rest.ends_with(']'))
        rest = rest.substr(1, rest.size() - 2);
    if (rest.empty())
        throw UserError(opt + ": no host in '" + s + "' (e.g. http://127.0.0.1:" + std::to_string(default_port) + ")");
    u.host = rest;
    u.text = "http://" + (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) + ":" +
             std::to_string(u.port) + u.path;
    return u;
}

namespace {

// One HTTP/1.0 exchange: `request` is the request line and headers (without the blank line), `body` follows them.
// A status outside [ok_from, ok_to] is a UserError unless `accept_error_body` and it is 4xx/5xx.
HttpResponse exchange(const Url& u, const std::string& request, const std::string& body, const char* server,
                      int timeout_ms, int ok_from, int ok_to, bool accept_error_body)
{
    static const unsigned init = mg_init_library(0);
    (void)init;
    const std::string unreachable = std::string(server) + " unreachable at " + u.text + ": ";
    char err[256] = "";
    mg_connection* conn = mg_connect_client(u.host.c_str(), u.port, 0, err, sizeof(err));
    if (!conn)
        throw UserError(unreachable + (err[0] ? err : "cannot connect"));
    struct Closer {
        mg_connection* c;
        ~Closer() { mg_close_connection(c); }
    } closer{conn};
    const std::string head = request + "Host: " + u.host + ":" + std::to_string(u.port) + "\r\n\r\n";
    if (mg_write(conn, head.data(), head.size()) != static_cast<int>(head.size()) ||
        (!body.empty() && mg_write(conn, body.data(), body.size()) != static_cast<int>(body.size())))
        throw UserError(unreachable + "the request could not be sent");
    if (mg_get_response(conn, err, sizeof(err), timeout_ms) < 0)
        throw UserError(unreachable + (err[0] ? err : "no response"));
    const mg_response_info* info = mg_get_response_info(conn);
    HttpResponse r;
    r.status = info ? info->status_code : 0;
    if ((r.status < ok_from || r.status > ok_to) && !(accept_error_body && r.status >= 400))
        throw UserError("the " + std::string(server) + " at " + u.text + " answered HTTP " + std::to_string(r.status) +
                        (r.status == 401 ? " (it asks for a password; memsight's HTTP client sends none)" : ""));
    char buf[16384];
    for (int n; (n = mg_read(conn, buf, sizeof(buf))) > 0;)
        r.body.append(buf, static_cast<size_t>(n));
    return r;
}

std::string target_of(const Url& u, const std::string& path_and_query)
{
    const std::string t = u.path + path_and_query;
    return t.empty() ? "/" : t;
}

} // namespace

HttpResponse http_get(const Url& u, const std::string& path_and_query, const char* server, int timeout_ms,
                      bool accept_error_body)
{
    return exchange(u, "GET " + target_of(u, path_and_query) + " HTTP/1.0\r\n", "", server, timeout_ms, 200, 200,
                    accept_error_body);
}

HttpResponse http_post(const Url& u, const std::string& body, const std::string& content_type, const char* server,
                       int timeout_ms)
{
    return exchange(u,
                    "POST " + target_of(u, "") + " HTTP/1.0\r\nContent-Type: " + content_type +
                        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n",
                    body, server, timeout_ms, 200, 299, false);
}

std::string url_encode(std::string_view s)
{
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char ch : s) {
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '_' || ch == '.' || ch == '~') {
            out += static_cast<char>(ch);
        } else {
            out += '%';
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out;
}

} // namespace memsight::cli
