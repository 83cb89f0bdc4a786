#include "service/pool_admission.hpp"

#include <fmt/format.h>

namespace gatehouse::service {

std::optional<PoolAdmission::Ticket> PoolAdmission::admit(const void* connection,
                                                          const std::string& user,
                                                          std::string& why) {
  std::lock_guard lock(mutex_);
  if (queued_ >= total_) {
    why = fmt::format("password checks: {} queued, the limit is {}; try again shortly", queued_,
                      total_);
    return std::nullopt;
  }
  auto count = [](const auto& counts, const auto& key) -> size_t {
    auto it = counts.find(key);
    return it == counts.end() ? 0 : it->second;
  };
  size_t mine = count(byConnection_, connection);
  if (mine >= perConnection()) {
    why = fmt::format("password checks: this connection has {} queued, the limit is {}", mine,
                      perConnection());
    return std::nullopt;
  }
  size_t theirs = user.empty() ? 0 : count(byUser_, user);
  if (!user.empty() && theirs >= perUser()) {
    why =
        fmt::format("password checks: {} queued for this user, the limit is {}", theirs, perUser());
    return std::nullopt;
  }
  ++queued_;
  ++byConnection_[connection];
  if (!user.empty()) ++byUser_[user];
  return Ticket(this, connection, user);
}

void PoolAdmission::leave(const void* connection, const std::string& user) {
  std::lock_guard lock(mutex_);
  --queued_;
  if (auto it = byConnection_.find(connection); it != byConnection_.end() && --it->second == 0) {
    byConnection_.erase(it);
  }
  if (user.empty()) return;
  if (auto it = byUser_.find(user); it != byUser_.end() && --it->second == 0) byUser_.erase(it);
}

}  // namespace gatehouse::service
