// Replays inputs through a fuzz target without libFuzzer: the normal (gcc) build links every tests/fuzz target
// with this main, and ctest runs it over the committed corpus and regressions. A crash found once by fuzzing thus
// stays a failing test until the parser is fixed, and the targets' code counts in coverage.
//
// Usage: fuzz_<target> PATH...   PATH is a file or a directory (its regular files, in name order). A missing
// path fails the run, so a renamed corpus directory cannot silently replay nothing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool replay(const std::filesystem::path& file)
{
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "cannot read %s\n", file.c_str());
        return false;
    }
    // A vector of exactly the input's size (heap), so a sanitized replay catches reads past its end.
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay %s (%zu bytes)\n", file.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    size_t replayed = 0;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path p(argv[i]);
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            std::vector<std::filesystem::path> files;
            for (const auto& e : std::filesystem::directory_iterator(p, ec))
                if (e.is_regular_file())
                    files.push_back(e.path());
            if (ec) {
                std::fprintf(stderr, "cannot list %s: %s\n", p.c_str(), ec.message().c_str());
                return 2;
            }
            std::sort(files.begin(), files.end());
            for (const auto& f : files)
                replayed += replay(f) ? 1 : 0;
        } else if (std::filesystem::is_regular_file(p, ec)) {
            replayed += replay(p) ? 1 : 0;
        } else {
            std::fprintf(stderr, "no such input file or directory: %s\n", p.c_str());
            return 2;
        }
    }
    std::fprintf(stderr, "replayed %zu inputs without a crash\n", replayed);
    return 0;
}
