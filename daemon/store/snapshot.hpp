// A thread's reader of the permission graph: a reused read-only transaction plus small caches, and
// the hot path, `authorize`.
//
// `begin()` takes the newest committed snapshot (mdb_txn_renew), `end()` releases it
// (mdb_txn_reset); everything read in between is one consistent state, and views returned by
// `reader()` are valid only until `end()`. Hold a snapshot only while answering what is buffered:
// a long reader makes the file grow.
//
// Caches: a row cache of effective sets and a permission-name cache, both holding copies (never a
// pointer into the map, whose pages LMDB promises only until the transaction ends). When begin()
// finds a newer revision, the snapshot drops just what the commits in between changed, as the
// store's change feed lists it (store/change_feed.hpp): the rows they wrote, every name when the
// catalog changed; the rest stays valid, since it is unchanged. When the feed cannot say (the
// snapshot is more than ChangeFeed::kSlots commits behind, or a commit changed more rows than a
// set lists), everything is dropped at once by a new epoch: an entry is used only when its epoch is
// the cache's. An effective set too large to copy into its cache line (more than
// RowEntry::kInline bytes, i.e. permission bits beyond 8 * kInline, less 9 bytes for a time-boxed
// grant's expiry) is read from the map each time. A time-boxed row is checked against the clock
// on every use, cached or not (effective_row.hpp).
//
// Threading: a resource, used by one thread at a time; the store's map growth waits for it to be
// outside begin()/end().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "common/counter.hpp"
#include "store/graph_reader.hpp"
#include "store/huge_array.hpp"

namespace gatehouse::store {

class Store;

class Snapshot {
 public:
  explicit Snapshot(Store& store);
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // Takes the newest committed snapshot; answers whether its revision differs from the previous
  // begin()'s, in which case credentialChanges() says whose credentials changed in between.
  bool begin();
  void end();

  // The principals whose record or keys the commits between the previous revision and this one
  // wrote (`all`: possibly any), for caches of credentials kept above the store.
  struct CredentialChanges {
    bool all = true;
    std::vector<PrincipalId> principals;
  };
  const CredentialChanges& credentialChanges() const { return credentialChanges_; }
  // The snapshot's revision: the transaction's id, or in a replica the log's last sequence applied
  // (StoreOptions::replicated).
  uint64_t revision() const { return replicated_ ? sequence_ : revision_; }
  GraphReader reader() const { return GraphReader(txn_, tables_); }

  // The hot path: one effective row (cached) and a bit test; no heap allocation. Between begin()
  // and end() only.
  Decision authorize(PrincipalId p, CompanyId c, std::string_view permission);

  // Whether nothing has been committed since the last begin() (Store::committedTxn): then the
  // caches hold the newest state, and authorizeCached may answer from them alone, outside
  // begin()/end(), with no transaction renewed and no reader slot touched.
  bool current() const;
  // authorize from the caches alone: nullopt, counting nothing, unless the row and the
  // permission's name are both cached and the row is not a time-boxed grant past its expiry.
  // When current() only.
  std::optional<Decision> authorizeCached(PrincipalId p, CompanyId c, std::string_view permission);

  // The caches' hits and misses, written by the snapshot's thread, readable from any thread
  // (for the stats request) for as long as a holder of the pointer keeps them. On a cache line
  // of their own: another thread's counters never share it.
  struct alignas(64) Counters {
    CacheCounters rows;   // effective-row reads answered by the row cache / read from the map
    CacheCounters names;  // permission names answered by the name cache / looked up in the map
    Counter flushes;      // revision changes that dropped every cached row (the feed could not say)
  };
  std::shared_ptr<const Counters> counters() const { return counters_; }
  uint64_t rowCacheHits() const { return counters_->rows.hits.get(); }
  uint64_t rowCacheMisses() const { return counters_->rows.misses.get(); }

 private:
  friend class Store;
  // One cache line: a copy of an effective set of at most kInline bytes.
  struct RowEntry {
    static constexpr size_t kInline = 48;
    uint64_t key = 0;
    uint32_t epoch = 0;
    uint32_t size = 0;
    char bits[kInline];
  };
  static_assert(sizeof(RowEntry) == 64);
  struct NameEntry {
    uint32_t epoch = 0;
    int32_t bit = -1;  // -1: not in the catalog.
    uint8_t size = 0;
    char name[kMaxPermissionName];
  };
  static constexpr unsigned kRowCacheBits = 17;  // 131072 rows, 8 MiB per snapshot.
  static constexpr size_t kRowCacheSize = size_t{1} << kRowCacheBits;
  static constexpr size_t kNameCacheSize = 1024;

  // The effective set of grant `key` into `row` (a view valid until end()); false when there is
  // none. Always inlined into authorize: it is the hot path's one lookup.
  [[gnu::always_inline]] inline bool effectiveRow(uint64_t key, std::string_view& row);
  int32_t permissionBit(std::string_view name);
  // Whether `name` can be in the catalog at all (else it is never looked up, nor cached).
  static bool catalogable(std::string_view name) {
    return !name.empty() && name.size() <= kMaxPermissionName;
  }
  NameEntry& nameSlot(std::string_view name);
  // Whether a slot holds this name / this row, of the current epoch.
  bool holds(const NameEntry& e, std::string_view name) const;
  bool holds(const RowEntry& e, uint64_t key) const { return e.epoch == rowEpoch_ && e.key == key; }
  // Drops what the commits from revision_ to `revision` changed (everything when unknown).
  void advance(uint64_t revision);
  RowEntry& rowSlot(uint64_t key) {
    return rows_[(key * 0x9E3779B97F4A7C15ull) >> (64 - kRowCacheBits)];
  }
  // A new epoch, which no entry of the cache has (0 is never one).
  void nextEpoch(uint32_t& epoch);

  Store& store_;
  const Tables& tables_;
  Txn txn_;
  uint64_t revision_ = 0;  // the transaction's id
  uint64_t sequence_ = 0;  // replicated: the applied sequence in the snapshot
  bool replicated_ = false;
  uint32_t rowEpoch_ = 1;   // row entries of another epoch are empty
  uint32_t nameEpoch_ = 1;  // name entries of another epoch are empty
  CredentialChanges credentialChanges_;
  std::atomic<bool> active_{false};
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  HugeArray<RowEntry> rows_;
  std::unique_ptr<NameEntry[]> names_;
};

}  // namespace gatehouse::store
