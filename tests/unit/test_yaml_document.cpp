// config::load_one_document: the one document of a settings file, and the inputs on which yaml-cpp 0.7's LoadAll
// never returns (found by tests/fuzz/fuzz_config; the inputs are also in tests/fuzz/regressions/config/).
#include "config/yaml_document.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

namespace memsight::config {
namespace {

YamlProblem problem_of(std::string_view text)
{
    try {
        load_one_document(text);
    } catch (const YamlProblem& p) {
        return p;
    }
    ADD_FAILURE() << "no problem found in: " << text;
    return {};
}

TEST(YamlDocument, OneDocumentIsItsNode)
{
    const YAML::Node n = load_one_document("listen: 127.0.0.1:9756\ninterval: 5s\n");
    ASSERT_TRUE(n.IsMap());
    EXPECT_EQ(n["interval"].as<std::string>(), "5s");
}

TEST(YamlDocument, EmptyTextAndTrailingEmptyDocumentsAreFine)
{
    EXPECT_TRUE(load_one_document("").IsNull());
    EXPECT_TRUE(load_one_document("# only a comment\n").IsNull());
    EXPECT_TRUE(load_one_document("a: 1\n---\n").IsMap());
    EXPECT_TRUE(load_one_document("a: 1\n...\n").IsMap());
}

TEST(YamlDocument, SecondDocumentWithContentIsAProblemAtItsLine)
{
    const YamlProblem p = problem_of("a: 1\n---\nb: 2\n");
    EXPECT_TRUE(p.second_document);
    EXPECT_EQ(p.line, 2);
    EXPECT_EQ(p.message, "more than one YAML document");
}

TEST(YamlDocument, InvalidYamlNamesTheParsersReason)
{
    const YamlProblem p = problem_of("a: [1, 2\n");
    EXPECT_FALSE(p.second_document);
    EXPECT_EQ(p.message.rfind("invalid YAML: ", 0), 0u) << p.message;
}

// yaml-cpp 0.7's LoadAll loops forever on these (each "document" a null that consumes no input): a stray comma in
// a config file hung the agent at start-up.
TEST(YamlDocument, TextThatStallsTheParserIsAProblemNotAHang)
{
    for (const std::string_view text : {",_u", ","}) {
        auto f = std::async(std::launch::async, [text] { return problem_of(text); });
        ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "hangs on: " << text;
        const YamlProblem p = f.get();
        EXPECT_FALSE(p.second_document);
        EXPECT_EQ(p.message.rfind("invalid YAML", 0), 0u) << p.message;
    }
}

} // namespace
} // namespace memsight::config
