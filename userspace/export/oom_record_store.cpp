#include "export/oom_record_store.h"

#include "export/oom_record.h"
#include "procfs/read_file.h"
#include "profile/session_profile.h"
#include "util/error.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace memsight::exporter {
namespace {

bool owned(const std::string& name)
{
    return is_oom_record_file_name(name);
}

} // namespace

void prepare_oom_record_dir(const std::string& dir)
{
    profile::prepare_output_dir(dir, "OOM record");
}

std::string write_oom_record(const std::string& dir, const nlohmann::ordered_json& record)
{
    const std::string name = oom_record_file_name(record.at("id").get<std::string>());
    return profile::write_profile_file(dir, name,
                                       record.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::vector<std::string> apply_oom_record_retention(const std::string& dir, size_t max_files,
                                                    std::chrono::seconds max_age,
                                                    std::chrono::system_clock::time_point now)
{
    return profile::apply_retention(dir, max_files, max_age, now, owned);
}

LoadedOomRecords load_oom_records(const std::string& dir, size_t limit)
{
    LoadedOomRecords out;
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        if (errno == ENOENT)
            return out;
        throw UserError(dir + ": cannot read the OOM record directory: " + std::strerror(errno));
    }
    while (const dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (is_oom_record_file_name(name))
            names.push_back(std::move(name));
    }
    ::closedir(d);
    out.total = names.size();
    // The name is oom-<UTC time to the ms>-<pid>.json: newest first by name.
    std::sort(names.begin(), names.end(), std::greater<>());
    for (const auto& name : names) {
        if (out.records.size() >= limit)
            break;
        const auto text = procfs::read_file(dir + "/" + name);
        if (!text) {
            out.unreadable.push_back(name + ": cannot read it"); // removed meanwhile by retention, or unreadable
            continue;
        }
        try {
            auto record = nlohmann::ordered_json::parse(*text);
            if (!record.is_object())
                throw std::runtime_error("not a JSON object");
            out.records.push_back(std::move(record));
        } catch (const std::exception& e) {
            out.unreadable.push_back(name + ": " + e.what());
        }
    }
    return out;
}

} // namespace memsight::exporter
