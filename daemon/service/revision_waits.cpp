#include "service/revision_waits.hpp"

namespace gatehouse::service {

bool RevisionWaits::park(Waiter&& waiter) {
  std::lock_guard lock(mutex_);
  if (draining_) return false;
  uint64_t at = waiter.minRevision;
  byRevision_.emplace(at, std::move(waiter));
  return true;
}

std::vector<RevisionWaits::Waiter> RevisionWaits::due(uint64_t applied) {
  std::vector<Waiter> out;
  std::lock_guard lock(mutex_);
  auto end = byRevision_.upper_bound(applied);
  for (auto it = byRevision_.begin(); it != end; ++it) out.push_back(std::move(it->second));
  byRevision_.erase(byRevision_.begin(), end);
  return out;
}

std::vector<RevisionWaits::Waiter> RevisionWaits::expired(Clock::time_point now) {
  std::vector<Waiter> out;
  std::lock_guard lock(mutex_);
  for (auto it = byRevision_.begin(); it != byRevision_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    out.push_back(std::move(it->second));
    it = byRevision_.erase(it);
  }
  return out;
}

std::optional<RevisionWaits::Clock::time_point> RevisionWaits::nextDeadline() const {
  std::lock_guard lock(mutex_);
  std::optional<Clock::time_point> next;
  for (const auto& [revision, waiter] : byRevision_) {
    if (!next || waiter.deadline < *next) next = waiter.deadline;
  }
  return next;
}

std::vector<RevisionWaits::Waiter> RevisionWaits::drain() {
  std::lock_guard lock(mutex_);
  draining_ = true;
  std::vector<Waiter> out;
  for (auto& [revision, waiter] : byRevision_) out.push_back(std::move(waiter));
  byRevision_.clear();
  return out;
}

size_t RevisionWaits::size() const {
  std::lock_guard lock(mutex_);
  return byRevision_.size();
}

}  // namespace gatehouse::service
