#include "util/privileges.h"

#include "util/error.h"

#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

namespace memsight::util {
namespace {

constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

uint64_t effective_caps()
{
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("CapEff:", 0) == 0)
            return std::stoull(line.substr(7), nullptr, 16);
    }
    return 0;
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

std::string kernel_release()
{
    struct utsname u {};
    if (::uname(&u) != 0)
        return "unknown";
    return u.release;
}

} // namespace memsight::util
