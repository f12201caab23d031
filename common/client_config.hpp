// What every client (producer, consumer) is configured with, and the flags that set it.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "conveyor/common/broker_link.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/common/curve.hpp"
#include "conveyor/common/metrics_options.hpp"

namespace conveyor {

struct ClientConfig {
  std::string broker;  // the broker endpoint: its frontend for producers, backend for consumers
  std::string id;      // empty: "<role>-<host>-<pid>"
  std::string queue = "default";  // --queue
  Duration connect_timeout = milliseconds(10000);
  Duration reconnect_timeout = milliseconds(60000);
  CurveConfig curve;       // --curve: encrypted and authenticated, with these keys
  MetricsOptions metrics;  // --metrics-port: its own counters for Prometheus
};

// How the flags describe one kind of client.
struct ClientFlagHelp {
  std::string broker;  // "the broker's frontend endpoint, tcp://HOST:5555"
  std::string id;      // what --id is for
  std::string queue;   // what --queue is for
};

// --broker, --id, --connect-timeout, --reconnect-timeout, the --curve flags, --metrics-*.
void add_client_flags(CLI::App& app, ClientConfig& config, const ClientFlagHelp& help);

// What the client's BrokerLink needs of it.
LinkConfig link_config(const ClientConfig& config);

// `id`, or a default "<role>-<host>-<pid>" when empty; throws StartupError when it is invalid.
std::string checked_client_id(const std::string& id, const std::string& role);

}  // namespace conveyor
