// Thin RAII layer over LMDB (liblmdb 0.9.24).
//
// Every handle here is a resource: move-only, with an explicit constructor and one cleanup in its
// destructor. Failures throw `MdbError`, which names the LMDB function that failed; MDB_NOTFOUND is
// never an error and is reported as an empty optional by `get`.
//
// Threading: an `Env` may be shared by all threads. A `Txn` belongs to the thread using it; the
// environment is opened with MDB_NOTLS so that a reset read transaction may be renewed on any
// thread, but never used by two threads at once. Only one write transaction exists at a time.
//
// Views: a `std::string_view` returned by `get` or a cursor points into the memory map. It is valid
// until its transaction ends or the next write in that transaction; copy what must live longer.
// LMDB only guarantees 2-byte alignment of values: read fixed-layout fields with `memcpy`.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::store {

class Journal;

class MdbError : public std::runtime_error {
 public:
  MdbError(std::string_view function, int code);
  int code() const { return code_; }

 private:
  int code_;
};

// Throws MdbError unless rc is MDB_SUCCESS.
void check(int rc, std::string_view function);

inline MDB_val toVal(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
inline std::string_view fromVal(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// A u64 key for MDB_INTEGERKEY tables: native byte order, compared as an integer.
class IntKey {
 public:
  explicit IntKey(uint64_t v) : value_(v) {}
  std::string_view bytes() const { return {reinterpret_cast<const char*>(&value_), sizeof value_}; }

 private:
  uint64_t value_;
};

// The bytes of a u64 held by the caller (a key or a DUPFIXED value); valid as long as `v` is.
inline std::string_view u64Bytes(const uint64_t& v) {
  return {reinterpret_cast<const char*>(&v), sizeof v};
}

inline uint64_t readU64(std::string_view bytes) {
  uint64_t v = 0;
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

class Env {
 public:
  Env() = default;
  explicit Env(MDB_env* env) : env_(env) {}
  Env(Env&& other) noexcept : env_(std::exchange(other.env_, nullptr)) {}
  Env& operator=(Env&& other) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  MDB_env* get() const { return env_; }

 private:
  MDB_env* env_ = nullptr;
};

class Txn {
 public:
  // Begins a transaction; `parent` makes a nested write transaction.
  static Txn begin(MDB_env* env, unsigned flags, MDB_txn* parent = nullptr);

  Txn() = default;
  explicit Txn(MDB_txn* txn) : txn_(txn) {}
  Txn(Txn&& other) noexcept
      : txn_(std::exchange(other.txn_, nullptr)),
        journal_(std::exchange(other.journal_, nullptr)) {}
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  MDB_txn* get() const { return txn_; }
  explicit operator bool() const { return txn_ != nullptr; }
  uint64_t id() const { return mdb_txn_id(txn_); }

  // Clears the handle before calling LMDB: mdb_txn_commit frees it even when it fails.
  void commit();
  void abort();

  // Read-only transactions only: release the snapshot but keep the reader slot, then take a new
  // snapshot. Cheaper than begin/abort.
  void reset() { mdb_txn_reset(txn_); }
  void renew() { check(mdb_txn_renew(txn_), "mdb_txn_renew"); }

  // A view into the map (see the header comment), or nullopt when the key is absent.
  std::optional<std::string_view> get(MDB_dbi dbi, std::string_view key) const;
  // Write transactions: from now on every successful put and del is also appended to `journal`
  // (store/journal.hpp); null stops that.
  void journal(Journal* journal) { journal_ = journal; }

  // Inserts or replaces.
  void put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Returns false when the key was absent (MDB_NOTFOUND). With `value`, deletes one duplicate.
  bool del(MDB_dbi dbi, std::string_view key, const std::string_view* value = nullptr);

 private:
  MDB_txn* txn_ = nullptr;
  Journal* journal_ = nullptr;
};

class Cursor {
 public:
  Cursor(const Txn& txn, MDB_dbi dbi);
  Cursor(Cursor&& other) noexcept : cursor_(std::exchange(other.cursor_, nullptr)) {}
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  Cursor& operator=(Cursor&&) = delete;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }

  // Positions the cursor with `op`; returns false on MDB_NOTFOUND. `key`/`value` are in-out.
  bool move(MDB_cursor_op op, std::string_view& key, std::string_view& value);
  bool move(MDB_cursor_op op) {
    std::string_view k, v;
    return move(op, k, v);
  }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace gatehouse::store
