// The one error type a program's startup throws: a bad flag value, a port in use, a file that
// cannot be read. main() prints it as one line ("conveyor-x: error: ...") and exits 1.
#pragma once

#include <stdexcept>

namespace conveyor {

class StartupError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A flag value that cannot be used ("--source: unknown source 'x'"): like a flag that does not
// parse, main() exits 2.
class UsageError : public StartupError {
  using StartupError::StartupError;
};

}  // namespace conveyor
