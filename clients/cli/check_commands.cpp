// The check path: check, check-batch, permissions, ping, health.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <optional>

#include "command.hpp"
#include "wire_text.hpp"

namespace gatehouse::cli {
namespace {

// The daemon's default `limits.max_batch`: checks per authorizeBatch request.
constexpr size_t kMaxBatch = 1024;

struct CheckArguments {
  PrincipalInCompanyArguments target;
  std::string permission;
};

// One decision; `revision` is the snapshot it was read from.
struct Decision {
  bool allowed = false;
  wire::DenyReason reason = wire::DenyReason::NONE;
  uint64_t revision = 0;
};

// Adds "allowed", "reason" and "revision" to the object `json`.
void addDecision(Json& json, const Decision& d) {
  json["allowed"] = d.allowed;
  json["reason"] = enumName(d.reason);
  json["revision"] = d.revision;
}

// "allow (revision 17)" or "deny: not granted (revision 17)".
std::string decisionText(const Decision& d) {
  if (d.allowed) return fmt::format("allow (revision {})", d.revision);
  return fmt::format("deny: {} (revision {})", denyReasonText(d.reason), d.revision);
}

void fillQuery(wire::AuthorizeQuery::Builder query, const PrincipalInCompanyIds& ids,
               const std::string& permission) {
  query.setPrincipal(ids.principal);
  query.setCompany(ids.company);
  query.setPermission(toText(permission));
}

int check(Context& context, const CheckArguments& args) {
  PrincipalInCompanyIds ids = resolve(context.session, args.target);
  client::Answer answer =
      context.session.call(wire::Response::AUTHORIZE, [&](wire::Request::Builder request) {
        fillQuery(request.initAuthorize(), ids, args.permission);
      });
  auto reply = answer.get().getAuthorize();
  Decision decision{reply.getAllowed(), reply.getReason(), reply.getRevision()};
  Json json = Json::object();
  addDecision(json, decision);
  context.out.print(decisionText(decision), json);
  return decision.allowed ? kExitOk : kExitDenied;
}

// check-batch reads the queries as columns, so each column resolves in one pipelined pass.
struct BatchInput {
  std::vector<std::string> principals;
  std::vector<std::string> companies;
  std::vector<std::string> permissions;
};

std::vector<std::string> splitFields(const std::string& line) {
  std::vector<std::string> fields;
  constexpr std::string_view kSpace = " \t\r";
  size_t start = line.find_first_not_of(kSpace);
  while (start != std::string::npos) {
    size_t end = line.find_first_of(kSpace, start);
    fields.push_back(line.substr(start, end - start));
    start = line.find_first_not_of(kSpace, end);
  }
  return fields;
}

// Lines "PRINCIPAL COMPANY PERMISSION"; blank lines are skipped.
BatchInput readBatch(std::istream& in) {
  BatchInput input;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    std::vector<std::string> fields = splitFields(line);
    if (fields.empty()) continue;
    if (fields.size() != 3) {
      throw CommandError(kUsageError,
                         fmt::format("stdin line {}: expected PRINCIPAL COMPANY PERMISSION, got {} "
                                     "field(s)",
                                     number, fields.size()));
    }
    input.principals.push_back(std::move(fields[0]));
    input.companies.push_back(std::move(fields[1]));
    input.permissions.push_back(std::move(fields[2]));
  }
  if (in.bad()) throw CommandError(kUsageError, "cannot read stdin");
  return input;
}

// Checks items [first, first + count) in one authorizeBatch request; appends their decisions.
void authorizeChunk(Session& session, const BatchInput& input,
                    const std::vector<uint64_t>& principals, const std::vector<uint64_t>& companies,
                    size_t first, size_t count, std::vector<Decision>& decisions) {
  client::Answer answer =
      session.call(wire::Response::AUTHORIZE_BATCH, [&](wire::Request::Builder request) {
        auto queries = request.initAuthorizeBatch(static_cast<unsigned>(count));
        for (size_t i = 0; i < count; ++i) {
          size_t item = first + i;
          fillQuery(queries[i], {principals[item], companies[item]}, input.permissions[item]);
        }
      });
  auto batch = answer.get().getAuthorizeBatch();
  if (batch.getItems().size() != count) {
    throw CommandError(kProtocolError,
                       fmt::format("{} decisions for {} queries", batch.getItems().size(), count));
  }
  for (auto item : batch.getItems()) {
    decisions.push_back({item.getAllowed(), item.getReason(), batch.getRevision()});
  }
}

std::vector<Decision> authorizeAll(Session& session, const BatchInput& input) {
  std::vector<uint64_t> principals =
      session.resolveAll(wire::EntityKind::PRINCIPAL, input.principals);
  std::vector<uint64_t> companies = session.resolveAll(wire::EntityKind::COMPANY, input.companies);
  std::vector<Decision> decisions;
  decisions.reserve(input.permissions.size());
  for (size_t first = 0; first < input.permissions.size(); first += kMaxBatch) {
    size_t count = std::min(kMaxBatch, input.permissions.size() - first);
    authorizeChunk(session, input, principals, companies, first, count, decisions);
  }
  return decisions;
}

// One line per query, in input order: "alice acme routers.read: allow (revision 17)".
int printBatch(Context& context, const BatchInput& input, const std::vector<Decision>& decisions) {
  bool allAllowed = true;
  std::vector<std::string> lines;
  Json results = Json::array();
  for (size_t i = 0; i < decisions.size(); ++i) {
    allAllowed = allAllowed && decisions[i].allowed;
    lines.push_back(fmt::format("{} {} {}: {}", input.principals[i], input.companies[i],
                                input.permissions[i], decisionText(decisions[i])));
    Json result = {{"principal", input.principals[i]},
                   {"company", input.companies[i]},
                   {"permission", input.permissions[i]}};
    addDecision(result, decisions[i]);
    results.push_back(std::move(result));
  }
  context.out.print(joined(lines, "\n"),
                    Json{{"allAllowed", allAllowed}, {"results", std::move(results)}});
  return allAllowed ? kExitOk : kExitDenied;
}

int checkBatch(Context& context, const NoArguments&) {
  BatchInput input = readBatch(std::cin);
  return printBatch(context, input, authorizeAll(context.session, input));
}

int permissions(Context& context, const PrincipalInCompanyArguments& args) {
  PrincipalInCompanyIds ids = resolve(context.session, args);
  client::Answer answer = context.session.call(
      wire::Response::PERMISSIONS,
      [&](wire::Request::Builder request) { ids.fill(request.initListPermissions()); });
  auto list = answer.get().getPermissions();
  Json json = {{"found", list.getFound()},
               {"reason", enumName(list.getReason())},
               {"permissions", jsonStrings(list.getNames())},
               {"revision", list.getRevision()}};
  if (!list.getFound()) {
    context.out.print(fmt::format("no permissions: {} (revision {})",
                                  denyReasonText(list.getReason()), list.getRevision()),
                      json);
    return kExitDenied;
  }
  context.out.print(joined(list.getNames(), "\n"), json);
  return kExitOk;
}

// The daemon's `hello`, or nullopt from a daemon older than that request (which answers
// unknownRequest).
std::optional<client::Answer> hello(Context& context) {
  try {
    return context.session.call(wire::Response::HELLO,
                                [](wire::Request::Builder request) { request.setHello(); });
  } catch (const CommandError& e) {
    if (e.code() != "unknownRequest") throw;
    return std::nullopt;
  }
}

int ping(Context& context, const NoArguments&) {
  auto answer = hello(context);
  if (!answer) {  // an older daemon: the plain ping
    context.session.call(wire::Response::PONG,
                         [](wire::Request::Builder request) { request.setPing(); });
    context.out.print("pong", Json{{"pong", true}});
    return kExitOk;
  }
  auto h = (*answer)->getHello();
  context.out.print(
      fmt::format("pong from gatehoused {} at revision {}", h.getVersion().cStr(), h.getRevision()),
      Json{{"pong", true},
           {"version", h.getVersion().cStr()},
           {"revision", h.getRevision()},
           {"uptimeSeconds", h.getUptimeSeconds()}});
  return kExitOk;
}

struct HealthArguments {
  double maxBacklog = 10;
};

int health(Context& context, const HealthArguments& args) {
  auto answer = hello(context);
  if (!answer) throw CommandError("unknownRequest", "this gatehoused is too old to report health");
  auto h = (*answer)->getHello();
  auto limitMs = static_cast<uint64_t>(args.maxBacklog * 1000);
  bool healthy = h.getWriterBacklogMs() <= limitMs;
  std::string text =
      healthy ? fmt::format("healthy: gatehoused {}, revision {}, up {} s, writer backlog {} ms",
                            h.getVersion().cStr(), h.getRevision(), h.getUptimeSeconds(),
                            h.getWriterBacklogMs())
              : fmt::format("unhealthy: a mutation has waited {} ms for the writer (limit {} ms)",
                            h.getWriterBacklogMs(), limitMs);
  context.out.print(text, Json{{"healthy", healthy},
                               {"version", h.getVersion().cStr()},
                               {"revision", h.getRevision()},
                               {"uptimeSeconds", h.getUptimeSeconds()},
                               {"writerBacklogMs", h.getWriterBacklogMs()}});
  return healthy ? kExitOk : kExitDenied;
}

}  // namespace

void addCheckCommands(CLI::App& app, Action& chosen) {
  auto checkCommand = addCommand<CheckArguments>(
      app, "check", "Check one permission (exit 0 allow, 1 deny, 2 error)", chosen, check);
  addPrincipalInCompany(*checkCommand.app, checkCommand.args.target);
  checkCommand.app->add_option("PERMISSION", checkCommand.args.permission, "Permission name")
      ->required();

  addCommand<NoArguments>(app, "check-batch",
                          "Check lines 'PRINCIPAL COMPANY PERMISSION' read from stdin", chosen,
                          checkBatch);

  auto permissionsCommand = addCommand<PrincipalInCompanyArguments>(
      app, "permissions", "List a principal's effective permissions in a company", chosen,
      permissions);
  addPrincipalInCompany(*permissionsCommand.app, permissionsCommand.args);

  addCommand<NoArguments>(app, "ping", "Check that the daemon answers; print its version", chosen,
                          ping);

  auto healthCommand = addCommand<HealthArguments>(
      app, "health",
      "Exit 0 when the daemon answers and its writer keeps up, 1 when a mutation has waited "
      "longer than --max-backlog, 2 when it does not answer",
      chosen, health);
  healthCommand.app
      ->add_option("--max-backlog", healthCommand.args.maxBacklog,
                   "Seconds a mutation may wait for the writer before the daemon counts as stuck")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
}

}  // namespace gatehouse::cli
