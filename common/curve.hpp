// CurveZMQ keys as Conveyor handles them: Z85 text (40 characters for 32 bytes), read from key
// files that tolerate whitespace and # comments, and the --curve flags every executable shares.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "conveyor/common/expected.hpp"

namespace conveyor {

inline constexpr std::size_t kZ85KeyLength = 40;

// A key file that cannot be used: the message names the file and what is wrong with it.
class KeyError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// True for 40 characters of the Z85 alphabet that decode to 32 bytes.
bool is_z85_key(std::string_view text);

// The keys in `text`, one per line; blank lines and # comments are skipped, surrounding
// whitespace ignored. `origin` names the source in errors ("keys.txt line 3: ...").
Expected<std::vector<std::string>, std::string> parse_key_lines(std::string_view text,
                                                                const std::string& origin);

// The single key in a key file (a .key or .pub written by conveyor-keygen). Throws KeyError.
std::string read_key_file(const std::string& path);

// A --broker-public-key value: a Z85 key itself, or the path of a file holding one.
std::string resolve_public_key(const std::string& key_or_path);

// The public key belonging to a Z85 secret key (zmq_curve_public). Throws KeyError.
std::string curve_public_key(const std::string& secret_key);

// 32 binary bytes as Z85 text (a ZAP request carries the CURVE key in binary).
std::string z85_encode_key(std::string_view binary);

// A fresh keypair from libzmq (zmq_curve_keypair).
struct KeyPair {
  std::string public_key;
  std::string secret_key;
};
KeyPair generate_keypair();

// The keys a client socket uses: its own pair and the broker's public key, all Z85.
struct ClientKeys {
  std::string public_key;
  std::string secret_key;
  std::string server_key;
};

// --curve, --curve-secret-key-file and (clients only) --broker-public-key.
struct CurveConfig {
  bool enabled = false;
  std::string secret_key_file;    // this process's secret key (its public key is derived)
  std::string broker_public_key;  // clients: Z85, or a path to a .pub file
};

// --curve and --curve-secret-key-file (every executable); --broker-public-key with `for_client`.
void add_curve_flags(CLI::App& app, CurveConfig& config, bool for_client);

// The client's keys when --curve is on, nothing otherwise. Throws KeyError naming the flag.
std::optional<ClientKeys> load_client_keys(const CurveConfig& config);

}  // namespace conveyor
