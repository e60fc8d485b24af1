#include "config/yaml_document.h"

#include <yaml-cpp/eventhandler.h>

#include <sstream>

namespace memsight::config {
namespace {

// Where a document starts and whether it holds anything but a null.
class DocumentShape : public YAML::EventHandler {
public:
    size_t start = 0;
    int first_line = -1; // line of the first node
    bool content = false;

    void OnDocumentStart(const YAML::Mark& m) override { start = static_cast<size_t>(m.pos); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m, false); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m, true); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override
    {
        node(m, true);
    }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override
    {
        node(m, true);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override
    {
        node(m, true);
    }
    void OnMapEnd() override {}

private:
    void node(const YAML::Mark& m, bool has_content)
    {
        if (first_line < 0)
            first_line = m.line;
        content = content || has_content;
    }
};

} // namespace

YAML::Node load_one_document(std::string_view text)
{
    const std::string s(text);
    try {
        // First pass, events only: count the documents, stopping when the parser no longer advances.
        std::istringstream in(s);
        YAML::Parser parser(in);
        for (size_t n = 0, last_start = 0;; ++n) {
            DocumentShape doc;
            if (!parser.HandleNextDocument(doc))
                break;
            if (n > 0 && doc.start <= last_start) // the same place again: yaml-cpp would loop forever here
                throw YamlProblem{doc.first_line < 0 ? 0 : doc.first_line,
                                  "invalid YAML: the parser stops advancing here"};
            last_start = doc.start;
            if (n > 0 && doc.content)
                throw YamlProblem{doc.first_line, "more than one YAML document", true};
        }
        return YAML::Load(s); // the first document, as a node
    } catch (const YAML::Exception& e) {
        throw YamlProblem{e.mark.line, "invalid YAML: " + e.msg};
    }
}

} // namespace memsight::config
