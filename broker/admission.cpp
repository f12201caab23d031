#include "conveyor/broker/admission.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "conveyor/common/curve.hpp"

namespace conveyor::broker {
namespace {

namespace fs = std::filesystem;

Expected<std::string, std::string> read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unexpected(path.string() + ": cannot read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every .pub file of a directory, each holding exactly one key; sorted for stable errors.
Expected<std::set<std::string>, std::string> load_directory(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".pub") files.push_back(entry.path());
  }
  if (ec) return unexpected(dir.string() + ": cannot list (" + ec.message() + ")");
  std::sort(files.begin(), files.end());
  std::set<std::string> keys;
  for (const auto& file : files) {
    try {
      keys.insert(read_key_file(file.string()));
    } catch (const KeyError& e) {
      return unexpected(std::string(e.what()));
    }
  }
  return keys;
}

Expected<std::set<std::string>, std::string> load_file(const fs::path& path) {
  auto text = read_all(path);
  if (!text) return unexpected(text.error());
  auto keys = parse_key_lines(*text, path.string());
  if (!keys) return unexpected(keys.error());
  return std::set<std::string>(keys->begin(), keys->end());
}

}  // namespace

Expected<KeyList, std::string> KeyList::load(const std::string& path) {
  std::error_code ec;
  if (path.empty()) return unexpected(std::string("no key list given"));
  if (!fs::exists(path, ec)) return unexpected(path + ": no such file or directory");
  auto keys = fs::is_directory(path, ec) ? load_directory(path) : load_file(path);
  if (!keys) return unexpected(keys.error());
  return KeyList::of(std::move(*keys));
}

KeyList KeyList::of(std::set<std::string> keys) {
  KeyList list;
  list.keys_ = std::move(keys);
  return list;
}

Admission::Admission(KeyList producers, KeyList consumers)
    : producers_(std::move(producers)), consumers_(std::move(consumers)) {}

Expected<Admission, std::string> Admission::load(const std::string& producer_keys,
                                                 const std::string& consumer_keys) {
  auto producers = KeyList::load(producer_keys);
  if (!producers) return unexpected("--producer-keys " + producers.error());
  auto consumers = KeyList::load(consumer_keys);
  if (!consumers) return unexpected("--consumer-keys " + consumers.error());
  return Admission(std::move(*producers), std::move(*consumers));
}

Decision Admission::decide(const std::string& domain, const std::string& mechanism,
                           const std::string& key) const {
  // Only CURVE proves who a peer is; a NULL or PLAIN peer on a CURVE socket is refused outright.
  if (mechanism != "CURVE") return {false, "mechanism " + mechanism + " is not CURVE"};
  if (!is_z85_key(key)) return {false, "no valid CURVE key"};
  const bool producer = producers_.contains(key);
  const bool consumer = consumers_.contains(key);
  if (domain == kFrontendDomain) {
    if (producer) return {true, "producer key"};
    if (consumer) return {false, "a consumer key may not produce (not in --producer-keys)"};
    return {false, "not in --producer-keys"};
  }
  if (domain == kBackendDomain) {
    if (consumer) return {true, "consumer key"};
    if (producer) return {false, "a producer key may not consume (not in --consumer-keys)"};
    return {false, "not in --consumer-keys"};
  }
  return {false, "unknown ZAP domain '" + domain + "'"};
}

}  // namespace conveyor::broker
