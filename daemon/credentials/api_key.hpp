// Service-account API keys.
//
//   gatesk_<59 characters of unpadded base64url>
//
// The fixed prefix lets secret scanners find leaked keys (pattern `gatesk_[A-Za-z0-9_-]{59}`). The
// 44 encoded bytes are: the key id (8 bytes, big-endian: O(1) lookup), the secret (32 bytes from
// the CSPRNG), and a checksum (the first 4 bytes of an unkeyed BLAKE2b of the preceding 40), so a
// mistyped or truncated key is refused without touching the store.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "credentials/secret.hpp"

namespace gatehouse::credentials {

inline constexpr std::string_view kKeyPrefix = "gatesk_";
inline constexpr size_t kKeySecretBytes = 32;
inline constexpr size_t kKeyTextSize = 66;  // prefix + 59

struct ParsedKey {
  uint64_t id = 0;
  std::array<uint8_t, kKeySecretBytes> secret{};
  ParsedKey() = default;
  ParsedKey(const ParsedKey&) = delete;
  ParsedKey& operator=(const ParsedKey&) = delete;
  ~ParsedKey() { sodium_memzero(secret.data(), secret.size()); }
};

// Parses and checks a key's text into `out`; false when it is not a well-formed key (prefix,
// length, alphabet or checksum). Constant work for every input of the right length.
bool parseApiKey(std::string_view text, ParsedKey& out);

// The text of a key. The caller wipes it after use.
std::string formatApiKey(uint64_t id, const uint8_t (&secret)[kKeySecretBytes]);

}  // namespace gatehouse::credentials
