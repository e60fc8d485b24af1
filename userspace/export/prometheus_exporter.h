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

} // namespace memsight::exporter
