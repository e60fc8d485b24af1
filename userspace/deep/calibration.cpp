#include "deep/calibration.h"

#include "deep/session.h"
#include "util/error.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

namespace memsight::deep {

namespace {

// Called through volatile pointers so the compiler can neither inline nor elide the pairs (GCC removes a
// malloc whose only use is free).
void* (*volatile g_malloc)(size_t) = std::malloc;
void (*volatile g_free)(void*) = std::free;

double thread_cpu_seconds()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Moves n bytes through read(2) or write(2), retrying short transfers and EINTR.
template <typename Byte, typename Op> bool transfer_all(int fd, Byte* p, size_t n, Op op)
{
    while (n > 0) {
        const ssize_t r = op(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

bool read_all(int fd, void* buf, size_t n)
{
    return transfer_all(fd, static_cast<char*>(buf), n, ::read);
}

bool write_all(int fd, const void* buf, size_t n)
{
    return transfer_all(fd, static_cast<const char*>(buf), n, ::write);
}

// The child: on each 'r' it runs the pairs and answers with the thread CPU seconds they took; EOF or 'q' ends it.
// Only malloc, free and async-signal-safe calls here: the parent may have had other threads at fork time.
[[noreturn]] void child_main(int cmd_fd, int result_fd, size_t pairs)
{
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) {
        char cmd = 0;
        if (!read_all(cmd_fd, &cmd, 1) || cmd != 'r')
            ::_exit(0);
        const double start = thread_cpu_seconds();
        for (size_t i = 0; i < pairs; ++i) {
            void* p = g_malloc(64);
            __asm__ volatile("" : : "r"(p) : "memory");
            g_free(p);
        }
        const double took = thread_cpu_seconds() - start;
        if (!write_all(result_fd, &took, sizeof(took)))
            ::_exit(1);
    }
}

// A forked calibration child and the pipes to it; killed and reaped on destruction.
class Child {
public:
    explicit Child(size_t pairs)
    {
        int cmd[2], result[2];
        if (::pipe2(cmd, O_CLOEXEC) != 0)
            throw UserError(std::string("calibration: pipe: ") + std::strerror(errno));
        if (::pipe2(result, O_CLOEXEC) != 0) {
            ::close(cmd[0]);
            ::close(cmd[1]);
            throw UserError(std::string("calibration: pipe: ") + std::strerror(errno));
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(cmd[1]);
            ::close(result[0]);
            child_main(cmd[0], result[1], pairs);
        }
        ::close(cmd[0]);
        ::close(result[1]);
        cmd_fd_ = cmd[1];
        result_fd_ = result[0];
        if (pid_ < 0) {
            const int err = errno;
            close_fds();
            throw UserError(std::string("calibration: fork: ") + std::strerror(err));
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child() { stop(); }

    pid_t pid() const { return pid_; }

    // Thread CPU seconds of one run of the pairs.
    double run()
    {
        const char cmd = 'r';
        double took = 0;
        if (!write_all(cmd_fd_, &cmd, 1) || !read_all(result_fd_, &took, sizeof(took)))
            throw UserError("calibration: the child process died");
        return took;
    }

    void stop()
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
            }
            pid_ = -1;
        }
        close_fds();
    }

private:
    void close_fds()
    {
        if (cmd_fd_ >= 0)
            ::close(cmd_fd_);
        if (result_fd_ >= 0)
            ::close(result_fd_);
        cmd_fd_ = result_fd_ = -1;
    }

    pid_t pid_ = -1;
    int cmd_fd_ = -1;
    int result_fd_ = -1;
};

std::mutex g_cost_mu;
std::map<bool, ProbeCost> g_costs; // keyed by exact mode

// What the calibrating process sends back: the result, or an error message.
struct Report {
    Calibration c;
    bool ok = false;
    char error[240] = {};
};

// In the calibrating process: measure, attach a session to the worker, measure again. The session is left in
// `session` for the caller not to destroy.
Calibration measure(uint64_t sample_bytes, size_t pairs, std::unique_ptr<Session>& session)
{
    Calibration c;
    c.exact = sample_bytes <= 1;
    Child child(pairs);
    // Untraced: the first run warms caches and the allocator; the fastest of the rest is the floor.
    child.run();
    double untraced = child.run();
    untraced = std::min(untraced, child.run());

    SessionOptions opts;
    opts.pids = {child.pid()};
    opts.sample_bytes = sample_bytes;
    opts.max_outstanding = 4096; // the pairs free at once: a small map loads faster
    session = std::make_unique<Session>(opts);
    double best = -1;
    for (int i = 0; i < 2; ++i) {
        const uint64_t before = probe_hits(session->counters());
        const double traced = child.run();
        const uint64_t hits = probe_hits(session->counters()) - before;
        if (hits == 0)
            throw UserError("the probes counted no calls in the calibration child");
        const double per_hit = std::max(0.0, traced - untraced) / static_cast<double>(hits);
        if (best < 0 || per_hit < best) {
            best = per_hit;
            c.traced_pair_s = traced / static_cast<double>(pairs);
            c.hits_per_pair = static_cast<double>(hits) / static_cast<double>(pairs);
        }
    }
    c.seconds_per_hit = best;
    c.untraced_pair_s = untraced / static_cast<double>(pairs);
    return c;
}

} // namespace

Calibration calibrate_probe_cost(uint64_t sample_bytes, size_t pairs)
{
    const auto start = std::chrono::steady_clock::now();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw UserError(std::string("calibration: pipe: ") + std::strerror(errno));
    // Two forks: the calibrating process is orphaned at once, so this process neither waits for its slow exit
    // (the kernel detaching its uprobes) nor leaves a zombie behind.
    const pid_t middle = ::fork();
    if (middle == 0) {
        ::close(fds[0]);
        if (::fork() != 0)
            ::_exit(0);
        std::unique_ptr<Session> session;
        Report r;
        try {
            r.c = measure(sample_bytes, pairs, session);
            r.ok = true;
        } catch (const std::exception& e) {
            std::snprintf(r.error, sizeof(r.error), "%s", e.what());
        }
        write_all(fds[1], &r, sizeof(r));
        // No destructors: detaching a few dozen uprobes one by one takes seconds (a grace period each); the kernel
        // releases them all as this process exits, and nobody waits for that.
        ::_exit(0);
    }
    ::close(fds[1]);
    if (middle < 0) {
        ::close(fds[0]);
        throw UserError(std::string("calibration: fork: ") + std::strerror(errno));
    }
    int status = 0;
    while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
    Report r;
    const bool got = read_all(fds[0], &r, sizeof(r));
    ::close(fds[0]);
    if (!got)
        throw UserError("calibration: the calibrating process died");
    if (!r.ok)
        throw UserError(r.error);
    r.c.took_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r.c;
}

ProbeCost probe_cost(uint64_t sample_bytes)
{
    const bool exact = sample_bytes <= 1;
    std::lock_guard lock(g_cost_mu);
    if (auto it = g_costs.find(exact); it != g_costs.end())
        return it->second;
    ProbeCost cost;
    try {
        const Calibration c = calibrate_probe_cost(sample_bytes);
        cost.seconds_per_hit = c.seconds_per_hit;
        cost.measured = true;
        spdlog::info("deep tier: calibrated probe cost ({} mode): {:.2f} us per hit ({:.0f} ns per malloc+free pair "
                     "untraced, {:.2f} us traced, {:.1f} hits per pair; took {:.0f} ms)",
                     exact ? "exact" : "sampled", c.seconds_per_hit * 1e6, c.untraced_pair_s * 1e9,
                     c.traced_pair_s * 1e6, c.hits_per_pair, c.took_s * 1e3);
    } catch (const std::exception& e) {
        spdlog::warn("deep tier: probe cost calibration failed ({}); the overhead governor assumes {:.1f} us per hit",
                     e.what(), kFallbackCostPerHit * 1e6);
    }
    g_costs[exact] = cost;
    return cost;
}

std::optional<ProbeCost> cached_probe_cost(uint64_t sample_bytes)
{
    std::lock_guard lock(g_cost_mu);
    if (auto it = g_costs.find(sample_bytes <= 1); it != g_costs.end())
        return it->second;
    return std::nullopt;
}

} // namespace memsight::deep
