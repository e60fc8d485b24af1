#pragma once
// The one YAML document of a settings file (the agent's config, the web config). Not YAML::LoadAll: Debian's
// yaml-cpp 0.7 loops forever on some short inputs (",_u": each "document" is a null that consumes nothing; yaml-cpp
// issue 1040), so a stray comma in a config file hung the agent at start-up (found by tests/fuzz/fuzz_config).
#include <yaml-cpp/yaml.h>

#include <string>
#include <string_view>

namespace memsight::config {

// What is wrong with the text, at a 0-based line.
struct YamlProblem {
    int line = 0;
    std::string message;          // "invalid YAML: ...", or "more than one YAML document"
    bool second_document = false; // the latter: the caller says what one document should be
};

// The text's first document (a Null node when there is none). Later documents that are empty are ignored; a later
// one with content is a YamlProblem, as is invalid YAML and text the parser stops advancing through.
YAML::Node load_one_document(std::string_view text);

} // namespace memsight::config
