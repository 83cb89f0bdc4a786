#include "credentials/totp.hpp"

#include <fmt/format.h>
#include <liboath/oath.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace gatehouse::credentials {
namespace {

std::string uriEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace

void initTotp() {
  if (oath_init() != OATH_OK) throw std::runtime_error("oath_init failed");
}

SecretBytes newTotpSecret() {
  SecretBytes s(kTotpSecretBytes);
  randombytes_buf(s.data(), s.size());
  return s;
}

std::string sealTotpSecret(const SecretBytes& key, const SecretBytes& secret) {
  std::string sealed(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + secret.size(), '\0');
  auto* out = reinterpret_cast<uint8_t*>(sealed.data());
  randombytes_buf(out, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, secret.data(), secret.size(), out,
                        key.data());
  return sealed;
}

std::optional<SecretBytes> openTotpSecret(const SecretBytes& key, std::string_view sealed) {
  if (sealed.size() != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + kTotpSecretBytes) {
    return std::nullopt;
  }
  const auto* in = reinterpret_cast<const uint8_t*>(sealed.data());
  SecretBytes secret(kTotpSecretBytes);
  if (crypto_secretbox_open_easy(secret.data(), in + crypto_secretbox_NONCEBYTES,
                                 sealed.size() - crypto_secretbox_NONCEBYTES, in,
                                 key.data()) != 0) {
    return std::nullopt;
  }
  return secret;
}

std::string otpauthUri(std::string_view issuer, std::string_view account,
                       const SecretBytes& secret) {
  char* base32 = nullptr;
  size_t length = 0;
  if (oath_base32_encode(reinterpret_cast<const char*>(secret.data()), secret.size(), &base32,
                         &length) != OATH_OK) {
    throw std::runtime_error("oath_base32_encode failed");
  }
  std::string encoded(base32, length);
  sodium_memzero(base32, length);
  std::free(base32);
  while (!encoded.empty() && encoded.back() == '=') encoded.pop_back();
  // Built in one buffer reserved up front: no formatting buffer on the stack and no reallocation
  // leaves a copy of the secret behind (the caller wipes the result).
  std::string head =
      fmt::format("otpauth://totp/{}:{}?secret=", uriEscape(issuer), uriEscape(account));
  std::string tail = fmt::format("&issuer={}&algorithm=SHA1&digits={}&period={}", uriEscape(issuer),
                                 kTotpDigits, kTotpStepSeconds);
  std::string uri;
  uri.reserve(head.size() + encoded.size() + tail.size());
  uri.append(head).append(encoded).append(tail);
  wipe(encoded);
  return uri;
}

std::optional<uint64_t> verifyTotp(const SecretBytes& secret, std::string_view code,
                                   std::time_t now) {
  if (code.size() != kTotpDigits) return std::nullopt;
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  char otp[kTotpDigits + 1];
  std::memcpy(otp, code.data(), kTotpDigits);
  otp[kTotpDigits] = '\0';
  int position = 0;
  uint64_t counter = 0;
  int rc = oath_totp_validate3(reinterpret_cast<const char*>(secret.data()), secret.size(), now,
                               kTotpStepSeconds, 0, 1, &position, &counter, otp);
  if (rc < 0) return std::nullopt;
  return counter;
}

std::string totpCode(const SecretBytes& secret, std::time_t now) {
  char otp[kTotpDigits + 1] = {};
  if (oath_totp_generate(reinterpret_cast<const char*>(secret.data()), secret.size(), now,
                         kTotpStepSeconds, 0, kTotpDigits, otp) != OATH_OK) {
    throw std::runtime_error("oath_totp_generate failed");
  }
  return otp;
}

}  // namespace gatehouse::credentials
