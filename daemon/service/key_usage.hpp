// Last-used times (of API keys, and of an account's access in a company), kept in memory by the
// checks and flushed to the store by the writer. Times are coarse (unix seconds): each IO thread
// passes its own `Filter`, which remembers what that thread last delivered, so repeated uses within
// the same second take no lock.
//
// Threading: `touch` from any IO thread (each with its own Filter); `drain` and `pending` from any
// thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gatehouse::service {

class KeyUsage {
 public:
  // One IO thread's memory of what it delivered to one KeyUsage (96 KiB, direct-mapped).
  class Filter {
   public:
    Filter() : entries_(new Delivered[kEntries]()) {}

   private:
    friend class KeyUsage;
    struct Delivered {
      uint64_t id = 0;
      uint64_t at = 0;
    };
    static constexpr size_t kEntries = 4096;
    std::unique_ptr<Delivered[]> entries_;
  };

  // Records a use of `id` at `at` (keeps the latest).
  void touch(Filter& filter, uint64_t id, uint64_t at);
  // Takes every pending time (clearing them).
  std::vector<std::pair<uint64_t, uint64_t>> drain();
  // The pending time of `id`, 0 when none.
  uint64_t pending(uint64_t id);

 private:
  std::mutex mutex_;
  std::unordered_map<uint64_t, uint64_t> times_;
};

}  // namespace gatehouse::service
