// What every `gatehouse` command shares: the context it runs in, its registration with CLI11,
// and the resolving and printing helpers that several commands use.
//
// A command is a function `int run(Context&, const Args&)` returning the exit status (kExitOk or
// kExitDenied). Failures throw CommandError or client::ClientError; main prints them and exits
// with kExitError. Commands run on the main thread, once per process.
//
// Each command declares its Mode: whether it runs in the system context, for an actor (--as and
// --company, see Scope in session.hpp), or either. main checks the global options against it
// after parsing (checkScope), resolves them and sets the session's Scope before the command runs.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "output.hpp"
#include "session.hpp"
#include "wire_text.hpp"

namespace gatehouse::cli {

constexpr int kExitOk = 0;      // Allowed, or done.
constexpr int kExitDenied = 1;  // A deny or a refused credential (check, login, ...).
constexpr int kExitError = 2;   // Any error, bad arguments included.

struct Context {
  Session& session;
  const Output& out;
  bool dryRun = false;  // --dry-run: preview the change (change, create), write nothing
};

// How a command relates to the global --as ACTOR and --company COMPANY.
enum class Mode {
  kSystem,     // The system context only: neither option.
  kActor,      // For an actor only: both options.
  kEither,     // For the actor with both options, else in the system context with neither.
  kRoleScope,  // kEither; in the system context --company alone is the scope of the roles.
};

// The command selected on the command line, bound to its arguments; run after parsing.
struct Action {
  std::function<int(Context&)> run;
  std::string name;  // Its words, "sa list", for messages.
  Mode mode = Mode::kSystem;
};

// --as and --company as given: names or ids, empty when absent.
struct ActorOptions {
  std::string actor;
  std::string company;
};

// Throws CLI::ValidationError when the options do not fit the command's mode: only one of them
// (except --company for kRoleScope), an actor-only command without them, a system command with.
void checkScope(const Action& action, const ActorOptions& options);
// Throws CLI::ValidationError when --dry-run is given to a command that cannot be previewed.
void checkDryRun(const Action& action, bool dryRun);
// --min-revision is for the checks only; a usage error (CLI::ValidationError) elsewhere.
void checkMinRevision(const Action& action, uint64_t minRevision);
// The options resolved to ids (lookups, sent in the system context).
Scope resolveScope(Session& session, const ActorOptions& options);

// Arguments shared by several commands.
struct NoArguments {};
struct OneArgument {
  std::string value;
};
struct PrincipalInCompanyArguments {
  std::string principal;
  std::string company;
};
// --perm and --role of a grant.
struct GrantOptions {
  std::vector<std::string> permissions;
  std::vector<std::string> roles;
};
// --until and --for of a time-boxed grant (at most one of them).
struct ExpiryOptions {
  uint64_t until = 0;       // --until as unix seconds; 0: not given
  uint64_t forSeconds = 0;  // --for in seconds; 0: not given
};

template <typename Args>
struct Command {
  CLI::App* app;
  Args& args;  // Owned by the command's callback, so it lives as long as the CLI::App.
};

// "sa list": the words that select `command`, below the program itself.
std::string commandName(const CLI::App& command);
// What --as and --company mean for a command of `mode`, for the end of its --help.
std::string modeHelp(Mode mode);

// Adds the subcommand `name` to `parent` with a fresh `Args` for its options. When the command
// line selects it, `chosen` becomes `run` applied to those arguments.
template <typename Args, typename Run>
Command<Args> addCommand(CLI::App& parent, const std::string& name, const std::string& help,
                         Action& chosen, Run run, Mode mode = Mode::kSystem) {
  auto args = std::make_shared<Args>();
  CLI::App* app = parent.add_subcommand(name, help);
  app->footer(modeHelp(mode));
  app->callback([args, run, &chosen, words = commandName(*app), mode] {
    chosen = {[args, run](Context& context) { return run(context, *args); }, words, mode};
  });
  return {app, *args};
}

// A subcommand that only groups others (`company`, `role`, ...); one of them is required.
CLI::App* addGroup(CLI::App& parent, const std::string& name, const std::string& help);

// Adds `<group> <name> ARGUMENT`, one required positional (a principal, name or id).
Command<OneArgument> addPrincipalCommand(CLI::App& group, const std::string& name,
                                         const std::string& help, const std::string& argument,
                                         const std::string& argumentHelp, Action& chosen,
                                         int (*run)(Context&, const OneArgument&),
                                         Mode mode = Mode::kSystem);
// The required positional PRINCIPAL and COMPANY.
void addPrincipalInCompany(CLI::App& command, PrincipalInCompanyArguments& args);
// A repeatable `--perm NAME` (also `--perm a,b`), one value per occurrence.
CLI::Option* addPermissionOption(CLI::App& command, std::vector<std::string>& permissions,
                                 const std::string& help);
// --perm and a repeatable --role, name or id, looked up as the company's role, then a system role.
void addGrantOptions(CLI::App& command, GrantOptions& options);
// --until TIME and --for DURATION, exclusive of each other, checked as the command line is read.
void addExpiryOptions(CLI::App& command, ExpiryOptions& options);
// The wire's expiresAt for the options at unix time `now`: 0 (never) when neither was given.
uint64_t expiresAt(const ExpiryOptions& options, uint64_t now);
// A duration as --for takes it, in seconds: whole numbers with units s, m, h, d, w ("1h30m").
uint64_t parseDuration(const std::string& option, std::string_view text);
// A time as --until takes it, in unix seconds: "2026-12-01T18:00:00Z",
// "2026-12-01T19:00:00+01:00", or "@1796148000".
uint64_t parseTime(const std::string& option, std::string_view text);

// `text` as a number for addWholeNumberOption; throws CLI::ValidationError naming `option`.
uint64_t parseWholeNumber(const std::string& option, std::string_view text, uint64_t min,
                          uint64_t max, std::string_view unit);
// `--NAME N`: decimal digits only, from `min` to `max`. CLI11's own conversion is not used: it
// reads "0x10" as hex and "010" as octal. `unit` ("seconds", or empty) is named in the error:
// "'1h' is not a whole number of seconds from 0 to 4294967295". `value` belongs to the command's
// arguments, which live as long as `command`.
template <typename Number>
CLI::Option* addWholeNumberOption(CLI::App& command, const std::string& name, Number& value,
                                  Number min, Number max, const std::string& unit,
                                  const std::string& typeName, const std::string& help) {
  auto parse = [&value, name, min, max, unit](const std::string& text) {
    value = static_cast<Number>(parseWholeNumber(name, text, min, max, unit));
  };
  return command.add_option_function<std::string>(name, parse, help)->type_name(typeName);
}

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

// Each role as Session::grantableRole resolves it in `company`.
std::vector<uint64_t> grantableRoles(Session& session, const std::vector<std::string>& roles,
                                     uint64_t company);

// Sets the direct permissions and roles of a SetGrant, ScopedGrant or SaCreate.
template <typename GrantBuilder>
void fillGrant(GrantBuilder grant, const std::vector<std::string>& permissions,
               const std::vector<uint64_t>& roles) {
  setTexts(grant.initPermissions(static_cast<unsigned>(permissions.size())), permissions);
  setIds(grant.initRoles(static_cast<unsigned>(roles.size())), roles);
}

// The roles visible in `scope`: the system roles, and that company's roles when it is not 0.
client::Answer listRoles(Session& session, uint64_t scope);

// Sends a provisioning request that creates something; prints
// "created <what> <id> (revision N)", or {"id":N,"revision":N}.
int create(Context& context, std::string_view what, const client::Client::Fill& fill);
// Sends any other provisioning request; prints "ok (revision N)", or {"revision":N}.
// With --dry-run (also for create), sends it as a dry run and prints its impact instead.
int change(Context& context, const client::Client::Fill& fill);
// Sends the request as a dry run; prints what it would change, one line per principal and
// company ("principal 8 in company 2: +routers.write -routers.reboot"), or the Impact as JSON.
int preview(Context& context, const client::Client::Fill& fill);
// Disables or enables the principal named by `name` through the request member `init` starts
// (setPrincipalState for the system, saSetState for an actor); prints as `change`.
using InitState = wire::SetPrincipalState::Builder (wire::Request::Builder::*)();
int changeState(Context& context, std::string_view name, wire::PrincipalState state,
                InitState init);

// A secret the daemon issued, to be printed alone on a line: anything that would break the line
// (or the terminal) is a protocol error.
std::string_view oneLineSecret(capnp::Text::Reader text, std::string_view what);
// Sends a request answered with keyIssued. Prints the key alone on stdout and
// "key 12, expires never<retired> (revision N)" on stderr, where <retired> is
// `retiredText(retired)` after "; " (nothing when it is null).
int issueKey(Context& context, const client::Client::Fill& fill,
             const std::function<std::string(uint32_t)>& retiredText);
// saResetCredentials for the actor: revokes every key of the active company's own service
// account `serviceAccount` (name or id) and issues one that never expires, printed as by issueKey.
// `sa reset`, and `sa key reset` for an actor.
int resetOwnedKeys(Context& context, std::string_view serviceAccount);
// "1 other key", "2 other keys".
std::string otherKeys(uint32_t count);
// "2 other keys revoked": a retiredText for issueKey.
std::string keysRevokedText(uint32_t count);

// saShow: the Service Accounts view of the active company with exactly the row of `account`
// (any other number of rows is a protocol error). `sa show`, and `sa key list` for an actor.
client::Answer showServiceAccountRow(Session& session, uint64_t account);

// A key as a row of kKeyHeader, and as JSON (its id a string).
extern const std::vector<std::string> kKeyHeader;
std::vector<std::string> keyRow(wire::KeyInfo::Reader key);
Json keyJson(wire::KeyInfo::Reader key);
// {"id":N,"company":N,"name":"...","permissions":[...]}
Json roleJson(wire::RoleInfo::Reader role);
// Id and name, one company per line; {"companies":[{"id":N,"name":"..."}],"revision":N}.
int printCompanies(Context& context, wire::CompanyList::Reader list);

// Rows as aligned columns separated by two spaces; the last column is not padded.
std::string table(const std::vector<std::vector<std::string>>& rows);

// The commands, by topic.
void addCheckCommands(CLI::App& app, Action& chosen);      // check, check-batch, permissions, ping
void addCatalogCommands(CLI::App& app, Action& chosen);    // company, catalog, role
void addPrincipalCommands(CLI::App& app, Action& chosen);  // user, sa, grant, principal
// login, check-access, sa key (also for an actor), user passwd/totp-enroll/totp-remove. After
// addPrincipalCommands: it adds to the `user` and `sa` groups.
void addCredentialCommands(CLI::App& app, Action& chosen);
// For an actor: sa list/show/describe/reset/delete/disable/enable/grant/revoke/companies, user
// grant/revoke; and audit list. After addPrincipalCommands: it adds to the `user` and `sa` groups.
void addActorCommands(CLI::App& app, Action& chosen);
// stats, backup.
void addOpsCommands(CLI::App& app, Action& chosen);

}  // namespace gatehouse::cli
