// What every `gatehouse` command shares: the context it runs in, its registration with CLI11,
// and the resolving and printing helpers that several commands use.
//
// A command is a function `int run(Context&, const Args&)` returning the exit status (kExitOk or
// kExitDenied). Failures throw CommandError or client::ClientError; main prints them and exits
// with kExitError. Commands run on the main thread, once per process.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "output.hpp"
#include "session.hpp"

namespace gatehouse::cli {

constexpr int kExitOk = 0;      // Allowed, or done.
constexpr int kExitDenied = 1;  // A deny or a refused credential (check, login, ...).
constexpr int kExitError = 2;   // Any error, bad arguments included.

struct Context {
  Session& session;
  const Output& out;
};

// The command selected on the command line, bound to its arguments; run after parsing.
using Action = std::function<int(Context&)>;

// Arguments shared by several commands.
struct NoArguments {};
struct OneArgument {
  std::string value;
};
struct PrincipalInCompanyArguments {
  std::string principal;
  std::string company;
};

template <typename Args>
struct Command {
  CLI::App* app;
  Args& args;  // Owned by the command's callback, so it lives as long as the CLI::App.
};

// Adds the subcommand `name` to `parent` with a fresh `Args` for its options. When the command
// line selects it, `chosen` becomes `run` applied to those arguments.
template <typename Args, typename Run>
Command<Args> addCommand(CLI::App& parent, const std::string& name, const std::string& help,
                         Action& chosen, Run run) {
  auto args = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand(name, help);
  app->callback([args, run, &chosen] {
    chosen = [args, run](Context& context) { return run(context, *args); };
  });
  return {app, *args};
}

// A subcommand that only groups others (`company`, `role`, ...); one of them is required.
CLI::App* addGroup(CLI::App& parent, const std::string& name, const std::string& help);

// The required positional PRINCIPAL and COMPANY.
void addPrincipalInCompany(CLI::App& command, PrincipalInCompanyArguments& args);
// A repeatable `--perm NAME` (also `--perm a,b`), one value per occurrence.
CLI::Option* addPermissionOption(CLI::App& command, std::vector<std::string>& permissions,
                                 const std::string& help);

struct PrincipalInCompanyIds {
  uint64_t principal = 0;
  uint64_t company = 0;

  void fill(wire::PrincipalInCompany::Builder builder) const {
    builder.setPrincipal(principal);
    builder.setCompany(company);
  }
};

// The ids of a principal and a company given by name or id.
PrincipalInCompanyIds resolve(Session& session, const PrincipalInCompanyArguments& args);

// The roles visible in `scope`: the system roles, and that company's roles when it is not 0.
client::Answer listRoles(Session& session, uint64_t scope);

// Sends a provisioning request that creates something; prints
// "created <what> <id> (revision N)", or {"id":N,"revision":N}.
int create(Context& context, std::string_view what, const client::Client::Fill& fill);
// Sends any other provisioning request; prints "ok (revision N)", or {"revision":N}.
int change(Context& context, const client::Client::Fill& fill);

// Rows as aligned columns separated by two spaces; the last column is not padded.
std::string table(const std::vector<std::vector<std::string>>& rows);

// The commands, by topic.
void addCheckCommands(CLI::App& app, Action& chosen);      // check, check-batch, permissions, ping
void addCatalogCommands(CLI::App& app, Action& chosen);    // company, catalog, role
void addPrincipalCommands(CLI::App& app, Action& chosen);  // user, sa, grant, principal
// login, check-access, sa key, user passwd/totp-enroll/totp-remove. After addPrincipalCommands:
// it adds to the `user` and `sa` groups.
void addCredentialCommands(CLI::App& app, Action& chosen);

}  // namespace gatehouse::cli
