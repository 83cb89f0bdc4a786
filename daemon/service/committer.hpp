// The group committer: the queue of mutations, the one writer thread, and the batches it commits.
//
// Queued work is taken in groups of up to `groupCommitMax`, applied in one durable write
// transaction, each item in its own nested transaction (a refusal leaves no trace), and each
// request's audit event is appended in the same nested transaction (kept even when the change
// was refused; a dry run, which its apply always rolls back, is not audited). Every queued request
// is answered exactly once, after the commit is durable: with its own answer; `failed` when its
// apply threw (audited as failed) or its nested transaction or audit could not be written (it left
// no trace) — the rest of the group goes on either way; or `failed` for the whole group when the
// group's own transaction could not be begun, committed or synced
// (daemon/service/fault_injection_test.cpp makes each LMDB call fail in turn). Periodically, and
// once when stopping, the writer also applies the `Housekeeping` work (key last-used times) and
// prunes audit events past their retention. And it removes time-boxed grants when their expiry
// passes: it reads the earliest expiry after every commit, wakes then, and removes every grant due
// in a change of its own, audited as done by the system ("grantExpired"). (Readers refuse such a
// grant from its expiry on anyway; the removal is what the views and the audit trail show.)
//
// Replicated mode (a Replicator given): the writer thread also applies the log's entries as they
// arrive, and a group is committed only once the log stored it as the entry after the one the
// group was validated on (replication/replicator.hpp). When another replica wrote first, the
// writer catches up and applies the group again — a request that became invalid meanwhile gets
// the error it would get on one host. When the log cannot take it, each request is answered
// `unavailable` (nothing written) or, when its fate is still unknown at the deadline,
// `outcomeUnknown`.
//
// Threading: `queue` from any thread; answers are delivered on the writer thread. `start` once,
// after construction; `stop` answers what was queued, runs the final housekeeping and joins.
#pragma once

#include <capnp/message.h>

#include <array>
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
#include "replication/replicator.hpp"
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

  Committer(store::Store& store, const ServiceOptions& options, Housekeeping housekeeping,
            replication::Replicator* replicator = nullptr);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Runs `hook` on the writer thread whenever it wakes and after every group it commits (after
  // the log's entries were applied); the hook answers when it wants to run again at the latest.
  // Set before start().
  using AfterWork = std::function<std::optional<std::chrono::steady_clock::time_point>()>;
  void setAfterWork(AfterWork hook) { afterWork_ = std::move(hook); }
  // Wakes the writer thread (to run the hook).
  void wake() { wakeWriter(); }

  void start();
  // False once stopping for work that expects an answer (internal bookkeeping is still taken).
  bool queue(Pending&& pending);
  void stop();

  // Runs `job` on the writer thread between two group commits, so that no commit happens while
  // it runs (the backup uses it to begin its copy at a known revision); the job must be short.
  // False once stopping (the job is not run).
  bool between(std::function<void()> job);

  // Whether changes go through a replicated log (replication/replicator.hpp).
  bool replicated() const { return replicator_ != nullptr; }
  const replication::Replicator* replicator() const { return replicator_; }

  uint64_t mutationsCommitted() const;
  // How long the oldest unanswered mutation has waited since it was queued — in the queue or in
  // the batch being applied; zero when there is none. A writer that makes no progress (a commit
  // that never returns) lets it grow without bound. Thread-safe.
  std::chrono::steady_clock::duration backlogAge() const;

  // For the stats request. Thread-safe.
  static constexpr size_t kGroupSizeBuckets = 12;  // sizes up to 1, 2, 4, ... 1024, and more
  struct WriterStats {
    uint64_t committed = 0;     // mutations kept (as mutationsCommitted)
    uint64_t groups = 0;        // group transactions committed
    uint64_t groupItems = 0;    // the items of those groups (requests and bookkeeping)
    uint64_t failedGroups = 0;  // group transactions that could not be committed
    std::array<uint64_t, kGroupSizeBuckets> groupSizes{};  // committed groups per size bucket
    size_t queued = 0;  // waiting for the writer (not counting the group being applied)
    std::chrono::steady_clock::duration backlogAge{};
    std::optional<std::chrono::steady_clock::time_point> lastCommit;
  };
  WriterStats stats() const;

 private:
  // Lowers the writer thread's CPU priority below the IO threads' (committer.cpp says why).
  static void yieldToReaders();
  void loop();
  void flush(bool prune);
  // Queues the removal of the grants due now, audited; at most kExpireMax in one change.
  void expireDue();
  // When the writer should wake for the next expiry (never before nextSweep_).
  std::chrono::steady_clock::time_point expiryWake() const;
  static constexpr size_t kExpireMax = 1000;
  void applyBatch(std::deque<Pending>& batch);
  // The group through the replicated log (commitReplicated), retried on conflicts; `failAll`
  // answers every request with an error. Answers whether the group was committed.
  bool commitThroughLog(size_t count, const store::Store::ApplyItem& apply,
                        const store::Store::AfterApply& audit,
                        const store::Store::ItemFailed& failed,
                        const std::function<void(wire::ErrorCode, const std::string&)>& failAll);
  void countCommitted(size_t items, const std::vector<char>& kept);
  void wakeWriter();
  std::chrono::steady_clock::duration backlogAgeLocked() const;  // mutex_ held

  store::Store& store_;
  const ServiceOptions& options_;
  Housekeeping housekeeping_;
  replication::Replicator* replicator_;
  AfterWork afterWork_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::deque<std::function<void()>> between_;
  bool stopping_ = false;
  bool woken_ = false;  // wakeWriter() was called: run the replicator and the hook
  WriterStats stats_;   // under mutex_; queued and backlogAge filled in by stats()
  // When the oldest item of the batch being applied was queued; empty between batches.
  std::optional<std::chrono::steady_clock::time_point> applyingSince_;
  // Time-boxed grants (writer thread only): the earliest stored expiry in unix seconds, read
  // after every commit, and the earliest time for the next sweep (one a second, unless the last
  // one left grants due), so that a sweep that fails cannot make the writer spin.
  std::optional<uint64_t> nextExpiry_;
  std::chrono::steady_clock::time_point nextSweep_{};
  std::thread thread_;
};

}  // namespace gatehouse::service
