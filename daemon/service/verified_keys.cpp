#include "service/verified_keys.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace gatehouse::service {

VerifiedKeys::VerifiedKeys(const credentials::SecretBytes& tagKey, size_t entries,
                           CacheCounters* counters)
    : tagKey_(tagKey),
      counters_(counters),
      entries_(entries == 0 ? 0 : std::bit_ceil(std::max<size_t>(entries, 2))) {}

VerifiedKeys::Tag VerifiedKeys::tag(std::string_view text) const {
  Tag t;
  crypto_shorthash_siphashx24(t.data(), reinterpret_cast<const unsigned char*>(text.data()),
                              text.size(), tagKey_.data());
  return t;
}

// Two ways per set, side by side (one 128-byte pair), so that two hot keys whose tags share a set
// do not evict each other on every use.
size_t VerifiedKeys::set(const Tag& tag) const {
  uint64_t bits;
  std::memcpy(&bits, tag.data(), sizeof bits);
  return (bits & (entries_.size() - 1)) & ~size_t{1};
}

VerifiedKeys::Entry* VerifiedKeys::find(const Tag& tag) {
  if (entries_.empty()) return nullptr;
  Entry* ways = &entries_[set(tag)];
  for (int w = 0; w < 2; ++w) {
    Entry& e = ways[w];
    if (e.generation == generation_ && crypto_verify_16(e.tag.data(), tag.data()) == 0) {
      ways[1 - w].recent = false;
      e.recent = true;
      if (counters_ != nullptr) counters_->hits.add();
      return &e;
    }
  }
  if (counters_ != nullptr) counters_->misses.add();
  return nullptr;
}

void VerifiedKeys::remember(const Entry& entry) {
  if (entries_.empty()) return;
  Entry* ways = &entries_[set(entry.tag)];
  // An empty way is free; otherwise the one not used last goes.
  int w = ways[0].generation != generation_   ? 0
          : ways[1].generation != generation_ ? 1
          : ways[0].recent                    ? 1
                                              : 0;
  ways[w] = entry;
  ways[w].generation = generation_;
  ways[w].recent = true;
  ways[1 - w].recent = false;
}

void VerifiedKeys::forget(bool all, const std::vector<uint64_t>& principals) {
  if (entries_.empty() || (!all && principals.empty())) return;
  if (all) {
    ++generation_;
    return;
  }
  for (Entry& e : entries_) {
    if (e.generation == generation_ &&
        std::find(principals.begin(), principals.end(), e.principal) != principals.end()) {
      e.generation = 0;
    }
  }
}

}  // namespace gatehouse::service
