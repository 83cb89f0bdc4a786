#include "output.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <time.h>

#include <cstdio>
#include <limits>

#include "wire_text.hpp"

namespace gatehouse::cli {
namespace {

// Compact, each invalid UTF-8 sequence replaced by U+FFFD: the names and messages printed come
// from the daemon and the command line, and need not be UTF-8.
void printJson(const Json& value) {
  fmt::print("{}\n", value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

}  // namespace

void Output::print(std::string_view text, const Json& object) const {
  if (json_) {
    printJson(object);
    return;
  }
  if (!text.empty()) fmt::print("{}\n", text);
}

void Output::error(std::string_view code, std::string_view message,
                   const std::optional<std::vector<std::string>>& missing) const {
  std::string lacking =
      missing && !missing->empty() ? fmt::format(" (missing: {})", joined(*missing, ", ")) : "";
  fmt::print(stderr, "gatehouse: error: {}: {}{}\n", code, message, lacking);
  if (!json_) return;
  Json error = {{"code", code}, {"message", message}};
  if (missing) error["missing"] = Json(*missing);
  printJson({{"error", std::move(error)}});
}

void Output::note(std::string_view text) const {
  if (!json_) fmt::print(stderr, "{}\n", text);
}

std::string utcTime(uint64_t unixSeconds, std::string_view zero) {
  if (unixSeconds == 0) return std::string(zero);
  tm parts{};
  auto seconds = static_cast<time_t>(unixSeconds);
  if (unixSeconds > static_cast<uint64_t>(std::numeric_limits<time_t>::max()) ||
      gmtime_r(&seconds, &parts) == nullptr) {
    return fmt::format("@{}", unixSeconds);
  }
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", parts);
}

std::string denyReasonText(wire::DenyReason reason) {
  switch (reason) {
    case wire::DenyReason::NONE:
      return "none";
    case wire::DenyReason::UNKNOWN_PRINCIPAL:
      return "unknown principal";
    case wire::DenyReason::UNKNOWN_COMPANY:
      return "unknown company";
    case wire::DenyReason::PRINCIPAL_DISABLED:
      return "principal disabled";
    case wire::DenyReason::UNKNOWN_PERMISSION:
      return "unknown permission";
    case wire::DenyReason::NO_ACCESS:
      return "no access to the company";
    case wire::DenyReason::NOT_GRANTED:
      return "not granted";
  }
  return fmt::format("reason {}", static_cast<uint16_t>(reason));
}

std::string credentialRefusalText(wire::CredentialRefusal refusal, uint32_t retryAfterSeconds) {
  switch (refusal) {
    case wire::CredentialRefusal::NONE:
      return "none";
    case wire::CredentialRefusal::BAD_CREDENTIAL:
      return "bad credential";
    case wire::CredentialRefusal::SERVICE_ACCOUNT_NO_UI:
      return "a service account cannot use the ui channel";
    case wire::CredentialRefusal::TOTP_REQUIRED:
      return "TOTP code required";
    case wire::CredentialRefusal::TOTP_INVALID:
      return "invalid TOTP code";
    case wire::CredentialRefusal::TOTP_REPLAYED:
      return "TOTP code already used";
    case wire::CredentialRefusal::DISABLED:
      return "principal disabled";
    case wire::CredentialRefusal::KEY_EXPIRED:
      return "key expired";
    case wire::CredentialRefusal::KEY_REVOKED:
      return "key revoked";
    case wire::CredentialRefusal::RATE_LIMITED:
      return fmt::format("too many failures, retry after {} s", retryAfterSeconds);
  }
  return fmt::format("refusal {}", static_cast<uint16_t>(refusal));
}

}  // namespace gatehouse::cli
