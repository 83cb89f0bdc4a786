// The gatehouse C++ client: a blocking connection to gatehoused over its Unix socket.
//
// `call` sends one request and waits for its answer. `callMany` pipelines: it writes every
// request before reading, and returns the answers in request order (the daemon may answer out of
// order; the client matches ids). A Client is a resource (move-only) and is not thread-safe: use
// one per thread.
//
// Errors: a refused connection, a closed socket, an undecodable answer or (with a timeout) an
// answer that does not come in time throw `ClientError`. Answers that carry an `error` are returned
// as they are; `checkOk` turns them into exceptions.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gatehouse.capnp.h"

namespace gatehouse::client {

class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The daemon answered with an error value.
class RequestError : public ClientError {
 public:
  RequestError(wire::ErrorCode code, const std::string& message)
      : ClientError(message), code_(code) {}
  wire::ErrorCode code() const { return code_; }

 private:
  wire::ErrorCode code_;
};

// One answer; owns its bytes.
class Answer {
 public:
  Answer(kj::Array<capnp::word> words);
  wire::Response::Reader get() const { return root_; }
  const wire::Response::Reader* operator->() const { return &root_; }

 private:
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
  wire::Response::Reader root_;
};

// Throws RequestError with the daemon's code and message when the answer is an error.
void checkOk(const Answer& answer);

class Client {
 public:
  // Where gatehoused listens on a production host (gatehoused.socket), and in a checkout where
  // ./scripts/run serves.
  static constexpr const char* kSystemSocket = "/run/gatehouse/gatehouse.sock";
  static constexpr const char* kCheckoutSocket = "./var/gatehouse.sock";
  // kCheckoutSocket when it exists in the working directory, kSystemSocket otherwise.
  static std::string defaultSocket();

  // Connects; throws ClientError naming the path on failure (and, when the socket exists but may
  // not be opened, the group to join). With a non-zero `timeout`, a send or an answer that takes
  // longer throws ClientError; zero waits for ever. After a timeout the connection is out of step
  // (the answer may still come): drop the client.
  static Client connect(const std::string& socketPath,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  using Fill = std::function<void(wire::Request::Builder)>;
  Answer call(const Fill& fill);
  // Like call, sending `descriptor` with the request's frame (SCM_RIGHTS), as the `backup`
  // request needs; the descriptor stays the caller's (the daemon receives a duplicate). The first
  // time on a connection it sends `acceptDescriptors` and waits for its answer.
  Answer callWithDescriptor(int descriptor, const Fill& fill);
  std::vector<Answer> callMany(size_t count,
                               const std::function<void(size_t, wire::Request::Builder)>& fill);

  // Low-level, for benchmarks and protocol tests: write raw bytes, send a built message, read one
  // answer. `send` does not assign an id.
  void sendBytes(std::string_view bytes);
  void send(capnp::MessageBuilder& message);
  // A framed request with `descriptor` attached (SCM_RIGHTS) to its first bytes; no
  // acceptDescriptors first (callWithDescriptor sends that).
  void sendWithDescriptor(std::string_view frame, int descriptor);
  Answer receive();

  int fd() const { return fd_; }

 private:
  Client(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  void fill(size_t needed);
  Answer answerTo(uint64_t id);
  [[noreturn]] void timedOut(std::string_view what) const;

  int fd_ = -1;
  std::chrono::milliseconds timeout_{0};
  uint64_t nextId_ = 1;
  bool descriptorsAccepted_ = false;
  std::string buffer_;
  size_t start_ = 0;
};

}  // namespace gatehouse::client
