#include "store/change_feed.hpp"

namespace gatehouse::store {

ChangeFeed::ChangeFeed() : slots_(kSlots) {
  for (Slot& slot : slots_) {
    slot.changes.rows.reserve(ChangeSet::kMaxRows);
    slot.changes.principals.reserve(ChangeSet::kMaxPrincipals);
  }
}

void ChangeFeed::publish(uint64_t revision, const ChangeSet& changes) {
  std::lock_guard lock(mutex_);
  Slot& slot = slots_[revision % kSlots];
  slot.revision = revision;
  slot.changes = changes;  // into the reserved vectors: no allocation
}

}  // namespace gatehouse::store
