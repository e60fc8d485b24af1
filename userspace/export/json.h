#pragma once
// JSON renderings of what the CLI streams.
#include "analysis/oom.h"

#include <chrono>
#include <string>

namespace memsight::exporter {

// UTC, RFC 3339 with milliseconds: "2026-11-29T18:20:01.123Z".
std::string rfc3339(std::chrono::system_clock::time_point t);

// One line (no newline) describing an OOM kill; the keys are documented in docs/cli.md.
std::string oom_kill_json(const analysis::OomKill& k);

} // namespace memsight::exporter
