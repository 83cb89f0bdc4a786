// Request handling: the rules of the permission graph, without any I/O.
//
// The server hands the service one decoded `Request` and the identity of the peer that sent it;
// the service answers with one framed `Response`. Check requests (authorize, batches, queries)
// are answered inline on the calling IO thread from that thread's `Reader`; mutations are queued
// to the single writer thread, group-committed, and answered through a completion once durable.
//
// Threading: `handle` may be called from any number of IO threads, each with its own `Reader`.
// Completions run on the writer thread; they must not block.
#pragma once

#include <capnp/message.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gatehouse.capnp.h"
#include "store/store.hpp"

namespace gatehouse::service {

enum class AccessClass : uint8_t { none, check, admin };

// Who is on the other end of a connection (from SO_PEERCRED), and what it may do.
struct Peer {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
  AccessClass access = AccessClass::none;
};

struct ServiceOptions {
  uint32_t maxBatch = 1024;        // Items in one authorizeBatch.
  uint32_t groupCommitMax = 256;   // Mutations in one write transaction.
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

// Appends `message` to `out` in standard stream framing (segment table, then segments).
void appendFrame(capnp::MessageBuilder& message, std::string& out);

// Appends a framed error response.
void appendError(uint64_t id, wire::ErrorCode code, std::string_view message, std::string& out);

class Service {
 public:
  // Per-IO-thread state: a reused store snapshot and a scratch segment for responses. Taken
  // lazily by `handle`; the server calls `release()` once it has handled what it had buffered,
  // before it waits for more input, so that no snapshot is held across a wait.
  class Reader {
   public:
    explicit Reader(store::Store& store);
    void release();

   private:
    friend class Service;
    store::Snapshot& snapshot();
    kj::ArrayPtr<capnp::word> scratch() { return kj::arrayPtr(scratch_.get(), kScratchWords); }

    static constexpr size_t kScratchWords = 16384;  // 128 KiB: an authorizeBatch answer fits.
    store::Snapshot snapshot_;
    bool open_ = false;
    std::unique_ptr<capnp::word[]> scratch_;
  };

  Service(store::Store& store, const ServiceOptions& options);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  std::unique_ptr<Reader> newReader() { return std::make_unique<Reader>(store_); }

  // Answers a check request by appending its framed response to `out` and returns true, or queues
  // a mutation and returns false; `sink` then receives the response once it is durable (or
  // refused). Answering a check allocates nothing once `out` has grown to its working size.
  bool handle(Reader& reader, const Peer& peer, wire::Request::Reader request, std::string& out,
              AnswerSink& sink);

  // Answers every queued mutation, then stops the writer thread. Later mutations are refused.
  void stop();

  uint64_t mutationsCommitted() const;

 private:
  struct Pending {
    std::unique_ptr<capnp::MallocMessageBuilder> request;
    Peer peer;
    std::shared_ptr<AnswerSink> sink;
  };

  void answerCheck(Reader& reader, wire::Request::Reader request, std::string& out);
  void writerLoop();
  void applyBatch(std::deque<Pending>& batch);

  store::Store& store_;
  ServiceOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  uint64_t committed_ = 0;
  std::thread writer_;
};

}  // namespace gatehouse::service
