// Test helpers for the store: a temporary environment removed on destruction.
#pragma once

#include <filesystem>
#include <random>
#include <string>

#include "store/store.hpp"
#include "temp_dir.hpp"

namespace gatehouse::store::testing {

using gatehouse::testing::TempDir;

inline StoreOptions testOptions(const std::filesystem::path& dir) {
  StoreOptions o;
  o.directory = dir;
  o.initialMapSize = size_t{64} << 20;
  o.durable = false;
  return o;
}

// Every table's every key and value, as one string (replicas that apply the same log must
// produce equal dumps).
inline std::string dumpTables(Store& store) {
  std::string out;
  Txn txn = Txn::begin(store.env(), MDB_RDONLY);
  for (const TableSpec& spec : kTableSpecs) {
    out += "table\n";
    Cursor cur(txn, store.tables().*spec.member);
    std::string_view k, v;
    for (bool more = cur.move(MDB_FIRST, k, v); more; more = cur.move(MDB_NEXT, k, v)) {
      out += std::to_string(k.size()) + ":" + std::string(k) + "=" + std::to_string(v.size()) +
             ":" + std::string(v) + "\n";
    }
  }
  return out;
}

// Unwraps a successful result; fails the test with the refusal's message otherwise.
template <typename T>
T ok(const Result<T>& r) {
  if (auto refusal = refusalOf(r)) throw std::runtime_error("refused: " + refusal->message);
  return std::get<T>(r);
}

}  // namespace gatehouse::store::testing
