#include "load.hpp"

#include <capnp/serialize.h>
#include <errno.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

#include "protocol/framing.hpp"

namespace gatehouse::load {
namespace {

constexpr Clock::time_point kIdle = Clock::time_point::min();
constexpr size_t kReceiveBytes = size_t{1} << 19;
// Answers to the benchmarks' requests are small; a larger frame is a fault.
constexpr protocol::FrameLimits kAnswerLimits{size_t{1} << 20, 64};

void wipe(std::string& bytes) {
  bytes.resize(bytes.capacity());
  sodium_memzero(bytes.data(), bytes.size());
  bytes.clear();
}

}  // namespace

std::optional<Shape> modeShape(std::string_view mode) {
  if (mode == "pingpong") return Shape{1, 1};
  if (mode == "pipelined") return Shape{1, 64};
  if (mode == "concurrent") return Shape{4, 64};
  return std::nullopt;
}

std::string modeName(Shape shape) {
  for (const char* mode : {"pingpong", "pipelined", "concurrent"}) {
    Shape named = *modeShape(mode);
    if (named.connections == shape.connections && named.window == shape.window) return mode;
  }
  return "custom";
}

Frames::Frames(const Fill& fill, size_t count) {
  frames_.reserve(count);
  // The builder's first segment is ours, so that what a request held (a key) can be overwritten.
  std::array<capnp::word, 4096> segment{};
  for (size_t i = 0; i < count; ++i) {
    {
      capnp::MallocMessageBuilder message(kj::arrayPtr(segment.data(), segment.size()));
      auto request = message.initRoot<wire::Request>();
      fill(i, request);
      request.setId(i);
      if (message.getSegmentsForOutput().size() != 1) {
        throw std::runtime_error("a benchmark request does not fit in 32 KiB");
      }
      protocol::appendFrame(message, frames_.emplace_back());
    }
    largest_ = std::max(largest_, frames_.back().size());
    sodium_memzero(segment.data(), sizeof segment);
  }
}

Frames::~Frames() {
  for (std::string& frame : frames_) wipe(frame);
}

void AnswerSink::strayAnswer(uint64_t id) {
  throw std::runtime_error(fmt::format("an answer with id {}, which no request in flight has", id));
}

Connection::Connection(const std::string& socketPath, const Frames& frames, uint64_t firstFrame,
                       std::chrono::milliseconds timeout)
    : frames_(frames),
      timeout_(timeout),
      next_(firstFrame),
      sentAt_(frames.size(), kIdle),
      buffer_(kReceiveBytes / sizeof(capnp::word)) {
  sockaddr_un address{};
  if (socketPath.size() >= sizeof address.sun_path) {
    throw std::runtime_error(fmt::format("socket path {} is too long", socketPath));
  }
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(fmt::format("socket(): {}", std::strerror(errno)));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socketPath.data(), socketPath.size());
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    int error = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(fmt::format("connect({}): {}", socketPath, std::strerror(error)));
  }
  if (timeout.count() > 0) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
}

Connection::~Connection() {
  wipe(outbox_);
  if (fd_ >= 0) ::close(fd_);
}

void Connection::sendAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      throw std::runtime_error(
          fmt::format("could not send within {} ms: the daemon is stuck", timeout_.count()));
    }
    if (n <= 0) throw std::runtime_error(fmt::format("send: {}", std::strerror(errno)));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads what is there into the buffer; returns how many bytes came.
size_t Connection::receive() {
  char* bytes = reinterpret_cast<char*>(buffer_.data());
  size_t capacity = buffer_.size() * sizeof(capnp::word);
  if (filled_ == capacity) throw std::runtime_error("an answer larger than the receive buffer");
  for (;;) {
    ssize_t n = ::recv(fd_, bytes + filled_, capacity - filled_, 0);
    if (n > 0) {
      filled_ += static_cast<size_t>(n);
      return static_cast<size_t>(n);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      throw std::runtime_error(fmt::format(
          "no answer within {} ms: the daemon is overloaded or stuck", timeout_.count()));
    }
    if (n == 0) throw std::runtime_error("the server closed the connection");
    throw std::runtime_error(fmt::format("recv: {}", std::strerror(errno)));
  }
}

uint64_t Connection::run(int window, const Limits& limits, AnswerSink& sink) {
  const size_t count = frames_.size();
  uint64_t sent = 0, answered = 0;
  if (outbox_.capacity() < static_cast<size_t>(window) * frames_.largest()) {
    wipe(outbox_);
    outbox_.reserve(static_cast<size_t>(window) * frames_.largest());
  }
  auto sendOne = [&] {
    size_t i = next_++ % count;
    sentAt_[i] = Clock::now();
    outbox_.append(frames_[i]);
    ++sent;
  };
  auto mayStart = [&](Clock::time_point now) {
    return sent < limits.count && now < limits.deadline &&
           (limits.cancel == nullptr || !limits.cancel->load(std::memory_order_relaxed));
  };
  for (int k = 0; k < window && mayStart(Clock::time_point::min()); ++k) sendOne();
  sendAll(outbox_);
  outbox_.clear();
  const char* bytes = reinterpret_cast<const char*>(buffer_.data());
  while (answered < sent) {
    receive();
    size_t consumed = 0;
    for (;;) {
      auto scan = protocol::scanFrame(std::string_view(bytes + consumed, filled_ - consumed),
                                      kAnswerLimits);
      if (scan.status == protocol::FrameStatus::bad) {
        throw std::runtime_error("an undecodable answer: " + scan.error);
      }
      if (scan.status != protocol::FrameStatus::frame) break;
      capnp::FlatArrayMessageReader message(kj::arrayPtr(
          buffer_.data() + consumed / sizeof(capnp::word), scan.bytes / sizeof(capnp::word)));
      auto response = message.getRoot<wire::Response>();
      auto now = Clock::now();
      uint64_t id = response.getId();
      if (id < count && sentAt_[id] != kIdle) {
        Clock::time_point sentAt = std::exchange(sentAt_[id], kIdle);
        sink.answer(id, response, now - sentAt);
      } else {
        sink.strayAnswer(id);
      }
      ++answered;
      consumed += scan.bytes;
      if (mayStart(now)) sendOne();
    }
    if (!outbox_.empty()) {
      sendAll(outbox_);
      outbox_.clear();
    }
    std::memmove(buffer_.data(), bytes + consumed, filled_ - consumed);
    filled_ -= consumed;
  }
  return answered;
}

Clock::time_point StartLine::ready() {
  std::unique_lock lock(mutex_);
  if (++warm_ == runners_) {
    start_ = Clock::now();
    changed_.notify_all();
  }
  changed_.wait(lock, [&] { return warm_ >= runners_ || abandoned_; });
  if (warm_ < runners_) throw Abandoned{};
  return start_;
}

void StartLine::abandon() {
  std::lock_guard lock(mutex_);
  abandoned_ = true;
  changed_.notify_all();
}

std::vector<Failure> runTogether(int runners, const std::function<void(int, StartLine&)>& body) {
  StartLine line(runners);
  std::mutex mutex;
  std::vector<Failure> failures;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(runners));
  for (int i = 0; i < runners; ++i) {
    threads.emplace_back([&, i] {
      try {
        body(i, line);
      } catch (const StartLine::Abandoned&) {
      } catch (const std::exception& e) {
        {
          std::lock_guard lock(mutex);
          failures.push_back({i, e.what()});
        }
        line.abandon();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  return failures;
}

}  // namespace gatehouse::load
