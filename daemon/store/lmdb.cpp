#include "store/lmdb.hpp"

#include <fmt/format.h>

#include "store/journal.hpp"

namespace gatehouse::store {

MdbError::MdbError(std::string_view function, int code)
    : std::runtime_error(fmt::format("{}: {}", function, mdb_strerror(code))), code_(code) {}

void check(int rc, std::string_view function) {
  if (rc != MDB_SUCCESS) throw MdbError(function, rc);
}

Env& Env::operator=(Env&& other) noexcept {
  if (this != &other) {
    if (env_ != nullptr) mdb_env_close(env_);
    env_ = std::exchange(other.env_, nullptr);
  }
  return *this;
}

Env::~Env() {
  if (env_ != nullptr) mdb_env_close(env_);
}

Txn Txn::begin(MDB_env* env, unsigned flags, MDB_txn* parent) {
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(env, parent, flags, &txn), "mdb_txn_begin");
  return Txn(txn);
}

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
    journal_ = std::exchange(other.journal_, nullptr);
  }
  return *this;
}

void Txn::commit() {
  MDB_txn* txn = std::exchange(txn_, nullptr);
  check(mdb_txn_commit(txn), "mdb_txn_commit");
}

void Txn::abort() {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

std::optional<std::string_view> Txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = toVal(key);
  MDB_val v;
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "mdb_get");
  return fromVal(v);
}

void Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = toVal(key);
  MDB_val v = toVal(value);
  // Journaled before the call: `key` or `value` may be a view into the map, which the write
  // may move.
  size_t mark = journal_ != nullptr ? journal_->mark() : 0;
  if (journal_ != nullptr) journal_->put(dbi, key, value);
  int rc = mdb_put(txn_, dbi, &k, &v, flags);
  if (rc != MDB_SUCCESS && journal_ != nullptr) journal_->truncate(mark);
  check(rc, "mdb_put");
}

bool Txn::del(MDB_dbi dbi, std::string_view key, const std::string_view* value) {
  MDB_val k = toVal(key);
  MDB_val v;
  if (value != nullptr) v = toVal(*value);
  size_t mark = journal_ != nullptr ? journal_->mark() : 0;
  if (journal_ != nullptr) journal_->del(dbi, key, value);
  int rc = mdb_del(txn_, dbi, &k, value != nullptr ? &v : nullptr);
  if (rc != MDB_SUCCESS && journal_ != nullptr) journal_->truncate(mark);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_del");
  return true;
}

Cursor::Cursor(const Txn& txn, MDB_dbi dbi) {
  check(mdb_cursor_open(txn.get(), dbi, &cursor_), "mdb_cursor_open");
}

bool Cursor::move(MDB_cursor_op op, std::string_view& key, std::string_view& value) {
  MDB_val k = toVal(key);
  MDB_val v = toVal(value);
  int rc = mdb_cursor_get(cursor_, &k, &v, op);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_cursor_get");
  key = fromVal(k);
  value = fromVal(v);
  return true;
}

}  // namespace gatehouse::store
