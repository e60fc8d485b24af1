#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

namespace memsight {

// An error the user can act on. main() prints what() as one line and exits non-zero.
class UserError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A value as error messages show it: 'value'.
inline std::string quoted(std::string_view s)
{
    return "'" + std::string(s) + "'";
}

} // namespace memsight
