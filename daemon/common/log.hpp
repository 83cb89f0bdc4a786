// Structured logging to stderr (journald under systemd), one logfmt line per event:
//   level=info event=ready socket=/run/gatehouse/gatehouse.sock data_dir=/var/lib/gatehouse/data
// Values are quoted when they contain spaces, quotes, '=' or control characters; inside quotes
// '"' and '\' are escaped with '\', newline, tab and carriage return as \n \t \r, any other
// control character as \xHH — so a value a peer chose can never forge a line or a field.
// When stderr is the journal (JOURNAL_STREAM names it), each line starts with its syslog priority
// ("<3>" error, "<4>" warning, "<6>" info, "<7>" debug), which journald strips and records, so
// `journalctl -p warning` works. Never pass secrets.
// Thread-safe: each line is written with one write(2).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse {

enum class Level { debug, info, warning, error };

using LogField = std::pair<std::string_view, std::string_view>;

std::string_view levelName(Level level);
std::optional<Level> parseLevel(std::string_view name);

// Lines below `level` are dropped. Set once by main before threads start.
void setLogLevel(Level level);
// Whether stderr is the journal, from JOURNAL_STREAM ("DEVICE:INODE" of the stream journald
// connected) against stderr's own; decides the priority prefixes. Called once by main before
// threads start (and by tests after redirecting stderr); off until then.
void detectJournal();
// The line `logFields` would write (without the priority prefix), for tests.
std::string formatLine(Level level, std::string_view event, std::span<const LogField> fields);
void logLine(Level level, std::string_view event, std::initializer_list<LogField> fields = {});
// The same, with fields gathered at run time.
void logFields(Level level, std::string_view event, std::span<const LogField> fields);

// Bounds how often one kind of line is logged, for events a peer can cause at will (framing
// violations, refused connections, accept failures): at most `burst` lines per `interval`; the
// lines dropped are counted and reported by the next line let through. Thread-safe.
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  LogThrottle(unsigned burst, Clock::duration interval) : burst_(burst), interval_(interval) {}

  // nullopt: drop this line. Otherwise log it, with the number of lines dropped before it.
  std::optional<uint64_t> admit(Clock::time_point now = Clock::now());

 private:
  const unsigned burst_;
  const Clock::duration interval_;
  std::mutex mutex_;
  Clock::time_point windowStart_{};
  unsigned inWindow_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace gatehouse
