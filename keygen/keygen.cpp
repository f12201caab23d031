#include "conveyor/keygen/keygen.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "conveyor/common/curve.hpp"

namespace conveyor::keygen {
namespace {

// Creates `path` with O_EXCL (never follows or replaces an existing file) and writes `text`.
Expected<bool, std::string> create_exclusive(const std::string& path, const std::string& text,
                                             mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return unexpected(path + " exists already; refusing to overwrite it");
    return unexpected("cannot create " + path + ": " + std::strerror(errno));
  }
  // The umask may have narrowed `mode`; the secret must be 0600 whatever it is, the .pub 0644.
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ::fsync(fd) == 0 && ok;
  const int saved = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return unexpected("cannot write " + path + ": " + std::strerror(saved));
  }
  return true;
}

}  // namespace

Expected<Written, std::string> write_keypair(const std::string& name) {
  if (name.empty()) return unexpected(std::string("NAME must not be empty"));
  Written written{name + ".key", name + ".pub", {}};
  std::error_code ec;
  // Checked before writing either, so a refusal leaves no half pair behind.
  for (const auto& path : {written.secret_path, written.public_path}) {
    if (std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
      return unexpected(path + " exists already; refusing to overwrite it");
    }
  }
  KeyPair pair;
  try {
    pair = generate_keypair();
  } catch (const KeyError& e) {
    return unexpected(std::string(e.what()));
  }
  const std::string header = "# CurveZMQ key for conveyor --curve, written by conveyor-keygen\n";
  auto secret = create_exclusive(
      written.secret_path, "# SECRET: keep this file private\n" + pair.secret_key + "\n", 0600);
  if (!secret) return unexpected(secret.error());
  auto pub = create_exclusive(written.public_path, header + pair.public_key + "\n", 0644);
  if (!pub) {
    ::unlink(written.secret_path.c_str());  // no secret without its public half
    return unexpected(pub.error());
  }
  written.public_key = pair.public_key;
  return written;
}

}  // namespace conveyor::keygen
