#pragma once
// The OOM forensic record: one JSON object per kill, schema 1 (docs/oom-forensics.md; the contract with
// `memsight report` and `memsight oom --explain`). Built from the kernel's record of the kill (OomKill) and what the
// agent knew about the victim (VictimContext); stored one file per kill (export/oom_record_store.h) and served at
// GET /oom.
#include "analysis/oom.h"
#include "analysis/oom_victim.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace memsight::exporter {

inline constexpr int kOomRecordSchema = 1;

struct OomRecordSettings {
    double interval_seconds = 10; // the agent's scan interval
    double window_seconds = 300;  // its growth window
};

// "20261129T182001.123Z-4242": the kill's UTC time to the millisecond and the victim's pid.
std::string oom_record_id(std::chrono::system_clock::time_point time, pid_t pid);
// "oom-<id>.json"
std::string oom_record_file_name(const std::string& id);
// Names of that form only (retention and loading touch nothing else).
bool is_oom_record_file_name(const std::string& name);

// The record, keys in the schema's order. `profiles` are the paths of the victim's deep-session profiles.
nlohmann::ordered_json oom_record(const analysis::OomKill& kill, const analysis::VictimContext& victim,
                                  const OomRecordSettings& settings, const std::vector<std::string>& profiles);

// GET /oom's query: "limit=N" (1..kMaxOomRecordsLimit), default kDefaultOomRecordsLimit; anything else is a
// one-line problem for a 400 answer.
inline constexpr size_t kDefaultOomRecordsLimit = 50;
inline constexpr size_t kMaxOomRecordsLimit = 100000;
std::variant<size_t, std::string> parse_oom_records_query(std::string_view query);

// The /oom body: {"records": [...]}, the records as given (newest first).
std::string oom_records_body(const std::vector<nlohmann::ordered_json>& records);

} // namespace memsight::exporter
