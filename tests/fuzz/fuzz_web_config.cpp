// The agent's web config text (TLS and basic auth, exporter-toolkit format) -> WebConfig
// (exporter::parse_web_config, which load_web_config calls after reading the file). The contract (web_config.h):
// any text parses or throws UserError; a parsed config's paths are absolute (made so against base_dir).
#include "export/web_config.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace memsight;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto cfg = exporter::parse_web_config(text, "/etc/memsight", "fuzz.yml");
        for (const auto* path : {&cfg.tls_server.cert_file, &cfg.tls_server.key_file, &cfg.tls_server.client_ca_file})
            if (!path->empty() && path->front() != '/')
                std::abort();
    } catch (const UserError&) {
    }
    return 0;
}
