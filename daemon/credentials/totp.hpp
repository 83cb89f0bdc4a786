// Time-based one-time passwords (RFC 6238) through liboath: HMAC-SHA1, 6 digits, 30-second steps,
// accepted one step either side. Secrets are 20 random bytes, encrypted at rest with
// crypto_secretbox under a key derived from the pepper.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "credentials/secret.hpp"

namespace gatehouse::credentials {

inline constexpr unsigned kTotpStepSeconds = 30;
inline constexpr size_t kTotpSecretBytes = 20;
inline constexpr size_t kTotpDigits = 6;

// Starts liboath (once per process, before threads).
void initTotp();

SecretBytes newTotpSecret();
// nonce || secretbox(secret): what the store keeps.
std::string sealTotpSecret(const SecretBytes& key, const SecretBytes& secret);
// nullopt when the blob does not open with `key` (a different pepper, or corruption).
std::optional<SecretBytes> openTotpSecret(const SecretBytes& key, std::string_view sealed);

// otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
std::string otpauthUri(std::string_view issuer, std::string_view account,
                       const SecretBytes& secret);

// The time step the code belongs to, when it is valid at `now` (±1 step); nullopt otherwise.
std::optional<uint64_t> verifyTotp(const SecretBytes& secret, std::string_view code,
                                   std::time_t now);
// The code for `now` (tests, and the CLI's documentation examples).
std::string totpCode(const SecretBytes& secret, std::time_t now);

}  // namespace gatehouse::credentials
