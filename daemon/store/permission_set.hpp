// A set of permission bit indices, stored as little-endian bytes: bit i lives in byte i / 8 at
// position i % 8. The stored form is trimmed of trailing zero bytes, so it needs no alignment and
// an empty set is zero bytes long. A value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::store {

// Tests bit `bit` of a stored set (a view into the map, or any byte string).
inline bool testBit(std::string_view bytes, uint32_t bit) {
  uint32_t byte = bit >> 3;
  if (byte >= bytes.size()) return false;
  return (static_cast<uint8_t>(bytes[byte]) >> (bit & 7)) & 1u;
}

// Calls fn(bit) for every set bit, in ascending order.
template <typename Fn>
void forEachBit(std::string_view bytes, Fn&& fn) {
  for (uint32_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<uint8_t>(bytes[i]);
    while (b != 0) {
      int low = __builtin_ctz(b);
      fn(i * 8 + static_cast<uint32_t>(low));
      b &= static_cast<uint8_t>(b - 1);
    }
  }
}

class PermissionSet {
 public:
  PermissionSet() = default;
  explicit PermissionSet(std::string_view stored) : bytes_(stored) {}

  void set(uint32_t bit) {
    uint32_t byte = bit >> 3;
    if (byte >= bytes_.size()) bytes_.resize(byte + 1, '\0');
    bytes_[byte] = static_cast<char>(static_cast<uint8_t>(bytes_[byte]) | (1u << (bit & 7)));
  }
  bool test(uint32_t bit) const { return testBit(bytes_, bit); }
  void unite(std::string_view other) {
    if (other.size() > bytes_.size()) bytes_.resize(other.size(), '\0');
    for (size_t i = 0; i < other.size(); ++i) bytes_[i] = static_cast<char>(bytes_[i] | other[i]);
  }
  // The stored form: trailing zero bytes removed.
  std::string_view stored() const {
    std::string_view v = bytes_;
    while (!v.empty() && v.back() == '\0') v.remove_suffix(1);
    return v;
  }
  friend bool operator==(const PermissionSet& a, const PermissionSet& b) {
    return a.stored() == b.stored();
  }

 private:
  std::string bytes_;
};

}  // namespace gatehouse::store
