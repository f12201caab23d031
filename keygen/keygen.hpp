// keygen: writes a CurveZMQ keypair for --curve as two Z85 text files, NAME.key (the secret, mode
// 0600, created exclusively) and NAME.pub. It never overwrites a key: replacing one by accident
// locks a host out, or worse, silently changes who a key list admits.
#pragma once

#include <string>

#include "conveyor/common/expected.hpp"

namespace conveyor::keygen {

struct Written {
  std::string secret_path;  // NAME.key
  std::string public_path;  // NAME.pub
  std::string public_key;
};

// Generates a keypair and writes NAME.key and NAME.pub (NAME may include a directory). Fails,
// writing nothing, when either exists; the error is one line naming the file.
Expected<Written, std::string> write_keypair(const std::string& name);

}  // namespace conveyor::keygen
