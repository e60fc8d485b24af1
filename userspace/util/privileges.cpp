#include "util/privileges.h"

#include "util/error.h"

#include <dirent.h>
#include <linux/capability.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace memsight::util {
namespace {

constexpr int kCapDacReadSearch = 2;
constexpr int kCapSetpcap = 8;
constexpr int kCapSysPtrace = 19;
constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;
constexpr int kCapCheckpointRestore = 40;
constexpr int kCapMax = 63; // the masks' width; the kernel's last capability is in /proc/sys/kernel/cap_last_cap

// Names of the capabilities, by number (linux/capability.h; Linux 6.18 has 41).
constexpr const char* kCapNames[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

constexpr CapSet bit(int cap)
{
    return CapSet{1} << cap;
}

// A field of a /proc status file ("CapEff", "NoNewPrivs"); 0 when missing.
uint64_t status_field(const std::string& file, const std::string& name, int base)
{
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + ":", 0) == 0)
            return std::stoull(line.substr(name.size() + 1), nullptr, base);
    }
    return 0;
}

uint64_t effective_caps()
{
    return status_field("/proc/self/status", "CapEff", 16);
}

bool has(uint64_t caps, int cap)
{
    return (caps >> cap) & 1u;
}

bool is_dir(const std::string& p)
{
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

} // namespace

void require_bpf_capabilities()
{
    const uint64_t caps = effective_caps();
    if (has(caps, kCapSysAdmin))
        return;
    if (!has(caps, kCapBpf))
        throw UserError("missing capability CAP_BPF (or CAP_SYS_ADMIN): run memsight as root or grant it");
    if (!has(caps, kCapPerfmon))
        throw UserError("missing capability CAP_PERFMON (or CAP_SYS_ADMIN): run memsight as root or grant it");
}

void require_kernel_btf()
{
    struct stat st {};
    if (::stat("/sys/kernel/btf/vmlinux", &st) != 0)
        throw UserError("kernel BTF not found at /sys/kernel/btf/vmlinux: memsight needs a kernel built with "
                        "CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later)");
}

std::string ensure_tracefs()
{
    for (const char* dir : {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"}) {
        if (is_dir(dir))
            return dir;
    }
    if (::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0) {
        const int err = errno;
        throw UserError(std::string("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: ") +
                        std::strerror(err) + (err == EPERM ? " (mounting needs CAP_SYS_ADMIN)" : "") +
                        " (mount it: mount -t tracefs tracefs /sys/kernel/tracing)");
    }
    spdlog::info("tracefs was not mounted: mounted it at /sys/kernel/tracing (needed to attach tracepoints)");
    return "/sys/kernel/tracing/events";
}

void require_tracepoint(const std::string& events_dir, const std::string& category, const std::string& name)
{
    if (!is_dir(events_dir + "/" + category + "/" + name))
        throw UserError("tracepoint " + category + ":" + name + " not found in " + events_dir +
                        ": this kernel does not provide it");
}

CapSet capabilities_to_keep(const CapabilityFacts& facts)
{
    const CapSet held = facts.permitted;
    CapSet keep = held & (bit(kCapBpf) | bit(kCapPerfmon) | bit(kCapSysPtrace) | bit(kCapDacReadSearch) |
                          bit(kCapCheckpointRestore));
    const bool bpf_caps = has(held, kCapBpf) && has(held, kCapPerfmon);
    if (!bpf_caps || !facts.uprobe_multi)
        keep |= held & bit(kCapSysAdmin);
    return keep;
}

std::string capability_names(CapSet set)
{
    std::string out;
    for (int cap = 0; cap <= kCapMax; ++cap) {
        if (!has(set, cap))
            continue;
        out += out.empty() ? "" : " ";
        out += cap < static_cast<int>(std::size(kCapNames)) ? kCapNames[cap] : "cap_" + std::to_string(cap);
    }
    return out.empty() ? "none" : out;
}

namespace {

// What each thread drops, set before any thread is asked. The signal handler reads it and only makes system
// calls, which are async-signal-safe.
struct DropPlan {
    CapSet keep = 0;
    bool bounding = false; // drop from the bounding set too (the thread holds CAP_SETPCAP)
    int last_cap = 40;
};
DropPlan g_plan;
std::atomic<int> g_answered{0};
std::atomic<int> g_failed_step{0}; // the first step that failed in some thread (see kSteps), 0 = none
std::atomic<int> g_failed_errno{0};

constexpr const char* kSteps[] = {"", "PR_CAPBSET_DROP", "PR_CAP_AMBIENT_CLEAR_ALL", "capset", "PR_SET_NO_NEW_PRIVS"};

void note_failure(int step)
{
    int none = 0;
    if (g_failed_step.compare_exchange_strong(none, step))
        g_failed_errno.store(errno);
}

// The drop in the calling thread. Capabilities are per thread: each thread runs this itself.
void drop_in_this_thread()
{
    // The bounding set first: dropping from it needs CAP_SETPCAP, which capset below removes.
    if (g_plan.bounding) {
        for (int cap = 0; cap <= g_plan.last_cap; ++cap) {
            if (!has(g_plan.keep, cap) && ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
                ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
                note_failure(1);
        }
    }
    // The agent executes nothing that needs capabilities; EINVAL: a kernel < 4.3 has no ambient set.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        note_failure(2);
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) {
        note_failure(3);
    } else {
        for (int i = 0; i < 2; ++i) {
            const auto keep = static_cast<uint32_t>(g_plan.keep >> (32 * i));
            data[i].effective &= keep;
            data[i].permitted &= keep;
            data[i].inheritable &= keep;
        }
        if (::syscall(SYS_capset, &header, data) != 0)
            note_failure(3);
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        note_failure(4);
}

void on_drop_signal(int)
{
    const int saved = errno;
    drop_in_this_thread();
    g_answered.fetch_add(1);
    errno = saved;
}

std::vector<pid_t> threads_of_this_process()
{
    std::vector<pid_t> tids;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (const dirent* e = ::readdir(d)) {
            if (e->d_name[0] != '.')
                tids.push_back(static_cast<pid_t>(std::stol(e->d_name)));
        }
        ::closedir(d);
    }
    return tids;
}

CapSet permitted_caps()
{
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0)
        return 0;
    return CapSet{data[0].permitted} | (CapSet{data[1].permitted} << 32);
}

int last_cap()
{
    std::ifstream in("/proc/sys/kernel/cap_last_cap");
    int n = 0;
    return (in >> n) && n > 0 && n <= kCapMax ? n : 40;
}

} // namespace

CapabilityDrop drop_unneeded_capabilities(bool uprobe_multi)
{
    CapabilityDrop r;
    const CapSet before = permitted_caps();
    const CapSet bounding_before = status_field("/proc/self/status", "CapBnd", 16);
    r.kept = capabilities_to_keep({before, uprobe_multi});
    g_plan.keep = r.kept;
    g_plan.last_cap = last_cap();
    g_plan.bounding = has(effective_caps(), kCapSetpcap);

    // Every other thread drops its own sets in the handler of a real-time signal (no other part of memsight uses
    // real-time signals); it stays installed, so a late delivery still drops. Threads started while this runs are
    // found by listing the threads again until no new one appears: a thread started by one that already dropped
    // inherits the lowered sets.
    const int signo = SIGRTMIN + 4;
    struct sigaction sa {};
    sa.sa_handler = on_drop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(signo, &sa, nullptr);
    const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
    std::set<pid_t> asked{self};
    int expected = 0;
    for (bool more = true; more;) {
        more = false;
        for (pid_t tid : threads_of_this_process()) {
            if (!asked.insert(tid).second)
                continue;
            if (::syscall(SYS_tgkill, ::getpid(), tid, signo) == 0) {
                ++expected;
                more = true;
            }
        }
        // A thread that blocks the signal never answers: give up on it after 2 s (the check below names it).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (g_answered.load() < expected && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    drop_in_this_thread();

    // What the kernel now says about each thread, not what was asked.
    int unchanged = 0;
    for (pid_t tid : threads_of_this_process()) {
        const std::string status = "/proc/self/task/" + std::to_string(tid) + "/status";
        if ((status_field(status, "CapPrm", 16) & ~r.kept) != 0 || status_field(status, "NoNewPrivs", 10) != 1)
            ++unchanged;
        else
            ++r.threads;
    }
    const CapSet after = permitted_caps();
    r.kept = after;
    r.dropped = before & ~after;
    r.bounding_dropped = bounding_before & ~status_field("/proc/self/status", "CapBnd", 16);
    r.no_new_privs = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
    if (const int step = g_failed_step.load())
        r.problem = std::string(kSteps[step]) + " failed: " + std::strerror(g_failed_errno.load());
    if (unchanged > 0)
        r.problem += std::string(r.problem.empty() ? "" : "; ") + std::to_string(unchanged) +
                     " thread(s) kept their capabilities";

    if (r.dropped == 0 && r.bounding_dropped == 0 && r.problem.empty())
        spdlog::info("privileges: kept {}; nothing to drop{}", capability_names(r.kept),
                     r.no_new_privs ? ", no_new_privs set" : "");
    else
        spdlog::info("privileges: kept {}; dropped {} {} in {} thread(s){}", capability_names(r.kept),
                     capability_names(r.dropped),
                     r.bounding_dropped == r.dropped ? std::string("(bounding set too)")
                     : r.bounding_dropped == 0       ? std::string("(bounding set unchanged: no CAP_SETPCAP)")
                                                     : "(bounding set: " + capability_names(r.bounding_dropped) + ")",
                     r.threads, r.no_new_privs ? ", no_new_privs set" : "");
    if (!r.problem.empty())
        spdlog::warn("privileges: {}", r.problem);
    return r;
}

std::string kernel_release()
{
    struct utsname u {};
    if (::uname(&u) != 0)
        return "unknown";
    return u.release;
}

} // namespace memsight::util
