#pragma once
// Prometheus exposition: every scrape renders a fresh AgentSnapshot, so series of processes and
// containers that are gone simply disappear and cardinality follows the configured bounds.
#include "analysis/snapshot.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace memsight::exporter {

// Pure: snapshot -> metric families (unit-tested through the text serializer).
std::vector<prometheus::MetricFamily> render(const analysis::AgentSnapshot& s, double last_scrape_seconds);
std::string render_text(const std::vector<prometheus::MetricFamily>& families);

class SnapshotCollectable : public prometheus::Collectable {
public:
    explicit SnapshotCollectable(std::function<analysis::AgentSnapshot()> source) : source_(std::move(source)) {}
    std::vector<prometheus::MetricFamily> Collect() const override;

private:
    std::function<analysis::AgentSnapshot()> source_;
    mutable std::atomic<double> last_scrape_seconds_{0};
};

} // namespace memsight::exporter
