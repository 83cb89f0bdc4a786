// The plain interface between the server and whatever answers requests: a decoded `Request` and
// the peer's identity in, a framed `Response` out (now, or later through an AnswerSink). The server
// knows nothing else of the service; the service never sees a socket.
#pragma once

#include <capnp/message.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gatehouse.capnp.h"

namespace gatehouse::service {

enum class AccessClass : uint8_t { none, check, admin };

// Who is on the other end of a connection (from SO_PEERCRED), and what it may do.
struct Peer {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
  AccessClass access = AccessClass::none;
};

// Where the answer of a queued mutation goes. `answer` is called once, on the writer thread, and
// must not block. `retain` is called (on the calling IO thread) only when a mutation is queued,
// and keeps the sink alive until it has answered; checks never touch it.
class AnswerSink {
 public:
  virtual ~AnswerSink() = default;
  virtual std::shared_ptr<AnswerSink> retain() = 0;
  virtual void answer(std::string frame) = 0;
};

class RequestHandler {
 public:
  // Per-IO-thread state (one per IO thread, used only by it). `release` is called once the thread
  // has handled everything it had buffered, before it waits for more input.
  class ThreadState {
   public:
    virtual ~ThreadState() = default;
    virtual void release() {}
  };

  virtual ~RequestHandler() = default;
  virtual std::unique_ptr<ThreadState> newThreadState() = 0;
  // Appends the framed answer to `out` and returns true, or takes the request for later and
  // returns false; `sink` then receives the answer exactly once.
  virtual bool handle(ThreadState& state, const Peer& peer, wire::Request::Reader request,
                      std::string& out, AnswerSink& sink) = 0;
};

// Appends `message` to `out` in standard stream framing (segment table, then segments).
void appendFrame(capnp::MessageBuilder& message, std::string& out);

// Appends a framed error response.
void appendError(uint64_t id, wire::ErrorCode code, std::string_view message, std::string& out);

}  // namespace gatehouse::service
