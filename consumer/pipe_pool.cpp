#include "conveyor/consumer/pipe_pool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <thread>
#include <unordered_map>

#include "conveyor/common/errors.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/common/task.hpp"
#include "conveyor/common/text.hpp"
#include "conveyor/consumer/pipe_protocol.hpp"
#include "conveyor/consumer/subprocess.hpp"

namespace conveyor::consumer {
namespace {

constexpr std::size_t kMaxLine = 256u << 20;  // an answer longer than this is garbage
constexpr std::size_t kStderrTail = 2048;
constexpr Duration kTimeoutCheck = milliseconds(50);
constexpr Duration kStopGrace = milliseconds(3000);  // for a worker to finish after its EOF

struct InFlight {
  std::unique_ptr<WorkBatch> batch;
  TimePoint started;
  std::optional<TimePoint> deadline;
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// A pipe with both ends close-on-exec (the child gets its end through dup2).
std::pair<int, int> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  return {fds[0], fds[1]};
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

// Waits for `pid` to exit until `until`; its status, or nothing when it is still running then.
std::optional<int> wait_exit(pid_t pid, TimePoint until) {
  // pidfd_open through syscall(): glibc 2.36's <sys/pidfd.h> declares it without C linkage.
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  for (;;) {
    int status = 0;
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      if (fd >= 0) ::close(fd);
      return status;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    if (got < 0 || left <= 0) break;
    pollfd item{fd, POLLIN, 0};  // readable once the process has exited
    if (fd < 0 || ::poll(&item, 1, static_cast<int>(left)) < 0) {
      std::this_thread::sleep_for(milliseconds(10));  // no pidfd (an old kernel): look again
    }
  }
  if (fd >= 0) ::close(fd);
  return std::nullopt;
}

std::string shortened(std::string_view text, std::size_t most = 200) {
  // Valid UTF-8 here, so that one stray byte does not turn the whole error text into Latin-1.
  return text.size() <= most ? to_valid_utf8(text) : to_valid_utf8(utf8_prefix(text, most)) + "...";
}

}  // namespace

struct PipePool::Worker {
  std::size_t index = 0;
  pid_t pid = -1;
  int in = -1;   // its stdin: we write
  int out = -1;  // its stdout: we read answers
  int err = -1;  // its stderr: we read log lines
  std::string to_write;
  std::string partial_out;
  std::string partial_err;
  std::string stderr_tail;
  std::unordered_map<std::string, InFlight> in_flight;  // by task id
  bool alive = false;
  Backoff restart_backoff{milliseconds(100), milliseconds(10000)};
};

PipePool::PipePool(PipeConfig config) : config_(std::move(config)) {
  for (std::size_t i = 0; i < config_.processes; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    workers_.back()->index = i + 1;
    start(*workers_.back());
  }
  check_startup();
}

PipePool::~PipePool() {
  if (!stopping_) abandon();
}

void PipePool::start(Worker& worker) {
  auto [in_read, in_write] = make_pipe();
  auto [out_read, out_write] = make_pipe();
  auto [err_read, err_write] = make_pipe();
  try {
    worker.pid = spawn_shell(config_.command, in_read, out_write, err_write,
                             {"CONVEYOR_PIPE_WORKER=" + std::to_string(worker.index)});
  } catch (...) {
    for (int fd : {in_read, in_write, out_read, out_write, err_read, err_write})
      ::close(fd);
    throw;
  }
  for (int fd : {in_read, out_write, err_write})
    ::close(fd);
  worker.in = in_write;
  worker.out = out_read;
  worker.err = err_read;
  for (int fd : {worker.in, worker.out, worker.err})
    set_nonblocking(fd);
  worker.alive = true;
  if (loop_ == nullptr) return;  // attach() watches the first ones
  loop_->watch(worker.out, [this, &worker] { read_answers(worker); });
  loop_->watch(worker.err, [this, &worker] { read_stderr(worker); });
}

// A command that cannot run exits at once: say so before taking any task.
void PipePool::check_startup() {
  const TimePoint until = Clock::now() + kStartupCheck;
  for (auto& worker : workers_) {
    const auto status = wait_exit(worker->pid, until);
    if (!status) continue;
    worker->alive = false;
    read_stderr(*worker);
    abandon();
    throw StartupError("--handler pipe:" + config_.command + ": the worker exited at once (" +
                       describe_status(*status) + ")" +
                       (worker->stderr_tail.empty() ? "" : ": " + worker->stderr_tail));
  }
}

void PipePool::attach(EventLoop& loop, Done done) {
  loop_ = &loop;
  done_ = std::move(done);
  for (auto& worker : workers_) {
    Worker& w = *worker;
    loop.watch(w.out, [this, &w] { read_answers(w); });
    loop.watch(w.err, [this, &w] { read_stderr(w); });
  }
  if (config_.task_timeout) loop.every(kTimeoutCheck, [this] { check_timeouts(Clock::now()); });
}

std::size_t PipePool::idle() const {
  std::size_t free = 0;
  for (const auto& worker : workers_) {
    if (worker->alive && worker->in_flight.size() < config_.per_process)
      free += config_.per_process - worker->in_flight.size();
  }
  return free > deferred_.size() ? free - deferred_.size() : 0;
}

PipePool::Worker* PipePool::least_loaded() {
  Worker* best = nullptr;
  for (auto& worker : workers_) {
    if (!worker->alive || worker->in_flight.size() >= config_.per_process) continue;
    if (best == nullptr || worker->in_flight.size() < best->in_flight.size()) best = worker.get();
  }
  return best;
}

bool PipePool::in_flight_anywhere(const std::string& id) const {
  for (const auto& worker : workers_) {
    if (worker->in_flight.contains(id)) return true;
  }
  return false;
}

void PipePool::submit(std::unique_ptr<WorkBatch> batch) {
  const Delivery& task = batch->tasks.front();
  // Answers are matched by id: a second delivery of a task whose first one still runs (after a
  // reconnect) waits until that one is answered.
  Worker* worker = least_loaded();
  if (worker == nullptr || in_flight_anywhere(Task(task).id())) {
    deferred_.push_back(std::move(batch));
    return;
  }
  give(*worker, std::move(batch));
}

void PipePool::give(Worker& worker, std::unique_ptr<WorkBatch> batch) {
  const Delivery& task = batch->tasks.front();
  const bool was_empty = worker.to_write.empty();
  append_task_line(worker.to_write, task);
  const TimePoint now = Clock::now();
  std::optional<TimePoint> deadline;
  if (config_.task_timeout) deadline = now + *config_.task_timeout;
  worker.in_flight.emplace(Task(task).id(), InFlight{std::move(batch), now, deadline});
  if (was_empty) write_pending(worker);
}

void PipePool::write_pending(Worker& worker) {
  while (!worker.to_write.empty()) {
    const ssize_t n = ::write(worker.in, worker.to_write.data(), worker.to_write.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0)
      return fail(worker, "stopped reading its stdin (" + std::string(std::strerror(errno)) + ")");
    worker.to_write.erase(0, static_cast<std::size_t>(n));
  }
  if (loop_ == nullptr) return;
  loop_->unwatch_writable(worker.in);
  if (!worker.to_write.empty()) {  // the worker reads slowly: wait for room, hold no more
    loop_->watch_writable(worker.in, [this, &worker] { write_pending(worker); });
  }
}

void PipePool::read_answers(Worker& worker) {
  char chunk[65536];
  while (worker.alive) {
    const ssize_t n = ::read(worker.out, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) return fail(worker, "closed its stdout");
    worker.partial_out.append(chunk, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t end;
         worker.alive && (end = worker.partial_out.find('\n', start)) != std::string::npos;
         start = end + 1) {
      on_line(worker, std::string_view(worker.partial_out).substr(start, end - start));
    }
    if (!worker.alive) return;
    worker.partial_out.erase(0, start);
    if (worker.partial_out.size() > kMaxLine) return fail(worker, "wrote a line over 256 MiB");
  }
}

void PipePool::on_line(Worker& worker, std::string_view line) {
  auto answer = parse_answer_line(line);
  if (!answer) {
    return fail(worker,
                "wrote a line that is not an answer (" + answer.error() + "): " + shortened(line));
  }
  auto it = worker.in_flight.find(answer->id);
  if (it == worker.in_flight.end()) {
    return fail(worker, "answered task " + shortened(answer->id) + ", which it was not given");
  }
  InFlight flight = std::move(it->second);
  worker.in_flight.erase(it);
  worker.restart_backoff.reset();  // it works: a later crash starts from the short delay
  const Delivery& task = flight.batch->tasks.front();
  Report& result = answer->result;
  result.producer = task.producer();
  result.seq = task.seq();
  result.attempts = task.attempt();
  flight.batch->results.push_back(std::move(result));
  flight.batch->elapsed = Clock::now() - flight.started;
  done_(std::move(flight.batch));
  release_deferred();
}

void PipePool::read_stderr(Worker& worker) {
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(worker.err, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN, or its end: stdout's end is what counts
    worker.partial_err.append(chunk, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t end; (end = worker.partial_err.find('\n', start)) != std::string::npos;
         start = end + 1) {
      const std::string line = worker.partial_err.substr(start, end - start);
      logger("consumer")->info("pipe worker {}: {}", worker.index, line);
      worker.stderr_tail = to_valid_utf8(utf8_prefix(line, kStderrTail));
    }
    worker.partial_err.erase(0, start);
    if (worker.partial_err.size() > kStderrTail) {
      worker.stderr_tail = to_valid_utf8(utf8_prefix(worker.partial_err, kStderrTail));
      worker.partial_err.clear();
    }
  }
}

void PipePool::check_timeouts(TimePoint now) {
  for (auto& worker : workers_) {
    std::set<std::string> late;
    for (const auto& [id, flight] : worker->in_flight) {
      if (flight.deadline && now >= *flight.deadline) late.insert(id);
    }
    if (!late.empty()) fail(*worker, "held task " + *late.begin() + " past --task-timeout", late);
  }
}

// Kills the worker's process group, ends what it held, and starts it again after a backoff.
void PipePool::fail(Worker& worker, const std::string& why, const std::set<std::string>& late) {
  if (!worker.alive) return;
  worker.alive = false;
  ::kill(-worker.pid, SIGKILL);
  int status = 0;
  while (::waitpid(worker.pid, &status, 0) < 0 && errno == EINTR) {
  }
  read_stderr(worker);
  for (int* fd : {&worker.in, &worker.out, &worker.err}) {
    if (loop_ != nullptr && *fd >= 0) {
      loop_->unwatch(*fd);
      loop_->unwatch_writable(*fd);
    }
    close_fd(*fd);
  }
  worker.to_write.clear();
  worker.partial_out.clear();
  const std::string reason = "pipe worker " + std::to_string(worker.index) + " " + why;
  logger("consumer")->error("{}; restarting it", reason);
  end_in_flight(worker, reason, late);
  if (stopping_ || loop_ == nullptr) return;
  ++restarts_;
  loop_->after(worker.restart_backoff.next(), [this, &worker] {
    if (!stopping_) start(worker);
    release_deferred();
  });
}

void PipePool::end_in_flight(Worker& worker, const std::string& why,
                             const std::set<std::string>& late_ids) {
  auto in_flight = std::move(worker.in_flight);
  worker.in_flight.clear();
  for (auto& [id, flight] : in_flight) {
    const Delivery& task = flight.batch->tasks.front();
    Report result;
    result.producer = task.producer();
    result.seq = task.seq();
    result.attempts = task.attempt();
    result.status = wire::FAILED;
    const bool late = late_ids.contains(id);
    result.timed_out = late;
    result.lost = !late;
    // A protobuf string must be UTF-8 (libprotobuf refuses the whole batch at the broker
    // otherwise). The worker's bytes in why and the tail were made valid where they were cut;
    // this is the guard for any other path (valid text passes unchanged).
    result.error =
        to_valid_utf8(late ? "timed out after " + std::to_string(to_ms(*config_.task_timeout)) +
                                 " ms (--task-timeout): " + why + " was killed"
                           : why + (worker.stderr_tail.empty() ? "" : ": " + worker.stderr_tail));
    flight.batch->results.push_back(std::move(result));
    flight.batch->elapsed = Clock::now() - flight.started;
    if (done_) done_(std::move(flight.batch));
  }
}

void PipePool::release_deferred() {
  std::deque<std::unique_ptr<WorkBatch>> waiting = std::move(deferred_);
  deferred_.clear();
  for (auto& batch : waiting)
    submit(std::move(batch));
}

void PipePool::stop() {
  stopping_ = true;
  for (auto& worker : workers_)
    close_fd(worker->in);  // its EOF: finish what you hold, and exit
  const TimePoint until = Clock::now() + kStopGrace;
  for (auto& worker : workers_) {
    if (!worker->alive) continue;
    const bool exited = wait_exit(worker->pid, until).has_value();
    ::kill(-worker->pid, SIGKILL);  // what it left behind, or itself if it did not exit
    if (!exited) ::waitpid(worker->pid, nullptr, 0);
    worker->alive = false;
  }
}

void PipePool::abandon() {
  stopping_ = true;
  for (auto& worker : workers_) {
    if (worker->pid <= 0) continue;
    ::kill(-worker->pid, SIGKILL);
    ::waitpid(worker->pid, nullptr, WNOHANG);
    worker->alive = false;
  }
}

}  // namespace conveyor::consumer
