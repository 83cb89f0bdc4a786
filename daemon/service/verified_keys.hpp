// A per-IO-thread cache of API keys that passed full verification — checksum, the stored keyed
// BLAKE2b hash compared in constant time, key and account state — at one store revision, so that
// a service account presenting the same key again skips the decoding and the hashing.
//
// It holds no key and no hash of the database: an entry is a 128-bit SipHash tag of the key's text
// under a random key made at start and kept in guarded memory (crypto_shorthash_siphashx24; ~50 ns
// against ~1 µs of full verification), with the key's id, its account and its two deadlines.
// An entry stays good until the store changes its account's record or keys (a revocation, a reset,
// a disabled or deleted account): as its snapshot moves on, the IO thread calls forget() with the
// principals the commits in between touched (store/change_feed.hpp), or with `all` when the store
// cannot say, so commits that touch other accounts (grants, roles) leave entries in use. Expiry
// and the end of a rotation's grace need no commit, so they are checked against the clock on every
// hit. Tags are compared in constant
// time; only accepted keys are remembered, so refusals always take the full path.
#pragma once

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/counter.hpp"
#include "credentials/secret.hpp"

namespace gatehouse::service {

class VerifiedKeys {
 public:
  using Tag = std::array<uint8_t, crypto_shorthash_siphashx24_BYTES>;
  struct Entry {
    Tag tag{};
    uint64_t generation = 0;  // the cache's generation when remembered; 0: empty
    uint64_t keyId = 0;
    uint64_t principal = 0;
    uint64_t expiresAt = 0;
    uint64_t revokedAt = 0;
    uint32_t touchedAt = 0;  // the last second (Unix, low 32 bits) this thread reported its use
    bool recent = false;     // of the two ways of its set, the one used last
  };

  // `entries` (two per set) is rounded up to a power of two; 0 makes a cache that remembers
  // nothing. `counters`, when given, counts the hits and misses of find().
  VerifiedKeys(const credentials::SecretBytes& tagKey, size_t entries,
               CacheCounters* counters = nullptr);

  bool enabled() const { return !entries_.empty(); }
  Tag tag(std::string_view text) const;
  // The entry remembered for `tag`, or null.
  Entry* find(const Tag& tag);
  // Remembers `entry` (its generation is set here).
  void remember(const Entry& entry);
  // Drops the entries of accounts whose record or keys changed: those of `principals`, or every
  // entry when `all`.
  void forget(bool all, const std::vector<uint64_t>& principals);

 private:
  size_t set(const Tag& tag) const;  // the first of the set's two ways
  const credentials::SecretBytes& tagKey_;
  CacheCounters* counters_;
  std::vector<Entry> entries_;
  uint64_t generation_ = 1;  // forget(all) moves on to the next; entries of others are empty
};

}  // namespace gatehouse::service
