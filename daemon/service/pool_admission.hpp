// Admission to the password pool (Argon2id runs there, ~50 ms of CPU each): bounded in total, per
// connection and per user, so that no connection — and no flood aimed at one user — can fill the
// queue and delay everyone else's login. A request past a bound is answered `overloaded` at once,
// before any hashing.
//
// Threading: `admit` on IO threads, tickets released on the pool's threads; one mutex.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace gatehouse::service {

class PoolAdmission {
 public:
  // `total` jobs queued or running at most; a connection may hold a quarter of them, one user an
  // eighth (each at least 1).
  explicit PoolAdmission(size_t total) : total_(total) {}

  // Held by an admitted job; gives its place back when destroyed. A resource: move-only.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)),
          connection_(o.connection_),
          user_(std::move(o.user_)) {}
    Ticket& operator=(Ticket&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = std::exchange(o.owner_, nullptr);
        connection_ = o.connection_;
        user_ = std::move(o.user_);
      }
      return *this;
    }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }

   private:
    friend class PoolAdmission;
    Ticket(PoolAdmission* owner, const void* connection, std::string user)
        : owner_(owner), connection_(connection), user_(std::move(user)) {}
    void release() {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->leave(connection_, user_);
    }
    PoolAdmission* owner_ = nullptr;
    const void* connection_ = nullptr;
    std::string user_;
  };

  // A ticket, or nullopt with `why` saying which bound was reached. `user` may be empty (no
  // per-user bound: an unknown login, or an administrator setting a password).
  std::optional<Ticket> admit(const void* connection, const std::string& user, std::string& why);

  size_t total() const { return total_; }
  size_t perConnection() const { return std::max<size_t>(1, total_ / 4); }
  size_t perUser() const { return std::max<size_t>(1, total_ / 8); }

 private:
  void leave(const void* connection, const std::string& user);

  const size_t total_;
  std::mutex mutex_;
  size_t queued_ = 0;
  std::map<const void*, size_t> byConnection_;
  std::map<std::string, size_t> byUser_;
};

}  // namespace gatehouse::service
