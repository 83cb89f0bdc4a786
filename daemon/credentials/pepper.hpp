// The pepper: 32 random bytes kept in a file outside the data directory, so that a copy of the
// database alone cannot be used to test guessed keys. Created (mode 0600) on first start; the
// daemon refuses to start when the file is readable or writable by group or others, or is not
// exactly 32 bytes. Keys for other purposes (the TOTP secret box) are derived from it.
//
// Thread-safe after construction (read-only).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string_view>

#include "credentials/secret.hpp"

namespace gatehouse::credentials {

using Digest = std::array<uint8_t, 32>;

class PepperError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Pepper {
 public:
  static constexpr size_t kSize = 32;

  // Reads the pepper file, creating it when absent. Throws PepperError naming the path and what is
  // wrong (mode, size, I/O).
  static Pepper loadOrCreate(const std::filesystem::path& path);
  // A pepper from bytes (tests and benchmarks).
  static Pepper fromBytes(std::string_view bytes);

  // Keyed BLAKE2b-256 of `secret`: what is stored for an API key's secret.
  Digest keyedHash(const uint8_t* secret, size_t size) const;
  // A 32-byte subkey for `purpose` (8 characters), derived with crypto_kdf.
  SecretBytes subkey(uint64_t id, const char (&purpose)[9]) const;

 private:
  explicit Pepper(SecretBytes bytes) : bytes_(std::move(bytes)) {}
  SecretBytes bytes_;
};

}  // namespace gatehouse::credentials
