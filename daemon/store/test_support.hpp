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

// Unwraps a successful result; fails the test with the refusal's message otherwise.
template <typename T>
T ok(const Result<T>& r) {
  if (auto refusal = refusalOf(r)) throw std::runtime_error("refused: " + refusal->message);
  return std::get<T>(r);
}

}  // namespace gatehouse::store::testing
