// Conveyor across hosts: broker, producers and consumers each in its own network namespace,
// joined through a switch namespace. Each scenario breaks something (a consumer killed, a host
// cut off, the broker killed and restarted, a task that kills its consumer) and checks the
// results task by task: nothing lost, nothing reported twice.
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

namespace conveyor::testing {
namespace {

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

  Process& start_broker(const std::string& log_name, std::vector<std::string> flags) {
    const std::string ready = job_.path(log_name + ".ready");
    std::vector<std::string> argv = {
        CONVEYOR_BROKER_BIN, "--frontend", "tcp://*:5555",   "--backend", "tcp://*:5556",
        "--ready-file",      ready,        "--heartbeat-ms", "200"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    Process& broker = start_on("broker", log_name, argv);
    EXPECT_TRUE(wait_until([&] { return std::filesystem::exists(ready); }, 10s))
        << job_.log(log_name);
    return broker;
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
    ASSERT_TRUE(job_.wait_connected(id)) << job_.log(id);
  Process& p1 = start_producer("p1", "gen:3000:64");
  Process& p2 = start_producer("p2", "gen:2000:16");
  EXPECT_EQ(p1.wait(60s), 0) << job_.log("p1");
  EXPECT_EQ(p2.wait(60s), 0) << job_.log("p2");
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job_.log("c1");
  EXPECT_EQ(c2.wait(20s), 0) << job_.log("c2");
  check_results("normal run", "p1", 3000, expect_sha256(64));
  check_results("normal run", "p2", 2000, expect_sha256(16));
  EXPECT_NE(job_.log("broker").find("from " + net_->address("c1")), std::string::npos)
      << "the consumer really connected from its own host";
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
    ASSERT_TRUE(job_.wait_connected(id)) << job_.log(id);
  Process& p1 = start_producer("p1", "gen:3000:64", curve_client("p1"));
  Process& p2 = start_producer("p2", "gen:2000:16", curve_client("p2"));
  EXPECT_EQ(p1.wait(60s), 0) << job_.log("p1");
  EXPECT_EQ(p2.wait(60s), 0) << job_.log("p2");
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job_.log("c1");
  EXPECT_EQ(c2.wait(20s), 0) << job_.log("c2");
  check_results("normal run, curve", "p1", 3000, expect_sha256(64));
  check_results("normal run, curve", "p2", 2000, expect_sha256(16));
  EXPECT_NE(job_.log("broker").find("CURVE on"), std::string::npos) << job_.log("broker");
  EXPECT_NE(job_.log("broker").find("from " + net_->address("c1")), std::string::npos);
}

TEST_F(MultiHost, AConsumerKilledMidRunLosesNothing) {
  Process& broker = start_broker("broker", {"--producers", "1", "--exit-when-drained"});
  Process& c1 = start_consumer("c1", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& c2 = start_consumer("c2", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& p1 = start_producer("p1", "gen:1500:32");
  ASSERT_TRUE(wait_until([&] { return results_reach("p1", 200); }, 30s));
  c1.signal(SIGKILL);
  EXPECT_EQ(p1.wait(90s), 0) << job_.log("p1");
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
  EXPECT_EQ(c2.wait(20s), 0);
  std::uint64_t again = 0;
  check_results("consumer killed", "p1", 1500, [&](std::uint64_t, const nlohmann::json& r) {
    EXPECT_EQ(r.at("status"), "ok") << r;
    again += r.at("attempts").get<int>() > 1 ? 1 : 0;
  });
  EXPECT_GT(again, 0u) << "what c1 held was delivered again";
  // A killed process closes its TCP connection: the broker learns it from a failed send, or
  // from the missed heartbeats, whichever comes first.
  const std::string log = job_.log("broker");
  EXPECT_TRUE(log.find("consumer c1 could not be reached") != std::string::npos ||
              log.find("declared dead") != std::string::npos)
      << log;
}

TEST_F(MultiHost, AConsumerHostCutOffAndRestoredLosesNothing) {
  Process& broker = start_broker("broker", {"--producers", "1", "--exit-when-drained"});
  Process& c1 = start_consumer("c1", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& c2 = start_consumer("c2", {"--handler", "sleep:2", "--concurrency", "2"});
  Process& p1 = start_producer("p1", "gen:2000:32");
  ASSERT_TRUE(wait_until([&] { return results_reach("p1", 200); }, 30s));
  net_->cut("c1");
  // The broker notices the silence (3 heartbeats of 200 ms) and gives c1's tasks to c2.
  ASSERT_TRUE(wait_until(
      [&] {
        return job_.log("broker").find("consumer c1") != std::string::npos &&
               job_.log("broker").find("declared dead") != std::string::npos;
      },
      10s))
      << job_.log("broker");
  const std::size_t before = lines_in(job_.results_path("p1"));
  ASSERT_TRUE(wait_until([&] { return results_reach("p1", before + 100); }, 30s));
  net_->restore("c1");
  ASSERT_TRUE(wait_until(
      [&] { return job_.log("c1").find("reconnected to the broker") != std::string::npos; }, 20s))
      << job_.log("c1");
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
  Process& p1 = start_producer("p1", "gen:3000:64");
  Process& p2 = start_producer("p2", "gen:3000:16");
  ASSERT_TRUE(
      wait_until([&] { return results_reach("p1", 300) && results_reach("p2", 300); }, 30s));
  first.signal(SIGKILL);
  ASSERT_TRUE(first.wait(5s).has_value());
  ASSERT_TRUE(
      wait_until([&] { return job_.log("p1").find("reconnecting") != std::string::npos; }, 10s))
      << job_.log("p1");
  Process& second = start_broker("broker-restarted", flags);
  EXPECT_EQ(p1.wait(90s), 0) << job_.log("p1");
  EXPECT_EQ(p2.wait(90s), 0) << job_.log("p2");
  EXPECT_EQ(second.wait(20s), 0) << job_.log("broker-restarted");
  EXPECT_EQ(c1.wait(20s), 0) << job_.log("c1");
  EXPECT_EQ(c2.wait(20s), 0) << job_.log("c2");
  for (const auto& [producer, size] : {std::pair{"p1", 64}, std::pair{"p2", 16}}) {
    check_results("broker restarted", producer, 3000,
                  [size = size](std::uint64_t seq, const nlohmann::json& r) {
                    EXPECT_EQ(r.at("status"), "ok") << r;
                    EXPECT_EQ(r.at("output"), producer::generated_payload(seq, size));
                  });
  }
  EXPECT_NE(job_.log("p1").find("sending"), std::string::npos) << job_.log("p1");
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
  EXPECT_EQ(p1.wait(0ms), 0) << job_.log("p1");
  EXPECT_EQ(broker.wait(20s), 0) << job_.log("broker");
  EXPECT_EQ(restarts, 3) << "each of the 3 attempts killed one consumer";
  check_results("poison task", "p1", 60, [](std::uint64_t seq, const nlohmann::json& r) {
    if (seq == 7) {
      EXPECT_EQ(r.at("status"), "dead") << r;
      EXPECT_EQ(r.at("attempts"), 3) << r;
    } else {
      EXPECT_EQ(r.at("status"), "ok") << r;
      EXPECT_EQ(r.at("output"), std::to_string(seq) + "\n");
    }
  });
  EXPECT_NE(job_.log("broker").find("task p1:7 is dead"), std::string::npos);
}

}  // namespace
}  // namespace conveyor::testing
