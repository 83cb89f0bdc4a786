#include "client.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "protocol/framing.hpp"

namespace gatehouse::client {
namespace {

constexpr size_t kMaxAnswerBytes = size_t{256} << 20;
// Answers are built by the daemon, whose large answers have many segments.
constexpr protocol::FrameLimits kAnswerLimits{kMaxAnswerBytes, 512};

capnp::ReaderOptions answerOptions() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = kMaxAnswerBytes / 8;
  return options;
}

// Why connect() failed, in words a user can act on.
std::string connectFailure(const std::string& socketPath, int err) {
  if (err == EACCES) {
    struct stat st {};
    if (::stat(socketPath.c_str(), &st) == 0) {
      std::string name = std::to_string(st.st_gid);
      if (const struct group* g = ::getgrgid(st.st_gid)) name = g->gr_name;
      return fmt::format(
          "cannot connect to {}: permission denied; the socket admits members of group '{}': "
          "add this user to it (usermod -aG {} USER) and log in again",
          socketPath, name, name);
    }
  }
  return fmt::format("cannot connect to {}: {} (is gatehoused running?)", socketPath,
                     std::strerror(err));
}

}  // namespace

std::string Client::defaultSocket() {
  std::error_code ec;
  return std::filesystem::exists(kCheckoutSocket, ec) ? kCheckoutSocket : kSystemSocket;
}

Answer::Answer(kj::Array<capnp::word> words)
    : words_(kj::mv(words)),
      reader_(std::make_unique<capnp::FlatArrayMessageReader>(words_.asPtr(), answerOptions())),
      root_(reader_->getRoot<wire::Response>()) {}

void checkOk(const Answer& answer) {
  if (answer->which() != wire::Response::ERROR) return;
  auto error = answer->getError();
  throw RequestError(error.getCode(), error.getMessage().cStr());
}

Client Client::connect(const std::string& socketPath, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  if (socketPath.size() >= sizeof addr.sun_path) {
    throw ClientError(fmt::format("socket path {} is too long", socketPath));
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ClientError(fmt::format("socket(): {}", std::strerror(errno)));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socketPath.data(), socketPath.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    throw ClientError(connectFailure(socketPath, err));
  }
  if (timeout.count() > 0) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  return Client(fd, timeout);
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      nextId_(other.nextId_),
      descriptorsAccepted_(other.descriptorsAccepted_),
      buffer_(std::move(other.buffer_)),
      start_(other.start_) {}

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    timeout_ = other.timeout_;
    nextId_ = other.nextId_;
    descriptorsAccepted_ = other.descriptorsAccepted_;
    buffer_ = std::move(other.buffer_);
    start_ = other.start_;
  }
  return *this;
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

void Client::sendBytes(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) timedOut("could not send a request");
      throw ClientError(fmt::format("send: {}", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void Client::send(capnp::MessageBuilder& message) {
  std::string frame;
  protocol::appendFrame(message, frame);
  sendBytes(frame);
}

void Client::fill(size_t needed) {
  while (buffer_.size() - start_ < needed) {
    if (start_ > 0 && start_ == buffer_.size()) {
      buffer_.clear();
      start_ = 0;
    }
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) timedOut("no answer");
    if (n < 0) throw ClientError(fmt::format("recv: {}", std::strerror(errno)));
    if (n == 0) throw ClientError("the daemon closed the connection");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

void Client::timedOut(std::string_view what) const {
  throw ClientError(
      fmt::format("{} within {} ms: the daemon is overloaded or stuck", what, timeout_.count()));
}

Answer Client::receive() {
  for (;;) {
    std::string_view pending(buffer_.data() + start_, buffer_.size() - start_);
    protocol::FrameScan scan = protocol::scanFrame(pending, kAnswerLimits);
    if (scan.status == protocol::FrameStatus::bad) {
      throw ClientError(fmt::format("undecodable answer: {}", scan.error));
    }
    if (scan.status == protocol::FrameStatus::needMore) {
      fill(scan.bytes);
      continue;
    }
    auto words = kj::heapArray<capnp::word>(scan.bytes / 8);
    std::memcpy(words.begin(), pending.data(), scan.bytes);
    start_ += scan.bytes;
    if (start_ == buffer_.size()) {
      buffer_.clear();
      start_ = 0;
    }
    return Answer(kj::mv(words));
  }
}

Answer Client::call(const Fill& fill) {
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<wire::Request>();
  uint64_t id = nextId_++;
  fill(request);
  request.setId(id);
  send(message);
  return answerTo(id);
}

Answer Client::callWithDescriptor(int descriptor, const Fill& fill) {
  if (!descriptorsAccepted_) {
    Answer accepted = call([](wire::Request::Builder r) { r.setAcceptDescriptors(); });
    if (accepted->which() != wire::Response::PONG) return accepted;  // the error, for the caller
    descriptorsAccepted_ = true;
  }
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<wire::Request>();
  uint64_t id = nextId_++;
  fill(request);
  request.setId(id);
  std::string frame;
  protocol::appendFrame(message, frame);
  sendWithDescriptor(frame, descriptor);
  return answerTo(id);
}

void Client::sendWithDescriptor(std::string_view frame, int descriptor) {
  iovec iov{const_cast<char*>(frame.data()), frame.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &descriptor, sizeof descriptor);
  ssize_t n;
  do {
    n = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) timedOut("could not send a request");
    throw ClientError(fmt::format("sendmsg: {}", std::strerror(errno)));
  }
  sendBytes(frame.substr(static_cast<size_t>(n)));
}

Answer Client::answerTo(uint64_t id) {
  Answer answer = receive();
  if (answer->getId() != id) {
    throw ClientError(fmt::format("answer for id {} while waiting for {}", answer->getId(), id));
  }
  return answer;
}

std::vector<Answer> Client::callMany(
    size_t count, const std::function<void(size_t, wire::Request::Builder)>& fill) {
  uint64_t first = nextId_;
  std::string bytes;
  for (size_t i = 0; i < count; ++i) {
    capnp::MallocMessageBuilder message;
    auto request = message.initRoot<wire::Request>();
    fill(i, request);
    request.setId(first + i);
    protocol::appendFrame(message, bytes);
  }
  nextId_ += count;
  sendBytes(bytes);
  std::vector<std::optional<Answer>> answers(count);
  for (size_t received = 0; received < count; ++received) {
    Answer a = receive();
    uint64_t id = a->getId();
    if (id < first || id >= first + count || answers[id - first]) {
      throw ClientError(fmt::format("unexpected answer id {}", id));
    }
    answers[id - first].emplace(std::move(a));
  }
  std::vector<Answer> out;
  out.reserve(count);
  for (auto& a : answers) out.push_back(std::move(*a));
  return out;
}

}  // namespace gatehouse::client
