// Closed-loop load over gatehoused's Unix socket, shared by the operators' load generator
// (gatehouse-benchmark) and the project's benchmark driver (bench/load_generator.cpp,
// gatehouse-bench): the named modes, pre-encoded request frames, one connection's loop that keeps a
// window of requests in flight, and connections that start measuring together after their warm-up.
//
// A Connection sends frames in turn (frame i carries request id i; frames are reused cyclically),
// at most `window` in flight, and hands each answer to an AnswerSink with its latency (from the
// moment the request was queued for sending to the moment its answer was read). Requests queued
// while answers are being read go out in one send(), as hiredis batches its commands: the client's
// system calls should not be what is measured.
//
// Threading: a Connection, its Frames' readers and its sink belong to one thread; Frames may be
// shared read-only by every connection of a run. runTogether starts one thread per runner.
//
// Secrets: Frames may hold API keys (checkAccess). The message builders they are encoded with and
// the frames themselves are overwritten (sodium_memzero) when done with, and a Connection's
// output buffer is overwritten when it is destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse.capnp.h"

namespace gatehouse::load {

using Clock = std::chrono::steady_clock;

// How many connections, and how many requests each keeps in flight.
struct Shape {
  int connections = 1;
  int window = 1;
};

// The named modes: pingpong (1 connection x 1 in flight), pipelined (1 x 64), concurrent (4 x 64);
// nullopt for any other name.
std::optional<Shape> modeShape(std::string_view mode);
// The name of the mode with exactly this shape, or "custom".
std::string modeName(Shape shape);

// Request frames encoded once, before anything is measured. A resource (move-only).
class Frames {
 public:
  static constexpr size_t kCount = size_t{1} << 16;
  // Sets frame i's request (its id is set afterwards, to i).
  using Fill = std::function<void(size_t i, wire::Request::Builder request)>;

  // Encodes `count` frames. Each request must fit in 32 KiB (a credential is at most 1 KiB).
  explicit Frames(const Fill& fill, size_t count = kCount);
  Frames(Frames&&) noexcept = default;
  Frames& operator=(Frames&&) noexcept = default;
  Frames(const Frames&) = delete;
  Frames& operator=(const Frames&) = delete;
  ~Frames();  // overwrites every frame

  size_t size() const { return frames_.size(); }
  const std::string& operator[](size_t i) const { return frames_[i]; }
  size_t largest() const { return largest_; }

 private:
  std::vector<std::string> frames_;
  size_t largest_ = 0;
};

// Where a Connection delivers answers.
class AnswerSink {
 public:
  virtual ~AnswerSink() = default;
  // The answer to frame `frame`; `response` is valid during the call only.
  virtual void answer(size_t frame, wire::Response::Reader response, Clock::duration latency) = 0;
  // An answer whose id names no request in flight on this connection (a daemon fault). It counts
  // as an answer, so that the loop cannot wait for ever. By default it throws.
  virtual void strayAnswer(uint64_t id);
};

// When a run stops sending new requests (those in flight are always read): after `count`
// requests, at `deadline`, or once `*cancel` is set.
struct Limits {
  uint64_t count = 0;
  Clock::time_point deadline = Clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;
};

// One connection to gatehoused (or to anything that answers its frames in kind, as the echo floor).
// A resource. Throws std::runtime_error when the socket cannot be reached, the peer closes it, an
// answer is not a valid frame, or (with a timeout) no answer comes in time.
class Connection {
 public:
  // Connects to `socketPath`; the first request sent is frame `firstFrame` (modulo the count).
  // With a non-zero `timeout`, waiting longer than that for an answer throws.
  Connection(const std::string& socketPath, const Frames& frames, uint64_t firstFrame,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Sends requests, keeping `window` in flight, until `limits` says stop, and reads every answer;
  // returns how many answers were read. Successive runs continue with the next frames.
  uint64_t run(int window, const Limits& limits, AnswerSink& sink);

 private:
  void sendAll(std::string_view bytes);
  size_t receive();

  const Frames& frames_;
  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  uint64_t next_;
  // When each frame in flight was queued; kIdle when it is not in flight.
  std::vector<Clock::time_point> sentAt_;
  std::vector<capnp::word> buffer_;
  size_t filled_ = 0;  // bytes of buffer_ read and not yet consumed
  std::string outbox_;
};

// A runner that threw: its index and the exception's message.
struct Failure {
  int runner;
  std::string message;
};

// The place where every runner of a run waits until all are warm, so that they start measuring at
// one time. Thread-safe.
class StartLine {
 public:
  explicit StartLine(int runners) : runners_(runners) {}
  // Called by a warm runner: returns once every runner is warm, with the common start time. Throws
  // Abandoned when a runner failed before every runner was warm.
  Clock::time_point ready();
  // Releases the runners waiting in ready() (runTogether calls it when a runner throws).
  void abandon();

  // What ready() throws in the runners a failed one leaves waiting; not a failure of their own.
  struct Abandoned {};

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int runners_;
  int warm_ = 0;
  bool abandoned_ = false;
  Clock::time_point start_;
};

// Runs body(i, line) for i in [0, runners) on a thread each, and waits for all. A runner that
// throws releases the others waiting at the line. Returns the failures (not counting the runners
// released by them), in the order they happened; empty when every runner succeeded.
std::vector<Failure> runTogether(int runners, const std::function<void(int, StartLine&)>& body);

}  // namespace gatehouse::load
