#pragma once
#include <stdexcept>

namespace memsight {

// An error the user can act on. main() prints what() as one line and exits non-zero.
class UserError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace memsight
