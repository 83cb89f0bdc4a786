// The write set of a batch, for replication (docs/replication.md): every put and delete the
// writer made, in order, so that another store in the same state that replays them ends in the
// same state, byte for byte, without running any rule again (no clock, no id allocation, no
// secret: keys are stored as hashes and TOTP secrets sealed, so none is in clear here either).
//
// A `Journal` is attached to a write transaction (`Txn::journal`), which appends each successful
// put and delete to it. The store marks where a nested item begins and truncates back to the mark
// when the item is rolled back, so the journal holds exactly what the commit keeps.
//
// A batch (`encodeBatch`) is the journal with what it changed for the readers' caches (a
// `ChangeSet`, so replicas drop what the origin's readers drop) and the schema version; a store
// of another schema version refuses to apply it. Decoding bounds every length by the input:
// a truncated or altered batch throws `CorruptBatch` and nothing is applied.
//
// Threading: a journal belongs to the writer thread.
#pragma once

#include <lmdb.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "store/change_feed.hpp"
#include "store/graph_reader.hpp"

namespace gatehouse::store {

class Txn;

class CorruptBatch : public std::runtime_error {
 public:
  explicit CorruptBatch(std::string_view why);
};

class Journal {
 public:
  explicit Journal(const Tables& tables);

  void put(MDB_dbi dbi, std::string_view key, std::string_view value);
  // `value`: one duplicate of a sorted-duplicates table; null: the key and all its values.
  void del(MDB_dbi dbi, std::string_view key, const std::string_view* value);

  size_t mark() const { return ops_.size(); }
  void truncate(size_t mark) { ops_.resize(mark); }
  void clear() { ops_.clear(); }
  bool empty() const { return ops_.empty(); }
  std::string_view ops() const { return ops_; }

 private:
  uint8_t tableIndex(MDB_dbi dbi) const;
  std::array<uint8_t, 64> indexOfDbi_{};  // table index + 1 by dbi; 0: not a table of ours
  std::string ops_;
};

// A batch as one message: schema version, change set, the operations' length and the operations.
std::string encodeBatch(uint32_t schemaVersion, const ChangeSet& changes, std::string_view ops);

// Replays a batch's operations into `txn` (which must have no journal attached) and answers its
// change set. Throws CorruptBatch when it is malformed or of another schema version, MdbError when
// LMDB refuses an operation (e.g. a delete of a key that is not there: the stores have diverged).
ChangeSet applyBatch(Txn& txn, const Tables& tables, uint32_t schemaVersion,
                     std::string_view batch);

}  // namespace gatehouse::store
