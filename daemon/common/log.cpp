#include "common/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace gatehouse {
namespace {

std::atomic<Level> minimum{Level::info};
std::atomic<bool> toJournal{false};

bool isControl(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

void appendValue(std::string& line, std::string_view value) {
  bool quote = value.empty();
  for (char c : value) quote = quote || c == ' ' || c == '"' || c == '=' || isControl(c);
  if (!quote) {
    line.append(value);
    return;
  }
  line.push_back('"');
  for (char c : value) {
    switch (c) {
      case '"':
      case '\\':
        line.push_back('\\');
        line.push_back(c);
        break;
      case '\n':
        line.append("\\n");
        break;
      case '\t':
        line.append("\\t");
        break;
      case '\r':
        line.append("\\r");
        break;
      default:
        if (isControl(c)) {
          char escaped[5];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
          line.append(escaped);
        } else {
          line.push_back(c);
        }
    }
  }
  line.push_back('"');
}

// The syslog priority journald reads from a line's "<N>" prefix.
char priority(Level level) {
  switch (level) {
    case Level::debug:
      return '7';
    case Level::info:
      return '6';
    case Level::warning:
      return '4';
    case Level::error:
      return '3';
  }
  return '6';
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

void detectJournal() {
  bool journal = false;
  struct stat st {};
  if (const char* stream = std::getenv("JOURNAL_STREAM");
      stream != nullptr && ::fstat(STDERR_FILENO, &st) == 0) {
    unsigned long long device = 0, inode = 0;
    journal = std::sscanf(stream, "%llu:%llu", &device, &inode) == 2 && device == st.st_dev &&
              inode == st.st_ino;
  }
  toJournal.store(journal);
}

std::string formatLine(Level level, std::string_view event, std::span<const LogField> fields) {
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
  return line;
}

void logFields(Level level, std::string_view event, std::span<const LogField> fields) {
  if (level < minimum.load(std::memory_order_relaxed)) return;
  std::string line = formatLine(level, event, fields);
  if (toJournal.load(std::memory_order_relaxed)) line.insert(0, {'<', priority(level), '>'});
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
