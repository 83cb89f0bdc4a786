// Checks that wait for a revision (Request.minRevision, docs/protocol.md "Read your writes"): a
// replica that has not yet applied the revision a client asks for parks the request here instead
// of answering from an older state. The writer thread, after it applies or commits, takes the
// requests whose revision is now there and answers them, and answers `behind` those whose wait
// has run out. No IO thread ever blocks on a wait.
//
// Threading: `park` from any thread; `due`, `expired`, `nextDeadline` and `drain` on the writer
// thread (any thread is safe: one mutex).
#pragma once

#include <capnp/message.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "protocol/handler.hpp"

namespace gatehouse::service {

class RevisionWaits {
 public:
  using Clock = std::chrono::steady_clock;
  struct Waiter {
    uint64_t minRevision = 0;
    Clock::time_point deadline;
    Clock::time_point since;
    std::shared_ptr<capnp::MallocMessageBuilder> request;  // a copy, owned by the wait
    protocol::Peer peer;
    std::shared_ptr<protocol::AnswerSink> sink;
  };

  // False (nothing parked) once draining.
  bool park(Waiter&& waiter);
  // The waiters whose revision is applied (<= `applied`), removed.
  std::vector<Waiter> due(uint64_t applied);
  // The waiters whose deadline has passed, removed.
  std::vector<Waiter> expired(Clock::time_point now);
  std::optional<Clock::time_point> nextDeadline() const;
  // Every waiter, removed; later parks are refused.
  std::vector<Waiter> drain();
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::multimap<uint64_t, Waiter> byRevision_;
  bool draining_ = false;
};

}  // namespace gatehouse::service
