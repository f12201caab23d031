#include "support/cluster.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

std::map<std::uint64_t, nlohmann::json> read_results(const std::string& path) {
  std::map<std::uint64_t, nlohmann::json> results;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << ": not JSON: " << line;
      continue;
    }
    const auto seq = json.at("seq").get<std::uint64_t>();
    EXPECT_FALSE(results.contains(seq)) << path << ": seq " << seq << " reported twice";
    results[seq] = json;
  }
  return results;
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

bool Cluster::wait_for_log(const std::string& name, const std::string& text,
                           std::chrono::milliseconds limit) const {
  return wait_until([&] { return log(name).find(text) != std::string::npos; }, limit);
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

}  // namespace conveyor::testing
