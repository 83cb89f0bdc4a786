// The API keys gatehouse-benchmark presents in the checkAccess test: read from the file the
// operator gives (--keys FILE), or issued by the scratch daemon. No read-only request reveals a
// key, so these are the only source.
//
// File format: one key per line; blank lines and lines starting with '#' are skipped; a "\r"
// before the line feed is dropped. Keys are secrets: the file is read with read(2) straight into
// one buffer (no stdio buffer keeps a copy), the keys are views into it, and the buffer is
// overwritten with sodium_memzero when the KeyRing is destroyed. Nothing here prints a key; errors
// name the line, never its text.
//
// A resource (move-only). Not thread-safe for writing; read from any thread.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::benchmark {

class KeyRing {
 public:
  // The schema's limit for a credential.
  static constexpr size_t kMaxKeyBytes = 1024;

  struct Key {
    std::string_view text;  // valid as long as the KeyRing
    size_t line;            // 1-based line of the file; for issued keys, their order
  };

  KeyRing() = default;
  KeyRing(KeyRing&& other) noexcept;
  KeyRing& operator=(KeyRing&& other) noexcept;
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;
  ~KeyRing();

  // Reads `path`. Throws std::runtime_error naming the path and, for a bad line, its number: a
  // key longer than kMaxKeyBytes or holding a control character; a file that holds no key.
  static KeyRing read(const std::filesystem::path& path);
  // Keeps room for `bytes` of keys, so that adding them never moves the ones held.
  void reserve(size_t bytes);
  // Adds a copy of `key` (an issued key). Throws when reserve() left no room for it.
  void add(std::string_view key);
  // Writes every key, one a line, to a new file `path` of mode 0600 (--scratch --keep).
  void write(const std::filesystem::path& path) const;

  const std::vector<Key>& keys() const { return keys_; }
  bool empty() const { return keys_.empty(); }

 private:
  void wipe();

  // Every key's bytes; never reallocated once keys point into it (a move keeps the block).
  std::unique_ptr<char[]> bytes_;
  size_t capacity_ = 0;
  size_t used_ = 0;
  std::vector<Key> keys_;
};

}  // namespace gatehouse::benchmark
