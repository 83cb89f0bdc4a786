#include "command.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "wire_text.hpp"

namespace gatehouse::cli {

CLI::App* addGroup(CLI::App& parent, const std::string& name, const std::string& help) {
  CLI::App* group = parent.add_subcommand(name, help);
  group->require_subcommand(1);
  return group;
}

void addPrincipalInCompany(CLI::App& command, PrincipalInCompanyArguments& args) {
  command.add_option("PRINCIPAL", args.principal, "Principal name or id")->required();
  command.add_option("COMPANY", args.company, "Company name or id")->required();
}

CLI::Option* addPermissionOption(CLI::App& command, std::vector<std::string>& permissions,
                                 const std::string& help) {
  return command.add_option("--perm", permissions, help)->allow_extra_args(false)->delimiter(',');
}

PrincipalInCompanyIds resolve(Session& session, const PrincipalInCompanyArguments& args) {
  return {session.principal(args.principal), session.company(args.company)};
}

client::Answer listRoles(Session& session, uint64_t scope) {
  return session.call(wire::Response::ROLES, [&](wire::Request::Builder request) {
    request.initListRoles().setCompany(scope);
  });
}

int create(Context& context, std::string_view what, const client::Client::Fill& fill) {
  client::Answer answer = context.session.call(wire::Response::MUTATION, fill);
  auto result = answer.get().getMutation();
  context.out.print(
      fmt::format("created {} {} (revision {})", what, result.getId(), result.getRevision()),
      JsonObject().number("id", result.getId()).number("revision", result.getRevision()));
  return kExitOk;
}

int change(Context& context, const client::Client::Fill& fill) {
  client::Answer answer = context.session.call(wire::Response::MUTATION, fill);
  auto result = answer.get().getMutation();
  context.out.print(fmt::format("ok (revision {})", result.getRevision()),
                    JsonObject().number("revision", result.getRevision()));
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
