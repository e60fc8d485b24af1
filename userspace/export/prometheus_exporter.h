#pragma once
// Prometheus exposition: every scrape renders a fresh AgentSnapshot, so series of processes and
// containers that are gone simply disappear and cardinality follows the configured bounds.
#include "analysis/snapshot.h"
#include "export/deep_status.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace prometheus {
class Exposer;
}

namespace memsight::exporter {

// Pure: snapshot -> metric families (unit-tested through the text serializer).
std::vector<prometheus::MetricFamily> render(const analysis::AgentSnapshot& s, const DeepTierStatus& deep,
                                             double last_scrape_seconds);
// The same with no governor estimates and zero escalation counters.
std::vector<prometheus::MetricFamily> render(const analysis::AgentSnapshot& s, double last_scrape_seconds);
std::string render_text(const std::vector<prometheus::MetricFamily>& families);

class SnapshotCollectable : public prometheus::Collectable {
public:
    // `deep` (optional) gives the deep-tier governor and escalation state of the same scrape.
    explicit SnapshotCollectable(std::function<analysis::AgentSnapshot()> source,
                                 std::function<DeepTierStatus()> deep = {})
        : source_(std::move(source)), deep_(std::move(deep))
    {
    }
    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    std::function<analysis::AgentSnapshot()> source_;
    std::function<DeepTierStatus()> deep_;
    mutable std::atomic<double> last_scrape_seconds_{0};
};

// Binds ADDR:PORT once and releases it, so that "in use" or "cannot assign" come out as one clear
// UserError (civetweb only says that it failed). Call it before slow start-up work.
void check_bindable(const std::string& listen);

// The HTTP endpoint. Throws UserError with one line when the address is invalid or in use.
class MetricsServer {
public:
    MetricsServer(const std::string& listen, const std::string& path, std::shared_ptr<prometheus::Collectable> c);
    ~MetricsServer();

private:
    std::shared_ptr<prometheus::Collectable> collectable_;
    std::unique_ptr<prometheus::Exposer> exposer_;
};

} // namespace memsight::exporter
