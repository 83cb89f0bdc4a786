// Management by an actor in its active company (--as, --company): the Service Accounts view (sa
// list, sa show) and what may be done to its rows, users' grants in the company, and the audit
// trail (also in the system context, which sees every event). The daemon checks the actor's
// permissions; these commands only name the request. `sa create`, `user create`, the role
// commands and `sa key` also run for an actor: see principal_commands.cpp, catalog_commands.cpp
// and credential_commands.cpp.
#include <fmt/format.h>

#include <ctime>

#include "command.hpp"
#include "wire_text.hpp"

namespace gatehouse::cli {
namespace {

struct DescribeArguments {
  std::string serviceAccount;
  std::string description;
};

struct ScopedGrantArguments {
  std::string principal;
  GrantOptions grant;
  ExpiryOptions expiry;
};

struct ShareArguments {
  std::string serviceAccount;
  std::string company;  // --with
};

struct TransferArguments {
  std::string serviceAccount;
  std::string company;      // --to
  bool dropAccess = false;  // --drop-access
};

struct CeilingArguments {
  std::string serviceAccount;
  std::vector<std::string> permissions;  // --perm
  bool clear = false;                    // --clear
};

struct AuditArguments {
  uint32_t limit = 0;   // 0: the daemon's default (100).
  uint64_t before = 0;  // 0: from the newest event.
};

using SetPrincipal = void (wire::Request::Builder::*)(uint64_t);

// --- The Service Accounts view ---

// What the actor may do to a row: its word in `sa list`, its key in JSON.
struct ActionField {
  std::string_view word;
  std::string_view json;
  bool (wire::SaActions::Reader::*allowed)() const;
};

constexpr ActionField kActionFields[] = {
    {"describe", "editDescription", &wire::SaActions::Reader::getEditDescription},
    {"reset", "resetCredentials", &wire::SaActions::Reader::getResetCredentials},
    {"delete", "delete", &wire::SaActions::Reader::getDelete},
    {"edit", "editPermissions", &wire::SaActions::Reader::getEditPermissions},
    {"remove", "removeAccess", &wire::SaActions::Reader::getRemoveAccess},
    {"share", "share", &wire::SaActions::Reader::getShare},
    {"transfer", "transfer", &wire::SaActions::Reader::getTransfer},
    {"accept", "acceptOwnership", &wire::SaActions::Reader::getAcceptOwnership},
};

// "describe,reset,delete": the allowed actions.
std::string actionsText(wire::SaActions::Reader actions) {
  std::vector<std::string> words;
  for (const ActionField& field : kActionFields) {
    if ((actions.*field.allowed)()) words.emplace_back(field.word);
  }
  return listText(words, ",");
}

Json actionsJson(wire::SaActions::Reader actions) {
  Json json = Json::object();
  for (const ActionField& field : kActionFields) {
    json[std::string(field.json)] = (actions.*field.allowed)();
  }
  return json;
}

// Its direct permissions and its roles' names in the viewing company.
std::vector<std::string> permissionsHere(wire::SaRow::Reader row) {
  std::vector<std::string> names;
  for (auto permission : row.getPermissions()) names.emplace_back(view(permission));
  for (auto role : row.getRoles()) names.emplace_back(view(role.getName()));
  return names;
}

std::string permissionsHereText(wire::SaRow::Reader row) {
  if (!row.getHasAccess()) return row.getOffered() ? "(offered, not granted)" : "(no access)";
  std::string text = listText(permissionsHere(row), ",");
  if (row.getExpiresAt() != 0) text += fmt::format(" (until {})", utcTime(row.getExpiresAt()));
  return text;
}

// "yes", "yes, until 2026-12-01T18:00:00Z", "no (offered, not granted)" or "no".
std::string accessText(wire::SaRow::Reader row) {
  if (row.getHasAccess()) {
    return row.getExpiresAt() == 0 ? "yes" : "yes, until " + utcTime(row.getExpiresAt());
  }
  return row.getOffered() ? "no (offered, not granted)" : "no";
}

std::string relationText(wire::Relation relation) {
  return relation == wire::Relation::OWNED ? "OWNED" : "EXTERNAL";
}

// The companies an owned account is offered to: "client-north (2), client-south (3)".
std::string offeredToText(wire::SaRow::Reader row) {
  std::vector<std::string> companies;
  for (auto company : row.getOfferedTo()) {
    companies.push_back(fmt::format("{} ({})", view(company.getName()), company.getId()));
  }
  return listText(companies, ", ");
}

// The owner's ceiling on what other companies may grant the account: "none" when it set none.
std::string ceilingText(wire::SaRow::Reader row) {
  if (!row.getHasCeiling()) return "none (no limit)";
  if (row.getCeiling().size() == 0) return "(nothing)";
  return listText(row.getCeiling(), ", ");
}

Json rowJson(wire::SaRow::Reader row) {
  Json offeredTo = Json::array();
  for (auto company : row.getOfferedTo()) {
    offeredTo.push_back({{"id", company.getId()}, {"name", view(company.getName())}});
  }
  Json roles = Json::array();
  for (auto role : row.getRoles()) roles.push_back(roleJson(role));
  Json keys = Json::array();
  for (auto key : row.getKeys()) keys.push_back(keyJson(key));
  return {{"id", row.getId()},
          {"name", view(row.getName())},
          {"description", view(row.getDescription())},
          {"ownerCompany", row.getOwnerCompany()},
          {"ownerCompanyName", view(row.getOwnerCompanyName())},
          {"relation", enumName(row.getRelation())},
          {"state", enumName(row.getState())},
          {"permissions", jsonStrings(row.getPermissions())},
          {"roles", std::move(roles)},
          {"keys", std::move(keys)},
          {"lastUsedAt", row.getLastUsedAt()},
          {"actions", actionsJson(row.getActions())},
          {"hasAccess", row.getHasAccess()},
          {"expiresAt", row.getExpiresAt()},
          {"offered", row.getOffered()},
          {"offeredTo", std::move(offeredTo)},
          {"ceiling", row.getHasCeiling() ? jsonStrings(row.getCeiling()) : Json(nullptr)},
          {"ownershipOfferedTo", row.getOwnershipOfferedTo().getId() == 0
                                     ? Json(nullptr)
                                     : Json{{"id", row.getOwnershipOfferedTo().getId()},
                                            {"name", view(row.getOwnershipOfferedTo().getName())}}},
          {"ownershipOffered", row.getOwnershipOffered()}};
}

int listServiceAccounts(Context& context, const NoArguments&) {
  client::Answer answer = context.session.call(
      wire::Response::SA_VIEW, [](wire::Request::Builder request) { request.setSaList(); });
  auto saView = answer.get().getSaView();
  std::vector<std::vector<std::string>> rows{
      {"ID", "NAME", "OWNED/EXTERNAL", "OWNER", "PERMISSIONS-HERE", "ACTIONS", "LAST-USED"}};
  Json accounts = Json::array();
  for (auto row : saView.getRows()) {
    rows.push_back({std::to_string(row.getId()), std::string(view(row.getName())),
                    relationText(row.getRelation()), std::string(view(row.getOwnerCompanyName())),
                    permissionsHereText(row), actionsText(row.getActions()),
                    utcTime(row.getLastUsedAt())});
    accounts.push_back(rowJson(row));
  }
  context.out.print(table(rows), Json{{"serviceAccounts", std::move(accounts)},
                                      {"company", saView.getCompany()},
                                      {"revision", saView.getRevision()}});
  return kExitOk;
}

// `lines` with every line but the first indented by `indent`.
std::string indented(const std::string& lines, std::string_view indent) {
  std::string out;
  for (char c : lines) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

std::string rowText(wire::SaRow::Reader row) {
  std::vector<std::string> roles;
  for (auto role : row.getRoles()) {
    roles.push_back(fmt::format("{} ({})", view(role.getName()), role.getId()));
  }
  std::vector<std::string> lines{
      fmt::format("id:          {}", row.getId()),
      fmt::format("name:        {}", view(row.getName())),
      fmt::format("description: {}", view(row.getDescription())),
      fmt::format("relation:    {}", enumName(row.getRelation())),
      fmt::format("owner:       {} (company {})", view(row.getOwnerCompanyName()),
                  row.getOwnerCompany()),
      fmt::format("state:       {}", enumName(row.getState())),
      fmt::format("access here: {}", accessText(row)),
      fmt::format("permissions: {}", listText(row.getPermissions(), ", ")),
      fmt::format("roles:       {}", listText(roles, ", ")),
      fmt::format("last used:   {}", utcTime(row.getLastUsedAt())),
      fmt::format("actions:     {}", actionsText(row.getActions())),
      fmt::format("ceiling:     {}", ceilingText(row)),
  };
  if (row.getOwnershipOfferedTo().getId() != 0) {
    lines.push_back(fmt::format("ownership:   offered to {} ({})",
                                view(row.getOwnershipOfferedTo().getName()),
                                row.getOwnershipOfferedTo().getId()));
  }
  if (row.getOwnershipOffered()) {
    lines.push_back("ownership:   offered to this company (sa accept-transfer)");
  }
  if (row.getRelation() == wire::Relation::OWNED) {
    lines.push_back(fmt::format("offered to:  {}", offeredToText(row)));
    std::vector<std::vector<std::string>> keys{kKeyHeader};
    for (auto key : row.getKeys()) keys.push_back(keyRow(key));
    lines.push_back(row.getKeys().size() == 0 ? "keys:        (none)"
                                              : "keys:\n  " + indented(table(keys), "  "));
  }
  return joined(lines, "\n");
}

int showServiceAccount(Context& context, const OneArgument& args) {
  client::Answer answer =
      showServiceAccountRow(context.session, context.session.principal(args.value));
  auto saView = answer.get().getSaView();
  auto row = saView.getRows()[0];
  Json json = rowJson(row);
  json["revision"] = saView.getRevision();
  context.out.print(rowText(row), json);
  return kExitOk;
}

int serviceAccountCompanies(Context& context, const OneArgument& args) {
  uint64_t account = context.session.principal(args.value);
  client::Answer answer = context.session.call(
      wire::Response::SA_COMPANIES,
      [&](wire::Request::Builder request) { request.setSaCompanies(account); });
  return printCompanies(context, answer.get().getSaCompanies());
}

// --- What the actor does to a service account or a user ---

// Sends the request `set` names for the principal the argument names; prints "ok (revision N)".
int changePrincipal(Context& context, const OneArgument& args, SetPrincipal set) {
  uint64_t principal = context.session.principal(args.value);
  return change(context, [&](wire::Request::Builder request) { (request.*set)(principal); });
}

int describeServiceAccount(Context& context, const DescribeArguments& args) {
  uint64_t account = context.session.principal(args.serviceAccount);
  return change(context, [&](wire::Request::Builder request) {
    auto describe = request.initSaDescribe();
    describe.setServiceAccount(account);
    describe.setDescription(toText(args.description));
  });
}

int resetServiceAccount(Context& context, const OneArgument& args) {
  return resetOwnedKeys(context, args.value);
}

int deleteServiceAccount(Context& context, const OneArgument& args) {
  return changePrincipal(context, args, &wire::Request::Builder::setSaDelete);
}

int disableServiceAccount(Context& context, const OneArgument& args) {
  return changeState(context, args.value, wire::PrincipalState::DISABLED,
                     &wire::Request::Builder::initSaSetState);
}

int enableServiceAccount(Context& context, const OneArgument& args) {
  return changeState(context, args.value, wire::PrincipalState::ACTIVE,
                     &wire::Request::Builder::initSaSetState);
}

// saGrant or userGrant: replaces the principal's grant in the active company.
int grantHere(Context& context, const ScopedGrantArguments& args,
              wire::ScopedGrant::Builder (wire::Request::Builder::*init)()) {
  uint64_t principal = context.session.principal(args.principal);
  std::vector<uint64_t> roles =
      grantableRoles(context.session, args.grant.roles, context.session.scope().company);
  uint64_t until = expiresAt(args.expiry, static_cast<uint64_t>(std::time(nullptr)));
  return change(context, [&](wire::Request::Builder request) {
    auto grant = (request.*init)();
    grant.setPrincipal(principal);
    fillGrant(grant, args.grant.permissions, roles);
    grant.setExpiresAt(until);
  });
}

int grantServiceAccount(Context& context, const ScopedGrantArguments& args) {
  return grantHere(context, args, &wire::Request::Builder::initSaGrant);
}

int grantUser(Context& context, const ScopedGrantArguments& args) {
  return grantHere(context, args, &wire::Request::Builder::initUserGrant);
}

int revokeServiceAccount(Context& context, const OneArgument& args) {
  return changePrincipal(context, args, &wire::Request::Builder::setSaRevoke);
}

int revokeUser(Context& context, const OneArgument& args) {
  return changePrincipal(context, args, &wire::Request::Builder::setUserRevoke);
}

// saShare or saUnshare: offer the account to a company, or withdraw the offer (and its access).
int sendShare(Context& context, const ShareArguments& args, bool share) {
  uint64_t account = context.session.principal(args.serviceAccount);
  uint64_t company = context.session.company(args.company);
  return change(context, [&](wire::Request::Builder request) {
    auto q = share ? request.initSaShare() : request.initSaUnshare();
    q.setServiceAccount(account);
    q.setCompany(company);
  });
}

int shareServiceAccount(Context& context, const ShareArguments& args) {
  return sendShare(context, args, true);
}

int unshareServiceAccount(Context& context, const ShareArguments& args) {
  return sendShare(context, args, false);
}

// saOfferOwnership: offer an owned account's ownership to a company.
int transferServiceAccount(Context& context, const TransferArguments& args) {
  uint64_t account = context.session.principal(args.serviceAccount);
  uint64_t company = context.session.company(args.company);
  return change(context, [&](wire::Request::Builder request) {
    auto q = request.initSaOfferOwnership();
    q.setServiceAccount(account);
    q.setCompany(company);
    q.setDropAccess(args.dropAccess);
  });
}

int cancelTransfer(Context& context, const OneArgument& args) {
  return changePrincipal(context, args, &wire::Request::Builder::setSaCancelTransfer);
}

// saAcceptOwnership: prints how many keys the acceptance revoked.
int acceptTransfer(Context& context, const OneArgument& args) {
  uint64_t account = context.session.principal(args.value);
  if (context.dryRun) {
    return preview(context,
                   [&](wire::Request::Builder request) { request.setSaAcceptOwnership(account); });
  }
  client::Answer answer = context.session.call(
      wire::Response::MUTATION,
      [&](wire::Request::Builder request) { request.setSaAcceptOwnership(account); });
  auto result = answer.get().getMutation();
  context.out.print(fmt::format("ok: the active company owns service account {}; {} key{} revoked "
                                "(revision {})",
                                account, result.getCount(), result.getCount() == 1 ? "" : "s",
                                result.getRevision()),
                    Json{{"keysRevoked", result.getCount()}, {"revision", result.getRevision()}});
  return kExitOk;
}

// saSetCeiling: the most any other company may grant an owned account, or --clear.
int setCeiling(Context& context, const CeilingArguments& args) {
  if (args.permissions.empty() && !args.clear) {
    throw CommandError(kUsageError, "give the ceiling with --perm, or --clear to remove it");
  }
  uint64_t account = context.session.principal(args.serviceAccount);
  return change(context, [&](wire::Request::Builder request) {
    auto q = request.initSaSetCeiling();
    q.setServiceAccount(account);
    setTexts(q.initPermissions(static_cast<unsigned>(args.permissions.size())), args.permissions);
    q.setClear(args.clear);
  });
}

// --- The audit trail ---

int listAudit(Context& context, const AuditArguments& args) {
  client::Answer answer =
      context.session.call(wire::Response::AUDIT, [&](wire::Request::Builder request) {
        auto query = request.initAuditList();
        query.setLimit(args.limit);
        query.setBefore(args.before);
      });
  auto page = answer.get().getAudit();
  std::vector<std::vector<std::string>> rows{
      {"SEQ", "TIME", "ACTOR", "COMPANY", "UID", "PID", "OPERATION", "TARGET", "OUTCOME"}};
  Json events = Json::array();
  for (auto event : page.getEvents()) {
    rows.push_back({std::to_string(event.getSequence()), utcTime(event.getTime()),
                    event.getActor() == 0 ? "system" : std::to_string(event.getActor()),
                    event.getActiveCompany() == 0 ? "-" : std::to_string(event.getActiveCompany()),
                    std::to_string(event.getPeerUid()), std::to_string(event.getPeerPid()),
                    std::string(view(event.getOperation())), std::string(view(event.getTarget())),
                    std::string(view(event.getOutcome()))});
    events.push_back({{"sequence", event.getSequence()},
                      {"time", event.getTime()},
                      {"actor", event.getActor()},
                      {"activeCompany", event.getActiveCompany()},
                      {"peerUid", event.getPeerUid()},
                      {"peerPid", event.getPeerPid()},
                      {"operation", view(event.getOperation())},
                      {"target", view(event.getTarget())},
                      {"outcome", view(event.getOutcome())}});
  }
  context.out.print(table(rows),
                    Json{{"events", std::move(events)}, {"revision", page.getRevision()}});
  return kExitOk;
}

// --- Registration ---

void addServiceAccountCommand(CLI::App& accounts, const std::string& name, const std::string& help,
                              Action& chosen, int (*run)(Context&, const OneArgument&)) {
  addPrincipalCommand(accounts, name, help, "SA", "Service account name or id", chosen, run,
                      Mode::kActor);
}

void addServiceAccountCommands(CLI::App& accounts, Action& chosen) {
  addCommand<NoArguments>(accounts, "list",
                          "The active company's service accounts: its own and those granted "
                          "access to it",
                          chosen, listServiceAccounts, Mode::kActor);
  addServiceAccountCommand(accounts, "show", "One row of `sa list`, with the keys of an owned one",
                           chosen, showServiceAccount);
  auto describe = addCommand<DescribeArguments>(accounts, "describe",
                                                "Set an owned service account's description",
                                                chosen, describeServiceAccount, Mode::kActor);
  describe.app->add_option("SA", describe.args.serviceAccount, "Service account name or id")
      ->required();
  describe.app->add_option("TEXT", describe.args.description, "The new description")->required();
  addServiceAccountCommand(accounts, "reset",
                           "Revoke every key of an owned service account and issue a new one "
                           "(printed once, alone on stdout)",
                           chosen, resetServiceAccount);
  addServiceAccountCommand(accounts, "delete", "Delete an owned service account", chosen,
                           deleteServiceAccount);
  addServiceAccountCommand(accounts, "disable", "Disable an owned service account", chosen,
                           disableServiceAccount);
  addServiceAccountCommand(accounts, "enable", "Enable an owned service account", chosen,
                           enableServiceAccount);
  auto grant = addCommand<ScopedGrantArguments>(
      accounts, "grant", "Replace a service account's grant in the active company", chosen,
      grantServiceAccount, Mode::kActor);
  grant.app->add_option("SA", grant.args.principal, "Service account name or id")->required();
  addGrantOptions(*grant.app, grant.args.grant);
  addExpiryOptions(*grant.app, grant.args.expiry);
  addServiceAccountCommand(accounts, "revoke",
                           "Remove a service account's access to the active company", chosen,
                           revokeServiceAccount);
  auto share = addCommand<ShareArguments>(
      accounts, "share",
      "Offer an owned service account to a company, which may then grant it access there", chosen,
      shareServiceAccount, Mode::kActor);
  auto unshare = addCommand<ShareArguments>(
      accounts, "unshare",
      "Withdraw the offer of an owned service account to a company and remove its access there",
      chosen, unshareServiceAccount, Mode::kActor);
  for (auto* command : {&share, &unshare}) {
    command->app->add_option("SA", command->args.serviceAccount, "Service account name or id")
        ->required();
    command->app->add_option("--with", command->args.company, "Company name or id")->required();
  }
  auto ceiling = addCommand<CeilingArguments>(
      accounts, "ceiling",
      "Set the most any other company may grant an owned service account (lowering it trims "
      "their grants), or remove the limit",
      chosen, setCeiling, Mode::kActor);
  ceiling.app->add_option("SA", ceiling.args.serviceAccount, "Service account name or id")
      ->required();
  CLI::Option* ceilingPerm = addPermissionOption(*ceiling.app, ceiling.args.permissions,
                                                 "A permission of the ceiling (repeatable)");
  ceiling.app->add_flag("--clear", ceiling.args.clear, "Remove the ceiling: no limit")
      ->excludes(ceilingPerm);
  auto transfer = addCommand<TransferArguments>(
      accounts, "transfer",
      "Offer an owned service account's ownership to a company, which may accept it (every key "
      "is then revoked)",
      chosen, transferServiceAccount, Mode::kActor);
  transfer.app->add_option("SA", transfer.args.serviceAccount, "Service account name or id")
      ->required();
  transfer.app->add_option("--to", transfer.args.company, "Company name or id")->required();
  transfer.app->add_flag("--drop-access", transfer.args.dropAccess,
                         "At acceptance, remove this company's own grant too (default: it stays, "
                         "as an external company's)");
  addServiceAccountCommand(accounts, "cancel-transfer",
                           "Withdraw the offer of an account's ownership (the owner) or decline "
                           "it (the company offered)",
                           chosen, cancelTransfer);
  addServiceAccountCommand(accounts, "accept-transfer",
                           "Accept the ownership of a service account offered to the active "
                           "company; every key of it is revoked",
                           chosen, acceptTransfer);
  addServiceAccountCommand(accounts, "companies",
                           "The companies where an owned service account holds a grant", chosen,
                           serviceAccountCompanies);
}

void addUserGrantCommands(CLI::App& users, Action& chosen) {
  auto grant = addCommand<ScopedGrantArguments>(users, "grant",
                                                "Replace a user's grant in the active company",
                                                chosen, grantUser, Mode::kActor);
  grant.app->add_option("USER", grant.args.principal, "User name or id")->required();
  addGrantOptions(*grant.app, grant.args.grant);
  addExpiryOptions(*grant.app, grant.args.expiry);
  addPrincipalCommand(users, "revoke", "Remove a user's access to the active company", "USER",
                      "User name or id", chosen, revokeUser, Mode::kActor);
}

void addAuditCommands(CLI::App& app, Action& chosen) {
  CLI::App* group = addGroup(app, "audit", "Read the audit trail");
  auto list = addCommand<AuditArguments>(
      *group, "list",
      "Audit events, newest first: the active company's with --as/--company, else every event",
      chosen, listAudit, Mode::kEither);
  addWholeNumberOption<uint32_t>(*list.app, "--limit", list.args.limit, 1, 1000, "", "N",
                                 "At most N events (default: 100)");
  addWholeNumberOption<uint64_t>(*list.app, "--before", list.args.before, 1,
                                 std::numeric_limits<uint64_t>::max(), "", "SEQ",
                                 "Only events older than sequence number SEQ (the next page)");
}

}  // namespace

void addActorCommands(CLI::App& app, Action& chosen) {
  addServiceAccountCommands(*app.get_subcommand("sa"), chosen);
  addUserGrantCommands(*app.get_subcommand("user"), chosen);
  addAuditCommands(app, chosen);
}

}  // namespace gatehouse::cli
