#pragma once
// OOM forensic records in the agent: one JSON file per kill in oom.forensics_dir (docs/oom-forensics.md).
//
// Off the BPF event path: the OOM sink (which may run on the ring-buffer thread, when a victim's exit does not
// arrive) only queues the kill; the scan thread captures what the agent knew about the victim when the kill is
// handled (on_victim), then builds and writes the record (flush). A record whose victim a deep session still traces
// waits, up to a bound, for the session's profile. A write that fails (a full disk) is one warning line and a count.
#include "analysis/oom.h"
#include "analysis/oom_victim.h"
#include "export/oom_record.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace memsight::agent {

struct OomForensicsOptions {
    std::string dir; // "" = off
    size_t max_files = 100;
    std::chrono::seconds max_age{7 * 24 * 3600};
    exporter::OomRecordSettings record;
    // How long a record waits for a deep session on its victim to end (and write its profile).
    analysis::Clock::duration hold{std::chrono::seconds(25)};
};

class OomForensics {
public:
    // Off until open().
    explicit OomForensics(OomForensicsOptions o) : opts_(std::move(o)) {}
    // Creates the directory when missing and applies retention to what is there; when it cannot be created or
    // written, logs one warning and stays off (the agent runs on). Called once the agent's start-up checks have
    // passed, so that a missing capability is still the only line an agent that cannot start prints.
    void open();

    bool enabled() const { return !dir_.empty(); }
    const std::string& dir() const { return dir_; } // "" when off

    // Any thread: queues the kill (the OOM sink). Nothing else happens here.
    void on_kill(const analysis::OomKill& k);
    // Scan thread: what the agent knew about a victim, captured when its kill was seen.
    void on_victim(analysis::VictimContext ctx, analysis::Clock::time_point now);

    // Fills what is found only when the record is written (the victim's profiles; a memcg reading the capture
    // missed). Returns the profiles' paths.
    using Complete = std::function<std::vector<std::string>(const analysis::OomKill&, analysis::VictimContext&)>;
    // Scan thread: builds and writes the records of the queued kills. `traced(pid)` is true while a deep session
    // traces the victim: its record waits for the session's profile, at most `hold` after the kill.
    void flush(analysis::Clock::time_point now, const std::function<bool(pid_t)>& traced, const Complete& complete);

    uint64_t written() const { return written_.load(); }
    uint64_t failed() const { return failed_.load(); }

private:
    void write(const analysis::OomKill& kill, analysis::VictimContext ctx, const Complete& complete);

    OomForensicsOptions opts_;
    std::string dir_;
    std::mutex mu_;
    std::vector<analysis::OomKill> queued_; // guarded by mu_
    // Scan thread only.
    std::map<pid_t, std::pair<analysis::VictimContext, analysis::Clock::time_point>> contexts_;
    std::vector<analysis::OomKill> waiting_; // kills whose victim a session still traces
    std::atomic<uint64_t> written_{0}, failed_{0};
};

} // namespace memsight::agent
