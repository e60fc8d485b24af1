#pragma once
// The agent's HTTP endpoint (civetweb): Prometheus text at the metrics path, and two probes for
// orchestrators:
//   /healthz  200 while the agent's scan loop keeps turning, 503 when it has stalled (liveness)
//   /readyz   200 once the BPF programs are attached and the first scan is done, 503 before and while
//             stopping (readiness)
// and the extra routes the agent gives (GET /oom: its OOM forensic records).
// Only GET and HEAD are served; anything else under another path is 404.
// With a web config (export/web_config.h, docs/security.md): TLS on every port (no plain HTTP at all) and basic
// authentication on every path but the two probes.
#include "export/web_config.h"

#include <prometheus/collectable.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

struct mg_context;

namespace memsight::exporter {

struct Health {
    bool live = true;
    bool ready = false;
    std::string detail; // one line, the probe's response body
};

// The answer of an extra route.
struct Reply {
    int status = 200;
    std::string type = "application/json";
    std::string body;
};
// A GET route besides the metrics path and the probes; its handler gets the query string ("" when none) and runs on
// one of the server's threads.
struct Route {
    std::string path;
    std::function<Reply(const std::string& query)> handler;
};

// Resolves `listen` (util/listen_address.h) and binds each address once, so that "in use" or "cannot
// assign" come out as one clear UserError naming the address. Call it before slow start-up work.
void check_bindable(const std::string& listen);

class MetricsServer {
public:
    // Listens on every address `listen` resolves to. Throws UserError with one line when it cannot, or when the
    // TLS files of `web` cannot be used (naming the key and the file).
    MetricsServer(const std::string& listen, const std::string& path, std::shared_ptr<prometheus::Collectable> c,
                  std::function<Health()> health, std::vector<Route> routes = {}, const WebConfig& web = {});
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // The numeric addresses listened on, e.g. {"127.0.0.1:9756", "[::1]:9756"}.
    const std::vector<std::string>& endpoints() const { return endpoints_; }
    // "https" with TLS, else "http".
    const char* scheme() const { return tls_ ? "https" : "http"; }

    // For the request handlers.
    struct Handlers;

private:
    std::unique_ptr<Handlers> handlers_;
    std::vector<std::string> endpoints_;
    bool tls_ = false;
    mg_context* ctx_ = nullptr;
};

} // namespace memsight::exporter
