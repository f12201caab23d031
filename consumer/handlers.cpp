#include "conveyor/consumer/handlers.hpp"

#include <openssl/evp.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "conveyor/consumer/subprocess.hpp"

namespace conveyor::consumer {

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xF]);
  }
  return out;
}

Handler echo_handler() {
  return [](const Task& task) { return Result::ok(std::string(task.payload())); };
}

Handler sha256_handler() {
  return [](const Task& task) { return Result::ok(sha256_hex(task.payload())); };
}

Handler sleep_handler(unsigned ms) {
  return [ms](const Task& task) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return Result::ok(std::string(task.payload()));
  };
}

std::vector<std::string> task_environment(const Task& task) {
  return {"CONVEYOR_TASK_ID=" + task.id(), "CONVEYOR_TASK_SEQ=" + std::to_string(task.seq()),
          "CONVEYOR_TASK_ATTEMPT=" + std::to_string(task.attempt()),
          "CONVEYOR_TASK_PRODUCER=" + std::string(task.producer())};
}

Handler exec_handler(std::string command) {
  return [command = std::move(command)](const Task& task) {
    const TimePoint started = Clock::now();
    const CommandResult run =
        run_command(command, task.payload(), task.deadline(), task_environment(task));
    if (run.timed_out) {
      return Result::timed_out("timed out after " +
                               std::to_string(to_ms(*task.deadline() - started)) +
                               " ms (--task-timeout): its process group was killed");
    }
    if (run.exit_status == 0) return Result::ok(run.stdout_text);
    // 75 is EX_TEMPFAIL (sysexits.h): "try again later", as mail servers and cron mean it.
    if (run.exit_status == kExitTryAgain) return Result::retry(run.describe_failure());
    return Result::failed(run.describe_failure());
  };
}

Handler make_handler(const std::string& spec) {
  if (spec == "echo") return echo_handler();
  if (spec == "sha256") return sha256_handler();
  if (spec.rfind("sleep:", 0) == 0) {
    const std::string ms = spec.substr(6);
    std::size_t used = 0;
    unsigned long value = 0;
    try {
      value = std::stoul(ms, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != ms.size() || value > 86'400'000) {
      throw std::invalid_argument("sleep:MS needs milliseconds, got '" + ms + "'");
    }
    return sleep_handler(static_cast<unsigned>(value));
  }
  if (spec.rfind("exec:", 0) == 0) {
    if (spec.size() == 5) throw std::invalid_argument("exec:COMMAND needs a command");
    return exec_handler(spec.substr(5));
  }
  throw std::invalid_argument("unknown handler '" + spec +
                              "': use echo, sha256, sleep:MS, exec:COMMAND or pipe:COMMAND");
}

std::optional<std::string> pipe_command(const std::string& spec) {
  if (spec.rfind("pipe:", 0) != 0) return std::nullopt;
  if (spec.size() == 5) throw std::invalid_argument("pipe:COMMAND needs a command");
  return spec.substr(5);
}

void kill_running_commands() {
  kill_all_commands();
}

}  // namespace conveyor::consumer
