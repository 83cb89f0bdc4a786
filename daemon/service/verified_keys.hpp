// A per-IO-thread cache of API keys that passed full verification — checksum, the stored keyed
// BLAKE2b hash compared in constant time, key and account state — at one store revision, so that
// a service account presenting the same key again skips the decoding and the hashing.
//
// It holds no key and no hash of the database: an entry is a 128-bit SipHash tag of the key's text
// under a random key made at start and kept in guarded memory (crypto_shorthash_siphashx24; ~50 ns
// against ~1 µs of full verification), with the key's id, its account and its two deadlines.
// Entries are good only at the revision they were made at: every commit (a revocation, a reset, a
// disabled or deleted account) leaves them unused. Expiry and the end of a rotation's grace need
// no commit, so they are checked against the clock on every hit. Tags are compared in constant
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
    uint64_t revision = 0;  // 0: empty (store revisions start at 1)
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
  // The entry remembered for `tag` at `revision`, or null.
  Entry* find(const Tag& tag, uint64_t revision);
  void remember(const Entry& entry);

 private:
  size_t set(const Tag& tag) const;  // the first of the set's two ways
  const credentials::SecretBytes& tagKey_;
  CacheCounters* counters_;
  std::vector<Entry> entries_;
};

}  // namespace gatehouse::service
