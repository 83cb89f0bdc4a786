// The failures gatehouse-benchmark reports, each with the code printed before its message
// ("gatehouse-benchmark: error: <code>: <message>"), as the gatehouse CLI does. The codes are the
// CLI's own (usage, connection, protocol: output.hpp), the daemon's ErrorCode names, and the
// benchmark's: `graph` (the daemon's graph has nothing to sample) and `scratch` (the scratch
// daemon failed).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "output.hpp"

namespace gatehouse::benchmark {

using cli::kConnectionError;
using cli::kProtocolError;
using cli::kUsageError;
constexpr std::string_view kGraphError = "graph";
constexpr std::string_view kScratchError = "scratch";

class BenchmarkError : public std::runtime_error {
 public:
  BenchmarkError(std::string_view code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

}  // namespace gatehouse::benchmark
