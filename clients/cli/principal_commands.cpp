// Who holds permissions: users, service accounts, their grants and their state. `user create` and
// `sa create` also run for an actor (see actor_commands.cpp for the actor's other commands).
#include <fmt/format.h>

#include <ctime>
#include <unordered_map>

#include "command.hpp"
#include "wire_text.hpp"

namespace gatehouse::cli {
namespace {

struct ServiceAccountArguments {
  std::string name;
  std::string owner;  // The system context only.
  std::string description;
  GrantOptions grant;  // An actor's only: the initial grant in the active company.
};

struct GrantArguments {
  PrincipalInCompanyArguments target;
  GrantOptions grant;
  ExpiryOptions expiry;
};

int createUser(Context& context, const OneArgument& args) {
  bool forActor = context.session.scope().forActor();
  return create(context, "user", [&](wire::Request::Builder request) {
    auto user = forActor ? request.initUserCreate() : request.initCreateUser();
    user.setName(toText(args.value));
  });
}

// For an actor: saCreate, owned by the active company, with an initial grant there and a first
// key. Prints the key alone on stdout, like `sa key create`.
int createOwnedServiceAccount(Context& context, const ServiceAccountArguments& args) {
  std::vector<uint64_t> roles =
      grantableRoles(context.session, args.grant.roles, context.session.scope().company);
  client::Answer answer =
      context.session.call(wire::Response::SA_CREATED, [&](wire::Request::Builder request) {
        auto account = request.initSaCreate();
        account.setName(toText(args.name));
        account.setDescription(toText(args.description));
        fillGrant(account, args.grant.permissions, roles);
      });
  auto created = answer.get().getSaCreated();
  std::string_view secret = oneLineSecret(created.getSecret(), "the issued key");
  context.out.print(secret, Json{{"id", created.getId()},
                                 {"keyId", keyIdJson(created.getKeyId())},
                                 {"secret", secret},
                                 {"revision", created.getRevision()}});
  context.out.note(fmt::format("created service account {} with key {} (revision {})",
                               created.getId(), created.getKeyId(), created.getRevision()));
  return kExitOk;
}

int createServiceAccount(Context& context, const ServiceAccountArguments& args) {
  if (context.session.scope().forActor()) {
    if (!args.owner.empty()) {
      throw CommandError(kUsageError,
                         "--owner is for the system context: for an actor, the active company "
                         "owns the service account");
    }
    return createOwnedServiceAccount(context, args);
  }
  if (args.owner.empty()) {
    throw CommandError(kUsageError,
                       "--owner is required (or act for an actor with --as and "
                       "--company)");
  }
  if (!args.grant.permissions.empty() || !args.grant.roles.empty()) {
    throw CommandError(kUsageError,
                       "--perm and --role need --as and --company (in the system "
                       "context, use `grant set`)");
  }
  uint64_t owner = context.session.company(args.owner);
  return create(context, "service account", [&](wire::Request::Builder request) {
    auto account = request.initCreateServiceAccount();
    account.setName(toText(args.name));
    account.setOwnerCompany(owner);
    account.setDescription(toText(args.description));
  });
}

int setGrant(Context& context, const GrantArguments& args) {
  PrincipalInCompanyIds ids = resolve(context.session, args.target);
  std::vector<uint64_t> roles = grantableRoles(context.session, args.grant.roles, ids.company);
  uint64_t until = expiresAt(args.expiry, static_cast<uint64_t>(std::time(nullptr)));
  return change(context, [&](wire::Request::Builder request) {
    auto grant = request.initSetGrant();
    grant.setPrincipal(ids.principal);
    grant.setCompany(ids.company);
    fillGrant(grant, args.grant.permissions, roles);
    grant.setExpiresAt(until);
  });
}

// The names of the roles visible in `company` (its own and the system roles), by id.
std::unordered_map<uint64_t, std::string> roleNames(Session& session, uint64_t company) {
  client::Answer answer = listRoles(session, company);
  std::unordered_map<uint64_t, std::string> names;
  for (auto role : answer.get().getRoles().getRoles()) {
    names.emplace(role.getId(), view(role.getName()));
  }
  return names;
}

void printGrant(Context& context, wire::GrantInfo::Reader grant,
                const std::unordered_map<uint64_t, std::string>& roleNames) {
  std::vector<std::string> roleTexts;
  Json roles = Json::array();
  for (uint64_t role : grant.getRoles()) {
    auto found = roleNames.find(role);
    std::string_view name = found == roleNames.end() ? "?" : std::string_view(found->second);
    roleTexts.push_back(fmt::format("{} ({})", name, role));
    roles.push_back({{"id", role}, {"name", name}});
  }
  std::string text = fmt::format("permissions: {}\nroles:       {}",
                                 listText(grant.getPermissions(), ", "), listText(roleTexts, ", "));
  if (grant.getExpiresAt() != 0) text += "\nuntil:       " + utcTime(grant.getExpiresAt());
  context.out.print(text, Json{{"permissions", jsonStrings(grant.getPermissions())},
                               {"roles", std::move(roles)},
                               {"expiresAt", grant.getExpiresAt()},
                               {"revision", grant.getRevision()}});
}

int showGrant(Context& context, const PrincipalInCompanyArguments& args) {
  PrincipalInCompanyIds ids = resolve(context.session, args);
  client::Answer answer = context.session.call(
      wire::Response::GRANT,
      [&](wire::Request::Builder request) { ids.fill(request.initGetGrant()); });
  auto grant = answer.get().getGrant();
  if (!grant.getFound()) {
    throw CommandError(kNotFound, fmt::format("principal '{}' holds no grant in company '{}'",
                                              args.principal, args.company));
  }
  auto names = roleNames(context.session, ids.company);
  printGrant(context, grant, names);
  return kExitOk;
}

int removeGrant(Context& context, const PrincipalInCompanyArguments& args) {
  PrincipalInCompanyIds ids = resolve(context.session, args);
  return change(context,
                [&](wire::Request::Builder request) { ids.fill(request.initRemoveGrant()); });
}

std::string principalText(wire::PrincipalInfo::Reader info) {
  bool user = info.getKind() == wire::PrincipalKind::USER;
  std::vector<std::string> lines{
      fmt::format("id:          {}", info.getId()),
      fmt::format("name:        {}", view(info.getName())),
      fmt::format("kind:        {}", user ? "user" : "service account"),
      fmt::format("state:       {}", enumName(info.getState())),
  };
  if (!user) {
    lines.push_back(fmt::format("owner:       company {}", info.getOwnerCompany()));
    lines.push_back(fmt::format("description: {}", view(info.getDescription())));
  }
  lines.push_back(fmt::format("companies:   {}", listText(info.getCompanies(), ", ")));
  return joined(lines, "\n");
}

Json principalJson(wire::PrincipalInfo::Reader info) {
  return {{"id", info.getId()},
          {"name", view(info.getName())},
          {"kind", enumName(info.getKind())},
          {"state", enumName(info.getState())},
          {"ownerCompany", info.getOwnerCompany()},
          {"description", view(info.getDescription())},
          {"companies", jsonNumbers(info.getCompanies())},
          {"revision", info.getRevision()}};
}

int showPrincipal(Context& context, const OneArgument& args) {
  uint64_t principal = context.session.principal(args.value);
  client::Answer answer = context.session.call(
      wire::Response::PRINCIPAL,
      [&](wire::Request::Builder request) { request.setGetPrincipal(principal); });
  auto info = answer.get().getPrincipal();
  if (!info.getFound()) {
    throw CommandError(kNotFound, fmt::format("no principal with id {}", principal));
  }
  context.out.print(principalText(info), principalJson(info));
  return kExitOk;
}

int disablePrincipal(Context& context, const OneArgument& args) {
  return changeState(context, args.value, wire::PrincipalState::DISABLED,
                     &wire::Request::Builder::initSetPrincipalState);
}

int enablePrincipal(Context& context, const OneArgument& args) {
  return changeState(context, args.value, wire::PrincipalState::ACTIVE,
                     &wire::Request::Builder::initSetPrincipalState);
}

int deletePrincipal(Context& context, const OneArgument& args) {
  uint64_t principal = context.session.principal(args.value);
  return change(context,
                [&](wire::Request::Builder request) { request.setDeletePrincipal(principal); });
}

void addAccountCommands(CLI::App& app, Action& chosen) {
  CLI::App* users =
      addGroup(app, "user", "Create users; set their passwords and TOTP; grant them access");
  addPrincipalCommand(*users, "create", "Create a user", "NAME", "The user's name", chosen,
                      createUser, Mode::kEither);

  CLI::App* accounts =
      addGroup(app, "sa", "Create service accounts; manage their API keys, grants and state");
  auto account = addCommand<ServiceAccountArguments>(
      *accounts, "create", "Create a service account", chosen, createServiceAccount, Mode::kEither);
  account.app->add_option("NAME", account.args.name, "The service account's name")->required();
  account.app->add_option(
      "--owner", account.args.owner,
      "Owning company, name or id (fixed; required in the system context, refused for an actor)");
  account.app->add_option("--description", account.args.description, "Free text");
  addGrantOptions(*account.app, account.args.grant);
}

void addGrantCommands(CLI::App& app, Action& chosen) {
  CLI::App* group = addGroup(app, "grant", "Set, show and remove a principal's grant in a company");
  auto set = addCommand<GrantArguments>(
      *group, "set", "Replace the grant's direct permissions, roles and expiry", chosen, setGrant);
  addPrincipalInCompany(*set.app, set.args.target);
  addGrantOptions(*set.app, set.args.grant);
  addExpiryOptions(*set.app, set.args.expiry);
  auto show = addCommand<PrincipalInCompanyArguments>(
      *group, "show", "Show the grant's direct permissions, roles and expiry", chosen, showGrant);
  addPrincipalInCompany(*show.app, show.args);
  auto remove = addCommand<PrincipalInCompanyArguments>(
      *group, "remove", "Remove the principal's access to the company", chosen, removeGrant);
  addPrincipalInCompany(*remove.app, remove.args);
}

// Adds `principal <name> PRINCIPAL`.
void addPrincipalGroupCommand(CLI::App& group, const std::string& name, const std::string& help,
                              Action& chosen, int (*run)(Context&, const OneArgument&)) {
  addPrincipalCommand(group, name, help, "PRINCIPAL", "Principal name or id", chosen, run);
}

void addPrincipalGroup(CLI::App& app, Action& chosen) {
  CLI::App* group = addGroup(app, "principal", "Show, disable, enable and delete principals");
  addPrincipalGroupCommand(*group, "show", "Show a principal's record", chosen, showPrincipal);
  addPrincipalGroupCommand(*group, "disable", "Disable a principal (every check denies)", chosen,
                           disablePrincipal);
  addPrincipalGroupCommand(*group, "enable", "Enable a disabled principal", chosen,
                           enablePrincipal);
  addPrincipalGroupCommand(*group, "delete", "Delete a principal and all of its grants", chosen,
                           deletePrincipal);
}

}  // namespace

void addPrincipalCommands(CLI::App& app, Action& chosen) {
  addAccountCommands(app, chosen);
  addGrantCommands(app, chosen);
  addPrincipalGroup(app, chosen);
}

}  // namespace gatehouse::cli
