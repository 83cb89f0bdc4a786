// What each commit changed that a reader may hold in a cache, so that a commit costs the IO
// threads only what it touched (docs/architecture.md, "Caches").
//
// While it applies a batch, the writer collects a `ChangeSet`: every effective row it rewrote or
// removed, whether the permission catalog changed, every principal whose record or keys it wrote.
// The store publishes the set under the revision the batch commits as, before the commit makes
// that revision visible, so a reader that sees revision r always finds r's set (or, when more
// than kSlots commits have passed since, finds it overwritten and knows it). A reader moving from
// revision a to b replays the sets of a+1..b and drops what they name; when any is missing, or a
// set says it is incomplete (`allRows`, `allPrincipals`: more than it lists), the reader forgets
// everything of that kind, as every commit used to make it do.
//
// A set may name more than changed (rows of a refused item, rolled back), never less: every
// write of an effective row, a principal or a key goes through a Writer that notes it.
//
// Threading: `ChangeSet` belongs to the writer thread; `ChangeFeed` is published to by the writer
// and read by any thread, under a mutex taken once per commit by the writer and once per revision
// change by each reader (never per request).
#pragma once

#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "store/types.hpp"

namespace gatehouse::store {

struct ChangeSet {
  static constexpr size_t kMaxRows = 256;
  static constexpr size_t kMaxPrincipals = 64;

  std::vector<uint64_t> rows;           // grant keys of effective rows written or removed
  std::vector<PrincipalId> principals;  // principals whose record or keys were written
  bool allRows = false;                 // more rows changed than `rows` lists
  bool allPrincipals = false;           // more principals changed than `principals` lists
  bool catalog = false;                 // the permission catalog changed

  void row(uint64_t key) { note(rows, allRows, kMaxRows, key); }
  void principal(PrincipalId p) { note(principals, allPrincipals, kMaxPrincipals, p); }
  void clear() {
    rows.clear();
    principals.clear();
    allRows = allPrincipals = catalog = false;
  }

 private:
  // Lists `value`, or past `max` marks the list incomplete (`all`) and drops it.
  static void note(std::vector<uint64_t>& list, bool& all, size_t max, uint64_t value) {
    if (all) return;
    if (list.size() == max) {
      all = true;
      list.clear();
      return;
    }
    list.push_back(value);
  }
};

class ChangeFeed {
 public:
  static constexpr size_t kSlots = 512;

  ChangeFeed();
  // Records `changes` as what revision `revision` changed (replacing what an earlier, failed
  // attempt to commit as `revision` published).
  void publish(uint64_t revision, const ChangeSet& changes);
  // Calls visit(const ChangeSet&) with what each of revisions from+1 .. to changed, in order, and
  // answers true; answers false, visiting none, when that is not known (a revision's set is gone
  // or was never published, or to < from). `visit` runs under the feed's lock: keep it short.
  template <typename Visit>
  bool replay(uint64_t from, uint64_t to, Visit&& visit) const {
    if (to < from || to - from > kSlots) return false;
    std::lock_guard lock(mutex_);
    for (uint64_t r = from + 1; r <= to; ++r) {
      if (slots_[r % kSlots].revision != r) return false;
    }
    for (uint64_t r = from + 1; r <= to; ++r) visit(std::as_const(slots_[r % kSlots].changes));
    return true;
  }

 private:
  struct Slot {
    uint64_t revision = 0;  // 0: empty
    ChangeSet changes;
  };
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
};

}  // namespace gatehouse::store
