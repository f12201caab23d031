#include "conveyor/consumer/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>

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

pid_t spawn(const std::string& command, Pipe& in, Pipe& out, Pipe& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Our signals are blocked (they arrive through a signalfd) and SIGPIPE is ignored: the command
  // must start with neither.
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
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::runtime_error(std::string("cannot start /bin/sh: ") + std::strerror(rc));
  return pid;
}

// Feeds `input` and drains both outputs until the command closes them.
void pump(std::string_view input, int& to_child, int& from_out, int& from_err,
          CommandResult& result) {
  std::size_t written = 0;
  if (input.empty()) close_fd(to_child);
  if (to_child >= 0) ::fcntl(to_child, F_SETFL, O_NONBLOCK);
  char chunk[65536];
  while (from_out >= 0 || from_err >= 0) {
    pollfd fds[3] = {{to_child, POLLOUT, 0}, {from_out, POLLIN, 0}, {from_err, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    if (to_child >= 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::write(to_child, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (n < 0 && errno != EAGAIN) written = input.size();  // it stopped reading: fine
      if (written == input.size()) close_fd(to_child);
    }
    for (int i = 1; i < 3; ++i) {
      int& fd = i == 1 ? from_out : from_err;
      if (fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) {
        close_fd(fd);
        continue;
      }
      std::string& sink = i == 1 ? result.stdout_text : result.stderr_tail;
      sink.append(chunk, static_cast<std::size_t>(n));
      if (i == 2 && sink.size() > 2 * kStderrTail) sink.erase(0, sink.size() - kStderrTail);
      if (result.stdout_text.size() > kMaxOutput) {
        throw std::runtime_error("command output over 256 MiB");
      }
    }
  }
  close_fd(to_child);
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
  std::string tail = stderr_tail.size() > kStderrTail
                         ? stderr_tail.substr(stderr_tail.size() - kStderrTail)
                         : stderr_tail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r'))
    tail.pop_back();
  if (!tail.empty()) text += ": " + tail;
  return text;
}

CommandResult run_command(const std::string& command, std::string_view input) {
  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Pipe err = make_pipe();
  pid_t pid;
  try {
    pid = spawn(command, in, out, err);
  } catch (...) {
    for (int* fd : {&in.read, &in.write, &out.read, &out.write, &err.read, &err.write}) {
      close_fd(*fd);
    }
    throw;
  }
  {
    std::lock_guard lock(running_mutex);
    running.insert(pid);
  }
  close_fd(in.read);
  close_fd(out.write);
  close_fd(err.write);
  CommandResult result;
  try {
    pump(input, in.write, out.read, err.read, result);
  } catch (...) {
    ::kill(-pid, SIGKILL);
    close_fd(in.write);
    close_fd(out.read);
    close_fd(err.read);
    wait_for(pid);
    std::lock_guard lock(running_mutex);
    running.erase(pid);
    throw;
  }
  result.exit_status = wait_for(pid);
  std::lock_guard lock(running_mutex);
  running.erase(pid);
  return result;
}

void kill_all_commands() {
  std::lock_guard lock(running_mutex);
  for (pid_t pid : running)
    ::kill(-pid, SIGKILL);
}

}  // namespace conveyor::consumer
