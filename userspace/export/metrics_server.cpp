#include "export/metrics_server.h"

#include "util/error.h"
#include "util/fd.h"
#include "util/listen_address.h"

#include <civetweb.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace memsight::exporter {

struct MetricsServer::Handlers {
    std::string path;
    std::shared_ptr<prometheus::Collectable> collectable;
    std::function<Health()> health;
    std::vector<Route> routes; // not resized after the server starts: civetweb holds pointers to them
};

namespace {

constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

std::vector<util::Endpoint> endpoints_of(const std::string& listen)
{
    auto r = util::resolve_listen(listen);
    if (auto* problem = std::get_if<std::string>(&r))
        throw UserError("invalid listen address: " + *problem);
    return std::get<std::vector<util::Endpoint>>(std::move(r));
}

const char* reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 500:
        return "Internal Server Error";
    default:
        return "Service Unavailable";
    }
}

int respond(mg_connection* conn, int status, const char* type, std::string_view body)
{
    const mg_request_info* req = mg_get_request_info(conn);
    const bool head = req != nullptr && std::strcmp(req->request_method, "HEAD") == 0;
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
              "Connection: close\r\n\r\n",
              status, reason_phrase(status), type, body.size());
    if (!head)
        mg_write(conn, body.data(), body.size());
    return status;
}

// The request's path must be exactly the handler's (civetweb also routes "/metrics/x" to "/metrics"), and the
// method GET or HEAD. Returns 0 when the request may be served, else the error status already sent.
int refuse_other(mg_connection* conn, const std::string& path)
{
    const mg_request_info* req = mg_get_request_info(conn);
    if (req == nullptr || req->local_uri == nullptr || path != req->local_uri)
        return respond(conn, 404, "text/plain", "not found\n");
    if (std::strcmp(req->request_method, "GET") != 0 && std::strcmp(req->request_method, "HEAD") != 0)
        return respond(conn, 405, "text/plain", "only GET and HEAD\n");
    return 0;
}

int serve_metrics(mg_connection* conn, void* data)
{
    const auto* h = static_cast<const MetricsServer::Handlers*>(data);
    if (int refused = refuse_other(conn, h->path))
        return refused;
    try {
        const std::string body = prometheus::TextSerializer().Serialize(h->collectable->Collect());
        return respond(conn, 200, kMetricsType, body);
    } catch (const std::exception& e) {
        spdlog::warn("scrape failed: {}", e.what());
        return respond(conn, 500, "text/plain", std::string("scrape failed: ") + e.what() + "\n");
    }
}

int serve_probe(mg_connection* conn, const MetricsServer::Handlers& h, const char* path, bool Health::*field)
{
    if (int refused = refuse_other(conn, path))
        return refused;
    const Health now = h.health ? h.health() : Health{true, true, "ok"};
    return respond(conn, now.*field ? 200 : 503, "text/plain", now.detail + "\n");
}

int serve_healthz(mg_connection* conn, void* data)
{
    return serve_probe(conn, *static_cast<const MetricsServer::Handlers*>(data), "/healthz", &Health::live);
}

int serve_readyz(mg_connection* conn, void* data)
{
    return serve_probe(conn, *static_cast<const MetricsServer::Handlers*>(data), "/readyz", &Health::ready);
}

int serve_route(mg_connection* conn, void* data)
{
    const auto* route = static_cast<const Route*>(data);
    if (int refused = refuse_other(conn, route->path))
        return refused;
    const mg_request_info* req = mg_get_request_info(conn);
    const std::string query = req->query_string != nullptr ? req->query_string : "";
    try {
        const Reply r = route->handler(query);
        return respond(conn, r.status, r.type.c_str(), r.body);
    } catch (const std::exception& e) {
        spdlog::warn("{} failed: {}", route->path, e.what());
        return respond(conn, 500, "text/plain", route->path + " failed: " + e.what() + "\n");
    }
}

int log_civetweb(const mg_connection*, const char* message)
{
    spdlog::debug("http: {}", message);
    return 1; // logged here; civetweb prints nothing itself
}

// Binds each endpoint once and releases it: "in use" or "cannot assign" as one line naming the address.
void bind_each(const std::vector<util::Endpoint>& endpoints, const std::string& listen)
{
    for (const auto& e : endpoints) {
        util::UniqueFd fd(::socket(e.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (e.addr.ss_family == AF_INET6) // as civetweb binds it: IPv6 only, so [::] and 0.0.0.0 can coexist
            ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&e.addr), e.len) != 0)
            throw UserError("cannot listen on " + e.text + (e.text == listen ? "" : " (" + listen + ")") + ": " +
                            std::strerror(errno));
    }
}

} // namespace

void check_bindable(const std::string& listen)
{
    bind_each(endpoints_of(listen), listen);
}

MetricsServer::MetricsServer(const std::string& listen, const std::string& path,
                             std::shared_ptr<prometheus::Collectable> c, std::function<Health()> health,
                             std::vector<Route> routes)
    : handlers_(std::make_unique<Handlers>(Handlers{path, std::move(c), std::move(health), std::move(routes)}))
{
    const auto endpoints = endpoints_of(listen); // resolved once, bound-checked, then given to civetweb
    bind_each(endpoints, listen);
    std::string ports;
    for (const auto& e : endpoints) {
        ports += (ports.empty() ? "" : ",") + e.text;
        endpoints_.push_back(e.text);
    }
    mg_init_library(0);
    // Four workers: Prometheus servers, probes and a person's curl at once without queueing behind a scrape.
    const char* options[] = {"listening_ports",    ports.c_str(), "num_threads", "4",
                             "request_timeout_ms", "10000",       nullptr};
    mg_callbacks callbacks{};
    callbacks.log_message = log_civetweb;
    mg_init_data init{&callbacks, nullptr, options};
    char text[256] = {};
    unsigned code = 0;
    mg_error_data error{&code, text, sizeof text};
    ctx_ = mg_start2(&init, &error);
    if (ctx_ == nullptr)
        throw UserError("cannot listen on " + ports + ": " +
                        (text[0] != '\0' ? text : "the HTTP server did not start"));
    mg_set_request_handler(ctx_, path.c_str(), serve_metrics, handlers_.get());
    mg_set_request_handler(ctx_, "/healthz", serve_healthz, handlers_.get());
    mg_set_request_handler(ctx_, "/readyz", serve_readyz, handlers_.get());
    for (auto& r : handlers_->routes)
        mg_set_request_handler(ctx_, r.path.c_str(), serve_route, &r);
}

MetricsServer::~MetricsServer()
{
    if (ctx_ != nullptr)
        mg_stop(ctx_);
}

} // namespace memsight::exporter
