// Structured logging to stderr (journald under systemd), one logfmt line per event:
//   level=info event=ready socket=/run/gatehouse/gatehouse.sock data_dir=/var/lib/gatehouse/data
// Values are quoted when they contain spaces, quotes or '='. Never pass secrets.
// Thread-safe: each line is written with one write(2).
#pragma once

#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>

namespace gatehouse {

enum class Level { debug, info, warning, error };

using LogField = std::pair<std::string_view, std::string_view>;

std::string_view levelName(Level level);
std::optional<Level> parseLevel(std::string_view name);

// Lines below `level` are dropped. Set once by main before threads start.
void setLogLevel(Level level);
void logLine(Level level, std::string_view event, std::initializer_list<LogField> fields = {});

}  // namespace gatehouse
