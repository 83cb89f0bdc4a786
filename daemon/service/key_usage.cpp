#include "service/key_usage.hpp"

namespace gatehouse::service {

void KeyUsage::touch(Filter& filter, uint64_t id, uint64_t at) {
  // A later use in the same second changes nothing: the shared time, or the store's after a
  // flush, is already at least `at`.
  Filter::Delivered& d = filter.entries_[(id * 0x9E3779B97F4A7C15ull) >> 52];
  if (d.id == id && d.at >= at) return;
  {
    std::lock_guard lock(mutex_);
    uint64_t& t = times_[id];
    if (t < at) t = at;
  }
  d = {id, at};
}

std::vector<std::pair<uint64_t, uint64_t>> KeyUsage::drain() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<uint64_t, uint64_t>> out(times_.begin(), times_.end());
  times_.clear();
  return out;
}

uint64_t KeyUsage::pending(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = times_.find(id);
  return it == times_.end() ? 0 : it->second;
}

}  // namespace gatehouse::service
