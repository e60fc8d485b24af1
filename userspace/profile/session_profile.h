#pragma once
// A deep-tier session's report as pprof samples and files: shared by `memsight profile` and the agent's escalated
// sessions, which write one profile per session into a directory with a retention policy.
#include "deep/leak_tracker.h"
#include "deep/session.h"
#include "profile/profile.h"

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace memsight::profile {

// One pprof sample per reported site (values rounded to integers, stacks innermost first).
std::vector<profile::Sample> profile_samples(const std::vector<deep::SiteReport>& sites);

// The gzipped pprof of a session's report. `note` is appended to the profile's comment (e.g. why it ended).
std::string session_pprof(const deep::Session& session, const std::vector<deep::SiteReport>& sites,
                          std::chrono::system_clock::time_point started, double elapsed_s, const std::string& note);

// Profile file names are "memsight-<comm>-<pid>-<UTC YYYYmmddTHHMMSS.mmm>Z.pb.gz"; comm characters other than
// letters, digits, '.', '_' and '-' become '_'. Retention only ever touches names of this form.
// The UTC time stamp of the agent's file names, to the millisecond: "20261129T182001.123" (19 characters; the
// callers put a "Z" after it). is_file_stamp: whether `s` is exactly such a stamp.
std::string file_stamp(std::chrono::system_clock::time_point t);
bool is_file_stamp(std::string_view s);
std::string profile_file_name(const std::string& comm, pid_t pid, std::chrono::system_clock::time_point when);
bool is_profile_file_name(const std::string& name);

// Profile files of one process in `dir`: those named for (comm, pid) whose time stamp (the session's end) is not
// before `since`, oldest first, as paths. Unreadable directory: none.
std::vector<std::string> profiles_of_process(const std::string& dir, const std::string& comm, pid_t pid,
                                             std::chrono::system_clock::time_point since);

// Creates `dir` (and its parents) when missing and checks that a file can be created in it; throws UserError
// "<dir>: <why>".
void prepare_profile_dir(const std::string& dir);
// The same for other files the agent writes (OOM records): `what` names them in errors ("OOM record").
void prepare_output_dir(const std::string& dir, const std::string& what);
// Writes `data` to dir/name through a temporary file and a rename, so readers never see half a profile. Returns
// the path; throws UserError.
std::string write_profile_file(const std::string& dir, const std::string& name, const std::string& data);

// Removes profile files (is_profile_file_name, or the names `owned` accepts) of `dir` last modified more than
// `max_age` before `now`, then the oldest (by modification time, then name) until at most `max_files` remain.
// Returns the removed names, oldest first. Other files are never touched; an unreadable directory removes nothing.
std::vector<std::string> apply_retention(const std::string& dir, size_t max_files, std::chrono::seconds max_age,
                                         std::chrono::system_clock::time_point now,
                                         bool (*owned)(const std::string&) = is_profile_file_name);

} // namespace memsight::profile
