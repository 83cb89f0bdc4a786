// End to end: the real gatehoused on a temporary directory, provisioned through the real CLI;
// answers checked, the daemon restarted (cleanly and with SIGKILL), and everything must survive.
#define BOOST_TEST_MODULE integration
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <thread>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;

namespace {

// Runs the CLI and requires exit status `want`; returns the run for further checks.
Run expect(const Daemon& d, std::vector<std::string> args, int want,
           const std::string& input = "") {
  Run r = d.cli(args, input);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  BOOST_TEST(r.status == want, "gatehouse " << joined << "exited " << r.status
                                            << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void provision(const Daemon& d) {
  expect(d, {"catalog", "define", "routers.read", "routers.write", "routers.reboot"}, 0);
  expect(d, {"company", "create", "msp"}, 0);
  expect(d, {"company", "create", "north"}, 0);
  expect(d, {"company", "create", "south"}, 0);
  expect(d, {"role", "create", "viewer", "--perm", "routers.read"}, 0);
  expect(d, {"role", "create", "operator", "--perm", "routers.read", "--perm", "routers.reboot"},
         0);
  expect(d, {"role", "create", "night", "--company", "north", "--perm", "routers.write"}, 0);
  expect(d, {"user", "create", "alice"}, 0);
  expect(d, {"sa", "create", "fleet-bot", "--owner", "msp", "--description", "MSP automation"}, 0);
  expect(d, {"grant", "set", "alice", "msp", "--role", "operator"}, 0);
  expect(d, {"grant", "set", "fleet-bot", "north", "--role", "operator", "--role", "night"}, 0);
  expect(d, {"grant", "set", "fleet-bot", "south", "--role", "viewer"}, 0);
}

// Loads the demo graph (scripts/demo) into the daemon and points the CLI at it with
// GATEHOUSE_SOCKET, unset again when the test ends.
struct DemoGraph {
  explicit DemoGraph(const Daemon& d) {
    ::setenv("GATEHOUSE_SOCKET", d.socket().c_str(), 1);
    Run demo = runProcess(
        {"/bin/bash", std::string(GATEHOUSE_SOURCE_DIR) + "/scripts/demo", GATEHOUSE_CLI_PATH});
    BOOST_REQUIRE_MESSAGE(demo.status == 0, demo.err);
  }
  ~DemoGraph() { ::unsetenv("GATEHOUSE_SOCKET"); }
  DemoGraph(const DemoGraph&) = delete;
  DemoGraph& operator=(const DemoGraph&) = delete;
};

// The actor's options (--as ACTOR --company COMPANY) followed by the command's words.
std::vector<std::string> with(std::vector<std::string> who, const std::vector<std::string>& args) {
  who.insert(who.end(), args.begin(), args.end());
  return who;
}

void answersAreAsProvisioned(const Daemon& d) {
  BOOST_TEST(contains(expect(d, {"check", "alice", "msp", "routers.reboot"}, 0).out, "allow"));
  BOOST_TEST(contains(expect(d, {"check", "fleet-bot", "north", "routers.write"}, 0).out, "allow"));
  BOOST_TEST(
      contains(expect(d, {"check", "fleet-bot", "south", "routers.reboot"}, 1).out, "not granted"));
  BOOST_TEST(contains(expect(d, {"check", "alice", "north", "routers.read"}, 1).out, "no access"));
  BOOST_TEST(
      contains(expect(d, {"check", "alice", "msp", "routers.fly"}, 1).out, "unknown permission"));
}

}  // namespace

BOOST_AUTO_TEST_CASE(provision_check_and_survive_restarts) {
  Daemon d;
  provision(d);
  answersAreAsProvisioned(d);

  BOOST_TEST(d.stop() == 0);  // SIGTERM: a clean stop
  BOOST_TEST(!std::filesystem::exists(d.socket()));
  d.start();
  answersAreAsProvisioned(d);

  // An acknowledged change survives SIGKILL.
  expect(d, {"grant", "set", "alice", "north", "--role", "viewer"}, 0);
  d.kill();
  d.start();
  BOOST_TEST(contains(expect(d, {"check", "alice", "north", "routers.read"}, 0).out, "allow"));
}

BOOST_AUTO_TEST_CASE(role_edits_disable_and_delete_change_answers_everywhere) {
  Daemon d;
  provision(d);
  expect(d, {"role", "update", "viewer", "--perm", "routers.read", "--perm", "routers.reboot"}, 0);
  expect(d, {"check", "fleet-bot", "south", "routers.reboot"}, 0);

  expect(d, {"principal", "disable", "fleet-bot"}, 0);
  BOOST_TEST(
      contains(expect(d, {"check", "fleet-bot", "north", "routers.read"}, 1).out, "disabled"));
  expect(d, {"principal", "enable", "fleet-bot"}, 0);
  expect(d, {"check", "fleet-bot", "north", "routers.read"}, 0);

  expect(d, {"grant", "remove", "fleet-bot", "south"}, 0);
  expect(d, {"check", "fleet-bot", "south", "routers.read"}, 1);
  expect(d, {"check", "fleet-bot", "north", "routers.read"}, 0);  // untouched

  expect(d, {"role", "delete", "operator"}, 0);
  BOOST_TEST(contains(expect(d, {"check", "alice", "msp", "routers.read"}, 1).out, "not granted"));

  expect(d, {"principal", "delete", "fleet-bot"}, 0);
  expect(d, {"check", "fleet-bot", "north", "routers.write"}, 2);  // the name is gone
}

BOOST_AUTO_TEST_CASE(batch_and_permission_listing) {
  Daemon d;
  provision(d);
  Run batch = expect(d, {"check-batch"}, 1,
                     "alice msp routers.read\nfleet-bot south routers.read\n"
                     "fleet-bot south routers.reboot\n");
  BOOST_TEST(contains(batch.out, "not granted"));
  expect(d, {"check-batch"}, 0, "alice msp routers.read\nfleet-bot north routers.write\n");

  Run perms = expect(d, {"permissions", "fleet-bot", "north"}, 0);
  BOOST_TEST(contains(perms.out, "routers.read"));
  BOOST_TEST(contains(perms.out, "routers.write"));
  BOOST_TEST(contains(perms.out, "routers.reboot"));
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_clearly_and_loses_nothing) {
  Daemon d;
  provision(d);
  Run dup = expect(d, {"company", "create", "msp"}, 2);
  BOOST_TEST(contains(dup.err, "already exists"));
  Run empty = expect(d, {"company", "create", ""}, 2);
  BOOST_TEST(contains(empty.err, "name"));
  Run badPerm = expect(d, {"catalog", "define", "Routers Read"}, 2);
  BOOST_TEST(contains(badPerm.err, "Routers Read"));
  Run unknownPerm = expect(d, {"grant", "set", "alice", "msp", "--perm", "routers.fly"}, 2);
  BOOST_TEST(contains(unknownPerm.err, "routers.fly"));
  Run foreignRole = expect(d, {"grant", "set", "alice", "south", "--role", "night"}, 2);
  Run unknownCompany = expect(d, {"check", "alice", "nowhere", "routers.read"}, 2);
  BOOST_TEST(contains(unknownCompany.err, "nowhere"));
  expect(d, {"check", "alice", "msp"}, 2);  // missing argument

  // Nothing above changed anything.
  answersAreAsProvisioned(d);
  Run companies = expect(d, {"--json", "company", "list"}, 0);
  BOOST_TEST(!contains(companies.out, "nowhere"));
  Run grant = expect(d, {"grant", "show", "alice", "msp"}, 0);
  BOOST_TEST(!contains(grant.out, "routers.fly"));
}

BOOST_AUTO_TEST_CASE(unreachable_daemon_is_an_error_not_a_deny) {
  TempDir dir;
  Run r = runProcess({GATEHOUSE_CLI_PATH, "--socket", (dir.path() / "none.sock").string(), "check",
                      "1", "1", "a.b"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(contains(r.err, "none.sock"));
}

BOOST_AUTO_TEST_CASE(a_bad_daemon_command_line_exits_2) {
  Run unknown = runProcess({GATEHOUSE_DAEMON_PATH, "--no-such-option"});
  BOOST_TEST(unknown.status == 2);
  BOOST_TEST(contains(unknown.err, "--no-such-option"));
  TempDir dir;
  Run missing =
      runProcess({GATEHOUSE_DAEMON_PATH, "--config", (dir.path() / "none.toml").string()});
  BOOST_TEST(missing.status == 2);
  BOOST_TEST(contains(missing.err, "none.toml"));
  BOOST_TEST(runProcess({GATEHOUSE_DAEMON_PATH, "--help"}).status == 0);
  BOOST_TEST(runProcess({GATEHOUSE_DAEMON_PATH, "--version"}).status == 0);
}

BOOST_AUTO_TEST_CASE(sigterm_answers_what_was_read_and_every_answered_write_survives) {
  Daemon d;
  client::Client c = d.connect();
  std::string frames;
  constexpr int kWrites = 3000;
  for (int i = 0; i < kWrites; ++i) {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<wire::Request>();
    r.setId(static_cast<uint64_t>(i + 1));
    r.initCreateCompany().setName("company-" + std::to_string(i));
    auto flat = capnp::messageToFlatArray(m);
    frames.append(reinterpret_cast<const char*>(flat.asBytes().begin()), flat.asBytes().size());
  }
  // Written from another thread: the daemon reads them as its in-flight limit allows.
  std::thread writer([&] {
    try {
      c.sendBytes(frames);
    } catch (const client::ClientError&) {
      // the daemon stopped reading and closed: expected
    }
  });
  std::vector<std::string> acknowledged;
  auto first = c.receive();  // the daemon is working through the stream
  if (first->which() == wire::Response::MUTATION) acknowledged.push_back("company-0");
  ::kill(d.pid(), SIGTERM);
  try {
    for (;;) {
      auto a = c.receive();
      if (a->which() == wire::Response::MUTATION) {
        acknowledged.push_back("company-" + std::to_string(a->getId() - 1));
      }
    }
  } catch (const client::ClientError&) {
    // the daemon closed the connection once everything it read was answered
  }
  writer.join();
  BOOST_TEST(d.stop() == 0);
  BOOST_TEST_MESSAGE(acknowledged.size()
                     << " of " << kWrites << " writes answered before the stop");
  BOOST_TEST(acknowledged.size() >= 1u);
  d.start();
  Run list = expect(d, {"--json", "company", "list"}, 0);
  for (const auto& name : acknowledged) {
    BOOST_TEST(contains(list.out, "\"" + name + "\""), name << " was acknowledged but is gone");
  }
}

BOOST_AUTO_TEST_CASE(credentials_through_the_cli_read_secrets_from_stdin_only) {
  Daemon d("", "password_ops_limit = 1\npassword_mem_limit_mib = 8\n");
  provision(d);
  // A key for the service account: the secret alone on stdout.
  Run created = expect(d, {"sa", "key", "create", "fleet-bot"}, 0);
  std::string key = created.out.substr(0, created.out.find('\n'));
  BOOST_TEST(key.rfind("gatesk_", 0) == 0u);
  BOOST_TEST(contains(expect(d, {"login", "--channel", "api"}, 0, key + "\n").out, "accepted"));
  BOOST_TEST(
      contains(expect(d, {"login", "--channel", "ui"}, 1, key + "\n").out, "service account"));
  expect(d, {"check-access", "north", "routers.write"}, 0, key + "\n");
  BOOST_TEST(contains(expect(d, {"check-access", "south", "routers.reboot"}, 1, key + "\n").out,
                      "not granted"));
  expect(d, {"login"}, 2, "");  // no secret on stdin: a usage error, nothing sent

  // The key list never shows a secret.
  Run list = expect(d, {"--json", "sa", "key", "list", "fleet-bot"}, 0);
  BOOST_TEST(!contains(list.out, "gatesk_"));
  expect(d, {"sa", "key", "reset", "fleet-bot"}, 0);
  BOOST_TEST(contains(expect(d, {"login"}, 1, key + "\n").out, "revoked"));

  // A user's password from stdin, then a login with it.
  expect(d, {"user", "passwd", "alice"}, 0, "correct horse battery\n");
  expect(d, {"login", "--channel", "ui", "--user", "alice"}, 0, "correct horse battery\n");
  expect(d, {"login", "--channel", "ui", "--user", "alice"}, 1, "wrong horse battery\n");
  Run enrolled = expect(d, {"user", "totp-enroll", "alice"}, 0);
  BOOST_TEST(contains(enrolled.out, "otpauth://totp/gatehouse:alice?secret="));
  BOOST_TEST(contains(
      expect(d, {"login", "--channel", "ui", "--user", "alice"}, 1, "correct horse battery\n").out,
      "TOTP"));
  expect(d, {"user", "totp-remove", "alice"}, 0);
  expect(d, {"login", "--channel", "ui", "--user", "alice"}, 0, "correct horse battery\n");
}

// The worked example of docs/service-accounts.md, step by step, on the demo graph.
BOOST_AUTO_TEST_CASE(worked_example_of_the_service_accounts_guide) {
  Daemon d;
  DemoGraph demo(d);

  // The MSP creates its script's account; the secret alone is on stdout.
  Run created = expect(d,
                       {"--as", "alice", "--company", "msp", "sa", "create", "fleet-bot",
                        "--description", "MSP fleet automation", "--perm", "routers.read"},
                       0);
  std::string key = created.out.substr(0, created.out.find('\n'));
  BOOST_REQUIRE(key.rfind("gatesk_", 0) == 0u);

  // A client company may not attach it before the MSP offers it.
  Run early = expect(d,
                     {"--as", "nadia", "--company", "client-north", "sa", "grant", "fleet-bot",
                      "--role", "operator"},
                     2);
  BOOST_TEST(contains(early.err, "notFound"));

  // The MSP offers it to both clients; each client company grants it access, in its own scope.
  expect(
      d,
      {"--as", "alice", "--company", "msp", "sa", "share", "fleet-bot", "--with", "client-north"},
      0);
  expect(
      d,
      {"--as", "alice", "--company", "msp", "sa", "share", "fleet-bot", "--with", "client-south"},
      0);
  expect(d,
         {"--as", "nadia", "--company", "client-north", "sa", "grant", "fleet-bot", "--role",
          "operator"},
         0);
  expect(
      d,
      {"--as", "sam", "--company", "client-south", "sa", "grant", "fleet-bot", "--role", "viewer"},
      0);
  expect(d, {"check-access", "client-north", "routers.reboot"}, 0, key + "\n");
  expect(d, {"check-access", "client-south", "routers.reboot"}, 1, key + "\n");
  expect(d, {"check-access", "client-south", "routers.read"}, 0, key + "\n");

  // client-north sees it as external, and may not delete it.
  Run north = expect(d, {"--as", "nadia", "--company", "client-north", "sa", "list"}, 0);
  BOOST_TEST(contains(north.out, "fleet-bot"));
  BOOST_TEST(contains(north.out, "EXTERNAL"));
  Run refused =
      expect(d, {"--as", "nadia", "--company", "client-north", "sa", "delete", "fleet-bot"}, 2);
  BOOST_TEST(contains(refused.err, "notOwner"));

  // client-south removes its access; client-north and the owner are untouched.
  expect(d, {"--as", "sam", "--company", "client-south", "sa", "revoke", "fleet-bot"}, 0);
  expect(d, {"check-access", "client-south", "routers.read"}, 1, key + "\n");
  expect(d, {"check-access", "client-north", "routers.reboot"}, 0, key + "\n");

  // The MSP rotates the key: the old one stops, the new one works where access remains.
  Run reset = expect(d, {"--as", "alice", "--company", "msp", "sa", "reset", "fleet-bot"}, 0);
  std::string fresh = reset.out.substr(0, reset.out.find('\n'));
  expect(d, {"check-access", "client-north", "routers.reboot"}, 1, key + "\n");
  expect(d, {"check-access", "client-north", "routers.reboot"}, 0, fresh + "\n");
  Run where = expect(d, {"--as", "alice", "--company", "msp", "sa", "companies", "fleet-bot"}, 0);
  BOOST_TEST(contains(where.out, "client-north"));
  BOOST_TEST(!contains(where.out, "client-south"));
  Run shown = expect(d, {"--as", "alice", "--company", "msp", "sa", "show", "fleet-bot"}, 0);
  BOOST_TEST(contains(shown.out, "offered to:  client-north (2), client-south (3)"));

  // Each company's audit shows what happened in its scope.
  Run audit = expect(d, {"--as", "sam", "--company", "client-south", "audit", "list"}, 0);
  BOOST_TEST(contains(audit.out, "saRevoke"));
  BOOST_TEST(contains(audit.out, "saShare"));
  BOOST_TEST(!contains(audit.out, "saResetCredentials"));

  // The MSP's contract with client-north ends: the owner withdraws the offer.
  expect(
      d,
      {"--as", "alice", "--company", "msp", "sa", "unshare", "fleet-bot", "--with", "client-north"},
      0);
  expect(d, {"check-access", "client-north", "routers.reboot"}, 1, fresh + "\n");
  Run northAudit = expect(d, {"--as", "nadia", "--company", "client-north", "audit", "list"}, 0);
  BOOST_TEST(contains(northAudit.out, "saUnshare"));
}

// sa share / sa unshare through the CLI: the allowed case and each refusal, the offer in both
// companies' views, and an unrelated company told nothing.
BOOST_AUTO_TEST_CASE(sharing_through_the_cli) {
  Daemon d;
  DemoGraph demo(d);
  std::vector<std::string> alice = {"--as", "alice", "--company", "msp"};
  std::vector<std::string> nadia = {"--as", "nadia", "--company", "client-north"};
  std::vector<std::string> sam = {"--as", "sam", "--company", "client-south"};
  std::vector<std::string> bob = {"--as", "bob", "--company", "client-north"};
  expect(d, with(alice, {"sa", "create", "bot3", "--perm", "routers.read"}), 0);

  // Unrelated: answered as for a name that is no account at all.
  Run hidden = expect(d, with(sam, {"sa", "show", "bot3"}), 2);
  BOOST_TEST(contains(hidden.err, "notFound: serviceAccount: no service account with id"));
  Run hiddenDescribe = expect(d, with(sam, {"sa", "describe", "bot3", "x"}), 2);
  BOOST_TEST(contains(hiddenDescribe.err, "notFound"));
  BOOST_TEST(!contains(hiddenDescribe.err, "owned by"));

  // Offer: allowed for the owner; refused for the owner itself, another company, a missing company,
  // an actor without service_accounts.manage.
  Run shared = expect(d, with(alice, {"sa", "share", "bot3", "--with", "client-north"}), 0);
  BOOST_TEST(contains(shared.out, "ok (revision"));
  BOOST_TEST(contains(expect(d, with(alice, {"sa", "share", "bot3", "--with", "msp"}), 2).err,
                      "invalidArgument"));
  BOOST_TEST(
      contains(expect(d, with(nadia, {"sa", "share", "bot3", "--with", "client-south"}), 2).err,
               "notOwner"));
  BOOST_TEST(contains(expect(d, with(alice, {"sa", "share", "bot3", "--with", "nowhere"}), 2).err,
                      "nowhere"));
  BOOST_TEST(contains(
      expect(d, with(bob, {"sa", "share", "bot3", "--with", "client-south"}), 2).err, "forbidden"));

  // Both views show the offer.
  Run mine = expect(d, with(alice, {"sa", "show", "bot3"}), 0);
  BOOST_TEST(contains(mine.out, "offered to:  client-north"));
  Run theirs = expect(d, with(nadia, {"sa", "list"}), 0);
  BOOST_TEST(contains(theirs.out, "(offered, not granted)"));
  Run theirsJson = expect(d, with(nadia, {"--json", "sa", "show", "bot3"}), 0);
  BOOST_TEST(contains(theirsJson.out, "\"offered\":true"));

  // Granted, then withdrawn by the owner: access ends.
  expect(d, with(nadia, {"sa", "grant", "bot3", "--perm", "routers.read"}), 0);
  BOOST_TEST(
      contains(expect(d, {"check", "bot3", "client-north", "routers.read"}, 0).out, "allow"));
  BOOST_TEST(
      contains(expect(d, with(nadia, {"sa", "unshare", "bot3", "--with", "client-north"}), 2).err,
               "notOwner"));
  expect(d, with(alice, {"sa", "unshare", "bot3", "--with", "client-north"}), 0);
  BOOST_TEST(
      contains(expect(d, {"check", "bot3", "client-north", "routers.read"}, 1).out, "no access"));
  BOOST_TEST(
      contains(expect(d, with(alice, {"sa", "unshare", "bot3", "--with", "client-north"}), 2).err,
               "notFound"));
  BOOST_TEST(
      contains(expect(d, with(nadia, {"sa", "grant", "bot3", "--perm", "routers.read"}), 2).err,
               "notFound"));
}

BOOST_AUTO_TEST_CASE(actor_key_management_through_the_cli_is_owner_only) {
  Daemon d;
  DemoGraph demo(d);
  std::vector<std::string> alice = {"--as", "alice", "--company", "msp"};
  std::vector<std::string> nadia = {"--as", "nadia", "--company", "client-north"};
  Run created = expect(d, with(alice, {"sa", "create", "bot2", "--perm", "routers.read"}), 0);
  std::string first = created.out.substr(0, created.out.find('\n'));
  // Unrelated to client-north: as an account that does not exist. Offered there: notOwner.
  Run hidden = expect(d, with(nadia, {"sa", "key", "create", "bot2"}), 2);
  BOOST_TEST(contains(hidden.err, "notFound: serviceAccount: no service account with id"));
  expect(d, with(alice, {"sa", "share", "bot2", "--with", "client-north"}), 0);
  Run refused = expect(d, with(nadia, {"sa", "key", "create", "bot2"}), 2);
  BOOST_TEST(contains(refused.err, "notOwner"));
  Run rotated = expect(d, with(alice, {"sa", "key", "rotate", "bot2", "--grace", "60"}), 0);
  std::string second = rotated.out.substr(0, rotated.out.find('\n'));
  expect(d, {"check-access", "msp", "routers.read"}, 0, first + "\n");  // within its grace
  expect(d, {"check-access", "msp", "routers.read"}, 0, second + "\n");
  Run list = expect(d, with(alice, {"--json", "sa", "key", "list", "bot2"}), 0);
  BOOST_TEST(contains(list.out, "retiring"));
  BOOST_TEST(!contains(list.out, "gatesk_"));
}

// sa ceiling through the CLI: the allowed case and each refusal, the trim of a grant elsewhere,
// grants and role edits above it refused with aboveCeiling (listing what is over), the ceiling
// in both companies' views, and --clear.
BOOST_AUTO_TEST_CASE(ceilings_through_the_cli) {
  Daemon d;
  DemoGraph demo(d);
  std::vector<std::string> alice = {"--as", "alice", "--company", "msp"};
  std::vector<std::string> nadia = {"--as", "nadia", "--company", "client-north"};
  std::vector<std::string> sam = {"--as", "sam", "--company", "client-south"};
  expect(d, with(alice, {"sa", "create", "bot4", "--perm", "routers.read"}), 0);
  expect(d, with(alice, {"sa", "share", "bot4", "--with", "client-north"}), 0);
  expect(d, with(nadia, {"sa", "grant", "bot4", "--perm", "routers.read", "--role", "night-shift"}),
         0);
  BOOST_TEST(
      contains(expect(d, {"check", "bot4", "client-north", "routers.reboot"}, 0).out, "allow"));

  // Refused: neither --perm nor --clear, both, a related non-owner, an unrelated company, an
  // actor without service_accounts.manage in the owner.
  BOOST_TEST(contains(expect(d, with(alice, {"sa", "ceiling", "bot4"}), 2).err, "--clear"));
  expect(d, with(alice, {"sa", "ceiling", "bot4", "--perm", "routers.read", "--clear"}), 2);
  BOOST_TEST(
      contains(expect(d, with(nadia, {"sa", "ceiling", "bot4", "--perm", "routers.read"}), 2).err,
               "notOwner"));
  BOOST_TEST(
      contains(expect(d, with(sam, {"sa", "ceiling", "bot4", "--perm", "routers.read"}), 2).err,
               "notFound: serviceAccount: no service account with id"));
  std::vector<std::string> carol = {"--as", "carol", "--company", "msp"};
  expect(d, {"grant", "set", "carol", "msp", "--role", "viewer"}, 0);
  BOOST_TEST(
      contains(expect(d, with(carol, {"sa", "ceiling", "bot4", "--perm", "routers.read"}), 2).err,
               "forbidden"));

  // Set: north's grant is trimmed (the role night-shift, with routers.reboot, leaves it).
  Run set = expect(d, with(alice, {"sa", "ceiling", "bot4", "--perm", "routers.read"}), 0);
  BOOST_TEST(contains(set.out, "ok (revision"));
  BOOST_TEST(contains(expect(d, {"check", "bot4", "client-north", "routers.reboot"}, 1).out,
                      "not granted"));
  BOOST_TEST(
      contains(expect(d, {"check", "bot4", "client-north", "routers.read"}, 0).out, "allow"));
  BOOST_TEST(
      contains(expect(d, with(alice, {"sa", "show", "bot4"}), 0).out, "ceiling:     routers.read"));
  Run theirs = expect(d, with(nadia, {"sa", "show", "bot4"}), 0);
  BOOST_TEST(contains(theirs.out, "ceiling:     routers.read"));
  BOOST_TEST(contains(theirs.out, "roles:       (none)"));
  BOOST_TEST(contains(expect(d, with(nadia, {"--json", "sa", "show", "bot4"}), 0).out,
                      "\"ceiling\":[\"routers.read\"]"));
  BOOST_TEST(
      contains(expect(d, with(nadia, {"audit", "list", "--limit", "1"}), 0).out, "saSetCeiling"));

  // Above it: a grant, a role edit, the platform's grant set.
  Run above = expect(d, with(nadia, {"sa", "grant", "bot4", "--role", "night-shift"}), 2);
  BOOST_TEST(contains(above.err, "aboveCeiling"));
  BOOST_TEST(contains(above.err, "(missing: routers.reboot)"));
  Run aboveJson =
      expect(d, with(nadia, {"--json", "sa", "grant", "bot4", "--perm", "routers.write"}), 2);
  BOOST_TEST(contains(aboveJson.out + aboveJson.err, "\"missing\":[\"routers.write\"]"));
  expect(d, with(nadia, {"role", "create", "readers", "--perm", "routers.read"}), 0);
  expect(d, with(nadia, {"sa", "grant", "bot4", "--role", "readers"}), 0);
  BOOST_TEST(contains(expect(d,
                             with(nadia, {"role", "edit", "readers", "--perm", "routers.read",
                                          "--perm", "routers.write"}),
                             2)
                          .err,
                      "aboveCeiling"));
  BOOST_TEST(contains(
      expect(d, {"grant", "set", "bot4", "client-north", "--perm", "routers.write"}, 2).err,
      "aboveCeiling"));
  BOOST_TEST(contains(expect(d, {"check", "bot4", "client-north", "routers.write"}, 1).out,
                      "not granted"));

  // Cleared: no limit.
  expect(d, with(alice, {"sa", "ceiling", "bot4", "--clear"}), 0);
  BOOST_TEST(contains(expect(d, with(nadia, {"sa", "show", "bot4"}), 0).out,
                      "ceiling:     none (no limit)"));
  expect(d, with(nadia, {"sa", "grant", "bot4", "--role", "night-shift"}), 0);
  BOOST_TEST(
      contains(expect(d, {"check", "bot4", "client-north", "routers.reboot"}, 0).out, "allow"));
}

// Time-boxed grants through the CLI: --for and --until on sa grant, user grant and grant set; the
// expiry in sa show, sa list and grant show; a bad or past time refused; access ended by itself and
// the removal audited as the system.
BOOST_AUTO_TEST_CASE(time_boxed_grants_through_the_cli) {
  Daemon d;
  DemoGraph demo(d);
  std::vector<std::string> alice = {"--as", "alice", "--company", "msp"};
  std::vector<std::string> nadia = {"--as", "nadia", "--company", "client-north"};
  expect(d, with(alice, {"sa", "create", "tech-bot", "--perm", "routers.read"}), 0);
  expect(d, with(alice, {"sa", "share", "tech-bot", "--with", "client-north"}), 0);

  // Refused before anything is sent: no duration, no time, both options.
  for (std::vector<std::string> bad : {std::vector<std::string>{"--for", "8"},
                                       {"--for", "-5m"},
                                       {"--for", "0h"},
                                       {"--until", "tomorrow"},
                                       {"--until", "2026-12-01T18:00:00"},
                                       {"--for", "1h", "--until", "@2000000000"}}) {
    std::vector<std::string> args =
        with(nadia, {"sa", "grant", "tech-bot", "--perm", "routers.read"});
    args.insert(args.end(), bad.begin(), bad.end());
    Run refused = expect(d, args, 2);
    BOOST_TEST(contains(refused.err, "usage:"), refused.err);
  }
  // Refused by the daemon: a time in the past.
  BOOST_TEST(contains(expect(d,
                             with(nadia, {"sa", "grant", "tech-bot", "--perm", "routers.read",
                                          "--until", "2020-01-01T00:00:00Z"}),
                             2)
                          .err,
                      "invalidArgument: expiresAt: 1577836800 is not in the future"));
  BOOST_TEST(contains(expect(d, {"grant", "set", "bob", "client-south", "--until", "@1"}, 2).err,
                      "invalidArgument"));

  // --until with an offset, shown in UTC; --for on user grant and grant set.
  expect(d,
         with(nadia, {"sa", "grant", "tech-bot", "--perm", "routers.read", "--until",
                      "2099-01-01T01:00:00+01:00"}),
         0);
  BOOST_TEST(contains(expect(d, with(nadia, {"sa", "show", "tech-bot"}), 0).out,
                      "access here: yes, until 2099-01-01T00:00:00Z"));
  BOOST_TEST(contains(expect(d, with(nadia, {"sa", "list"}), 0).out,
                      "routers.read (until 2099-01-01T00:00:00Z)"));
  BOOST_TEST(contains(expect(d, with(nadia, {"--json", "sa", "show", "tech-bot"}), 0).out,
                      "\"expiresAt\":4070908800"));
  expect(d, with(nadia, {"user", "grant", "bob", "--role", "operator", "--for", "2s"}), 0);
  expect(d, with(nadia, {"sa", "grant", "tech-bot", "--perm", "routers.read", "--for", "2s"}), 0);
  expect(d, {"grant", "set", "carol", "client-north", "--perm", "routers.read", "--for", "1h30m"},
         0);
  Run carol = expect(d, {"grant", "show", "carol", "client-north"}, 0);
  BOOST_TEST(contains(carol.out, "until:       "));
  Run carolJson = expect(d, {"--json", "grant", "show", "carol", "client-north"}, 0);
  BOOST_TEST(!contains(carolJson.out, "\"expiresAt\":0"));
  BOOST_TEST(!contains(expect(d, {"grant", "show", "alice", "msp"}, 0).out, "until:"));
  BOOST_TEST(
      contains(expect(d, {"check", "bob", "client-north", "routers.write"}, 0).out, "allow"));

  // Two seconds later: no access, without anyone acting; the writer's removal is audited.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  BOOST_TEST(
      contains(expect(d, {"check", "bob", "client-north", "routers.write"}, 1).out, "no access"));
  BOOST_TEST(contains(expect(d, {"check", "tech-bot", "client-north", "routers.read"}, 1).out,
                      "no access"));
  BOOST_TEST(
      contains(expect(d, {"check", "carol", "client-north", "routers.read"}, 0).out, "allow"));
  Run audit;
  for (int i = 0; i < 100; ++i) {
    audit = expect(d, with(nadia, {"audit", "list", "--limit", "5"}), 0);
    if (contains(audit.out, "grantExpired")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST(contains(audit.out, "system"));
  BOOST_TEST(contains(audit.out, "grantExpired"));
  BOOST_TEST(contains(expect(d, with(nadia, {"sa", "show", "tech-bot"}), 0).out,
                      "access here: no (offered, not granted)"));
}

// docs/service-accounts.md, "A second worked example": a ceiling on the MSP's NOC account, a
// technician's grant for one shift (2 s here instead of 8 h), and the client ending the contract.
BOOST_AUTO_TEST_CASE(second_worked_example_of_the_service_accounts_guide) {
  Daemon d;
  DemoGraph demo(d);
  std::vector<std::string> alice = {"--as", "alice", "--company", "msp"};
  std::vector<std::string> nadia = {"--as", "nadia", "--company", "client-north"};
  Run created = expect(d,
                       with(alice, {"sa", "create", "noc-bot", "--description",
                                    "MSP network operations", "--role", "operator"}),
                       0);
  std::string key = created.out.substr(0, created.out.find('\n'));
  BOOST_TEST(contains(created.err, "created service account 8"));
  expect(d,
         with(alice,
              {"sa", "ceiling", "noc-bot", "--perm", "routers.read", "--perm", "routers.reboot"}),
         0);
  expect(d, with(alice, {"sa", "share", "noc-bot", "--with", "client-north"}), 0);

  Run above = expect(d, with(nadia, {"sa", "grant", "noc-bot", "--role", "operator"}), 2);
  BOOST_TEST(contains(above.err,
                      "aboveCeiling: service account 8 may be granted at most its ceiling outside "
                      "its owner company (missing: routers.write)"));
  expect(
      d,
      with(nadia, {"sa", "grant", "noc-bot", "--perm", "routers.read", "--perm", "routers.reboot"}),
      0);
  expect(d, {"check-access", "client-north", "routers.reboot"}, 0, key + "\n");

  BOOST_TEST(contains(expect(d, {"user", "create", "tom"}, 0).out, "created user 9"));
  expect(d, with(nadia, {"user", "grant", "tom", "--role", "operator", "--for", "2s"}), 0);
  Run shown = expect(d, {"grant", "show", "tom", "client-north"}, 0);
  BOOST_TEST(contains(shown.out, "roles:       operator (2)\nuntil:       "));
  BOOST_TEST(
      contains(expect(d, {"check", "tom", "client-north", "routers.write"}, 0).out, "allow"));

  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  BOOST_TEST(contains(expect(d, {"check", "tom", "client-north", "routers.write"}, 1).out,
                      "deny: no access to the company"));
  Run audit;
  for (int i = 0; i < 100; ++i) {
    audit = expect(d, with(nadia, {"audit", "list", "--limit", "1"}), 0);
    if (contains(audit.out, "grantExpired")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST(contains(audit.out, "system"));
  BOOST_TEST(contains(audit.out, "grantExpired  principal 9 in company 2  ok"));

  expect(d, with(nadia, {"sa", "revoke", "noc-bot"}), 0);
  BOOST_TEST(
      contains(expect(d, {"check-access", "client-north", "routers.read"}, 1, key + "\n").out,
               "deny: no access to the company"));
  expect(d, {"check-access", "msp", "routers.write"}, 0, key + "\n");
}

// sa transfer / cancel-transfer / accept-transfer through the CLI: the allowed cases and the
// refusals, the offer in both views, the keys revoked at acceptance.
BOOST_AUTO_TEST_CASE(transfers_through_the_cli) {
  Daemon d;
  DemoGraph demo(d);
  std::vector<std::string> alice = {"--as", "alice", "--company", "msp"};
  std::vector<std::string> nadia = {"--as", "nadia", "--company", "client-north"};
  std::vector<std::string> sam = {"--as", "sam", "--company", "client-south"};
  Run created = expect(d, with(alice, {"sa", "create", "bot5", "--perm", "routers.read"}), 0);
  std::string key = created.out.substr(0, created.out.find('\n'));

  BOOST_TEST(contains(expect(d, with(alice, {"sa", "transfer", "bot5"}), 2).err, "--to"));
  BOOST_TEST(contains(expect(d, with(alice, {"sa", "transfer", "bot5", "--to", "msp"}), 2).err,
                      "invalidArgument"));
  BOOST_TEST(
      contains(expect(d, with(sam, {"sa", "transfer", "bot5", "--to", "client-south"}), 2).err,
               "notFound: serviceAccount: no service account with id"));
  BOOST_TEST(
      contains(expect(d, with(nadia, {"sa", "accept-transfer", "bot5"}), 2).err, "notFound"));

  expect(d, with(alice, {"sa", "transfer", "bot5", "--to", "client-north"}), 0);
  BOOST_TEST(contains(expect(d, with(alice, {"sa", "show", "bot5"}), 0).out,
                      "ownership:   offered to client-north (2)"));
  Run theirs = expect(d, with(nadia, {"sa", "show", "bot5"}), 0);
  BOOST_TEST(contains(theirs.out, "ownership:   offered to this company"));
  BOOST_TEST(contains(theirs.out, "actions:     accept"));
  BOOST_TEST(contains(expect(d, with(nadia, {"--json", "sa", "list"}), 0).out,
                      "\"ownershipOffered\":true"));
  BOOST_TEST(contains(expect(d, with(sam, {"sa", "cancel-transfer", "bot5"}), 2).err, "notFound"));

  Run accepted = expect(d, with(nadia, {"sa", "accept-transfer", "bot5"}), 0);
  BOOST_TEST(contains(accepted.out, "ok: the active company owns service account"));
  BOOST_TEST(contains(accepted.out, "1 key revoked"));
  expect(d, {"check-access", "msp", "routers.read"}, 1, key + "\n");
  Run owned = expect(d, with(nadia, {"sa", "show", "bot5"}), 0);
  BOOST_TEST(contains(owned.out, "relation:    owned"));
  BOOST_TEST(contains(owned.out, "offered to:  msp (1)"));
  BOOST_TEST(contains(expect(d, with(alice, {"sa", "reset", "bot5"}), 2).err, "notOwner"));

  // Offered back, then withdrawn by the owner and declined by nobody: nothing changes.
  expect(d, with(nadia, {"sa", "transfer", "bot5", "--to", "msp", "--drop-access"}), 0);
  BOOST_TEST(contains(expect(d, with(alice, {"sa", "transfer", "bot5", "--to", "msp"}), 2).err,
                      "notOwner"));
  expect(d, with(nadia, {"sa", "cancel-transfer", "bot5"}), 0);
  BOOST_TEST(
      contains(expect(d, with(alice, {"sa", "accept-transfer", "bot5"}), 2).err, "notFound"));
  BOOST_TEST(contains(expect(d, with(nadia, {"sa", "cancel-transfer", "bot5"}), 2).err,
                      "has no pending ownership offer"));
}

// --dry-run through the CLI: a readable summary (and JSON) of who would gain or lose what, with
// nothing written; refused on a command that cannot be previewed.
BOOST_AUTO_TEST_CASE(dry_runs_through_the_cli) {
  Daemon d;
  DemoGraph demo(d);
  std::vector<std::string> nadia = {"--as", "nadia", "--company", "client-north"};
  Run grant =
      expect(d, with(nadia, {"--dry-run", "sa", "grant", "msp-automation", "--role", "viewer"}), 0);
  BOOST_TEST(contains(grant.out, "dry run, nothing written: 1 grant would change"));
  BOOST_TEST(contains(grant.out, "principal 6 in company 2: -routers.write -routers.reboot"));
  BOOST_TEST(contains(
      expect(d, {"check", "msp-automation", "client-north", "routers.write"}, 0).out, "allow"));
  Run role =
      expect(d, {"--json", "--dry-run", "role", "update", "operator", "--perm", "routers.read"}, 0);
  BOOST_TEST(contains(role.out, "\"dryRun\":true"));
  BOOST_TEST(contains(role.out, "\"total\":2"));  // bob and msp-automation hold it
  BOOST_TEST(contains(role.out, "\"lost\":[\"routers.write\",\"routers.reboot\"]"));
  Run disable = expect(d, {"--dry-run", "principal", "disable", "bob"}, 0);
  BOOST_TEST(contains(disable.out, "principal 2 in company 2: -routers.read -routers.write"));
  BOOST_TEST(contains(expect(d, {"check", "bob", "client-north", "routers.read"}, 0).out, "allow"));
  Run refused = expect(d, {"--dry-run", "company", "create", "x"}, 2);
  BOOST_TEST(contains(refused.err, "--dry-run: `company create` cannot be previewed"));
  BOOST_TEST(!contains(expect(d, {"audit", "list", "--limit", "3"}, 0).out, "updateRole"));
}
