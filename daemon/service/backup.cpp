#include "service/backup.hpp"

#include <capnp/message.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/framing.hpp"
#include "service/io_state.hpp"
#include "service/requests.hpp"

namespace gatehouse::service {
namespace {

// Why `fd` cannot take a backup, or nullopt.
std::optional<std::string> unusable(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fmt::format("the file: fstat: {}", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return std::string("the file is not a regular file");
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ((flags & O_ACCMODE) != O_WRONLY && (flags & O_ACCMODE) != O_RDWR)) {
    return std::string("the file is not open for writing");
  }
  return std::nullopt;
}

std::string frameOf(capnp::MallocMessageBuilder& builder) {
  std::string frame;
  protocol::appendFrame(builder, frame);
  return frame;
}

// Writes all of `data` to `fd`; false with errno set on failure.
bool writeAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::optional<Backups::Refused> Backups::start(uint64_t id, int fd,
                                               std::shared_ptr<protocol::AnswerSink> sink,
                                               const protocol::Peer& peer) {
  if (auto why = unusable(fd)) {
    ::close(fd);
    return Refused{wire::ErrorCode::INVALID_ARGUMENT, *why};
  }
  std::lock_guard lock(mutex_);
  if (stopping_ || running_.exchange(true)) {
    ::close(fd);
    return Refused{wire::ErrorCode::OVERLOADED,
                   stopping_ ? "the daemon is stopping" : "another backup is running"};
  }
  if (thread_.joinable()) thread_.join();  // the previous one has finished
  thread_ = std::thread([this, id, fd, sink = std::move(sink), peer] {
    run(id, fd, sink, peer);
    running_.store(false);
  });
  return std::nullopt;
}

void Backups::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void Backups::run(uint64_t id, int fd, const std::shared_ptr<protocol::AnswerSink>& sink,
                  protocol::Peer peer) {
  capnp::MallocMessageBuilder builder(256);
  auto response = builder.initRoot<wire::Response>();
  response.setId(id);
  auto fail = [&](const std::string& why) {
    logLine(Level::error, "backup_failed", {{"error", why}, {"uid", std::to_string(peer.uid)}});
    protocol::setError(response, wire::ErrorCode::FAILED, fmt::format("backup: {}", why));
    ::close(fd);
    sink->answer(frameOf(builder));
  };
  int pipe[2];
  if (::pipe2(pipe, O_CLOEXEC) != 0) {
    fail(fmt::format("pipe2: {}", std::strerror(errno)));
    return;
  }
  uint64_t revision = 0;
  std::string copyError;
  std::thread copier;
  std::promise<void> begun;
  bool queued = committer_.between([&] {
    // No commit happens while this runs: the copy begins at `revision`.
    revision = store_.revision();
    copier = std::thread([&] {
      try {
        store_.copyCompacted(pipe[1]);
      } catch (const std::exception& e) {
        copyError = e.what();
      }
      ::close(pipe[1]);
    });
    pollfd ready{pipe[0], POLLIN, 0};
    while (::poll(&ready, 1, -1) < 0 && errno == EINTR) {
    }
    begun.set_value();
  });
  if (!queued) {
    ::close(pipe[0]);
    ::close(pipe[1]);
    fail("the daemon is stopping");
    return;
  }
  begun.get_future().wait();

  uint64_t bytes = 0;
  std::string writeError;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(pipe[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    // After a failed write, drain the pipe all the same, so that the copy can finish.
    if (writeError.empty() && !writeAll(fd, buffer, static_cast<size_t>(n))) {
      writeError = fmt::format("writing the file: {}", std::strerror(errno));
    }
    bytes += static_cast<uint64_t>(n);
  }
  copier.join();
  ::close(pipe[0]);
  if (!copyError.empty()) return fail(copyError);
  if (!writeError.empty()) return fail(writeError);
  if (::fdatasync(fd) != 0) return fail(fmt::format("fdatasync: {}", std::strerror(errno)));
  ::close(fd);
  auto b = response.initBackup();
  b.setRevision(revision);
  b.setBytes(bytes);
  b.setSchemaVersion(store::kSchemaVersion);
  logLine(Level::info, "backup",
          {{"revision", std::to_string(revision)},
           {"bytes", std::to_string(bytes)},
           {"uid", std::to_string(peer.uid)}});
  sink->answer(frameOf(builder));
}

protocol::Disposition startAcceptDescriptors(ServiceParts&, IoState& io, const protocol::Peer&,
                                             wire::Request::Reader request, std::string& out,
                                             protocol::AnswerSink& sink) {
  sink.acceptDescriptors();
  capnp::MallocMessageBuilder builder(io.scratch());
  auto response = builder.initRoot<wire::Response>();
  response.setId(request.getId());
  response.setPong();
  protocol::appendFrame(builder, out);
  return protocol::Disposition::answered;
}

protocol::Disposition startBackup(ServiceParts& parts, IoState&, const protocol::Peer& peer,
                                  wire::Request::Reader request, std::string& out,
                                  protocol::AnswerSink& sink) {
  int fd = sink.takeDescriptor();
  if (fd < 0) {
    protocol::appendError(
        request.getId(), wire::ErrorCode::INVALID_ARGUMENT,
        "backup: no file descriptor came with the request (send acceptDescriptors "
        "first, then the open file with the frame as SCM_RIGHTS)",
        out);
    return protocol::Disposition::answered;
  }
  if (auto refused = parts.backups.start(request.getId(), fd, sink.retain(), peer)) {
    protocol::appendError(request.getId(), refused->code,
                          fmt::format("backup: {}", refused->message), out);
    return protocol::Disposition::answered;
  }
  return protocol::Disposition::queued;
}

}  // namespace gatehouse::service
