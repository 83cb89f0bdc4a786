// Byte encoding of the store's records: fixed-width little-endian integers and length-prefixed
// strings, read with memcpy (LMDB values are only 2-byte aligned). A truncated or overlong record
// is corruption and throws `CorruptRecord`.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gatehouse::store {

class CorruptRecord : public std::runtime_error {
 public:
  explicit CorruptRecord(std::string_view table)
      : std::runtime_error("corrupt record in table " + std::string(table)) {}
};

class Encoder {
 public:
  Encoder& u8(uint8_t v) { return raw(&v, 1); }
  Encoder& u32(uint32_t v) { return raw(&v, sizeof v); }
  Encoder& u64(uint64_t v) { return raw(&v, sizeof v); }
  Encoder& str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
    return *this;
  }
  const std::string& bytes() const { return out_; }

 private:
  Encoder& raw(const void* p, size_t n) {
    out_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string out_;
};

class Decoder {
 public:
  Decoder(std::string_view in, const char* table) : in_(in), table_(table) {}
  uint8_t u8() { return fixed<uint8_t>(); }
  uint32_t u32() { return fixed<uint32_t>(); }
  uint64_t u64() { return fixed<uint64_t>(); }
  // A view into the input: valid as long as the input is.
  std::string_view str() {
    uint32_t n = u32();
    if (in_.size() - pos_ < n) throw CorruptRecord(table_);
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  bool atEnd() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  void expectEnd() const {
    if (pos_ != in_.size()) throw CorruptRecord(table_);
  }

 private:
  template <typename T>
  T fixed() {
    if (in_.size() - pos_ < sizeof(T)) throw CorruptRecord(table_);
    T v;
    std::memcpy(&v, in_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  const char* table_;
};

}  // namespace gatehouse::store
