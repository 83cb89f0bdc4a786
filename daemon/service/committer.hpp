// The group committer: the queue of mutations, the one writer thread, and the batches it commits.
//
// Queued work is taken in groups of up to `groupCommitMax`, applied in one durable write
// transaction, each item in its own nested transaction (a refusal leaves no trace), and each
// request's audit event is appended in the same nested transaction (kept even when the change
// was refused). Every queued request is answered exactly once, after the commit is durable: with
// its own answer; `failed` when its apply threw (audited as failed) or its nested transaction or
// audit could not be written (it left no trace) — the rest of the group goes on either way; or
// `failed` for the whole group when the group's own transaction could not be begun, committed or
// synced (daemon/service/fault_injection_test.cpp makes each LMDB call fail in turn).
// Periodically, and once when stopping, the writer also applies the `Housekeeping` work (key
// last-used times) and prunes audit events past their retention.
//
// Threading: `queue` from any thread; answers are delivered on the writer thread. `start` once,
// after construction; `stop` answers what was queued, runs the final housekeeping and joins.
#pragma once

#include <capnp/message.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "gatehouse.capnp.h"
#include "protocol/handler.hpp"
#include "service/options.hpp"
#include "store/store.hpp"

namespace gatehouse::service {

struct RequestRow;

class Committer {
 public:
  // A change for the writer: fills the response and says whether to keep it.
  using Apply = std::function<bool(store::Writer&, wire::Response::Builder)>;
  // Work of the writer's own (no request, no answer, not audited): it returns the change to apply,
  // or an empty Apply when there is nothing to do.
  using Housekeeping = std::function<Apply()>;

  struct Pending {
    uint64_t id = 0;
    Apply apply;
    std::shared_ptr<protocol::AnswerSink> sink;  // null: internal bookkeeping, never answered
    // The request as audited (wiped once answered) and its row; null: not audited.
    std::shared_ptr<capnp::MallocMessageBuilder> request;
    const RequestRow* row = nullptr;
    protocol::Peer peer;
    std::chrono::steady_clock::time_point queued{};  // set by queue()
  };

  Committer(store::Store& store, const ServiceOptions& options, Housekeeping housekeeping);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  void start();
  // False once stopping for work that expects an answer (internal bookkeeping is still taken).
  bool queue(Pending&& pending);
  void stop();

  uint64_t mutationsCommitted() const;
  // How long the oldest unanswered mutation has waited since it was queued — in the queue or in
  // the batch being applied; zero when there is none. A writer that makes no progress (a commit
  // that never returns) lets it grow without bound. Thread-safe.
  std::chrono::steady_clock::duration backlogAge() const;

 private:
  void loop();
  void flush(bool prune);
  void applyBatch(std::deque<Pending>& batch);

  store::Store& store_;
  const ServiceOptions& options_;
  Housekeeping housekeeping_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  uint64_t committed_ = 0;
  // When the oldest item of the batch being applied was queued; empty between batches.
  std::optional<std::chrono::steady_clock::time_point> applyingSince_;
  std::thread thread_;
};

}  // namespace gatehouse::service
