#include "output.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace gatehouse::cli {

void Output::print(std::string_view text, const JsonObject& object) const {
  if (json_) {
    fmt::print("{}\n", object.str());
    return;
  }
  if (!text.empty()) fmt::print("{}\n", text);
}

void Output::error(std::string_view code, std::string_view message) const {
  fmt::print(stderr, "gatehouse: error: {}: {}\n", code, message);
  if (!json_) return;
  JsonObject error;
  error.string("code", code).string("message", message);
  fmt::print("{}\n", JsonObject().raw("error", error.str()).str());
}

std::string denyReasonText(wire::DenyReason reason) {
  switch (reason) {
    case wire::DenyReason::NONE: return "none";
    case wire::DenyReason::UNKNOWN_PRINCIPAL: return "unknown principal";
    case wire::DenyReason::UNKNOWN_COMPANY: return "unknown company";
    case wire::DenyReason::PRINCIPAL_DISABLED: return "principal disabled";
    case wire::DenyReason::UNKNOWN_PERMISSION: return "unknown permission";
    case wire::DenyReason::NO_ACCESS: return "no access to the company";
    case wire::DenyReason::NOT_GRANTED: return "not granted";
  }
  return fmt::format("reason {}", static_cast<uint16_t>(reason));
}

}  // namespace gatehouse::cli
