#include "cli/commands.h"
#include "loader/always_on.h"
#include "memsight/version.h"
#include "util/privileges.h"

#include <cstdio>

namespace memsight::cli {

void add_version_command(CLI::App& app, Runner& run)
{
    auto* cmd = app.add_subcommand("version", "Print the version of memsight, libbpf and the kernel");
    cmd->callback([&run] {
        run = [] {
            std::printf("memsight %s (libbpf %s, kernel %s)\n", kVersion, loader::libbpf_version().c_str(),
                        util::kernel_release().c_str());
            return 0;
        };
    });
}

} // namespace memsight::cli
