// Counters for the stats request: each written by one thread and read by any.
//
// `Counter::add` is a relaxed load and store, not a locked read-modify-write: only its owning
// thread writes it, so no increment is lost, and on x86-64 it compiles to the plain add of an
// ordinary integer — the hot path pays nothing for being observable. A reader on another thread
// sees a value at most a few increments old. Counters shared by several writing threads (the
// password pool) use `SharedCounter`, whose add is atomic.
#pragma once

#include <atomic>
#include <cstdint>

namespace gatehouse {

class Counter {
 public:
  void add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class SharedCounter {
 public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Hits and misses of one cache.
struct CacheCounters {
  Counter hits;
  Counter misses;
};

}  // namespace gatehouse
