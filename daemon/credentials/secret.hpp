// Secret material in memory: `SecretBytes` lives in sodium_malloc'd memory (guard pages, locked,
// kept out of core dumps) and is zeroed when freed; `wipe` zeroes ordinary buffers that held a
// secret. A resource: move-only.
#pragma once

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::credentials {

class SecretBytes {
 public:
  explicit SecretBytes(size_t size) : size_(size) {
    data_ = static_cast<uint8_t*>(sodium_malloc(size));
    if (data_ == nullptr) throw std::bad_alloc();
    sodium_memzero(data_, size);
  }
  SecretBytes(SecretBytes&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes& operator=(SecretBytes&&) = delete;
  ~SecretBytes() {
    if (data_ != nullptr) sodium_free(data_);  // zeroes before freeing
  }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

inline void wipe(std::string& s) {
  sodium_memzero(s.data(), s.size());
  s.clear();
}

}  // namespace gatehouse::credentials
