// Test support for TOTP: the secret inside an otpauth:// URI that enrollTotp answers, decoded
// with liboath, so that a test can compute the codes an authenticator app would show.
#pragma once

#include <liboath/oath.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "credentials/secret.hpp"

namespace gatehouse::testing {

// The TOTP secret inside an otpauth:// URI (sodium_init() must have run).
inline credentials::SecretBytes secretFromUri(const std::string& uri) {
  size_t start = uri.find("secret=") + 7;
  std::string base32 = uri.substr(start, uri.find('&', start) - start);
  while (base32.size() % 8 != 0) base32 += '=';
  char* raw = nullptr;
  size_t length = 0;
  if (oath_base32_decode(base32.c_str(), base32.size(), &raw, &length) != OATH_OK) {
    throw std::runtime_error("bad base32 in " + uri);
  }
  credentials::SecretBytes secret(length);
  std::memcpy(secret.data(), raw, length);
  std::free(raw);
  return secret;
}

}  // namespace gatehouse::testing
