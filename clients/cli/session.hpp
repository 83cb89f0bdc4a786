// The CLI's conversation with gatehoused: one connection, opened on first use; error answers
// turned into CommandError; names resolved to ids; requests sent for an actor when one is set.
//
// Resolution rule: an argument made only of digits is an id and is used as it is (the daemon
// reports an unknown id); anything else is a name, resolved with `lookup`, and an unknown name
// is a CommandError (code notFound) naming what was not found.
//
// A Session is a resource (it owns the connection) and, like the client, is not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "client.hpp"
#include "gatehouse.capnp.h"

namespace gatehouse::cli {

// A command that failed: printed as "gatehouse: error: <code>: <message>", exit status 2.
class CommandError : public std::runtime_error {
 public:
  CommandError(std::string_view code, const std::string& message,
               std::optional<std::vector<std::string>> missing = std::nullopt)
      : std::runtime_error(message), code_(code), missing_(std::move(missing)) {}
  const std::string& code() const { return code_; }
  // For the daemon's escalation and forbidden: the permissions the actor lacks.
  const std::optional<std::vector<std::string>>& missing() const { return missing_; }

 private:
  std::string code_;
  std::optional<std::vector<std::string>> missing_;
};

// The context requests are sent in (--as ACTOR, --company COMPANY), as ids. With an actor, every
// request except `lookup` carries `actor` and `activeCompany` (names are resolved in the system
// context). Without one, requests are sent in the system context and `company` is only the role
// commands' --company (0: the system roles).
struct Scope {
  uint64_t actor = 0;
  uint64_t company = 0;

  bool forActor() const { return actor != 0; }
};

// The id an argument names when it is made only of digits; nullopt for a name.
// Throws CommandError (usage) when the digits do not fit in 64 bits.
std::optional<uint64_t> parseId(std::string_view argument);

class Session {
 public:
  using ManyFill = std::function<void(size_t, wire::Request::Builder)>;

  // `timeout`: how long to wait for each answer (zero: for ever).
  Session(std::string socketPath, std::chrono::milliseconds timeout)
      : socketPath_(std::move(socketPath)), timeout_(timeout) {}

  // Set once, before the command runs.
  void setScope(Scope scope) { scope_ = scope; }
  // --min-revision: the checks and name lookups this session sends are answered from that
  // revision or later (Request.minRevision); 0: any.
  void setMinRevision(uint64_t revision) { minRevision_ = revision; }
  const Scope& scope() const { return scope_; }

  // Sends one request and returns its answer, which carries `expected`. An error answer throws
  // CommandError with the daemon's code and message; any other answer is a protocol error.
  // Connection failures throw client::ClientError.
  client::Answer call(wire::Response::Which expected, const client::Client::Fill& fill);
  // One request with `descriptor` sent along (SCM_RIGHTS); checked like call.
  client::Answer callWithDescriptor(wire::Response::Which expected, int descriptor,
                                    const client::Client::Fill& fill);
  // The same for `count` requests, pipelined a few at a time; answers in request order.
  std::vector<client::Answer> callMany(wire::Response::Which expected, size_t count,
                                       const ManyFill& fill);

  uint64_t company(std::string_view nameOrId) {
    return resolve(wire::EntityKind::COMPANY, nameOrId);
  }
  uint64_t principal(std::string_view nameOrId) {
    return resolve(wire::EntityKind::PRINCIPAL, nameOrId);
  }
  // A role of `scope` (a company id, or 0 for the system roles).
  uint64_t role(std::string_view nameOrId, uint64_t scope) {
    return resolve(wire::EntityKind::ROLE, nameOrId, scope);
  }
  // A role that may be granted in `company`: the company's role of that name, else the system
  // role of that name.
  uint64_t grantableRole(std::string_view nameOrId, uint64_t company);
  // Every argument resolved, in order; each distinct name is looked up once, pipelined.
  std::vector<uint64_t> resolveAll(wire::EntityKind kind,
                                   const std::vector<std::string>& namesOrIds, uint64_t scope = 0);

 private:
  client::Client& client();
  void stamp(wire::Request::Builder request) const;
  uint64_t resolve(wire::EntityKind kind, std::string_view nameOrId, uint64_t scope = 0);
  std::vector<std::optional<uint64_t>> lookup(wire::EntityKind kind,
                                              const std::vector<std::string>& names,
                                              uint64_t scope);

  std::string socketPath_;
  std::chrono::milliseconds timeout_;
  std::optional<client::Client> client_;
  Scope scope_;
  uint64_t minRevision_ = 0;
};

}  // namespace gatehouse::cli
