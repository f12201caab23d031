#include "conveyor/common/client_config.hpp"

#include "conveyor/common/cli.hpp"
#include "conveyor/common/errors.hpp"
#include "conveyor/common/task.hpp"

namespace conveyor {

void add_client_flags(CLI::App& app, ClientConfig& config, const ClientFlagHelp& help) {
  add_endpoint_option(app, "--broker", config.broker, help.broker);
  app.add_option("--id", config.id, help.id);
  app.add_option("--queue", config.queue, help.queue);
  add_duration_option(
      app, "--connect-timeout", config.connect_timeout,
      "give up when the broker does not answer within this (10s, 500ms; a bare number is ms)");
  add_duration_option(app, "--reconnect-timeout", config.reconnect_timeout,
                      "give up when a lost broker does not come back within this");
  add_curve_flags(app, config.curve, true);
  add_metrics_flags(app, config.metrics);
}

LinkConfig link_config(const ClientConfig& config) {
  return LinkConfig{config.id, config.connect_timeout, config.reconnect_timeout, config.broker,
                    config.queue};
}

std::string checked_client_id(const std::string& id, const std::string& role) {
  const std::string chosen = id.empty() ? default_peer_id(role) : id;
  if (!is_valid_peer_id(chosen)) {
    throw StartupError("invalid --id '" + chosen + "': 1-64 characters of A-Z a-z 0-9 . _ -");
  }
  return chosen;
}

}  // namespace conveyor
