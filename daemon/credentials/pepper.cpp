#include "credentials/pepper.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gatehouse::credentials {
namespace {

[[noreturn]] void fail(const std::filesystem::path& path, std::string_view what) {
  throw PepperError(fmt::format("pepper file {}: {}", path.string(), what));
}

void create(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return;  // created concurrently: read it
    fail(path, fmt::format("cannot create: {}", std::strerror(errno)));
  }
  SecretBytes bytes(Pepper::kSize);
  randombytes_buf(bytes.data(), bytes.size());
  ssize_t n = ::write(fd, bytes.data(), bytes.size());
  bool ok = n == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    fail(path, "cannot write the new pepper");
  }
}

}  // namespace

Pepper Pepper::loadOrCreate(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) create(path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail(path, fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    fail(path, fmt::format("mode {:04o} lets group or others read it; run chmod 600 on it",
                           st.st_mode & 07777));
  }
  if (st.st_size != static_cast<off_t>(kSize)) {
    ::close(fd);
    fail(path, fmt::format("is {} bytes, expected {}", st.st_size, kSize));
  }
  SecretBytes bytes(kSize);
  ssize_t n = ::read(fd, bytes.data(), kSize);
  ::close(fd);
  if (n != static_cast<ssize_t>(kSize)) fail(path, "short read");
  return Pepper(std::move(bytes));
}

Pepper Pepper::fromBytes(std::string_view bytes) {
  if (bytes.size() != kSize) throw PepperError("a pepper is 32 bytes");
  SecretBytes b(kSize);
  std::memcpy(b.data(), bytes.data(), kSize);
  return Pepper(std::move(b));
}

Digest Pepper::keyedHash(const uint8_t* secret, size_t size) const {
  Digest out{};
  crypto_generichash(out.data(), out.size(), secret, size, bytes_.data(), bytes_.size());
  return out;
}

SecretBytes Pepper::subkey(uint64_t id, const char (&purpose)[9]) const {
  static_assert(crypto_kdf_KEYBYTES == kSize);
  SecretBytes key(32);
  crypto_kdf_derive_from_key(key.data(), key.size(), id, purpose, bytes_.data());
  return key;
}

}  // namespace gatehouse::credentials
