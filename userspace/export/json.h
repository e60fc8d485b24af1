#pragma once
// JSON renderings of what the CLI streams.
#include "analysis/oom.h"

#include <string>

namespace memsight::exporter {

// One line (no newline) describing an OOM kill; the keys are documented in docs/cli.md.
std::string oom_kill_json(const analysis::OomKill& k);

} // namespace memsight::exporter
