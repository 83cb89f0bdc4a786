// The gatehouse C++ client: a blocking connection to gatehoused over its Unix socket.
//
// `call` sends one request and waits for its answer. `callMany` pipelines: it writes every
// request before reading, and returns the answers in request order (the daemon may answer out of
// order; the client matches ids). A Client is a resource (move-only) and is not thread-safe: use
// one per thread.
//
// Errors: a refused connection, a closed socket or an undecodable answer throw `ClientError`.
// Answers that carry an `error` are returned as they are; `checkOk` turns them into exceptions.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

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
  static constexpr const char* kDefaultSocket = "./var/gatehouse.sock";

  // Connects; throws ClientError naming the path on failure.
  static Client connect(const std::string& socketPath);

  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  using Fill = std::function<void(wire::Request::Builder)>;
  Answer call(const Fill& fill);
  std::vector<Answer> callMany(size_t count,
                               const std::function<void(size_t, wire::Request::Builder)>& fill);

  // Low-level, for benchmarks and protocol tests: write raw bytes, send a built message, read one
  // answer. `send` does not assign an id.
  void sendBytes(std::string_view bytes);
  void send(capnp::MessageBuilder& message);
  Answer receive();

  int fd() const { return fd_; }

 private:
  explicit Client(int fd) : fd_(fd) {}
  void fill(size_t needed);

  int fd_ = -1;
  uint64_t nextId_ = 1;
  std::string buffer_;
  size_t start_ = 0;
};

}  // namespace gatehouse::client
