#include "support/cluster.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "conveyor/ctl/status.hpp"
#include "conveyor/status/json.hpp"

namespace conveyor::testing {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::vector<nlohmann::json> read_result_lines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    try {
      lines.push_back(nlohmann::json::parse(line));
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << ": not JSON: " << line;
    }
  }
  return lines;
}

std::map<std::uint64_t, nlohmann::json> read_results(const std::string& path) {
  std::map<std::uint64_t, nlohmann::json> results;
  for (const auto& json : read_result_lines(path)) {
    const auto seq = json.at("seq").get<std::uint64_t>();
    EXPECT_FALSE(results.contains(seq)) << path << ": seq " << seq << " reported twice";
    results[seq] = json;
  }
  return results;
}

std::optional<wire::StatusReply> broker_status(const std::string& admin,
                                               std::chrono::milliseconds timeout) {
  if (admin.empty()) return std::nullopt;
  auto reply = ctl::fetch_status(admin, timeout);
  if (!reply) return std::nullopt;
  return std::move(*reply);
}

std::optional<wire::StatusReply> wait_for_status(
    const std::function<std::optional<wire::StatusReply>()>& fetch,
    const StatusCondition& condition, std::chrono::milliseconds limit) {
  std::optional<wire::StatusReply> found;
  wait_until(
      [&] {
        found = fetch();
        return found && condition(*found);
      },
      limit);
  if (found && !condition(*found)) found.reset();
  return found;
}

std::string describe(const std::optional<wire::StatusReply>& status) {
  return status ? status::status_json(*status).dump() : "no status";
}

const wire::ConsumerStatus* find_consumer(const wire::StatusReply& status, const std::string& id) {
  for (const auto& consumer : status.consumers())
    if (consumer.id() == id) return &consumer;
  return nullptr;
}

const wire::ProducerStatus* find_producer(const wire::StatusReply& status, const std::string& id) {
  for (const auto& producer : status.producers())
    if (producer.id() == id) return &producer;
  return nullptr;
}

std::string ready_file_admin(const std::string& ready_file) {
  return nlohmann::json::parse(read_file(ready_file)).at("admin").get<std::string>();
}

Cluster::Cluster() {
  std::string pattern = std::filesystem::temp_directory_path().string() + "/conveyor-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
}

Cluster::~Cluster() {
  for (auto& p : processes_)
    p->kill();
  if (::testing::Test::HasFailure()) {
    std::cerr << "test files kept in " << dir_ << "\n";
  } else {
    std::filesystem::remove_all(dir_);
  }
}

Process& Cluster::start(const std::string& log_name, std::vector<std::string> argv,
                        std::map<std::string, std::string> env, const std::string& stdin_path) {
  processes_.push_back(std::make_unique<Process>(std::move(argv), path(log_name + ".out"),
                                                 path(log_name + ".log"), std::move(env),
                                                 stdin_path));
  return *processes_.back();
}

Process& Cluster::start_broker(std::vector<std::string> flags) {
  const std::string ready = path("broker.ready");
  std::vector<std::string> argv = {CONVEYOR_BROKER_BIN, "--frontend",        "tcp://127.0.0.1:*",
                                   "--backend",         "tcp://127.0.0.1:*", "--admin",
                                   "tcp://127.0.0.1:*", "--ready-file",      ready};
  argv.insert(argv.end(), flags.begin(), flags.end());
  broker_ = &start("broker", argv);
  const bool ready_in_time =
      wait_until([&] { return std::filesystem::exists(ready); }, std::chrono::milliseconds(10000));
  if (!ready_in_time) throw std::runtime_error("broker not ready: " + log("broker"));
  const auto json = nlohmann::json::parse(read_file(ready));
  frontend_ = json.at("frontend").get<std::string>();
  backend_ = json.at("backend").get<std::string>();
  admin_ = json.at("admin").get<std::string>();
  return *broker_;
}

std::string Cluster::error_line(const std::string& name) const {
  const std::string text = log(name);
  const auto start = text.find(": error: ");
  if (start == std::string::npos) return "";
  const auto begin = text.rfind('\n', start);
  const auto from = begin == std::string::npos ? 0 : begin + 1;
  return text.substr(from, text.find('\n', start) - from);
}

std::optional<wire::StatusReply> Cluster::wait_status(const StatusCondition& condition,
                                                      std::chrono::milliseconds limit) const {
  return wait_for_status([this] { return status(); }, condition, limit);
}

bool Cluster::wait_connected(const std::string& consumer_id,
                             std::chrono::milliseconds limit) const {
  const auto listed = [&](const wire::StatusReply& s) {
    return find_consumer(s, consumer_id) != nullptr;
  };
  return wait_status(listed, limit).has_value();
}

Process& Cluster::start_consumer(const std::string& id, std::vector<std::string> flags) {
  std::vector<std::string> argv = {CONVEYOR_CONSUMER_BIN, "--broker", backend_, "--id", id};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return start(id, argv);
}

Process& Cluster::start_producer(const std::string& id, std::vector<std::string> flags) {
  std::vector<std::string> argv = {CONVEYOR_PRODUCER_BIN, "--broker",       frontend_, "--id", id,
                                   "--results",           results_path(id), "--quiet"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return start(id, argv);
}

CommandRun run_command(Cluster& job, std::vector<std::string> argv,
                       std::map<std::string, std::string> env) {
  static int n = 0;
  const std::string name = "command" + std::to_string(n++);
  CommandRun r;
  r.status = run_to_end(std::move(argv), job.path(name + ".out"), job.path(name + ".err"),
                        std::chrono::seconds(20), std::move(env));
  r.out = read_file(job.path(name + ".out"));
  r.err = read_file(job.path(name + ".err"));
  return r;
}

}  // namespace conveyor::testing
