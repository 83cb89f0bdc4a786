#include "common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <string>
#include <utility>

namespace gatehouse {
namespace {

std::atomic<Level> minimum{Level::info};

void appendValue(std::string& line, std::string_view value) {
  bool quote = value.empty() || value.find_first_of(" \"=\t\n") != std::string_view::npos;
  if (!quote) {
    line.append(value);
    return;
  }
  line.push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') line.push_back('\\');
    if (c == '\n') {
      line.append("\\n");
      continue;
    }
    line.push_back(c);
  }
  line.push_back('"');
}

}  // namespace

std::string_view levelName(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
  }
  return "info";
}

std::optional<Level> parseLevel(std::string_view name) {
  for (Level l : {Level::debug, Level::info, Level::warning, Level::error}) {
    if (levelName(l) == name) return l;
  }
  return std::nullopt;
}

void setLogLevel(Level level) { minimum.store(level); }

void logFields(Level level, std::string_view event, std::span<const LogField> fields) {
  if (level < minimum.load(std::memory_order_relaxed)) return;
  std::string line = "level=";
  line.append(levelName(level));
  line.append(" event=");
  appendValue(line, event);
  for (const auto& [key, value] : fields) {
    line.push_back(' ');
    line.append(key);
    line.push_back('=');
    appendValue(line, value);
  }
  line.push_back('\n');
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

void logLine(Level level, std::string_view event, std::initializer_list<LogField> fields) {
  logFields(level, event, std::span<const LogField>(fields.begin(), fields.size()));
}

std::optional<uint64_t> LogThrottle::admit(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (now - windowStart_ >= interval_) {
    windowStart_ = now;
    inWindow_ = 0;
  }
  if (inWindow_ >= burst_) {
    ++dropped_;
    return std::nullopt;
  }
  ++inWindow_;
  return std::exchange(dropped_, 0);
}

}  // namespace gatehouse
