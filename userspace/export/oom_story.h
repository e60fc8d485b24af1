#pragma once
// An OOM forensic record (export/oom_record.h) told for a person: who was killed, when, where, how big it was at
// death against its memory limit, how it grew before, its growth sites and profiles (`memsight oom --explain`).
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace memsight::exporter {

// A few lines, each ending in '\n'. Tolerates missing or null fields (an older or partial record): what is
// unknown is left out or said to be unknown.
std::string oom_story(const nlohmann::ordered_json& record);

// "RFC 3339 with milliseconds" (rfc3339()) back to seconds since the epoch; nullopt when it is not of that form.
std::optional<double> parse_rfc3339(const std::string& s);

} // namespace memsight::exporter
