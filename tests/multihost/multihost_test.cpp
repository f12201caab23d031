// Conveyor across hosts: broker, producers and consumers each in its own network namespace,
// joined through a switch namespace. Each scenario breaks something (a consumer killed, a host
// cut off, the broker killed and restarted, a task that kills its consumer) and checks the
// results task by task: nothing lost, nothing reported twice. The test reaches the broker's admin
// endpoint and the clients' metrics from inside their hosts (Network::run_on).
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>

#include "conveyor/consumer/handlers.hpp"
#include "conveyor/producer/source.hpp"
#include "multihost/network.hpp"
#include "support/cluster.hpp"
#include "support/http.hpp"

namespace conveyor::testing {
namespace {

// Each host is a namespace of its own: nothing else can hold these ports there.
constexpr int kMetricsPort = 9100;

std::size_t lines_in(const std::string& path) {
  std::ifstream in(path);
  return static_cast<std::size_t>(
      std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

class MultiHost : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Network::available()) {
      if (std::getenv("CONVEYOR_REQUIRE_ALL") != nullptr) {
        FAIL() << "the multi-host tests need root to create network namespaces, and "
                  "CONVEYOR_REQUIRE_ALL is set";
      }
      GTEST_SKIP() << "needs root to create network namespaces";
    }
    net_ = std::make_unique<Network>();
    for (const char* host : {"broker", "c1", "c2", "c3", "p1", "p2"})
      net_->add_host(host);
    frontend_ = "tcp://" + net_->address("broker") + ":5555";
    backend_ = "tcp://" + net_->address("broker") + ":5556";
  }

  Process& start_on(const std::string& host, const std::string& log_name,
                    std::vector<std::string> argv) {
    std::vector<std::string> full = net_->on(host);
    full.insert(full.end(), argv.begin(), argv.end());
    return job_.start(log_name, full);
  }

  // The broker, with its admin endpoint and metrics on its host's loopback.
  Process& start_broker(const std::string& log_name, std::vector<std::string> flags) {
    const std::string ready = job_.path(log_name + ".ready");
    std::vector<std::string> argv = {
        CONVEYOR_BROKER_BIN, "--frontend", "tcp://*:5555",   "--backend", "tcp://*:5556",
        "--ready-file",      ready,        "--heartbeat-ms", "200"};
    argv.insert(argv.end(), {"--admin", "tcp://127.0.0.1:5557"});
    const auto metrics = metrics_flags(kMetricsPort);
    argv.insert(argv.end(), metrics.begin(), metrics.end());
    argv.insert(argv.end(), flags.begin(), flags.end());
    Process& broker = start_on("broker", log_name, argv);
    EXPECT_TRUE(wait_until([&] { return std::filesystem::exists(ready); }, 10s))
        << job_.log(log_name);
    admin_ = std::filesystem::exists(ready) ? ready_file_admin(ready) : "";
    return broker;
  }

  // The broker's status, asked on its host; nothing when it does not answer.
  std::optional<wire::StatusReply> status() const {
    return net_->run_on("broker", [&] { return broker_status(admin_); });
  }
  std::optional<wire::StatusReply> wait_status(const StatusCondition& condition,
                                               std::chrono::milliseconds limit) const {
    return wait_for_status([&] { return status(); }, condition, limit);
  }
  // The broker lists a session of consumer `id`.
  bool wait_connected(const std::string& id) const {
    return wait_status([&](const auto& s) { return find_consumer(s, id) != nullptr; }, 10s)
        .has_value();
  }
  // `series` from the metrics the process on `host` serves on kMetricsPort; -1 without an answer.
  double metric_on(const std::string& host, const std::string& series) const {
    return net_->run_on(host, [&] { return scrape(kMetricsPort, series).value_or(-1); });
  }

  Process& start_consumer(const std::string& id, std::vector<std::string> flags) {
    std::vector<std::string> argv = {CONVEYOR_CONSUMER_BIN, "--broker", backend_, "--id", id};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return start_on(id, id, argv);
  }

  Process& start_producer(const std::string& id, const std::string& source,
                          std::vector<std::string> flags = {}) {
    std::vector<std::string> argv = {
        CONVEYOR_PRODUCER_BIN, "--broker", frontend_, "--id", id, "--source", source, "--results",
        job_.results_path(id), "--quiet"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return start_on(id, id, argv);
  }

  // conveyor-keygen NAME in the job's directory; NAME's public key.
  std::string keygen(const std::string& name) {
    const auto status = run_to_end({CONVEYOR_KEYGEN_BIN, job_.path(name)}, job_.path("keygen.out"),
                                   job_.path("keygen.err"), 10s);
    EXPECT_EQ(status, 0) << read_file(job_.path("keygen.err"));
    std::ifstream in(job_.path(name + ".pub"));
    std::string line;
    while (std::getline(in, line))
      if (!line.empty() && line[0] != '#') return line;
    return "";
  }

  // A client's --curve flags, with its own key NAME.key and the broker's public key.
  std::vector<std::string> curve_client(const std::string& name) {
    return {"--curve", "--curve-secret-key-file", job_.path(name + ".key"), "--broker-public-key",
            job_.path("broker.pub")};
  }

  // The consumers really connected from their own hosts: the broker saw their addresses.
  void expect_connected_from_own_hosts() const {
    const auto reply = status();
    ASSERT_TRUE(reply) << "the broker does not answer";
    for (const char* id : {"c1", "c2"}) {
      const auto* consumer = find_consumer(*reply, id);
      ASSERT_NE(consumer, nullptr) << describe(reply);
      EXPECT_EQ(consumer->address(), net_->address(id)) << describe(reply);
    }
  }

  bool results_reach(const std::string& producer, std::size_t count) {
    return lines_in(job_.results_path(producer)) >= count;
  }

  // Checks every task of `producer` once; prints the scenario's tally for the record.
  void check_results(const std::string& scenario, const std::string& producer, std::uint64_t sent,
                     const std::function<void(std::uint64_t, const nlohmann::json&)>& check) {
    const auto results = read_results(job_.results_path(producer));
    ASSERT_EQ(results.size(), sent) << producer;
    std::uint64_t redelivered = 0;
    std::uint64_t dead = 0;
    for (std::uint64_t seq = 0; seq < sent; ++seq) {
      ASSERT_TRUE(results.contains(seq)) << producer << ":" << seq << " missing";
      const auto& r = results.at(seq);
      redelivered += r.at("attempts").get<int>() > 1 ? 1 : 0;
      dead += r.at("status") == "dead" ? 1 : 0;
      check(seq, r);
    }
    std::cout << "[" << scenario << "] " << producer << ": sent " << sent << ", completed "
              << results.size() << ", redelivered " << redelivered << ", dead " << dead << "\n";
  }

  Cluster job_;
  std::unique_ptr<Network> net_;
  std::string frontend_;
  std::string backend_;
  std::string admin_;  // of the broker started last, on its host
};

auto expect_sha256(std::optional<std::size_t> size) {
  return [size](std::uint64_t seq, const nlohmann::json& r) {
    EXPECT_EQ(r.at("status"), "ok") << r;
    EXPECT_EQ(r.at("output"), consumer::sha256_hex(producer::generated_payload(seq, size))) << r;
  };
}

TEST_F(MultiHost, ANormalRunAcrossHosts) {
  Process& broker = start_broker("broker", {"--producers", "2", "--exit-when-drained"});
  Process& c1 = start_consumer("c1", {"--handler", "sha256", "--concurrency", "2"});
  Process& c2 = start_consumer("c2", {"--handler", "sha256", "--concurrency", "2"});
  for (const char* id : {"c1", "c2"})
    ASSERT_TRUE(wait_connected(id)) << job_.log(id);
  expect_connected_from_own_hosts();
  Process& p1 = start_producer("p1", "gen:3000:64");
  Process& p2 = start_producer("p2", "gen:2000:16");
  EXPECT_EQ(p1.wait(60s), 0) << job_.log("p1");
  EXPECT_EQ(p2.wait(60s), 0) << job_.log("p2");
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job_.log("c1");
  EXPECT_EQ(c2.wait(20s), 0) << job_.log("c2");
  check_results("normal run", "p1", 3000, expect_sha256(64));
  check_results("normal run", "p2", 2000, expect_sha256(16));
}

TEST_F(MultiHost, ANormalRunAcrossHostsWithCurve) {
  keygen("broker");
  write_file(job_.path("producers.txt"), keygen("p1") + "\n" + keygen("p2") + "\n");
  std::filesystem::create_directory(job_.path("consumers"));  // the directory form of a list
  keygen("consumers/c1");
  keygen("consumers/c2");
  Process& broker = start_broker(
      "broker", {"--producers", "2", "--exit-when-drained", "--curve", "--curve-secret-key-file",
                 job_.path("broker.key"), "--producer-keys", job_.path("producers.txt"),
                 "--consumer-keys", job_.path("consumers")});
  auto consumer_flags = [&](const std::string& id) {
    std::vector<std::string> flags = curve_client("consumers/" + id);
    flags.insert(flags.end(), {"--handler", "sha256", "--concurrency", "2"});
    return flags;
  };
  Process& c1 = start_consumer("c1", consumer_flags("c1"));
  Process& c2 = start_consumer("c2", consumer_flags("c2"));
  for (const char* id : {"c1", "c2"})
    ASSERT_TRUE(wait_connected(id)) << job_.log(id);
  expect_connected_from_own_hosts();
  // CURVE is on: both consumers were admitted by key, from lists of two keys each.
  const std::string admitted = R"(conveyor_curve_handshakes_total{result="admitted"})";
  EXPECT_TRUE(wait_until([&] { return metric_on("broker", admitted) >= 2; }, 10s))
      << metric_on("broker", admitted);
  EXPECT_EQ(metric_on("broker", R"(conveyor_curve_handshakes_total{result="refused"})"), 0);
  EXPECT_EQ(metric_on("broker", R"(conveyor_curve_keys{list="producer"})"), 2);
  EXPECT_EQ(metric_on("broker", R"(conveyor_curve_keys{list="consumer"})"), 2);
  Process& p1 = start_producer("p1", "gen:3000:64", curve_client("p1"));
  Process& p2 = start_producer("p2", "gen:2000:16", curve_client("p2"));
  EXPECT_EQ(p1.wait(60s), 0) << job_.log("p1");
  EXPECT_EQ(p2.wait(60s), 0) << job_.log("p2");
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job_.log("c1");
  EXPECT_EQ(c2.wait(20s), 0) << job_.log("c2");
  check_results("normal run, curve", "p1", 3000, expect_sha256(64));
  check_results("normal run, curve", "p2", 2000, expect_sha256(16));
}

TEST_F(MultiHost, AConsumerKilledMidRunLosesNothing) {
  // No --exit-when-drained: the broker's totals are read after the run, then it is stopped.
  Process& broker = start_broker("broker", {"--producers", "1"});
  Process& c1 = start_consumer("c1", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& c2 = start_consumer("c2", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& p1 = start_producer("p1", "gen:1500:32");
  ASSERT_TRUE(wait_until([&] { return results_reach("p1", 200); }, 30s));
  c1.signal(SIGKILL);
  EXPECT_EQ(p1.wait(90s), 0) << job_.log("p1");
  EXPECT_EQ(c2.wait(20s), 0);
  std::uint64_t again = 0;
  check_results("consumer killed", "p1", 1500, [&](std::uint64_t, const nlohmann::json& r) {
    EXPECT_EQ(r.at("status"), "ok") << r;
    again += r.at("attempts").get<int>() > 1 ? 1 : 0;
  });
  EXPECT_GT(again, 0u) << "what c1 held was delivered again";
  // A killed process closes its TCP connection: the broker learns it from a failed send, or
  // from the missed heartbeats, whichever comes first, and puts back what c1 held.
  const auto drained = wait_status([](const auto& s) { return s.drained(); }, 10s);
  ASSERT_TRUE(drained) << describe(status());
  EXPECT_GT(drained->totals().redelivered(), 0u) << describe(drained);
  EXPECT_EQ(drained->totals().ok(), 1500u) << describe(drained);
  EXPECT_EQ(find_consumer(*drained, "c1"), nullptr) << describe(drained);
  broker.signal(SIGTERM);
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
}

TEST_F(MultiHost, AConsumerHostCutOffAndRestoredLosesNothing) {
  Process& broker = start_broker("broker", {"--producers", "1", "--exit-when-drained"});
  Process& c1 = start_consumer("c1", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& c2 = start_consumer("c2", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& p1 = start_producer("p1", "gen:2000:32");
  ASSERT_TRUE(wait_until([&] { return results_reach("p1", 200); }, 30s));
  net_->cut("c1");
  // The broker notices the silence (3 heartbeats of 200 ms): c1's session ends and what it held
  // goes back to the queue, for c2.
  const auto c1_lost = [](const wire::StatusReply& s) {
    return find_consumer(s, "c1") == nullptr && s.totals().redelivered() > 0;
  };
  ASSERT_TRUE(wait_status(c1_lost, 10s)) << describe(status());
  const std::size_t before = lines_in(job_.results_path("p1"));
  ASSERT_TRUE(wait_until([&] { return results_reach("p1", before + 100); }, 30s));
  net_->restore("c1");
  // c1 notices too, and reconnects: the broker lists it again.
  ASSERT_TRUE(wait_connected("c1")) << describe(status()) << job_.log("c1");
  EXPECT_EQ(p1.wait(90s), 0) << job_.log("p1");
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job_.log("c1");
  EXPECT_EQ(c2.wait(20s), 0);
  check_results("consumer host cut off", "p1", 2000, [](std::uint64_t, const nlohmann::json& r) {
    EXPECT_EQ(r.at("status"), "ok") << r;
  });
}

TEST_F(MultiHost, TheBrokerKilledAndRestartedMidRunLosesNothing) {
  // A small queue shares credit between the producers, so both are mid-run at the kill.
  const std::vector<std::string> flags = {"--producers", "2", "--exit-when-drained",
                                          "--queue-capacity", "100"};
  Process& first = start_broker("broker", flags);
  Process& c1 = start_consumer("c1", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& c2 = start_consumer("c2", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& p1 = start_producer("p1", "gen:3000:64", metrics_flags(kMetricsPort));
  Process& p2 = start_producer("p2", "gen:3000:16");
  ASSERT_TRUE(
      wait_until([&] { return results_reach("p1", 300) && results_reach("p2", 300); }, 30s));
  const std::string connected = "conveyor_producer_connected";
  EXPECT_EQ(metric_on("p1", connected), 1);
  first.signal(SIGKILL);
  ASSERT_TRUE(first.wait(5s).has_value());
  // p1 knows it lost the broker (it stays up, keeping its unfinished tasks)...
  ASSERT_TRUE(wait_until([&] { return metric_on("p1", connected) == 0; }, 10s))
      << metric_on("p1", connected) << job_.log("p1");
  // ...and sends them again to the new one. Without --exit-when-drained: asked after the run.
  std::vector<std::string> stays = flags;
  stays.erase(std::find(stays.begin(), stays.end(), "--exit-when-drained"));
  Process& second = start_broker("broker-restarted", stays);
  EXPECT_EQ(p1.wait(90s), 0) << job_.log("p1");
  EXPECT_EQ(p2.wait(90s), 0) << job_.log("p2");
  EXPECT_EQ(c1.wait(20s), 0) << job_.log("c1");
  EXPECT_EQ(c2.wait(20s), 0) << job_.log("c2");
  const auto drained = wait_status([](const auto& s) { return s.drained(); }, 10s);
  ASSERT_TRUE(drained) << describe(status());
  for (const char* id : {"p1", "p2"}) {
    const auto* producer = find_producer(*drained, id);
    ASSERT_NE(producer, nullptr) << describe(drained);
    EXPECT_GT(producer->sent(), 0u) << id << " resent to the new broker: " << describe(drained);
    EXPECT_EQ(producer->received(), producer->sent()) << describe(drained);
  }
  second.signal(SIGTERM);
  EXPECT_EQ(second.wait(20s), 0) << job_.log("broker-restarted");
  for (const auto& [producer, size] : {std::pair{"p1", 64}, std::pair{"p2", 16}}) {
    check_results("broker restarted", producer, 3000,
                  [size = size](std::uint64_t seq, const nlohmann::json& r) {
                    EXPECT_EQ(r.at("status"), "ok") << r;
                    EXPECT_EQ(r.at("output"), producer::generated_payload(seq, size));
                  });
  }
}

TEST_F(MultiHost, APoisonTaskThatKillsItsConsumerEndsDeadAndTheRestCompletes) {
  Process& broker =
      start_broker("broker", {"--producers", "1", "--exit-when-drained", "--max-attempts", "3"});
  // Task 7 kills the consumer running it (its shell's parent); every other task echoes.
  const std::vector<std::string> flags = {
      "--handler",     "exec:read n; if [ \"$n\" = 7 ]; then kill -9 $PPID; sleep 5; fi; echo $n",
      "--concurrency", "1",
      "--prefetch",    "0"};
  std::map<std::string, Process*> consumers;
  for (const char* id : {"c1", "c2", "c3"})
    consumers[id] = &start_consumer(id, flags);
  Process& p1 = start_producer("p1", "gen:60");
  // A supervisor, as compose's restart policy would be: a consumer that dies is started again.
  int restarts = 0;
  const bool finished = wait_until(
      [&] {
        for (auto& [id, process] : consumers) {
          if (process->running()) continue;
          if (process->wait(0ms) != 0) {
            process = &start_consumer(id, flags);
            ++restarts;
          }
        }
        return !p1.running();
      },
      120s);
  ASSERT_TRUE(finished) << job_.log("broker");
  EXPECT_EQ(p1.wait(0ms), kSomeTasksFailed) << "task 7 is dead" << job_.log("p1");
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
  EXPECT_EQ(restarts, 3) << "each of the 3 attempts killed one consumer";
  check_results("poison task", "p1", 60, [](std::uint64_t seq, const nlohmann::json& r) {
    if (seq == 7) {
      EXPECT_EQ(r.at("status"), "dead") << r;
      EXPECT_EQ(r.at("attempts"), 3) << r;
      EXPECT_NE(r.value("error", "").find("--max-attempts"), std::string::npos) << r;
    } else {
      EXPECT_EQ(r.at("status"), "ok") << r;
      EXPECT_EQ(r.at("output"), std::to_string(seq) + "\n");
    }
  });
}

}  // namespace
}  // namespace conveyor::testing
