// The permission graph in LMDB: companies, the permission catalog, roles, principals, grants, the
// materialised effective-permission set of every (principal, company) grant, credentials and the
// audit trail. This header is the store's front door; its parts are:
//   types.hpp         ids, limits, records as values, Result/Refusal
//   names.hpp         name and UTF-8 validation
//   records.hpp       each table's encoder and decoder
//   graph_reader.hpp  reads inside one transaction (Tables, GraphReader)
//   snapshot.hpp      an IO thread's reused reader and the hot path, authorize
//   writer.hpp        mutations inside the write transaction
//
// Writing: exactly one thread calls `commitBatch`, which applies many mutations in one durable
// write transaction (group commit), each in its own nested transaction so a refused mutation
// leaves no trace. When the map is full it is grown and the batch is retried.
//
// Threading: `Store` is shared by every thread; snapshots are per thread; `commitBatch` belongs to
// the writer thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "store/change_feed.hpp"
#include "store/codec.hpp"
#include "store/graph_reader.hpp"
#include "store/journal.hpp"
#include "store/lmdb.hpp"
#include "store/names.hpp"
#include "store/snapshot.hpp"
#include "store/types.hpp"
#include "store/writer.hpp"

namespace gatehouse::store {

class Store {
 public:
  // Opens (creating when absent) the environment in options.directory. Throws on failure, with
  // the path and the LMDB function in the message.
  static std::unique_ptr<Store> open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies apply(i, writer) for i in [0, count), each item in its own nested transaction: kept
  // when apply returns true, rolled back when it returns false. Then after(i, writer, kept) — the
  // audit trail — writes into the item's transaction (a fresh one when the change was rolled
  // back, so the audit stays), and the item's change and its audit stand or fall together. When
  // anything of item i throws (its apply, its audit, its nested begin or commit), item i leaves no
  // trace, failed(i, error) is called and the batch goes on: one item never spoils the others.
  // Then commits durably. On MDB_MAP_FULL the batch is rolled back, the map grown, and every item
  // applied again (so all three must be repeatable). Returns the committed revision. A failure of
  // the batch's own transaction (its begin, commit or sync) throws; nothing is committed. What the
  // batch changed that readers cache is published in `changes()` before the commit.
  using ApplyItem = std::function<bool(size_t, Writer&)>;
  using AfterApply = std::function<void(size_t, Writer&, bool kept)>;
  using ItemFailed = std::function<void(size_t, const std::exception&)>;
  uint64_t commitBatch(size_t count, const ApplyItem& apply, const AfterApply& after = {},
                       const ItemFailed& failed = {});

  // Replicated mode (StoreOptions::replicated). Applies the batch as commitBatch does, as the
  // log's entry `sequence` (what Writer::revision() answers), then hands the encoded batch
  // (store/journal.hpp) to `publish` before anything is committed. When publish answers true —
  // the log stored the batch as `sequence` — the batch is committed with `sequence` recorded as
  // applied; when false (the log's head has moved: catch up, then try again) or when it throws,
  // it is rolled back and nothing is written. A batch that writes nothing (dry runs only, work
  // with nothing to do) is neither published nor committed. Map growth as in commitBatch.
  enum class Outcome { committed, empty, refused };
  using Publish = std::function<bool(std::string_view batch)>;
  Outcome commitReplicated(uint64_t sequence, size_t count, const ApplyItem& apply,
                           const AfterApply& after, const ItemFailed& failed,
                           const Publish& publish);
  // Applies the log's entry `sequence` (a batch another replica — or this one, when its own
  // commit failed after the publish — wrote) in one transaction that records it as applied.
  // `sequence` must follow the last applied one (throws std::logic_error otherwise). Throws
  // CorruptBatch when the batch cannot be applied to this store, leaving it unchanged.
  void applyReplicated(uint64_t sequence, std::string_view batch);
  // Whether the graph has no company and no principal (a store a new replica may start from).
  bool holdsNoGraph();
  // The log's last sequence applied here (0: none); thread-safe.
  uint64_t appliedSequence() const { return applied_.load(std::memory_order_acquire); }
  // Replica-local facts about the log this store follows (its identity, checked at start-up), kept
  // in the meta table beside the applied sequence and never replicated. Empty when unset.
  std::string replicationMeta(std::string_view name);
  void setReplicationMeta(std::string_view name, std::string_view value);

  // Convenience for one mutation; returns the committed revision.
  uint64_t commit(const std::function<bool(Writer&)>& apply) {
    return commitBatch(1, [&](size_t, Writer& w) { return apply(w); });
  }

  size_t mapSize() const { return mapSize_.load(); }
  // The last committed revision (LMDB transaction id; replicated: the applied sequence);
  // thread-safe.
  uint64_t revision() const;
  // The LMDB transaction id of the newest commit, stored once it is visible and before the
  // commit's requests are answered; thread-safe. A snapshot last begun at this id holds the
  // newest state (Snapshot::current).
  uint64_t committedTxn() const { return committedTxn_.load(std::memory_order_acquire); }
  // Writes a consistent, compacted copy of the environment as of one revision into `fd`
  // (mdb_env_copyfd2 with MDB_CP_COMPACT), from the calling thread, while readers and the writer
  // go on; map growth waits for it. Throws MdbError on failure. Note that a compacted copy's
  // transaction ids start again from 1.
  void copyCompacted(int fd);

  // The earliest expiry of any stored grant (unix seconds), from a fresh read transaction;
  // nullopt when no grant expires. Thread-safe.
  std::optional<uint64_t> nextGrantExpiry();

  // How much of the map the data file uses; thread-safe.
  struct Usage {
    uint64_t revision = 0;
    size_t mapSize = 0;    // bytes of address space reserved (the file's size limit)
    size_t pageSize = 0;   // bytes
    size_t usedPages = 0;  // pages in use, up to the last one written (free pages included)
  };
  Usage usage() const;
  int staleReadersCleared() const { return staleReadersCleared_; }
  // What each recent commit changed, for the readers' caches (store/change_feed.hpp).
  const ChangeFeed& changes() const { return changes_; }
  MDB_env* env() const { return env_.get(); }
  const Tables& tables() const { return tables_; }

 private:
  friend class Snapshot;
  explicit Store(const StoreOptions& options) : options_(options) {}
  void grow();
  // Runs `attempt` (a write transaction from its beginning) again after growing the map each time
  // it fails with MDB_MAP_FULL; a failure of ENOSPC or EIO is explained (explainDiskFull), any
  // other thrown as it is. Answers what `attempt` answers.
  template <typename Attempt>
  auto withGrowth(Attempt&& attempt);
  // One item of a batch in a transaction nested in `batch`; throws what the item threw, leaving
  // nothing of it in the journal. `revision`: as Writer's.
  void applyItem(Txn& batch, size_t i, const ApplyItem& apply, const AfterApply& after,
                 uint64_t revision);
  // Every item of a batch, into `txn`.
  void applyItems(Txn& txn, size_t count, const ApplyItem& apply, const AfterApply& after,
                  const ItemFailed& failed, uint64_t revision);
  void recordApplied(Txn& txn, uint64_t sequence);
  // Commits `txn` (a write transaction), then updates committedTxn().
  void commitTxn(Txn& txn);
  uint64_t sequenceIn(const Txn& txn) const;  // the applied sequence `txn` sees
  // Throws a failed commit's ENOSPC/EIO again as "the disk is full" when it is (a
  // std::runtime_error naming the directory and the free space); returns otherwise.
  void explainDiskFull(const MdbError& e) const;
  // The growth gate: a reader (a snapshot, a copy) marks itself active before it reads; grow()
  // waits for none to be active.
  void enter(std::atomic<bool>& active);
  // Runs `read` as a reader of its own, which map growth waits for.
  void asReader(const std::function<void()>& read);
  void addReader(std::atomic<bool>& active);
  void removeReader(std::atomic<bool>& active);

  StoreOptions options_;
  Env env_;
  Tables tables_{};
  std::atomic<size_t> mapSize_{0};
  std::atomic<bool> resizing_{false};
  int staleReadersCleared_ = 0;
  std::mutex readersMutex_;
  std::vector<std::atomic<bool>*> readers_;
  ChangeFeed changes_;
  ChangeSet batchChanges_;            // what the batch being applied changed (the writer thread's)
  std::optional<Journal> journal_;    // what the batch being applied wrote (replicated mode)
  std::atomic<uint64_t> applied_{0};  // replicated mode: the last sequence applied
  std::atomic<uint64_t> committedTxn_{0};  // committedTxn()
};

}  // namespace gatehouse::store
