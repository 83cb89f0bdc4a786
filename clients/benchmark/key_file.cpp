#include "key_file.hpp"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <utility>

namespace gatehouse::benchmark {
namespace {

// The largest key file read: a million keys of ordinary length.
constexpr size_t kMaxFileBytes = size_t{128} << 20;

// Closes a descriptor on every path out.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

KeyRing::KeyRing(KeyRing&& other) noexcept
    : bytes_(std::move(other.bytes_)),
      capacity_(std::exchange(other.capacity_, 0)),
      used_(std::exchange(other.used_, 0)),
      keys_(std::move(other.keys_)) {}

KeyRing& KeyRing::operator=(KeyRing&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = std::move(other.bytes_);
    capacity_ = std::exchange(other.capacity_, 0);
    used_ = std::exchange(other.used_, 0);
    keys_ = std::move(other.keys_);
  }
  return *this;
}

KeyRing::~KeyRing() { wipe(); }

void KeyRing::wipe() {
  if (bytes_ != nullptr) sodium_memzero(bytes_.get(), capacity_);
  bytes_.reset();
  capacity_ = used_ = 0;
  keys_.clear();
}

KeyRing KeyRing::read(const std::filesystem::path& path) {
  Descriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    throw std::runtime_error(fmt::format("--keys {}: {}", path.string(), std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw std::runtime_error(fmt::format("--keys {}: not a regular file", path.string()));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    throw std::runtime_error(
        fmt::format("--keys {}: larger than {} MiB", path.string(), kMaxFileBytes >> 20));
  }
  KeyRing ring;
  ring.reserve(static_cast<size_t>(st.st_size));
  char* bytes = ring.bytes_.get();
  size_t size = 0;
  while (size < ring.capacity_) {
    ssize_t n = ::read(file.get(), bytes + size, ring.capacity_ - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw std::runtime_error(fmt::format("--keys {}: {}", path.string(), std::strerror(errno)));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  ring.used_ = size;
  std::string_view text(bytes, size);
  size_t line = 0;
  while (!text.empty()) {
    ++line;
    size_t end = text.find('\n');
    std::string_view key = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (key.ends_with('\r')) key.remove_suffix(1);
    if (key.empty() || key.front() == '#') continue;
    if (key.size() > kMaxKeyBytes) {
      throw std::runtime_error(fmt::format("--keys {}: line {} is longer than {} bytes",
                                           path.string(), line, kMaxKeyBytes));
    }
    for (char c : key) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        throw std::runtime_error(
            fmt::format("--keys {}: line {} holds a control character", path.string(), line));
      }
    }
    ring.keys_.push_back({key, line});
  }
  if (ring.keys_.empty()) {
    throw std::runtime_error(fmt::format("--keys {}: no key in the file", path.string()));
  }
  return ring;
}

void KeyRing::reserve(size_t bytes) {
  if (bytes_ != nullptr) throw std::logic_error("KeyRing::reserve called twice");
  capacity_ = bytes;
  bytes_ = std::make_unique<char[]>(capacity_ + 1);  // one more: never a zero-sized block
}

void KeyRing::add(std::string_view key) {
  if (capacity_ - used_ < key.size()) throw std::logic_error("KeyRing: no room reserved");
  char* place = bytes_.get() + used_;
  std::memcpy(place, key.data(), key.size());
  used_ += key.size();
  keys_.push_back({std::string_view(place, key.size()), keys_.size() + 1});
}

void KeyRing::write(const std::filesystem::path& path) const {
  Descriptor file(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (file.get() < 0) {
    throw std::runtime_error(fmt::format("{}: {}", path.string(), std::strerror(errno)));
  }
  for (const Key& key : keys_) {
    for (std::string_view part : {key.text, std::string_view("\n")}) {
      while (!part.empty()) {
        ssize_t n = ::write(file.get(), part.data(), part.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          throw std::runtime_error(fmt::format("{}: {}", path.string(), std::strerror(errno)));
        }
        part.remove_prefix(static_cast<size_t>(n));
      }
    }
  }
}

}  // namespace gatehouse::benchmark
