// The value of the `effective` table: what one grant gives, as the hot path reads it.
//
// A permanent grant's row is its stored permission set (permission_set.hpp), which never ends in
// a zero byte. A time-boxed grant's row is that set followed by a 9-byte trailer: the expiry (u64
// little-endian unix seconds) and one zero byte. So a row that ends in a zero byte has an expiry,
// and a reader that sees it compares the expiry with the clock before using the bits: a grant
// gives nothing from its expiry on, even before the writer has removed it. Views returned here
// point into the value given.
#pragma once

#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "store/codec.hpp"

namespace gatehouse::store {

constexpr size_t kExpiryTrailer = sizeof(uint64_t) + 1;

struct EffectiveRow {
  std::string_view bits;   // the stored permission set
  uint64_t expiresAt = 0;  // unix seconds; 0: never
};

// Whether the row carries an expiry: one compare on the hot path.
inline bool hasExpiry(std::string_view value) { return !value.empty() && value.back() == '\0'; }

inline EffectiveRow decodeEffective(std::string_view value) {
  if (!hasExpiry(value)) return EffectiveRow{value, 0};
  if (value.size() < kExpiryTrailer) throw CorruptRecord("effective");
  EffectiveRow row;
  row.bits = value.substr(0, value.size() - kExpiryTrailer);
  std::memcpy(&row.expiresAt, value.data() + row.bits.size(), sizeof row.expiresAt);
  if (row.expiresAt == 0) throw CorruptRecord("effective");
  return row;
}

// `bits` in its stored form (trimmed); expiresAt 0: a permanent grant.
inline std::string encodeEffective(std::string_view bits, uint64_t expiresAt) {
  std::string value(bits);
  if (expiresAt == 0) return value;
  value.append(reinterpret_cast<const char*>(&expiresAt), sizeof expiresAt);
  value.push_back('\0');
  return value;
}

// Whether a grant with this expiry gives nothing at unix time `now`.
inline bool expiredAt(uint64_t expiresAt, uint64_t now) {
  return expiresAt != 0 && expiresAt <= now;
}

// The clock the readers judge expiries by (seconds, as the expiries are stored).
inline uint64_t clockNow() { return static_cast<uint64_t>(std::time(nullptr)); }

}  // namespace gatehouse::store
