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

namespace gatehouse::protocol {

// What a peer may ask for (docs/protocol.md): `check` answers checks and read-only queries, `admin`
// also mutates and acts in system context.
enum class AccessClass : uint8_t { none, check, admin };

// Who is on the other end of a connection (from SO_PEERCRED), and what it may do.
struct Peer {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
  AccessClass access = AccessClass::none;
};

// Where the answer of a request taken for later goes. `answer` is called exactly once, on another
// thread (the writer or the password pool), and must not block. `retain` is called on the calling
// IO thread only when a request is taken for later, and keeps the sink alive until it has
// answered; checks never touch it.
class AnswerSink {
 public:
  virtual ~AnswerSink() = default;
  virtual std::shared_ptr<AnswerSink> retain() = 0;
  virtual void answer(std::string frame) = 0;
  // Descriptors sent with frames (SCM_RIGHTS) are received only on a connection that asked for
  // them (the `acceptDescriptors` request): every other connection keeps the plain read of the
  // hot path, and the kernel drops a descriptor sent to it. `acceptDescriptors` switches this
  // connection over for its later reads. On the calling IO thread, while handling a request.
  virtual void acceptDescriptors() {}
  // A descriptor that came with the request's frame, now owned by the caller; -1 when none did.
  // On the calling IO thread, while handling the request, only. A descriptor that no request
  // takes is closed by the server.
  virtual int takeDescriptor() { return -1; }
};

// How `handle` dealt with a request.
enum class Disposition : uint8_t {
  answered,  // its framed answer was appended to `out`
  queued,    // it was taken for later: the sink receives its answer exactly once
};

// The server's own counters, for the stats request: the server implements the source and
// registers it with the handler (attachTransport), so the handler reads them without knowing the
// server.
struct TransportStats {
  uint64_t connectionsOpen = 0;
  uint64_t connectionsAccepted = 0;
  uint64_t connectionsRefused = 0;  // by the access policy or the connection limit
  uint64_t framingViolations = 0;   // frames refused by the framing rules (docs/protocol.md)
};

class TransportStatsSource {
 public:
  virtual ~TransportStatsSource() = default;
  // Thread-safe.
  virtual TransportStats transportStats() const = 0;
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
  // The server registers its counters (and unregisters them with null before it goes away).
  virtual void attachTransport(const TransportStatsSource*) {}
  virtual Disposition handle(ThreadState& state, const Peer& peer, wire::Request::Reader request,
                             std::string& out, AnswerSink& sink) = 0;
  // The hot path's shortcut: a frame (segment table and segment) the handler answers without a
  // message reader, appending its framed answer to `out` — exactly the answer handle() would give
  // (protocol/plain_authorize.hpp). False: the server reads the frame and calls handle().
  virtual bool answerPlain(ThreadState&, const Peer&, kj::ArrayPtr<const capnp::word>,
                           std::string&) {
    return false;
  }
};

}  // namespace gatehouse::protocol
