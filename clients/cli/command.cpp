#include "command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>
#include <limits>

#include "wire_text.hpp"

namespace gatehouse::cli {

void checkScope(const Action& action, const ActorOptions& options) {
  bool actor = !options.actor.empty();
  bool company = !options.company.empty();
  if (action.mode == Mode::kActor && !(actor && company)) {
    std::string_view missing = actor     ? "--company COMPANY"
                               : company ? "--as ACTOR"
                                         : "--as ACTOR and --company COMPANY";
    throw CLI::ValidationError(
        fmt::format("`{}` acts for an actor in a company: missing {}", action.name, missing));
  }
  if (actor && !company) {
    throw CLI::ValidationError("--as needs --company: the company the actor acts in");
  }
  if (company && !actor && action.mode != Mode::kRoleScope) {
    throw CLI::ValidationError(fmt::format(
        "--company needs --as: the actor acting in the company (`{}` takes no --company alone)",
        action.name));
  }
  if (actor && action.mode == Mode::kSystem) {
    throw CLI::ValidationError(fmt::format(
        "`{}` runs in the system context only: it takes no --as and --company", action.name));
  }
}

Scope resolveScope(Session& session, const ActorOptions& options) {
  if (options.company.empty()) return {};
  uint64_t company = session.company(options.company);
  if (options.actor.empty()) return {0, company};
  uint64_t actor = session.principal(options.actor);
  if (actor == 0 || company == 0) {
    throw CommandError(kUsageError,
                       "--as and --company need a principal and a company: 0 is "
                       "the system context");
  }
  return {actor, company};
}

std::string commandName(const CLI::App& command) {
  std::string name = command.get_name();
  for (const CLI::App* app = command.get_parent(); app && app->get_parent();
       app = app->get_parent()) {
    name.insert(0, app->get_name() + " ");
  }
  return name;
}

std::string modeHelp(Mode mode) {
  switch (mode) {
    case Mode::kSystem:
      return "";
    case Mode::kActor:
      return "Needs the global options --as ACTOR and --company COMPANY: it acts for the actor in "
             "that company, with the actor's permissions there.";
    case Mode::kEither:
      return "With the global options --as ACTOR and --company COMPANY it acts for the actor in "
             "that company; without them, in the system context.";
    case Mode::kRoleScope:
      return "The global option --company COMPANY: that company's roles (without it, the system "
             "roles); with --as ACTOR too, it acts for the actor in that company.";
  }
  return "";
}

CLI::App* addGroup(CLI::App& parent, const std::string& name, const std::string& help) {
  CLI::App* group = parent.add_subcommand(name, help);
  group->require_subcommand(1);
  return group;
}

Command<OneArgument> addPrincipalCommand(CLI::App& group, const std::string& name,
                                         const std::string& help, const std::string& argument,
                                         const std::string& argumentHelp, Action& chosen,
                                         int (*run)(Context&, const OneArgument&), Mode mode) {
  auto command = addCommand<OneArgument>(group, name, help, chosen, run, mode);
  command.app->add_option(argument, command.args.value, argumentHelp)->required();
  return command;
}

void addPrincipalInCompany(CLI::App& command, PrincipalInCompanyArguments& args) {
  command.add_option("PRINCIPAL", args.principal, "Principal name or id")->required();
  command.add_option("COMPANY", args.company, "Company name or id")->required();
}

CLI::Option* addPermissionOption(CLI::App& command, std::vector<std::string>& permissions,
                                 const std::string& help) {
  return command.add_option("--perm", permissions, help)->allow_extra_args(false)->delimiter(',');
}

void addGrantOptions(CLI::App& command, GrantOptions& options) {
  addPermissionOption(command, options.permissions, "A direct permission (repeatable)");
  command
      .add_option("--role", options.roles,
                  "A role, name or id: the company's role, else the system role (repeatable)")
      ->allow_extra_args(false);
}

void addExpiryOptions(CLI::App& command, ExpiryOptions& options) {
  auto* until =
      command
          .add_option_function<std::string>(
              "--until",
              [&options](const std::string& text) { options.until = parseTime("--until", text); },
              "End the grant at this time: RFC 3339 with its offset "
              "(2026-12-01T18:00:00Z) or @UNIX-SECONDS")
          ->type_name("TIME");
  command
      .add_option_function<std::string>(
          "--for",
          [&options](const std::string& text) {
            options.forSeconds = parseDuration("--for", text);
          },
          "End the grant this long from now: whole numbers with units s, m, h, d, w (8h, 90m, "
          "1h30m)")
      ->type_name("DURATION")
      ->excludes(until);
}

uint64_t parseDuration(const std::string& option, std::string_view text) {
  auto bad = [&] {
    return CLI::ValidationError(
        option, fmt::format("'{}' is not a duration: whole numbers each with a unit s, m, h, d or "
                            "w, e.g. 8h, 90m, 1h30m",
                            text));
  };
  constexpr std::pair<char, uint64_t> kUnits[] = {
      {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
  uint64_t total = 0;
  std::string_view rest = text;
  if (rest.empty()) throw bad();
  while (!rest.empty()) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (ec != std::errc() || end == rest.data() + rest.size()) throw bad();
    const auto* unit = std::find_if(std::begin(kUnits), std::end(kUnits),
                                    [c = *end](const auto& u) { return u.first == c; });
    if (unit == std::end(kUnits)) throw bad();
    if (n > (std::numeric_limits<uint64_t>::max() - total) / unit->second) throw bad();
    total += n * unit->second;
    rest.remove_prefix(static_cast<size_t>(end - rest.data()) + 1);
  }
  if (total == 0)
    throw CLI::ValidationError(option, fmt::format("'{}' is zero: give at least 1s", text));
  return total;
}

uint64_t parseTime(const std::string& option, std::string_view text) {
  if (!text.empty() && text.front() == '@') {
    return parseWholeNumber(option, text.substr(1), 1, std::numeric_limits<int64_t>::max(),
                            "unix seconds");
  }
  std::string copy(text);
  tm parts{};
  const char* end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S%z", &parts);
  if (end == nullptr || *end != '\0') {
    throw CLI::ValidationError(
        option, fmt::format("'{}' is not a time: give RFC 3339 with its offset, e.g. "
                            "2026-12-01T18:00:00Z or 2026-12-01T19:00:00+01:00, or @UNIX-SECONDS",
                            text));
  }
  long offset = parts.tm_gmtoff;
  time_t utc = timegm(&parts);
  if (utc == -1 || utc - offset <= 0) {
    throw CLI::ValidationError(option, fmt::format("'{}' is before 1970", text));
  }
  return static_cast<uint64_t>(utc - offset);
}

uint64_t expiresAt(const ExpiryOptions& options, uint64_t now) {
  if (options.until != 0) return options.until;
  if (options.forSeconds == 0) return 0;
  // Past the largest time the daemon takes, it refuses the grant and names its limit.
  return options.forSeconds > std::numeric_limits<uint64_t>::max() - now
             ? std::numeric_limits<uint64_t>::max()
             : now + options.forSeconds;
}

uint64_t parseWholeNumber(const std::string& option, std::string_view text, uint64_t min,
                          uint64_t max, std::string_view unit) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto result = std::from_chars(text.data(), end, value);  // No sign, space or prefix.
  if (result.ec != std::errc() || result.ptr != end || value < min || value > max) {
    throw CLI::ValidationError(option,
                               fmt::format("'{}' is not a whole number{}{} from {} to {}", text,
                                           unit.empty() ? "" : " of ", unit, min, max));
  }
  return value;
}

PrincipalInCompanyIds resolve(Session& session, const PrincipalInCompanyArguments& args) {
  return {session.principal(args.principal), session.company(args.company)};
}

std::vector<uint64_t> grantableRoles(Session& session, const std::vector<std::string>& roles,
                                     uint64_t company) {
  std::vector<uint64_t> ids;
  ids.reserve(roles.size());
  for (const std::string& role : roles) ids.push_back(session.grantableRole(role, company));
  return ids;
}

client::Answer listRoles(Session& session, uint64_t scope) {
  return session.call(wire::Response::ROLES, [&](wire::Request::Builder request) {
    request.initListRoles().setCompany(scope);
  });
}

client::Answer showServiceAccountRow(Session& session, uint64_t account) {
  client::Answer answer = session.call(
      wire::Response::SA_VIEW, [&](wire::Request::Builder request) { request.setSaShow(account); });
  size_t rows = answer.get().getSaView().getRows().size();
  if (rows != 1) {
    throw CommandError(kProtocolError, fmt::format("saShow answered {} rows instead of one", rows));
  }
  return answer;
}

// The commands --dry-run may preview: those whose request can change effective permissions.
constexpr std::string_view kPreviewable[] = {
    "grant set",          "grant remove", "principal disable", "principal enable",
    "principal delete",   "role create",  "role update",       "role edit",
    "role delete",        "sa grant",     "sa revoke",         "sa delete",
    "sa disable",         "sa enable",    "sa ceiling",        "sa unshare",
    "sa accept-transfer", "user grant",   "user revoke",
};

void checkDryRun(const Action& action, bool dryRun) {
  if (!dryRun) return;
  if (std::find(std::begin(kPreviewable), std::end(kPreviewable), action.name) !=
      std::end(kPreviewable)) {
    return;
  }
  throw CLI::ValidationError(
      fmt::format("--dry-run: `{}` cannot be previewed (only changes of effective permissions can)",
                  action.name));
}

void checkMinRevision(const Action& action, uint64_t minRevision) {
  constexpr std::string_view kFresh[] = {"check", "check-batch", "permissions", "check-access"};
  if (minRevision == 0 ||
      std::find(std::begin(kFresh), std::end(kFresh), action.name) != std::end(kFresh)) {
    return;
  }
  throw CLI::ValidationError(fmt::format(
      "--min-revision: `{}` does not take one (check, check-batch, permissions and check-access "
      "do)",
      action.name));
}

int preview(Context& context, const client::Client::Fill& fill) {
  client::Answer answer =
      context.session.call(wire::Response::IMPACT, [&](wire::Request::Builder request) {
        fill(request);
        request.setDryRun(true);
      });
  auto impact = answer.get().getImpact();
  std::vector<std::string> lines{
      fmt::format("dry run, nothing written: {} grant{} would change (revision {})",
                  impact.getTotal(), impact.getTotal() == 1 ? "" : "s", impact.getRevision())};
  Json changes = Json::array();
  for (auto change : impact.getChanges()) {
    std::vector<std::string> words;
    for (auto name : change.getGained()) words.push_back(fmt::format("+{}", view(name)));
    for (auto name : change.getLost()) words.push_back(fmt::format("-{}", view(name)));
    lines.push_back(fmt::format("principal {} in company {}: {}", change.getPrincipal(),
                                change.getCompany(), joined(words, " ")));
    changes.push_back({{"principal", change.getPrincipal()},
                       {"company", change.getCompany()},
                       {"gained", jsonStrings(change.getGained())},
                       {"lost", jsonStrings(change.getLost())}});
  }
  if (impact.getTotal() > impact.getChanges().size()) {
    lines.push_back(fmt::format("... and {} more", impact.getTotal() - impact.getChanges().size()));
  }
  context.out.print(joined(lines, "\n"), Json{{"dryRun", true},
                                              {"revision", impact.getRevision()},
                                              {"total", impact.getTotal()},
                                              {"changes", std::move(changes)}});
  return kExitOk;
}

int create(Context& context, std::string_view what, const client::Client::Fill& fill) {
  if (context.dryRun) return preview(context, fill);
  client::Answer answer = context.session.call(wire::Response::MUTATION, fill);
  auto result = answer.get().getMutation();
  context.out.print(
      fmt::format("created {} {} (revision {})", what, result.getId(), result.getRevision()),
      Json{{"id", result.getId()}, {"revision", result.getRevision()}});
  return kExitOk;
}

int change(Context& context, const client::Client::Fill& fill) {
  if (context.dryRun) return preview(context, fill);
  client::Answer answer = context.session.call(wire::Response::MUTATION, fill);
  auto result = answer.get().getMutation();
  context.out.print(fmt::format("ok (revision {})", result.getRevision()),
                    Json{{"revision", result.getRevision()}});
  return kExitOk;
}

int changeState(Context& context, std::string_view name, wire::PrincipalState state,
                InitState init) {
  uint64_t principal = context.session.principal(name);
  return change(context, [&](wire::Request::Builder request) {
    auto update = (request.*init)();
    update.setPrincipal(principal);
    update.setState(state);
  });
}

std::string_view oneLineSecret(capnp::Text::Reader text, std::string_view what) {
  std::string_view secret = view(text);
  if (secret.empty()) throw CommandError(kProtocolError, fmt::format("{} is empty", what));
  for (char c : secret) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      throw CommandError(kProtocolError, fmt::format("{} contains a control character", what));
    }
  }
  return secret;
}

int issueKey(Context& context, const client::Client::Fill& fill,
             const std::function<std::string(uint32_t)>& retiredText) {
  client::Answer answer = context.session.call(wire::Response::KEY_ISSUED, fill);
  auto issued = answer.get().getKeyIssued();
  std::string_view secret = oneLineSecret(issued.getSecret(), "the issued key");
  context.out.print(secret, Json{{"keyId", keyIdJson(issued.getKeyId())},
                                 {"secret", secret},
                                 {"expiresAt", issued.getExpiresAt()},
                                 {"retired", issued.getRetired()},
                                 {"revision", issued.getRevision()}});
  std::string retired = retiredText ? "; " + retiredText(issued.getRetired()) : "";
  context.out.note(fmt::format("key {}, expires {}{} (revision {})", issued.getKeyId(),
                               utcTime(issued.getExpiresAt(), "never"), retired,
                               issued.getRevision()));
  return kExitOk;
}

int resetOwnedKeys(Context& context, std::string_view serviceAccount) {
  uint64_t account = context.session.principal(serviceAccount);
  return issueKey(
      context, [&](wire::Request::Builder request) { request.setSaResetCredentials(account); },
      keysRevokedText);
}

std::string otherKeys(uint32_t count) {
  return fmt::format("{} other key{}", count, count == 1 ? "" : "s");
}

std::string keysRevokedText(uint32_t count) { return otherKeys(count) + " revoked"; }

const std::vector<std::string> kKeyHeader{"ID",      "STATE",   "CREATED",
                                          "EXPIRES", "REVOKED", "LAST-USED"};

std::vector<std::string> keyRow(wire::KeyInfo::Reader key) {
  return {std::to_string(key.getId()), enumName(key.getState()),    utcTime(key.getCreatedAt()),
          utcTime(key.getExpiresAt()), utcTime(key.getRevokedAt()), utcTime(key.getLastUsedAt())};
}

Json keyJson(wire::KeyInfo::Reader key) {
  return {{"id", keyIdJson(key.getId())},    {"state", enumName(key.getState())},
          {"createdAt", key.getCreatedAt()}, {"expiresAt", key.getExpiresAt()},
          {"revokedAt", key.getRevokedAt()}, {"lastUsedAt", key.getLastUsedAt()}};
}

Json roleJson(wire::RoleInfo::Reader role) {
  return {{"id", role.getId()},
          {"company", role.getCompany()},
          {"name", view(role.getName())},
          {"permissions", jsonStrings(role.getPermissions())}};
}

int printCompanies(Context& context, wire::CompanyList::Reader list) {
  std::vector<std::vector<std::string>> rows;
  Json companies = Json::array();
  for (auto company : list.getCompanies()) {
    rows.push_back({std::to_string(company.getId()), std::string(view(company.getName()))});
    companies.push_back({{"id", company.getId()}, {"name", view(company.getName())}});
  }
  context.out.print(table(rows),
                    Json{{"companies", std::move(companies)}, {"revision", list.getRevision()}});
  return kExitOk;
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::vector<std::string> lines;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i + 1 < row.size(); ++i) line += fmt::format("{:<{}}  ", row[i], widths[i]);
    if (!row.empty()) line += row.back();
    lines.push_back(std::move(line));
  }
  return joined(lines, "\n");
}

}  // namespace gatehouse::cli
