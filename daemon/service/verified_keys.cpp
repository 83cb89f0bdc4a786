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

VerifiedKeys::Entry* VerifiedKeys::find(const Tag& tag, uint64_t revision) {
  if (entries_.empty() || revision == 0) return nullptr;
  Entry* ways = &entries_[set(tag)];
  for (int w = 0; w < 2; ++w) {
    Entry& e = ways[w];
    if (e.revision == revision && crypto_verify_16(e.tag.data(), tag.data()) == 0) {
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
  // A way of an older revision is free; otherwise the one not used last goes.
  int w = ways[0].revision != entry.revision   ? 0
          : ways[1].revision != entry.revision ? 1
          : ways[0].recent                     ? 1
                                               : 0;
  ways[w] = entry;
  ways[w].recent = true;
  ways[1 - w].recent = false;
}

}  // namespace gatehouse::service
