#include "conveyor/consumer/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include "conveyor/common/text.hpp"

extern char** environ;

namespace conveyor::consumer {
namespace {

constexpr std::size_t kMaxOutput = 256u << 20;
constexpr std::size_t kStderrTail = 4096;

std::mutex running_mutex;
std::set<pid_t> running;  // children in flight, for kill_all_commands()

struct Pipe {
  int read = -1;
  int write = -1;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  return Pipe{fds[0], fds[1]};
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// The process's environment with `extra` ("NAME=value") in front, where getenv looks first.
std::vector<char*> environment_with(const std::vector<std::string>& extra) {
  std::vector<char*> envp;
  for (const auto& entry : extra)
    envp.push_back(const_cast<char*>(entry.c_str()));
  for (char** e = environ; *e != nullptr; ++e)
    envp.push_back(*e);
  envp.push_back(nullptr);
  return envp;
}

}  // namespace

pid_t spawn_shell(const std::string& command, int in, int out, int err,
                  const std::vector<std::string>& extra_env) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Our signals are blocked (they arrive through a signalfd) and SIGPIPE is ignored: the command
  // must start with neither. Its own process group: a timeout kills everything it started.
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  std::vector<char*> envp = environment_with(extra_env);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error(std::string("cannot start /bin/sh: ") + std::strerror(rc));
  return pid;
}

namespace {

// How long poll() may wait: until the deadline, or for ever without one.
int poll_timeout_ms(std::optional<TimePoint> deadline) {
  if (!deadline) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
  return static_cast<int>(std::clamp<long long>(left.count(), 0, 60'000));
}

// Reads what is there from `fd` into `sink`; closes it at the end of the stream.
void drain(int& fd, std::string& sink, bool keep_tail) {
  char chunk[65536];
  const ssize_t n = ::read(fd, chunk, sizeof chunk);
  if (n <= 0) {
    close_fd(fd);
    return;
  }
  sink.append(chunk, static_cast<std::size_t>(n));
  if (keep_tail && sink.size() > 2 * kStderrTail) sink.erase(0, sink.size() - kStderrTail);
}

// Feeds `input` and drains both outputs until the command closes them; false at the deadline.
bool pump(std::string_view input, int& to_child, int& from_out, int& from_err,
          CommandResult& result, std::optional<TimePoint> deadline) {
  std::size_t written = 0;
  if (input.empty()) close_fd(to_child);
  if (to_child >= 0) ::fcntl(to_child, F_SETFL, O_NONBLOCK);
  while (from_out >= 0 || from_err >= 0) {
    if (deadline && Clock::now() >= *deadline) return false;
    pollfd fds[3] = {{to_child, POLLOUT, 0}, {from_out, POLLIN, 0}, {from_err, POLLIN, 0}};
    if (::poll(fds, 3, poll_timeout_ms(deadline)) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    if (to_child >= 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::write(to_child, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (n < 0 && errno != EAGAIN) written = input.size();  // it stopped reading: fine
      if (written == input.size()) close_fd(to_child);
    }
    if (from_out >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
      drain(from_out, result.stdout_text, false);
    if (from_err >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)))
      drain(from_err, result.stderr_tail, true);
    if (result.stdout_text.size() > kMaxOutput) {
      throw std::runtime_error("command output over 256 MiB");
    }
  }
  close_fd(to_child);
  return true;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

std::string CommandResult::describe_failure() const {
  std::string text = exit_status > 128 ? "killed by signal " + std::to_string(exit_status - 128)
                                       : "exit status " + std::to_string(exit_status);
  std::string tail(utf8_suffix(stderr_tail, kStderrTail));
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r'))
    tail.pop_back();
  if (!tail.empty()) text += ": " + tail;
  return text;
}

namespace {

void track(pid_t pid, bool running_now) {
  std::lock_guard lock(running_mutex);
  if (running_now) {
    running.insert(pid);
  } else {
    running.erase(pid);
  }
}

// Kills the command's whole process group and reaps it.
void kill_group(pid_t pid, std::initializer_list<int*> fds) {
  ::kill(-pid, SIGKILL);
  for (int* fd : fds)
    close_fd(*fd);
  wait_for(pid);
  track(pid, false);
}

pid_t start(const std::string& command, Pipe& in, Pipe& out, Pipe& err,
            const std::vector<std::string>& env) {
  try {
    return spawn_shell(command, in.read, out.write, err.write, env);
  } catch (...) {
    for (int* fd : {&in.read, &in.write, &out.read, &out.write, &err.read, &err.write}) {
      close_fd(*fd);
    }
    throw;
  }
}

}  // namespace

CommandResult run_command(const std::string& command, std::string_view input,
                          std::optional<TimePoint> deadline, const std::vector<std::string>& env) {
  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  const pid_t pid = start(command, in, out, err, env);
  track(pid, true);
  close_fd(in.read);
  close_fd(out.write);
  close_fd(err.write);
  CommandResult result;
  try {
    if (!pump(input, in.write, out.read, err.read, result, deadline)) {
      kill_group(pid, {&in.write, &out.read, &err.read});
      result.timed_out = true;
      result.exit_status = 128 + SIGKILL;
      return result;
    }
  } catch (...) {
    kill_group(pid, {&in.write, &out.read, &err.read});
    throw;
  }
  result.exit_status = wait_for(pid);
  track(pid, false);
  return result;
}

void kill_all_commands() {
  std::lock_guard lock(running_mutex);
  for (pid_t pid : running)
    ::kill(-pid, SIGKILL);
}

}  // namespace conveyor::consumer
