// Flag values checked with errors a person can act on: whole numbers, endpoints, and near misses
// of flag names. Every message names the flag and the form it takes, in one line.
#include <algorithm>
#include <charconv>
#include <vector>

#include "conveyor/common/cli.hpp"

namespace conveyor {
namespace {

std::optional<std::uint64_t> parse_whole(const std::string& text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

// Edits (insert, delete, replace, swap of neighbours) between two short strings.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

bool valid_port(const std::string& port) {
  if (port == "*") return true;  // bind to a port the system picks
  const auto n = parse_whole(port);
  return n && *n <= 65535;
}

// tcp://HOST:PORT with a host and a port (IPv6 hosts in brackets keep their colons).
bool valid_tcp(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  return valid_port(address.substr(colon + 1));
}

}  // namespace

CLI::Validator whole_number(std::uint64_t least, std::uint64_t most) {
  return CLI::Validator(
      [least, most](std::string& text) -> std::string {
        const auto value = parse_whole(text);
        if (value && *value >= least && *value <= most) return {};
        const std::string range =
            most == std::numeric_limits<std::uint64_t>::max()
                ? std::to_string(least) + " or more"
                : "from " + std::to_string(least) + " to " + std::to_string(most);
        return "'" + text + "' is not a whole number " + range;
      },
      "");  // the option's type already says UINT in --help
}

std::optional<std::string> normalize_endpoint(const std::string& text) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string::npos) {
    if (!valid_tcp(text)) return std::nullopt;
    return "tcp://" + text;
  }
  const std::string scheme = text.substr(0, scheme_end);
  const std::string rest = text.substr(scheme_end + 3);
  if (scheme == "tcp") return valid_tcp(rest) ? std::optional(text) : std::nullopt;
  if (scheme == "ipc" || scheme == "inproc")
    return rest.empty() ? std::nullopt : std::optional(text);
  return std::nullopt;
}

CLI::Option* add_endpoint_option(CLI::App& app, const std::string& name, std::string& target,
                                 const std::string& help) {
  return app.add_option(name, target, help)
      ->transform(CLI::Validator(
          [](std::string& text) -> std::string {
            if (text.empty()) return {};  // "none", where a flag allows it
            const auto endpoint = normalize_endpoint(text);
            if (!endpoint) {
              return "'" + text +
                     "' is not an endpoint: HOST:PORT, tcp://HOST:PORT (* for any "
                     "host or port), ipc://PATH or inproc://NAME";
            }
            text = *endpoint;
            return {};
          },
          ""))
      ->type_name("ENDPOINT");
}

std::optional<std::string> nearest_flag(const CLI::App& app, const std::string& unknown) {
  const auto first = unknown.find_first_not_of('-');
  if (first == std::string::npos) return std::nullopt;
  const std::string bare = unknown.substr(first, unknown.find('=') - first);
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, bare.size() / 4) + 1;
  for (const CLI::Option* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) {
      const std::size_t distance = edit_distance(bare, name);
      if (distance < best_distance) {
        best_distance = distance;
        best = "--" + name;
      }
    }
  }
  return best;
}

// An unknown flag is named before any other error: CLI11 checks required flags first, and
// "--handler is required" is no help to someone who typed "--handlr".
std::string describe_parse_error(const CLI::App& app, const CLI::ParseError& error) {
  const std::vector<std::string> extras = app.remaining();
  const auto flag = std::find_if(extras.begin(), extras.end(),
                                 [](const std::string& arg) { return arg.rfind('-', 0) == 0; });
  if (flag == extras.end()) {
    if (dynamic_cast<const CLI::ExtrasError*>(&error) == nullptr || extras.empty()) {
      return error.what();
    }
    return "unexpected argument '" + extras.front() + "': values follow their flag (--name value)";
  }
  std::string line = "unknown flag " + flag->substr(0, flag->find('='));
  if (const auto near = nearest_flag(app, *flag)) line += "; did you mean " + *near + "?";
  return line;
}

}  // namespace conveyor
