// YAML config text -> Config (config::load_yaml, the function `memsight agent --config FILE` uses after reading
// the file). The contract (config.h): any text loads or throws ConfigError naming the problem; anything else
// (a yaml-cpp exception escaping, a crash, unbounded recursion) is a bug. A loaded config must also validate.
#include "config/config.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace memsight::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const Config cfg = load_yaml(text, "fuzz.yaml");
        validate(cfg);
    } catch (const ConfigError&) {
    }
    return 0;
}
