// Brute-force limits for credential checks. Failures are counted per subject — a principal
// ("p:<id>") or a source address given by the caller ("s:<address>"), never the peer process, since
// one controller speaks for many clients. When a subject reaches `threshold` failures within
// `window`, it is limited for `backoff`: checks are refused as `rateLimited` before any password
// hashing (throttling, per NIST SP 800-63B 5.2.2). The counters live in memory only: a restart
// forgets them (documented).
//
// Memory is bounded without letting an attacker reset a victim's count: principals and sources
// live in two tables of at most `maxSubjects` each, so failures from any number of sources can
// never push a principal's count out; within a table, the subject whose last failure is oldest and
// that is not limited now is dropped first (the subject under attack is always the most recent).
//
// Thread-safe (one mutex). While no subject is limited — the normal state — `anyLimited` answers
// from one atomic load, so a check with a valid key takes no lock and builds no subject string.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gatehouse::credentials {

struct RateLimits {
  uint32_t threshold = 10;
  std::chrono::seconds window{300};
  std::chrono::seconds backoff{300};
  size_t maxSubjects = 100000;  // per table (principals, sources)
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(const RateLimits& limits) : limits_(limits) {}

  // Seconds until every subject given may try again; 0 when none is limited. Empty subjects are
  // ignored.
  uint32_t retryAfter(std::initializer_list<std::string_view> subjects, Clock::time_point now);
  // False when no subject is limited at `now` (then retryAfter is 0 for every subject).
  bool anyLimited(Clock::time_point now) const {
    return now.time_since_epoch().count() < limitedUntilMax_.load(std::memory_order_acquire);
  }
  // The same now; reads the clock only once some subject has ever been limited.
  bool anyLimited() const {
    return limitedUntilMax_.load(std::memory_order_acquire) != 0 && anyLimited(Clock::now());
  }
  void recordFailure(std::initializer_list<std::string_view> subjects, Clock::time_point now);
  // A success clears the subject's failures (use for the principal, not for a shared source).
  void clear(std::string_view subject);

  size_t trackedSubjects();
  // A reload's new threshold, window and backoff (maxSubjects stays): counts kept so far stay.
  void setLimits(const RateLimits& limits);

 private:
  struct Entry {
    uint32_t failures = 0;
    Clock::time_point windowStart;
    Clock::time_point limitedUntil;
    std::list<std::string>::iterator recent;  // its place in Table::order
  };
  // Subjects of one kind, with the order of their last failures (most recent first).
  struct Table {
    std::unordered_map<std::string, Entry> entries;
    std::list<std::string> order;
  };

  Table& tableOf(std::string_view subject) {
    return subject.starts_with("p:") ? principals_ : sources_;
  }
  // The subject's entry, created (evicting another when the table is full) and made most recent.
  Entry& failed(Table& table, std::string_view subject, Clock::time_point now);
  void evictOne(Table& table, Clock::time_point now);

  RateLimits limits_;
  std::mutex mutex_;
  Table principals_;
  Table sources_;
  // The latest `limitedUntil` ever set (clock ticks): nobody is limited after it.
  std::atomic<Clock::rep> limitedUntilMax_{0};
};

}  // namespace gatehouse::credentials
