// Test helpers for the store: a temporary environment removed on destruction.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "store/store.hpp"

namespace gatehouse::store::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gatehouse-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

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
