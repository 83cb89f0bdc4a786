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

  // Convenience for one mutation; returns the committed revision.
  uint64_t commit(const std::function<bool(Writer&)>& apply) {
    return commitBatch(1, [&](size_t, Writer& w) { return apply(w); });
  }

  size_t mapSize() const { return mapSize_.load(); }
  // The last committed revision (LMDB transaction id); thread-safe.
  uint64_t revision() const;
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
  // One item of commitBatch in a transaction nested in `batch`; throws what the item threw.
  void applyItem(Txn& batch, size_t i, const ApplyItem& apply, const AfterApply& after);
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
  ChangeSet batchChanges_;  // what the batch being applied changed (the writer thread's)
};

}  // namespace gatehouse::store
