// broker::Admission: who may connect under --curve, decided with no sockets. The ZAP handler
// (zap_handler.hpp) asks it about each CURVE handshake: a key in --producer-keys may use the
// frontend, a key in --consumer-keys the backend, and nobody else anything.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "conveyor/common/expected.hpp"

namespace conveyor::broker {

// The ZAP domains the broker's sockets announce, so the handler knows which side is asked.
inline constexpr const char* kFrontendDomain = "conveyor-frontend";
inline constexpr const char* kBackendDomain = "conveyor-backend";

// A set of Z85 public keys, loaded from a .pub file, a file of keys (one per line, # comments)
// or a directory of .pub files.
class KeyList {
 public:
  static Expected<KeyList, std::string> load(const std::string& path);
  static KeyList of(std::set<std::string> keys);

  bool contains(const std::string& key) const { return keys_.contains(key); }
  std::size_t size() const { return keys_.size(); }

 private:
  std::set<std::string> keys_;
};

// Admit or refuse, with the reason for the log (and the ZAP status text).
struct Decision {
  bool allowed = false;
  std::string reason;
};

class Admission {
 public:
  Admission(KeyList producers, KeyList consumers);
  // From the --producer-keys and --consumer-keys paths; the error names the file and the line.
  static Expected<Admission, std::string> load(const std::string& producer_keys,
                                               const std::string& consumer_keys);

  // `key` is the peer's Z85 public key (empty when the mechanism carries none).
  Decision decide(const std::string& domain, const std::string& mechanism,
                  const std::string& key) const;

  const KeyList& producers() const { return producers_; }
  const KeyList& consumers() const { return consumers_; }

 private:
  KeyList producers_;
  KeyList consumers_;
};

}  // namespace conveyor::broker
