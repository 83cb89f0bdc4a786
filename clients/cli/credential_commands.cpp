// Credentials: checking them (login, check-access) and managing them (service-account keys, user
// passwords and TOTP). Secrets sent are read from stdin, never from argv (secret_input.hpp);
// secrets issued (a key, an otpauth:// URI) are printed alone on stdout, their details on stderr.
// The `sa key` commands also run for an actor (--as, --company): the same output, from the
// actor-scoped requests (saKeyCreate, saKeyRevoke, saKeyRotate, saResetCredentials, saShow).
#include <fmt/format.h>

#include <chrono>
#include <limits>

#include "command.hpp"
#include "secret_input.hpp"
#include "wire_text.hpp"

namespace gatehouse::cli {
namespace {

struct LoginArguments {
  std::string channel = "api";
  std::string user;  // Empty: the secret is an API key.
  std::string totp;
  std::string source;
};

struct AccessArguments {
  std::string company;
  std::string permission;
  std::string source;
};

struct IssueKeyArguments {
  std::string serviceAccount;
  uint32_t expiresIn = 0;     // Seconds from now; 0: the key never expires.
  uint32_t graceSeconds = 0;  // rotate only.
};

wire::Channel channelOf(std::string_view name) {
  return name == "ui" ? wire::Channel::UI : wire::Channel::API;
}

// The wire's expiresAt for a key valid `expiresIn` seconds from now; 0 (never) for 0.
uint64_t expiresAt(uint32_t expiresIn) {
  if (expiresIn == 0) return 0;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return static_cast<uint64_t>(now.count()) + expiresIn;
}

// --- Checking credentials ---

// "accepted: service account 4 (key 12)", "accepted: user 5", or "refused: key revoked".
std::string credentialText(wire::CredentialResult::Reader result) {
  if (!result.getAccepted()) {
    return "refused: " + credentialRefusalText(result.getRefusal(), result.getRetryAfterSeconds());
  }
  std::string kind = result.getKind() == wire::PrincipalKind::USER ? "user" : "service account";
  if (result.getKeyId() == 0) return fmt::format("accepted: {} {}", kind, result.getPrincipal());
  return fmt::format("accepted: {} {} (key {})", kind, result.getPrincipal(), result.getKeyId());
}

int login(Context& context, const LoginArguments& args) {
  bool password = !args.user.empty();
  Secret secret;
  secret.readFromStdin(password ? "the password" : "the API key",
                       password ? fmt::format("Password for {}: ", args.user) : "API key: ");
  client::Answer answer =
      context.session.call(wire::Response::CREDENTIAL, [&](wire::Request::Builder request) {
        auto check = request.initCheckCredential();
        check.setCredential(secret.text());
        check.setUser(toText(args.user));
        check.setChannel(channelOf(args.channel));
        check.setTotp(toText(args.totp));
        check.setSource(toText(args.source));
      });
  auto result = answer.get().getCredential();
  context.out.print(credentialText(result),
                    Json{{"accepted", result.getAccepted()},
                         {"refusal", enumName(result.getRefusal())},
                         {"principal", result.getPrincipal()},
                         {"kind", enumName(result.getKind())},
                         {"keyId", keyIdJson(result.getKeyId())},
                         {"retryAfterSeconds", result.getRetryAfterSeconds()},
                         {"revision", result.getRevision()}});
  return result.getAccepted() ? kExitOk : kExitDenied;
}

// "allow (revision 17)", "deny: key expired (revision 17)" or "deny: not granted (revision 17)".
std::string accessText(wire::AccessResult::Reader result) {
  if (result.getAllowed()) return fmt::format("allow (revision {})", result.getRevision());
  std::string why =
      result.getCredential() != wire::CredentialRefusal::NONE
          ? credentialRefusalText(result.getCredential(), result.getRetryAfterSeconds())
          : denyReasonText(result.getReason());
  return fmt::format("deny: {} (revision {})", why, result.getRevision());
}

int checkAccess(Context& context, const AccessArguments& args) {
  uint64_t company = context.session.company(args.company);
  Secret secret;
  secret.readFromStdin("the API key", "API key: ");
  client::Answer answer =
      context.session.call(wire::Response::ACCESS, [&](wire::Request::Builder request) {
        auto check = request.initCheckAccess();
        check.setCredential(secret.text());
        check.setCompany(company);
        check.setPermission(toText(args.permission));
        check.setSource(toText(args.source));
      });
  auto result = answer.get().getAccess();
  context.out.print(accessText(result), Json{{"allowed", result.getAllowed()},
                                             {"credential", enumName(result.getCredential())},
                                             {"reason", enumName(result.getReason())},
                                             {"principal", result.getPrincipal()},
                                             {"retryAfterSeconds", result.getRetryAfterSeconds()},
                                             {"revision", result.getRevision()}});
  return result.getAllowed() ? kExitOk : kExitDenied;
}

// --- Service-account keys ---
// With an actor, each command sends the actor's request for the active company's own accounts.

int createKey(Context& context, const IssueKeyArguments& args) {
  uint64_t account = context.session.principal(args.serviceAccount);
  uint64_t expires = expiresAt(args.expiresIn);
  bool forActor = context.session.scope().forActor();
  return issueKey(
      context,
      [&](wire::Request::Builder request) {
        auto key = forActor ? request.initSaKeyCreate() : request.initCreateKey();
        key.setServiceAccount(account);
        key.setExpiresAt(expires);
      },
      nullptr);
}

// For an actor saResetCredentials, whose new key never expires: --expires-in is refused.
int resetKeys(Context& context, const IssueKeyArguments& args) {
  if (context.session.scope().forActor()) {
    if (args.expiresIn != 0) {
      throw CommandError(kUsageError,
                         "--expires-in is for the system context: for an actor, the key that "
                         "`sa key reset` issues never expires (use `sa key rotate --grace 0`)");
    }
    return resetOwnedKeys(context, args.serviceAccount);
  }
  uint64_t account = context.session.principal(args.serviceAccount);
  uint64_t expires = expiresAt(args.expiresIn);
  return issueKey(
      context,
      [&](wire::Request::Builder request) {
        auto key = request.initResetKeys();
        key.setServiceAccount(account);
        key.setExpiresAt(expires);
      },
      keysRevokedText);
}

int rotateKey(Context& context, const IssueKeyArguments& args) {
  uint64_t account = context.session.principal(args.serviceAccount);
  uint64_t expires = expiresAt(args.expiresIn);
  bool forActor = context.session.scope().forActor();
  return issueKey(
      context,
      [&](wire::Request::Builder request) {
        auto rotate = forActor ? request.initSaKeyRotate() : request.initRotateKey();
        rotate.setServiceAccount(account);
        rotate.setGraceSeconds(args.graceSeconds);
        rotate.setExpiresAt(expires);
      },
      [&](uint32_t retired) {
        return fmt::format("{} {} in {} s", otherKeys(retired), retired == 1 ? "retires" : "retire",
                           args.graceSeconds);
      });
}

int printKeys(Context& context, capnp::List<wire::KeyInfo>::Reader keys, uint64_t revision) {
  std::vector<std::vector<std::string>> rows{kKeyHeader};
  Json json = Json::array();
  for (auto key : keys) {
    rows.push_back(keyRow(key));
    json.push_back(keyJson(key));
  }
  context.out.print(table(rows), Json{{"keys", std::move(json)}, {"revision", revision}});
  return kExitOk;
}

// For an actor, the keys of the saShow row: only an owned row carries them.
int listKeys(Context& context, const OneArgument& args) {
  uint64_t account = context.session.principal(args.value);
  if (context.session.scope().forActor()) {
    client::Answer answer = showServiceAccountRow(context.session, account);
    auto saView = answer.get().getSaView();
    auto row = saView.getRows()[0];
    if (row.getRelation() != wire::Relation::OWNED) {
      throw CommandError(kNotOwner,
                         fmt::format("service account {} is owned by company {}; only its owner "
                                     "may list its keys",
                                     row.getId(), row.getOwnerCompany()));
    }
    return printKeys(context, row.getKeys(), saView.getRevision());
  }
  client::Answer answer = context.session.call(
      wire::Response::KEYS, [&](wire::Request::Builder request) { request.setListKeys(account); });
  auto list = answer.get().getKeys();
  return printKeys(context, list.getKeys(), list.getRevision());
}

int revokeKey(Context& context, const OneArgument& args) {
  std::optional<uint64_t> key = parseId(args.value);
  if (!key) {
    throw CommandError(
        kUsageError,
        fmt::format("'{}' is not a key id (the ID column of `sa key list`)", args.value));
  }
  bool forActor = context.session.scope().forActor();
  return change(context, [&](wire::Request::Builder request) {
    if (forActor) {
      request.setSaKeyRevoke(*key);
      return;
    }
    request.setRevokeKey(*key);
  });
}

// --- User passwords and TOTP ---

int setPassword(Context& context, const OneArgument& args) {
  uint64_t user = context.session.principal(args.value);
  Secret password;
  password.readFromStdin("the new password", fmt::format("New password for {}: ", args.value));
  return change(context, [&](wire::Request::Builder request) {
    auto update = request.initSetPassword();
    update.setUser(user);
    update.setPassword(password.text());
  });
}

int enrollTotp(Context& context, const OneArgument& args) {
  uint64_t user = context.session.principal(args.value);
  client::Answer answer =
      context.session.call(wire::Response::TOTP_ENROLLED,
                           [&](wire::Request::Builder request) { request.setEnrollTotp(user); });
  auto enrolled = answer.get().getTotpEnrolled();
  std::string_view uri = oneLineSecret(enrolled.getUri(), "the otpauth URI");
  context.out.print(uri, Json{{"uri", uri}, {"revision", enrolled.getRevision()}});
  context.out.note(fmt::format("TOTP enrolled (revision {})", enrolled.getRevision()));
  return kExitOk;
}

int removeTotp(Context& context, const OneArgument& args) {
  uint64_t user = context.session.principal(args.value);
  return change(context, [&](wire::Request::Builder request) { request.setRemoveTotp(user); });
}

// --- Registration ---

// `--NAME SECONDS`, from `min` to 2^32 - 1 (the wire's width).
CLI::Option* addSecondsOption(CLI::App& command, const std::string& name, uint32_t& seconds,
                              uint32_t min, const std::string& help) {
  return addWholeNumberOption(command, name, seconds, min, std::numeric_limits<uint32_t>::max(),
                              "seconds", "SECONDS", help);
}

void addSourceOption(CLI::App& command, std::string& source) {
  command.add_option("--source", source, "The end client's address, for rate limiting")
      ->type_name("ADDR");
}

void addCheckingCommands(CLI::App& app, Action& chosen) {
  auto loginCommand = addCommand<LoginArguments>(
      app, "login",
      "Check an API key or password read from stdin (exit 0 accepted, 1 refused, 2 error)", chosen,
      login);
  loginCommand.app
      ->add_option("--channel", loginCommand.args.channel, "The channel the credential is used on")
      ->check(CLI::IsMember({"api", "ui"}))
      ->capture_default_str();
  loginCommand.app
      ->add_option("--user", loginCommand.args.user,
                   "A user's login name: stdin holds the user's password")
      ->type_name("LOGIN");
  loginCommand.app->add_option("--totp", loginCommand.args.totp, "The user's current TOTP code")
      ->type_name("CODE");
  addSourceOption(*loginCommand.app, loginCommand.args.source);

  auto accessCommand = addCommand<AccessArguments>(
      app, "check-access",
      "Check an API key read from stdin, then one permission (exit 0 allow, 1 deny, 2 error)",
      chosen, checkAccess);
  accessCommand.app->add_option("COMPANY", accessCommand.args.company, "Company name or id")
      ->required();
  accessCommand.app->add_option("PERMISSION", accessCommand.args.permission, "Permission name")
      ->required();
  addSourceOption(*accessCommand.app, accessCommand.args.source);
}

// Adds `sa key <name> SA [--expires-in SECONDS]`, in either context.
Command<IssueKeyArguments> addIssueCommand(CLI::App& keys, const std::string& name,
                                           const std::string& help, Action& chosen,
                                           int (*run)(Context&, const IssueKeyArguments&)) {
  auto command = addCommand<IssueKeyArguments>(keys, name, help, chosen, run, Mode::kEither);
  command.app->add_option("SA", command.args.serviceAccount, "Service account name or id")
      ->required();
  addSecondsOption(*command.app, "--expires-in", command.args.expiresIn, 1,
                   "The new key expires this many seconds from now (default: never)");
  return command;
}

void addKeyCommands(CLI::App& accounts, Action& chosen) {
  CLI::App* keys =
      addGroup(accounts, "key", "Issue, list, revoke and rotate a service account's API keys");
  addIssueCommand(*keys, "create", "Issue a key (printed once, alone on stdout)", chosen,
                  createKey);
  addPrincipalCommand(*keys, "list", "List a service account's keys (no secrets)", "SA",
                      "Service account name or id", chosen, listKeys, Mode::kEither);
  auto revoke =
      addCommand<OneArgument>(*keys, "revoke", "Revoke one key", chosen, revokeKey, Mode::kEither);
  revoke.app->add_option("KEYID", revoke.args.value, "Key id (from `sa key list`)")->required();
  addIssueCommand(*keys, "reset",
                  "Revoke every key of the account and issue a new one (for an actor: no "
                  "--expires-in)",
                  chosen, resetKeys);
  auto rotate = addIssueCommand(
      *keys, "rotate", "Issue a key; the account's other keys are revoked after a grace period",
      chosen, rotateKey);
  addSecondsOption(*rotate.app, "--grace", rotate.args.graceSeconds, 0,
                   "The other keys stay valid this many seconds")
      ->required();
}

// Adds `user <name> USER`.
void addUserCommand(CLI::App& users, const std::string& name, const std::string& help,
                    Action& chosen, int (*run)(Context&, const OneArgument&)) {
  addPrincipalCommand(users, name, help, "USER", "User name or id", chosen, run);
}

void addUserCredentialCommands(CLI::App& users, Action& chosen) {
  addUserCommand(users, "passwd", "Set a user's password, read from stdin", chosen, setPassword);
  addUserCommand(users, "totp-enroll", "Enroll a user in TOTP; prints the otpauth:// URI once",
                 chosen, enrollTotp);
  addUserCommand(users, "totp-remove", "Remove a user's TOTP (password only from then on)", chosen,
                 removeTotp);
}

}  // namespace

void addCredentialCommands(CLI::App& app, Action& chosen) {
  addCheckingCommands(app, chosen);
  addKeyCommands(*app.get_subcommand("sa"), chosen);
  addUserCredentialCommands(*app.get_subcommand("user"), chosen);
}

}  // namespace gatehouse::cli
