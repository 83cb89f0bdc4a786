#include "store/names.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>

#include "store/types.hpp"

namespace gatehouse::store {
namespace {

bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool isValidUtf8(std::string_view s) {
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    // Eight ASCII bytes at a time: the usual case (names, keys, addresses).
    for (uint64_t word; s.size() - i >= sizeof word; i += sizeof word) {
      std::memcpy(&word, s.data() + i, sizeof word);
      if ((word & 0x8080808080808080ull) != 0) break;
    }
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra = 0;
    uint32_t cp = 0;
    if ((c >> 5) == 0x6) {
      extra = 1, cp = c & 0x1Fu;
    } else if ((c >> 4) == 0xE) {
      extra = 2, cp = c & 0x0Fu;
    } else if ((c >> 3) == 0x1E) {
      extra = 3, cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

bool isValidPermissionName(std::string_view name) {
  if (name.empty() || name.size() > kMaxPermissionName) return false;
  bool segmentStart = true;
  for (char c : name) {
    if (segmentStart) {
      if (!isLower(c)) return false;
      segmentStart = false;
      continue;
    }
    if (c == '.') {
      segmentStart = true;
      continue;
    }
    if (!isLower(c) && !isDigit(c) && c != '_') return false;
  }
  return !segmentStart;
}

std::optional<std::string> checkEntityName(std::string_view field, std::string_view name) {
  if (name.empty()) return fmt::format("{} must not be empty", field);
  if (name.size() > kMaxEntityName) {
    return fmt::format("{} is {} bytes, the limit is {}", field, name.size(), kMaxEntityName);
  }
  if (!isValidUtf8(name)) return fmt::format("{} is not valid UTF-8", field);
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return fmt::format("{} contains a control character", field);
  }
  if (name.find_first_not_of("0123456789") == std::string_view::npos) {
    return fmt::format("{} must not be all digits (it would read as an id)", field);
  }
  return std::nullopt;
}

}  // namespace gatehouse::store
