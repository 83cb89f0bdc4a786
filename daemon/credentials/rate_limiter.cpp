#include "credentials/rate_limiter.hpp"

#include <algorithm>

namespace gatehouse::credentials {

uint32_t RateLimiter::retryAfter(std::initializer_list<std::string_view> subjects,
                                 Clock::time_point now) {
  if (!anyLimited(now)) return 0;
  std::lock_guard lock(mutex_);
  Clock::duration longest{0};
  for (auto subject : subjects) {
    if (subject.empty()) continue;
    auto it = entries_.find(std::string(subject));
    if (it == entries_.end() || it->second.limitedUntil <= now) continue;
    longest = std::max(longest, it->second.limitedUntil - now);
  }
  auto seconds = std::chrono::ceil<std::chrono::seconds>(longest).count();
  return static_cast<uint32_t>(seconds);
}

void RateLimiter::recordFailure(std::initializer_list<std::string_view> subjects,
                                Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (entries_.size() >= limits_.maxSubjects) prune(now);
  for (auto subject : subjects) {
    if (subject.empty()) continue;
    Entry& e = entries_[std::string(subject)];
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
  auto it = entries_.find(std::string(subject));
  if (it != entries_.end() && it->second.limitedUntil <= Clock::now()) entries_.erase(it);
}

size_t RateLimiter::trackedSubjects() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void RateLimiter::prune(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) {
    return kv.second.limitedUntil <= now && now - kv.second.windowStart > limits_.window;
  });
  // Still full (an attack from many sources): drop unlimited subjects, keeping the limited ones.
  if (entries_.size() >= limits_.maxSubjects) {
    std::erase_if(entries_, [&](const auto& kv) { return kv.second.limitedUntil <= now; });
  }
}

}  // namespace gatehouse::credentials
