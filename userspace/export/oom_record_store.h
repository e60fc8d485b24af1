#pragma once
// OOM forensic records on disk: one file per kill (oom-<id>.json) in the agent's oom.forensics_dir, written through a
// temporary file and a rename, kept by count and age, and read back newest first (GET /oom, `memsight oom
// --explain --dir`), so records from before an agent restart are still served.
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace memsight::exporter {

// Creates `dir` when missing and checks that a file can be written there; throws UserError "<dir>: <why>".
void prepare_oom_record_dir(const std::string& dir);

// Writes the record as dir/oom-<id>.json (atomically: readers never see half a record); returns the path. Throws
// UserError naming the file and the reason (a full disk: "No space left on device").
std::string write_oom_record(const std::string& dir, const nlohmann::ordered_json& record);

// Removes record files older than `max_age`, then the oldest until at most `max_files` remain; returns the removed
// names. Other files are never touched.
std::vector<std::string> apply_oom_record_retention(const std::string& dir, size_t max_files,
                                                    std::chrono::seconds max_age,
                                                    std::chrono::system_clock::time_point now);

struct LoadedOomRecords {
    std::vector<nlohmann::ordered_json> records; // newest first
    size_t total = 0;                            // record files in the directory
    std::vector<std::string> unreadable;         // "<file>: <why>" for files that could not be read or parsed
};
// The newest `limit` records of `dir` (by the kill time in their names). Throws UserError "<dir>: <why>" when the
// directory cannot be read; a missing directory has no records.
LoadedOomRecords load_oom_records(const std::string& dir, size_t limit);

} // namespace memsight::exporter
