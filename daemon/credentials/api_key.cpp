#include "credentials/api_key.hpp"

#include <cstring>

namespace gatehouse::credentials {
namespace {

constexpr size_t kPayload = 8 + kKeySecretBytes;  // id + secret
constexpr size_t kEncoded = kPayload + 4;         // + checksum
constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

void checksum(const uint8_t* payload, uint8_t out[4]) {
  uint8_t digest[crypto_generichash_BYTES_MIN];
  crypto_generichash(digest, sizeof digest, payload, kPayload, nullptr, 0);
  std::memcpy(out, digest, 4);
}

}  // namespace

bool parseApiKey(std::string_view text, ParsedKey& out) {
  if (text.size() != kKeyTextSize || text.substr(0, kKeyPrefix.size()) != kKeyPrefix) return false;
  std::string_view body = text.substr(kKeyPrefix.size());
  // sodium_base642bin (1.0.18) takes any byte >= 0x80 for '_' in the URL-safe alphabet, which
  // would give one key several spellings: refuse such bytes first (in constant time).
  uint8_t high = 0;
  for (char c : body) high |= static_cast<uint8_t>(c);
  if ((high & 0x80) != 0) return false;
  uint8_t raw[kEncoded];
  size_t decoded = 0;
  const char* end = nullptr;
  int rc = sodium_base642bin(raw, sizeof raw, body.data(), body.size(), nullptr, &decoded, &end,
                             kVariant);
  bool ok = rc == 0 && decoded == kEncoded && end == body.data() + body.size();
  if (ok) {
    uint8_t expected[4];
    checksum(raw, expected);
    ok = sodium_memcmp(expected, raw + kPayload, 4) == 0;
  }
  if (ok) {
    uint64_t id = 0;
    for (int i = 0; i < 8; ++i) id = (id << 8) | raw[i];
    out.id = id;
    std::memcpy(out.secret.data(), raw + 8, kKeySecretBytes);
  }
  sodium_memzero(raw, sizeof raw);
  return ok;
}

std::string formatApiKey(uint64_t id, const uint8_t (&secret)[kKeySecretBytes]) {
  uint8_t raw[kEncoded];
  for (int i = 0; i < 8; ++i) raw[i] = static_cast<uint8_t>(id >> (56 - 8 * i));
  std::memcpy(raw + 8, secret, kKeySecretBytes);
  checksum(raw, raw + kPayload);
  char encoded[sodium_base64_ENCODED_LEN(kEncoded, kVariant)];
  sodium_bin2base64(encoded, sizeof encoded, raw, sizeof raw, kVariant);
  std::string text(kKeyPrefix);
  text.append(encoded);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(encoded, sizeof encoded);
  return text;
}

}  // namespace gatehouse::credentials
