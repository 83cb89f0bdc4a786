// What permissions are made of: companies, the permission catalog, roles.
#include <fmt/format.h>

#include "command.hpp"
#include "wire_text.hpp"

namespace gatehouse::cli {
namespace {

struct NamesArguments {
  std::vector<std::string> names;
};

struct RoleArguments {
  std::string role;     // A new role's name, or an existing role's name or id.
  std::string company;  // Empty: the system scope.
  std::vector<std::string> permissions;
  std::string rename;
  bool clear = false;
};

// --company as a role scope: 0 (system) when absent.
uint64_t scopeOf(Session& session, const std::string& company) {
  return company.empty() ? 0 : session.company(company);
}

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
  auto list = answer.get().getCompanies();
  std::vector<std::vector<std::string>> rows;
  JsonArray companies;
  for (auto company : list.getCompanies()) {
    rows.push_back({std::to_string(company.getId()), std::string(view(company.getName()))});
    companies.raw(
        JsonObject().number("id", company.getId()).string("name", view(company.getName())).str());
  }
  context.out.print(
      table(rows),
      JsonObject().raw("companies", companies.str()).number("revision", list.getRevision()));
  return kExitOk;
}

int definePermissions(Context& context, const NamesArguments& args) {
  client::Answer answer =
      context.session.call(wire::Response::MUTATION, [&](wire::Request::Builder request) {
        setTexts(request.initDefinePermissions(static_cast<unsigned>(args.names.size())),
                 args.names);
      });
  auto result = answer.get().getMutation();
  context.out.print(
      fmt::format("defined {} new permission{} (revision {})", result.getCount(),
                  result.getCount() == 1 ? "" : "s", result.getRevision()),
      JsonObject().number("count", result.getCount()).number("revision", result.getRevision()));
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
  context.out.print(table(rows), JsonObject()
                                     .raw("permissions", jsonStrings(catalog.getNames()).str())
                                     .number("revision", catalog.getRevision()));
  return kExitOk;
}

int createRole(Context& context, const RoleArguments& args) {
  uint64_t scope = scopeOf(context.session, args.company);
  return create(context, "role", [&](wire::Request::Builder request) {
    auto role = request.initCreateRole();
    role.setCompany(scope);
    role.setName(toText(args.role));
    setTexts(role.initPermissions(static_cast<unsigned>(args.permissions.size())),
             args.permissions);
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

int updateRole(Context& context, const RoleArguments& args) {
  uint64_t scope = scopeOf(context.session, args.company);
  uint64_t role = context.session.role(args.role, scope);
  std::vector<std::string> permissions = args.permissions;
  if (permissions.empty() && !args.clear) {
    permissions = currentPermissions(context.session, role, scope);
  }
  return change(context, [&](wire::Request::Builder request) {
    auto update = request.initUpdateRole();
    update.setRole(role);
    setTexts(update.initPermissions(static_cast<unsigned>(permissions.size())), permissions);
    update.setRename(toText(args.rename));
  });
}

int deleteRole(Context& context, const RoleArguments& args) {
  uint64_t role = context.session.role(args.role, scopeOf(context.session, args.company));
  return change(context, [&](wire::Request::Builder request) { request.setDeleteRole(role); });
}

int listRolesCommand(Context& context, const RoleArguments& args) {
  client::Answer answer = listRoles(context.session, scopeOf(context.session, args.company));
  auto list = answer.get().getRoles();
  std::vector<std::vector<std::string>> rows;
  JsonArray roles;
  for (auto role : list.getRoles()) {
    rows.push_back({std::to_string(role.getId()), scopeText(role.getCompany()),
                    std::string(view(role.getName())), listText(role.getPermissions(), ",")});
    roles.raw(JsonObject()
                  .number("id", role.getId())
                  .number("company", role.getCompany())
                  .string("name", view(role.getName()))
                  .raw("permissions", jsonStrings(role.getPermissions()).str())
                  .str());
  }
  context.out.print(table(rows),
                    JsonObject().raw("roles", roles.str()).number("revision", list.getRevision()));
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

// Adds a role subcommand taking ROLE (unless `roleHelp` is empty) and --company.
Command<RoleArguments> addRoleCommand(CLI::App& group, const std::string& name,
                                      const std::string& help, const std::string& roleHelp,
                                      Action& chosen, int (*run)(Context&, const RoleArguments&)) {
  auto command = addCommand<RoleArguments>(group, name, help, chosen, run);
  if (!roleHelp.empty()) command.app->add_option("ROLE", command.args.role, roleHelp)->required();
  command.app->add_option("--company", command.args.company,
                          "Company name or id (default: the system roles)");
  return command;
}

void addRoleCommands(CLI::App& app, Action& chosen) {
  CLI::App* group = addGroup(app, "role", "Manage system roles and company roles");
  auto createCommand =
      addRoleCommand(*group, "create", "Create a role", "The new role's name", chosen, createRole);
  addPermissionOption(*createCommand.app, createCommand.args.permissions,
                      "A permission of the role (repeatable)");
  auto update = addRoleCommand(*group, "update", "Change a role's permissions or name",
                               "Role name or id", chosen, updateRole);
  CLI::Option* perm = addPermissionOption(
      *update.app, update.args.permissions,
      "The role's new permission set (repeatable; default: keep the current one)");
  update.app->add_flag("--clear", update.args.clear, "Remove every permission from the role")
      ->excludes(perm);
  update.app->add_option("--rename", update.args.rename, "The role's new name");
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
