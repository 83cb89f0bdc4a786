// What permissions are made of: companies, the permission catalog, roles. The role commands work on
// the roles of Scope::company (session.hpp): in the system context the global --company's, or the
// system roles (0); for an actor, the active company's.
#include <fmt/format.h>

#include "command.hpp"
#include "wire_text.hpp"

namespace gatehouse::cli {
namespace {

struct NamesArguments {
  std::vector<std::string> names;
};

struct RoleArguments {
  std::string role;  // A new role's name, or an existing role's name or id.
  std::vector<std::string> permissions;
  std::string rename;
  bool clear = false;
};

std::string scopeText(uint64_t scope) {
  return scope == 0 ? "system" : fmt::format("company {}", scope);
}

int createCompany(Context& context, const OneArgument& args) {
  return create(context, "company", [&](wire::Request::Builder request) {
    request.initCreateCompany().setName(toText(args.value));
  });
}

int listCompanies(Context& context, const NoArguments&) {
  client::Answer answer =
      context.session.call(wire::Response::COMPANIES,
                           [](wire::Request::Builder request) { request.setListCompanies(); });
  return printCompanies(context, answer.get().getCompanies());
}

int definePermissions(Context& context, const NamesArguments& args) {
  client::Answer answer =
      context.session.call(wire::Response::MUTATION, [&](wire::Request::Builder request) {
        setTexts(request.initDefinePermissions(static_cast<unsigned>(args.names.size())),
                 args.names);
      });
  auto result = answer.get().getMutation();
  context.out.print(fmt::format("defined {} new permission{} (revision {})", result.getCount(),
                                result.getCount() == 1 ? "" : "s", result.getRevision()),
                    Json{{"count", result.getCount()}, {"revision", result.getRevision()}});
  return kExitOk;
}

int listCatalog(Context& context, const NoArguments&) {
  client::Answer answer = context.session.call(
      wire::Response::CATALOG, [](wire::Request::Builder request) { request.setListCatalog(); });
  auto catalog = answer.get().getCatalog();
  std::vector<std::vector<std::string>> rows;
  for (unsigned bit = 0; bit < catalog.getNames().size(); ++bit) {
    rows.push_back({std::to_string(bit), std::string(view(catalog.getNames()[bit]))});
  }
  context.out.print(table(rows), Json{{"permissions", jsonStrings(catalog.getNames())},
                                      {"revision", catalog.getRevision()}});
  return kExitOk;
}

int createRole(Context& context, const RoleArguments& args) {
  const Scope& scope = context.session.scope();
  return create(context, "role", [&](wire::Request::Builder request) {
    auto fill = [&](auto role) {  // A ScopedRole or a CreateRole.
      role.setName(toText(args.role));
      setTexts(role.initPermissions(static_cast<unsigned>(args.permissions.size())),
               args.permissions);
      return role;
    };
    if (scope.forActor()) {
      fill(request.initRoleCreate());
      return;
    }
    fill(request.initCreateRole()).setCompany(scope.company);
  });
}

// The role's current permissions, so that `role update` without --perm keeps them.
std::vector<std::string> currentPermissions(Session& session, uint64_t role, uint64_t scope) {
  client::Answer answer = listRoles(session, scope);
  for (auto info : answer.get().getRoles().getRoles()) {
    if (info.getId() != role) continue;
    std::vector<std::string> names;
    for (auto name : info.getPermissions()) names.emplace_back(view(name));
    return names;
  }
  throw CommandError(kNotFound,
                     fmt::format("no role {} among the {} roles: give the role's --company, or "
                                 "its new permissions with --perm or --clear",
                                 role, scopeText(scope)));
}

// `role update` and `role edit` (roleEdit for an actor, else updateRole).
int updateRole(Context& context, const RoleArguments& args) {
  const Scope& scope = context.session.scope();
  uint64_t role = context.session.role(args.role, scope.company);
  std::vector<std::string> permissions = args.permissions;
  if (permissions.empty() && !args.clear) {
    permissions = currentPermissions(context.session, role, scope.company);
  }
  return change(context, [&](wire::Request::Builder request) {
    auto fill = [&](auto update) {  // A ScopedRoleEdit or an UpdateRole.
      update.setRole(role);
      setTexts(update.initPermissions(static_cast<unsigned>(permissions.size())), permissions);
      update.setRename(toText(args.rename));
    };
    if (scope.forActor()) {
      fill(request.initRoleEdit());
      return;
    }
    fill(request.initUpdateRole());
  });
}

int deleteRole(Context& context, const RoleArguments& args) {
  const Scope& scope = context.session.scope();
  uint64_t role = context.session.role(args.role, scope.company);
  return change(context, [&](wire::Request::Builder request) {
    if (scope.forActor()) {
      request.setRoleDelete(role);
      return;
    }
    request.setDeleteRole(role);
  });
}

int listRolesCommand(Context& context, const RoleArguments&) {
  client::Answer answer = listRoles(context.session, context.session.scope().company);
  auto list = answer.get().getRoles();
  std::vector<std::vector<std::string>> rows;
  Json roles = Json::array();
  for (auto role : list.getRoles()) {
    rows.push_back({std::to_string(role.getId()), scopeText(role.getCompany()),
                    std::string(view(role.getName())), listText(role.getPermissions(), ",")});
    roles.push_back(roleJson(role));
  }
  context.out.print(table(rows),
                    Json{{"roles", std::move(roles)}, {"revision", list.getRevision()}});
  return kExitOk;
}

void addCompanyCommands(CLI::App& app, Action& chosen) {
  CLI::App* group = addGroup(app, "company", "Create and list companies");
  auto createCommand =
      addCommand<OneArgument>(*group, "create", "Create a company", chosen, createCompany);
  createCommand.app->add_option("NAME", createCommand.args.value, "The company's name")->required();
  addCommand<NoArguments>(*group, "list", "List every company", chosen, listCompanies);
}

void addCatalogGroup(CLI::App& app, Action& chosen) {
  CLI::App* group = addGroup(app, "catalog", "Define and list permission names");
  auto define = addCommand<NamesArguments>(
      *group, "define", "Add permission names to the catalog (existing ones are kept)", chosen,
      definePermissions);
  define.app->add_option("NAME", define.args.names, "Permission names, e.g. routers.read")
      ->required();
  addCommand<NoArguments>(*group, "list", "List the catalog with bit indexes", chosen, listCatalog);
}

// Adds a role subcommand taking ROLE (unless `roleHelp` is empty). Its scope is the global
// --company: alone, the company's roles (none: the system roles); with --as, the active company.
Command<RoleArguments> addRoleCommand(CLI::App& group, const std::string& name,
                                      const std::string& help, const std::string& roleHelp,
                                      Action& chosen, int (*run)(Context&, const RoleArguments&),
                                      Mode mode = Mode::kRoleScope) {
  auto command = addCommand<RoleArguments>(group, name, help, chosen, run, mode);
  if (!roleHelp.empty()) command.app->add_option("ROLE", command.args.role, roleHelp)->required();
  return command;
}

// Adds `role update` (either context) or `role edit` (an actor's): the same command.
void addUpdateCommand(CLI::App& group, const std::string& name, const std::string& help,
                      Action& chosen, Mode mode) {
  auto update = addRoleCommand(group, name, help, "Role name or id", chosen, updateRole, mode);
  CLI::Option* perm = addPermissionOption(
      *update.app, update.args.permissions,
      "The role's new permission set (repeatable; default: keep the current one)");
  update.app->add_flag("--clear", update.args.clear, "Remove every permission from the role")
      ->excludes(perm);
  update.app->add_option("--rename", update.args.rename, "The role's new name");
}

void addRoleCommands(CLI::App& app, Action& chosen) {
  CLI::App* group =
      addGroup(app, "role",
               "Manage system roles and company roles (--company C: that company's; with --as: the "
               "active company's)");
  auto createCommand =
      addRoleCommand(*group, "create", "Create a role", "The new role's name", chosen, createRole);
  addPermissionOption(*createCommand.app, createCommand.args.permissions,
                      "A permission of the role (repeatable)");
  addUpdateCommand(*group, "update", "Change a role's permissions or name", chosen,
                   Mode::kRoleScope);
  addUpdateCommand(*group, "edit", "Change a role of the active company (with --as, --company)",
                   chosen, Mode::kActor);
  addRoleCommand(*group, "delete", "Delete a role (removed from every grant)", "Role name or id",
                 chosen, deleteRole);
  addRoleCommand(*group, "list", "List the system roles, and a company's roles with --company", "",
                 chosen, listRolesCommand);
}

}  // namespace

void addCatalogCommands(CLI::App& app, Action& chosen) {
  addCompanyCommands(app, chosen);
  addCatalogGroup(app, chosen);
  addRoleCommands(app, chosen);
}

}  // namespace gatehouse::cli
