#include "credentials/rate_limiter.hpp"

#include <algorithm>

namespace gatehouse::credentials {
namespace {

// How far from the least recent end eviction looks for a subject that is not limited.
constexpr int kEvictionScan = 64;

}  // namespace

uint32_t RateLimiter::retryAfter(std::initializer_list<std::string_view> subjects,
                                 Clock::time_point now) {
  if (!anyLimited(now)) return 0;
  std::lock_guard lock(mutex_);
  Clock::duration longest{0};
  for (auto subject : subjects) {
    if (subject.empty()) continue;
    Table& table = tableOf(subject);
    auto it = table.entries.find(std::string(subject));
    if (it == table.entries.end() || it->second.limitedUntil <= now) continue;
    longest = std::max(longest, it->second.limitedUntil - now);
  }
  auto seconds = std::chrono::ceil<std::chrono::seconds>(longest).count();
  return static_cast<uint32_t>(seconds);
}

void RateLimiter::evictOne(Table& table, Clock::time_point now) {
  // The least recent subject that is not limited; past the scan (a table full of limited
  // subjects), the least recent one.
  auto victim = std::prev(table.order.end());
  auto it = victim;
  for (int i = 0; i < kEvictionScan; ++i) {
    if (table.entries.at(*it).limitedUntil <= now) {
      victim = it;
      break;
    }
    if (it == table.order.begin()) break;
    --it;
  }
  table.entries.erase(*victim);
  table.order.erase(victim);
}

RateLimiter::Entry& RateLimiter::failed(Table& table, std::string_view subject,
                                        Clock::time_point now) {
  auto it = table.entries.find(std::string(subject));
  if (it != table.entries.end()) {
    table.order.splice(table.order.begin(), table.order, it->second.recent);
    return it->second;
  }
  if (table.entries.size() >= std::max<size_t>(limits_.maxSubjects, 1)) evictOne(table, now);
  table.order.emplace_front(subject);
  Entry& e = table.entries[table.order.front()];
  e.recent = table.order.begin();
  return e;
}

void RateLimiter::recordFailure(std::initializer_list<std::string_view> subjects,
                                Clock::time_point now) {
  std::lock_guard lock(mutex_);
  for (auto subject : subjects) {
    if (subject.empty()) continue;
    Entry& e = failed(tableOf(subject), subject, now);
    if (e.failures == 0 || now - e.windowStart > limits_.window) {
      e.failures = 0;
      e.windowStart = now;
    }
    if (++e.failures >= limits_.threshold) {
      e.limitedUntil = now + limits_.backoff;
      e.failures = 0;
      auto until = e.limitedUntil.time_since_epoch().count();
      if (until > limitedUntilMax_.load(std::memory_order_relaxed)) {
        limitedUntilMax_.store(until, std::memory_order_release);  // under the mutex: no race
      }
    }
  }
}

void RateLimiter::clear(std::string_view subject) {
  std::lock_guard lock(mutex_);
  Table& table = tableOf(subject);
  auto it = table.entries.find(std::string(subject));
  if (it == table.entries.end() || it->second.limitedUntil > Clock::now()) return;
  table.order.erase(it->second.recent);
  table.entries.erase(it);
}

size_t RateLimiter::trackedSubjects() {
  std::lock_guard lock(mutex_);
  return principals_.entries.size() + sources_.entries.size();
}

void RateLimiter::setLimits(const RateLimits& limits) {
  std::lock_guard lock(mutex_);
  limits_.threshold = limits.threshold;
  limits_.window = limits.window;
  limits_.backoff = limits.backoff;
}

}  // namespace gatehouse::credentials
