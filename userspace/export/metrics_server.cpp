#include "export/metrics_server.h"

#include "export/basic_auth.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/listen_address.h"

#include <civetweb.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

// The shims of export/openssl_shim/, embedded by userspace/CMakeLists.txt.
extern "C" {
extern const unsigned char memsight_libssl_shim[];
extern const size_t memsight_libssl_shim_size;
extern const unsigned char memsight_libcrypto_shim[];
extern const size_t memsight_libcrypto_shim_size;
}

namespace memsight::exporter {

struct MetricsServer::Handlers {
    std::string path;
    std::shared_ptr<prometheus::Collectable> collectable;
    std::function<Health()> health;
    std::vector<Route> routes; // not resized after the server starts: civetweb holds pointers to them
    WebConfig web;
    std::unique_ptr<BasicAuth> auth; // null without basic_auth_users
    std::string tls_error;           // why the TLS set-up failed, for the start-up error
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
    case 401:
        return "Unauthorized";
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

int respond(mg_connection* conn, int status, const char* type, std::string_view body, const char* extra_headers = "")
{
    const mg_request_info* req = mg_get_request_info(conn);
    const bool head = req != nullptr && std::strcmp(req->request_method, "HEAD") == 0;
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
              "%sConnection: close\r\n\r\n",
              status, reason_phrase(status), type, body.size(), extra_headers);
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

// Every request passes here before civetweb picks a handler, unknown paths included, so nothing is served without
// the credentials. The probes are exempt (docs/security.md): orchestrators' HTTP probes would otherwise need the
// password in the pod spec or unit file, and they tell no more than "ok" or how long the scan loop has stalled.
int authenticate(mg_connection* conn)
{
    const auto* h = static_cast<MetricsServer::Handlers*>(mg_get_user_data(mg_get_context(conn)));
    if (h == nullptr || !h->auth)
        return 0;
    const mg_request_info* req = mg_get_request_info(conn);
    if (req != nullptr && req->local_uri != nullptr &&
        (std::strcmp(req->local_uri, "/healthz") == 0 || std::strcmp(req->local_uri, "/readyz") == 0))
        return 0;
    if (h->auth->allows(mg_get_header(conn, "Authorization")))
        return 0;
    return respond(conn, 401, "text/plain", "unauthorized\n",
                   "WWW-Authenticate: Basic realm=\"memsight\", charset=\"UTF-8\"\r\n");
}

// civetweb created the SSL_CTX (from the libssl it loaded, the one this binary links); the certificate, key,
// versions and client verification are set here rather than through civetweb's options, which take one PEM file
// holding both certificate and key, while the web config names two.
int setup_tls(void* ssl_ctx, void* user_data)
{
    auto* h = static_cast<MetricsServer::Handlers*>(user_data);
    auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
    const TlsServerConfig& t = h->web.tls_server;
    auto fail = [&](const std::string& what) {
        const unsigned long e = ERR_get_error();
        char why[256] = "";
        if (e != 0)
            ERR_error_string_n(e, why, sizeof why);
        ERR_clear_error();
        h->tls_error = what + (why[0] != '\0' ? std::string(": ") + why : std::string());
        return -1;
    };
    // Sessions are resumable only within this context; needed as soon as client certificates are verified.
    static const unsigned char kSessionContext[] = "memsight";
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, t.cert_file.c_str()) != 1)
        return fail("tls_server_config.cert_file: cannot use " + t.cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, t.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        return fail("tls_server_config.key_file: cannot use " + t.key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return fail("tls_server_config.key_file: " + t.key_file + " is not the key of " + t.cert_file);
    // civetweb's own protocol option would also apply; the file's versions replace it.
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3);
    auto proto = [](TlsVersion v) {
        switch (v) {
        case TlsVersion::Tls10:
            return TLS1_VERSION;
        case TlsVersion::Tls11:
            return TLS1_1_VERSION;
        case TlsVersion::Tls12:
            return TLS1_2_VERSION;
        default:
            return TLS1_3_VERSION;
        }
    };
    if (SSL_CTX_set_min_proto_version(ctx, proto(t.min_version)) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, proto(t.max_version)) != 1)
        return fail("tls_server_config.min_version/max_version: not accepted by OpenSSL");
    if (t.client_auth != ClientAuth::None) {
        if (SSL_CTX_load_verify_locations(ctx, t.client_ca_file.c_str(), nullptr) != 1)
            return fail("tls_server_config.client_ca_file: cannot use " + t.client_ca_file);
        // The CA names sent in the handshake, so that clients pick a certificate that can verify.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.client_ca_file.c_str()))
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx,
                           t.client_auth == ClientAuth::Require ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                                : SSL_VERIFY_PEER,
                           nullptr);
    }
    return 1; // set up: civetweb loads no certificate of its own
}

// Debian's civetweb loads OpenSSL with dlopen("libssl.so") and dlopen("libcrypto.so"), names only libssl-dev
// provides, and then wants SSL_get_peer_certificate, which OpenSSL 3 does not export, so its TLS set-up fails even
// where the names resolve. The two embedded shims (export/openssl_shim/) carry those SONAMEs; loaded first (from
// memory, no file to install), they are what civetweb's dlopen finds, and they bring in libssl.so.3/libcrypto.so.3.
void load_openssl_shims()
{
    static const std::string problem = [] {
        const std::pair<const char*, std::pair<const unsigned char*, size_t>> shims[] = {
            {"libcrypto.so", {memsight_libcrypto_shim, memsight_libcrypto_shim_size}},
            {"libssl.so", {memsight_libssl_shim, memsight_libssl_shim_size}},
        };
        // Open until both are loaded: dlopen() knows an object by its path too, and a closed fd's number (and so
        // its /proc/self/fd path) would be reused for the second shim.
        std::vector<util::UniqueFd> fds;
        fds.reserve(std::size(shims));
        for (const auto& [name, image] : shims) {
            util::UniqueFd& fd = fds.emplace_back(::memfd_create(name, MFD_CLOEXEC));
            if (fd.get() < 0)
                return std::string("memfd_create: ") + std::strerror(errno);
            for (size_t done = 0; done < image.second;) {
                const ssize_t n = ::write(fd.get(), image.first + done, image.second - done);
                if (n <= 0)
                    return std::string("writing the ") + name + " shim: " + std::strerror(errno);
                done += static_cast<size_t>(n);
            }
            const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
            if (::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) // kept loaded for the process' life
                return std::string("loading the ") + name + " shim: " + ::dlerror();
        }
        return std::string();
    }();
    if (!problem.empty())
        throw UserError("TLS: cannot load OpenSSL for the HTTP server (" + problem + ")");
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
                             std::vector<Route> routes, const WebConfig& web)
    : handlers_(std::make_unique<Handlers>(
          Handlers{path, std::move(c), std::move(health), std::move(routes), web, nullptr, ""})),
      tls_(web.tls)
{
    const auto endpoints = endpoints_of(listen); // resolved once, bound-checked, then given to civetweb
    bind_each(endpoints, listen);
    if (!web.basic_auth_users.empty())
        handlers_->auth = std::make_unique<BasicAuth>(web.basic_auth_users);
    if (tls_)
        load_openssl_shims();
    std::string ports;
    for (const auto& e : endpoints) {
        // "s": this port speaks TLS only; a plain HTTP request to it gets no answer (the handshake fails).
        ports += (ports.empty() ? "" : ",") + e.text + (tls_ ? "s" : "");
        endpoints_.push_back(e.text);
    }
    mg_init_library(0);
    // Request limits (docs/security.md#request-limits), the same with or without TLS:
    // - 8 workers: Prometheus servers, probes and a person's curl at once without queueing behind a scrape, and a
    //   few stalled clients do not take every worker;
    // - request_timeout_ms: the TLS handshake, and then the request line and headers, must arrive within 5 s of
    //   each other's start (a slow or stalled client is cut off); also bounds each write of the answer;
    // - max_request_size: request line and headers above 8 KiB get 413 (a scrape's are ~300 bytes);
    // - no keep-alive: each connection serves one request and is closed.
    const char* options[] = {"listening_ports",
                             ports.c_str(),
                             "num_threads",
                             "8",
                             "request_timeout_ms",
                             "5000",
                             "max_request_size",
                             "8192",
                             "enable_keep_alive",
                             "no",
                             nullptr};
    mg_callbacks callbacks{};
    callbacks.log_message = log_civetweb;
    callbacks.begin_request = authenticate;
    if (tls_)
        callbacks.init_ssl = setup_tls;
    mg_init_data init{&callbacks, handlers_.get(), options};
    char text[256] = {};
    unsigned code = 0;
    mg_error_data error{&code, text, sizeof text};
    ctx_ = mg_start2(&init, &error);
    if (ctx_ == nullptr && !handlers_->tls_error.empty())
        throw UserError(web.source + ": " + handlers_->tls_error);
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
