#include "support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace conveyor::testing {

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const Deadline deadline = within(limit);
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

Process::Process(std::vector<std::string> argv, const std::string& stdout_path,
                 const std::string& stderr_path, std::map<std::string, std::string> env,
                 const std::string& stdin_path)
    : name_(argv.empty() ? "" : argv.front()), stderr_path_(stderr_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (!env.contains(key) && key.rfind("CONVEYOR_", 0) != 0) environment.push_back(entry);
  }
  for (const auto& [key, value] : env)
    environment.push_back(key + "=" + value);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : environment)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + name_ + ": " + std::strerror(rc));
}

Process::Process(Process&& other) noexcept
    : pid_(other.pid_),
      status_(other.status_),
      name_(std::move(other.name_)),
      stderr_path_(std::move(other.stderr_path_)) {
  other.pid_ = -1;
}

Process::~Process() {
  kill();
}

void Process::signal(int signo) const {
  if (pid_ > 0 && !status_) ::kill(pid_, signo);
}

std::optional<int> Process::wait(std::chrono::milliseconds limit) {
  if (status_ || pid_ <= 0) return status_;
  wait_until(
      [this] {
        int raw = 0;
        const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
        if (r == pid_) {
          status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
        }
        return status_.has_value();
      },
      limit);
  return status_;
}

bool Process::running() {
  return pid_ > 0 && !wait(0ms).has_value();
}

void Process::kill() {
  if (pid_ <= 0 || status_) return;
  ::kill(pid_, SIGKILL);
  wait(5000ms);
}

std::optional<int> run_to_end(std::vector<std::string> argv, const std::string& stdout_path,
                              const std::string& stderr_path, std::chrono::milliseconds limit,
                              std::map<std::string, std::string> env) {
  Process p(std::move(argv), stdout_path, stderr_path, std::move(env));
  return p.wait(limit);
}

}  // namespace conveyor::testing
