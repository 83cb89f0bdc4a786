// gatehouse: the command-line client of gatehoused. Parses the command line, checks --as/--company
// against the chosen command, runs it over one connection (for the actor, when they are given),
// and maps the outcome to the exit status: 0 allowed or done, 1 denied or refused, 2 any error
// (command-line errors included). See docs/cli.md.
#include <fmt/format.h>
#include <kj/exception.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <string>

#include "client.hpp"
#include "command.hpp"
#include "output.hpp"
#include "session.hpp"

namespace {

using namespace gatehouse::cli;

std::string usageFailure(const CLI::App*, const CLI::Error& error) {
  return fmt::format("gatehouse: error: {}: {}\nRun with --help for more information.\n",
                     kUsageError, error.what());
}

// Runs the command in the scope of --as/--company; every failure is reported here, once.
int run(const Action& action, const ActorOptions& options, Context& context) {
  try {
    context.session.setScope(resolveScope(context.session, options));
    return action.run(context);
  } catch (const CommandError& e) {
    context.out.error(e.code(), e.what(), e.missing());
  } catch (const gatehouse::client::ClientError& e) {
    context.out.error(kConnectionError, e.what());
  } catch (const kj::Exception& e) {
    context.out.error(kProtocolError, e.getDescription().cStr());
  } catch (const std::exception& e) {
    context.out.error("internal", e.what());
  }
  return kExitError;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gatehouse: query and provision the gatehouse authorization daemon", "gatehouse"};
  std::string socketPath;
  double timeoutSeconds = 10;
  bool json = false;
  app.add_option("--socket", socketPath,
                 fmt::format("The daemon's Unix socket. Default: {} when it exists (a checkout "
                             "where ./scripts/run serves), otherwise {} (gatehoused.socket)",
                             gatehouse::client::Client::kCheckoutSocket,
                             gatehouse::client::Client::kSystemSocket))
      ->envname("GATEHOUSE_SOCKET");
  app.add_option("--timeout", timeoutSeconds,
                 "Seconds to wait for each answer before giving up (0: wait for ever)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  app.add_flag("--json", json, "Print one JSON object per command on stdout");
  bool dryRun = false;
  app.add_flag("--dry-run", dryRun,
               "Preview a change of grants, roles or principals: print whose effective "
               "permissions it would change, and write nothing");
  uint64_t minRevision = 0;
  app.add_option("--min-revision", minRevision,
                 "check, check-batch, permissions, check-access: answer from this revision or a "
                 "later one (e.g. a mutation's), waiting for a replica to apply it; `behind` "
                 "when it does not in time")
      ->type_name("REVISION");
  ActorOptions actorOptions;
  app.add_option("--as", actorOptions.actor,
                 "Act for this principal (name or id) in the --company, with its permissions")
      ->type_name("ACTOR");
  app.add_option("--company", actorOptions.company,
                 "With --as: the company the actor acts in (name or id). Alone: the role "
                 "commands' company")
      ->type_name("COMPANY");
  app.set_version_flag("--version", GATEHOUSE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // Global options are accepted after the subcommand too.
  app.failure_message(usageFailure);

  Action chosen;
  addCheckCommands(app, chosen);
  addCatalogCommands(app, chosen);
  addPrincipalCommands(app, chosen);
  addCredentialCommands(app, chosen);
  addActorCommands(app, chosen);
  addOpsCommands(app, chosen);
  try {
    app.parse(argc, argv);
    checkScope(chosen, actorOptions);
    checkDryRun(chosen, dryRun);
    checkMinRevision(chosen, minRevision);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;  // --help is a success.
  }

  Output out(json);
  if (socketPath.empty()) socketPath = gatehouse::client::Client::defaultSocket();
  Session session(socketPath,
                  std::chrono::milliseconds(static_cast<int64_t>(timeoutSeconds * 1000)));
  session.setMinRevision(minRevision);
  Context context{session, out, dryRun};
  return run(chosen, actorOptions, context);
}
