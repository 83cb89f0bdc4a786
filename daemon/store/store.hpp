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
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

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

  // Applies apply(i, writer) for i in [0, count), each in a nested transaction that is kept when
  // it returns true and rolled back when it returns false; then, outside the nested transaction
  // (so it stays even when the change was rolled back), after(i, writer, kept) — the audit trail.
  // Then commits durably. On MDB_MAP_FULL the batch is rolled back, the map grown, and every item
  // applied again (so both must be repeatable). Returns the committed revision. Other failures
  // throw; nothing is committed.
  using AfterApply = std::function<void(size_t, Writer&, bool kept)>;
  uint64_t commitBatch(size_t count, const std::function<bool(size_t, Writer&)>& apply,
                       const AfterApply& after = {});

  // Convenience for one mutation; returns the committed revision.
  uint64_t commit(const std::function<bool(Writer&)>& apply) {
    return commitBatch(1, [&](size_t, Writer& w) { return apply(w); });
  }

  size_t mapSize() const { return mapSize_.load(); }
  int staleReadersCleared() const { return staleReadersCleared_; }
  MDB_env* env() const { return env_.get(); }
  const Tables& tables() const { return tables_; }

 private:
  friend class Snapshot;
  explicit Store(const StoreOptions& options) : options_(options) {}
  void grow();
  // Throws a failed commit's ENOSPC/EIO again as "the disk is full" when it is (a
  // std::runtime_error naming the directory and the free space); returns otherwise.
  void explainDiskFull(const MdbError& e) const;
  // The growth gate: a snapshot marks itself active before it reads; grow() waits for none.
  void enter(Snapshot& s);
  void addSnapshot(Snapshot& s);
  void removeSnapshot(Snapshot& s);

  StoreOptions options_;
  Env env_;
  Tables tables_{};
  std::atomic<size_t> mapSize_{0};
  std::atomic<bool> resizing_{false};
  int staleReadersCleared_ = 0;
  std::mutex snapshotsMutex_;
  std::vector<Snapshot*> snapshots_;
};

}  // namespace gatehouse::store
