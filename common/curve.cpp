#include "conveyor/common/curve.hpp"

#include <zmq.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <cerrno>
#include <cstring>

namespace conveyor {
namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n\f\v");
  return text.substr(first, last - first + 1);
}

std::string read_text(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw KeyError(path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyError(path + ": cannot read (" + std::strerror(errno) + ")");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string describe_bad_key(std::string_view key) {
  if (key.size() != kZ85KeyLength) {
    return "not a CURVE key: " + std::to_string(key.size()) + " characters, expected " +
           std::to_string(kZ85KeyLength) + " (Z85)";
  }
  return "not a CURVE key: characters outside the Z85 alphabet";
}

}  // namespace

bool is_z85_key(std::string_view text) {
  if (text.size() != kZ85KeyLength) return false;
  const std::string copy(text);  // zmq_z85_decode wants a NUL-terminated string
  std::array<std::uint8_t, 32> bytes{};
  return zmq_z85_decode(bytes.data(), copy.c_str()) != nullptr;
}

Expected<std::vector<std::string>, std::string> parse_key_lines(std::string_view text,
                                                                const std::string& origin) {
  std::vector<std::string> keys;
  std::size_t number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    if (!is_z85_key(line)) {
      return unexpected(origin + " line " + std::to_string(number) + ": " + describe_bad_key(line));
    }
    keys.emplace_back(line);
  }
  return keys;
}

std::string read_key_file(const std::string& path) {
  auto keys = parse_key_lines(read_text(path), path);
  if (!keys) throw KeyError(keys.error());
  if (keys->size() != 1) {
    throw KeyError(path + ": expected one CURVE key, found " + std::to_string(keys->size()));
  }
  return keys->front();
}

std::string resolve_public_key(const std::string& key_or_path) {
  const std::string_view trimmed = trim(key_or_path);
  if (is_z85_key(trimmed)) return std::string(trimmed);
  std::error_code ec;
  if (!std::filesystem::exists(key_or_path, ec)) {
    throw KeyError("'" + key_or_path + "' is neither a Z85 key (40 characters) nor a key file");
  }
  return read_key_file(key_or_path);
}

std::string curve_public_key(const std::string& secret_key) {
  std::array<char, kZ85KeyLength + 1> public_key{};
  if (!is_z85_key(secret_key) || zmq_curve_public(public_key.data(), secret_key.c_str()) != 0) {
    throw KeyError("cannot derive a public key: " + std::string(zmq_strerror(zmq_errno())));
  }
  return public_key.data();
}

std::string z85_encode_key(std::string_view binary) {
  if (binary.size() != 32) return {};
  std::array<char, kZ85KeyLength + 1> text{};
  zmq_z85_encode(text.data(), reinterpret_cast<const std::uint8_t*>(binary.data()), 32);
  return text.data();
}

KeyPair generate_keypair() {
  std::array<char, kZ85KeyLength + 1> public_key{};
  std::array<char, kZ85KeyLength + 1> secret_key{};
  if (zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
    throw KeyError(std::string("cannot generate a CURVE keypair: ") + zmq_strerror(zmq_errno()));
  }
  return KeyPair{public_key.data(), secret_key.data()};
}

void add_curve_flags(CLI::App& app, CurveConfig& config, bool for_client) {
  app.add_flag("--curve", config.enabled,
               "encrypt and authenticate all traffic with CurveZMQ (keys from conveyor-keygen)");
  app.add_option("--curve-secret-key-file", config.secret_key_file,
                 "this process's secret key (NAME.key from conveyor-keygen) for --curve");
  if (for_client) {
    app.add_option("--broker-public-key", config.broker_public_key,
                   "the broker's public key for --curve: Z85 text or the path of its .pub file");
  }
}

std::optional<ClientKeys> load_client_keys(const CurveConfig& config) {
  if (!config.enabled) return std::nullopt;
  if (config.secret_key_file.empty()) throw KeyError("--curve needs --curve-secret-key-file");
  if (config.broker_public_key.empty()) throw KeyError("--curve needs --broker-public-key");
  ClientKeys keys;
  try {
    keys.secret_key = read_key_file(config.secret_key_file);
    keys.public_key = curve_public_key(keys.secret_key);
  } catch (const KeyError& e) {
    throw KeyError(std::string("--curve-secret-key-file ") + e.what());
  }
  try {
    keys.server_key = resolve_public_key(config.broker_public_key);
  } catch (const KeyError& e) {
    throw KeyError(std::string("--broker-public-key ") + e.what());
  }
  return keys;
}

}  // namespace conveyor
