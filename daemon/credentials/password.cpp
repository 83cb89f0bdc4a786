#include "credentials/password.hpp"

#include <sodium.h>

#include <stdexcept>

namespace gatehouse::credentials {

std::string hashPassword(std::string_view password, const PasswordLimits& limits) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), limits.opsLimit, limits.memLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("crypto_pwhash_str_alg: out of memory");
  }
  return out;
}

bool verifyPassword(std::string_view encodedHash, std::string_view password) {
  std::string hash(encodedHash);  // NUL-terminated copy; the view may point into the map
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool needsRehash(std::string_view encodedHash, const PasswordLimits& limits) {
  std::string hash(encodedHash);
  return crypto_pwhash_str_needs_rehash(hash.c_str(), limits.opsLimit, limits.memLimit) != 0;
}

}  // namespace gatehouse::credentials
