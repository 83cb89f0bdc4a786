// User passwords: Argon2id through libsodium's crypto_pwhash_str. Slow on purpose (tens of
// milliseconds and tens of MiB per call): call only from the slow-work pool, never from an IO
// thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gatehouse::credentials {

struct PasswordLimits {
  uint64_t opsLimit = 2;               // crypto_pwhash_OPSLIMIT_INTERACTIVE
  size_t memLimit = size_t{64} << 20;  // crypto_pwhash_MEMLIMIT_INTERACTIVE (64 MiB)
};

inline constexpr size_t kMinPassword = 8;
inline constexpr size_t kMaxPassword = 1024;

// The encoded Argon2id hash (parameters and salt included). Throws std::runtime_error when
// libsodium cannot (out of memory).
std::string hashPassword(std::string_view password, const PasswordLimits& limits);
// Constant-time verification against an encoded hash.
bool verifyPassword(std::string_view encodedHash, std::string_view password);
// True when the hash was made with other limits than `limits` (rehash on next successful login).
bool needsRehash(std::string_view encodedHash, const PasswordLimits& limits);

}  // namespace gatehouse::credentials
