// How a command's result reaches the user, and the words used for the schema's enums.
//
// Text mode prints lines for people. With --json, every command prints exactly one JSON object on
// stdout (its result, or {"error":{...}}) on one line, members in the order the command adds them;
// a sequence of bytes that is not valid UTF-8 becomes U+FFFD. Errors always go to stderr as
// "gatehouse: error: <code>: <message>", where <code> is the schema's ErrorCode name or one of the
// client-side codes below.
#pragma once

#include <capnp/dynamic.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse.capnp.h"

namespace gatehouse::cli {

// A JSON value of --json output. Objects keep their members in insertion order.
using Json = nlohmann::ordered_json;

// Client-side error codes, next to the schema's ErrorCode names.
constexpr std::string_view kConnectionError = "connection";  // cannot reach or talk to gatehoused
constexpr std::string_view kUsageError = "usage";            // bad command line or stdin input
constexpr std::string_view kProtocolError = "protocol";      // an answer of the wrong kind
// The schema's ErrorCode name, also used when a name given on the command line is unknown.
constexpr std::string_view kNotFound = "notFound";
// The schema's ErrorCode name, also used when the CLI itself finds that the active company does
// not own the service account (`sa key list` for an actor).
constexpr std::string_view kNotOwner = "notOwner";

class Output {
 public:
  explicit Output(bool json) : json_(json) {}
  bool json() const { return json_; }

  // Prints `text` (a line feed is added unless it is empty), or with --json the object.
  void print(std::string_view text, const Json& object) const;
  // With `missing` (the permissions an actor lacks, for escalation and forbidden), the JSON error
  // carries "missing":["a","b"], and the text line ends with " (missing: a, b)" unless it is empty.
  void error(std::string_view code, std::string_view message,
             const std::optional<std::vector<std::string>>& missing = std::nullopt) const;
  // Prints `text` on stderr, in text mode only: the details of a result whose stdout is one value
  // that scripts capture whole (an issued key). With --json the object carries them.
  void note(std::string_view text) const;

 private:
  bool json_;
};

// The schema's name of an enumerant ("notGranted"), or its number when this client is older than
// the daemon and does not know it.
template <typename Enum>
std::string enumName(Enum value) {
  auto number = static_cast<uint16_t>(value);
  KJ_IF_MAYBE (enumerant, capnp::DynamicEnum(capnp::Schema::from<Enum>(), number).getEnumerant()) {
    return enumerant->getProto().getName();
  }
  return std::to_string(number);
}

// "2025-07-01T12:00:00Z", or `zero` for 0; "@N" when N is beyond what the C library converts.
std::string utcTime(uint64_t unixSeconds, std::string_view zero = "-");

// Key ids are random 64-bit numbers: JSON gives them as strings, because JavaScript and jq 1.6
// read numbers beyond 2^53 inexactly (and a rounded id names no key, or another one).
inline std::string keyIdJson(uint64_t id) { return std::to_string(id); }

// The reason in words: "not granted", "no access to the company", ...
std::string denyReasonText(wire::DenyReason reason);
// Why a credential was refused, in words: "bad credential", "key revoked", ...; for rateLimited,
// "too many failures, retry after N s".
std::string credentialRefusalText(wire::CredentialRefusal refusal, uint32_t retryAfterSeconds);

}  // namespace gatehouse::cli
