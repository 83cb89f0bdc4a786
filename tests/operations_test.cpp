// The operator's tools against the real daemon: `gatehouse stats` (its counts, its three formats,
// the exposition checked by promtool), `gatehouse backup` and `gatehoused --restore`, and the
// reload on SIGHUP.
#define BOOST_TEST_MODULE operations
#include <capnp/serialize.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using Json = nlohmann::json;

namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";

void ok(const Run& run) { BOOST_REQUIRE_MESSAGE(run.status == 0, run.out + run.err); }

Json statsJson(const Daemon& daemon) {
  Run run = daemon.cli({"--json", "stats"});
  ok(run);
  return Json::parse(run.out);
}

// The value of the sample of `name` (with `suffix`) whose labels include every one of `labels`;
// fails the test when there is none.
double sample(const Json& stats, const std::string& name,
              const std::vector<std::pair<std::string, std::string>>& labels = {},
              const std::string& suffix = "") {
  for (const auto& metric : stats["metrics"]) {
    if (metric["name"] != name) continue;
    for (const auto& s : metric["samples"]) {
      if (s.value("suffix", "") != suffix) continue;
      bool match = true;
      for (const auto& [k, v] : labels) match = match && s["labels"].value(k, "") == v;
      if (match) return s["value"].get<double>();
    }
  }
  BOOST_ERROR("no sample " << name << suffix);
  return -1;
}

// Provisions one company, a permission, a user granted it, and a service account with a key;
// returns the key.
std::string provision(const Daemon& daemon) {
  ok(daemon.cli({"company", "create", "acme"}));
  ok(daemon.cli({"catalog", "define", "routers.read", "routers.reboot"}));
  ok(daemon.cli({"user", "create", "bob"}));
  ok(daemon.cli({"grant", "set", "bob", "acme", "--perm", "routers.read"}));
  ok(daemon.cli({"sa", "create", "robot", "--owner", "acme"}));
  Run key = daemon.cli({"sa", "key", "create", "robot"});
  ok(key);
  std::string text = key.out.substr(0, key.out.find('\n'));
  return text;
}

// Bytes that break the framing rules, on a connection of their own.
void sendGarbage(const Daemon& daemon) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  daemon.socket().copy(address.sun_path, sizeof address.sun_path - 1);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  const char garbage[16] = {'\xff', '\xff', '\xff', '\x7f', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  BOOST_REQUIRE(::write(fd, garbage, sizeof garbage) == ssize_t(sizeof garbage));
  char byte;
  (void)::read(fd, &byte, 1);  // until the daemon closes it
  ::close(fd);
}

// Every table's keys and values as mdb_dump prints them (its header lines, which carry the map
// size and the like, left out).
std::string dumpTables(const std::filesystem::path& dataDir) {
  Run run = runProcess({"/usr/bin/mdb_dump", "-a", dataDir.string()});
  BOOST_REQUIRE_MESSAGE(run.status == 0, run.err);
  std::istringstream in(run.out);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.starts_with(" ") || line.starts_with("database=")) kept += line + "\n";
  }
  return kept;
}

Json backup(const Daemon& daemon, const std::filesystem::path& file) {
  Run run = daemon.cli({"--json", "backup", file.string()});
  ok(run);
  return Json::parse(run.out);
}

// gatehoused --restore FILE with the fixture's configuration.
Run restore(const Daemon& daemon, const std::filesystem::path& file) {
  return runProcess({GATEHOUSE_DAEMON_PATH, "--config", (daemon.dir() / "gatehoused.toml").string(),
                     "--restore", file.string()});
}

// Creates users one after the other until stopped, recording each one's committed revision.
class WriteLoad {
 public:
  explicit WriteLoad(const Daemon& daemon)
      : thread_([this, client = daemon.connect()]() mutable {
          for (int i = 0; !stop_; ++i) {
            std::string name = "load-" + std::to_string(i);
            auto a =
                client.call([&](wire::Request::Builder r) { r.initCreateUser().setName(name); });
            created_.emplace_back(name, a->getMutation().getRevision());
          }
        }) {}
  ~WriteLoad() { stop(); }
  WriteLoad(const WriteLoad&) = delete;
  WriteLoad& operator=(const WriteLoad&) = delete;
  // Stops and returns every user created, with its revision.
  std::vector<std::pair<std::string, uint64_t>> stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return created_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::pair<std::string, uint64_t>> created_;
  std::thread thread_;
};

// Rewrites the fixture's configuration file — `daemon` keys into its [daemon] section,
// `credentials` keys into its [credentials] section (its last), then `sections` of their own —
// sends SIGHUP, and waits until the daemon has logged the reload's outcome; returns the log's new
// part.
std::string reloadWith(const Daemon& daemon, const std::string& daemonKeys,
                       const std::string& credentialKeys, const std::string& sections = "") {
  auto path = daemon.dir() / "gatehoused.toml";
  static std::map<std::string, std::string> originals;
  auto& original = originals[path.string()];
  if (original.empty()) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    original = text.str();
  }
  std::string text = original;
  text.replace(text.find("[daemon]\n"), 9, "[daemon]\n" + daemonKeys);
  std::ofstream(path) << text << credentialKeys << sections;
  // Answered means serving: the daemon takes SIGHUP from then on (before, it ignores it).
  daemon.connect().call([](wire::Request::Builder r) { r.setPing(); });
  size_t before = daemon.log().size();
  BOOST_REQUIRE(::kill(daemon.pid(), SIGHUP) == 0);
  for (int i = 0; i < 500; ++i) {
    std::string added = daemon.log().substr(before);
    if (added.find("event=reloaded") != std::string::npos ||
        added.find("event=reload_refused") != std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the rest of its lines
      return daemon.log().substr(before);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_FAIL("no reload logged");
  return {};
}

// How `login` with a wrong key ends: 1 refused, and whether it said "too many failures".
bool rateLimitedAfter(const Daemon& daemon, int failures) {
  for (int i = 0; i < failures; ++i) daemon.cli({"login", "--source", "192.0.2.1"}, "gh_wrong\n");
  Run last = daemon.cli({"login", "--source", "192.0.2.1"}, "gh_wrong\n");
  return last.out.find("too many failures") != std::string::npos;
}

}  // namespace

// SIGHUP applies the rate limits, the connection limits and the log level while serving.
BOOST_AUTO_TEST_CASE(sighup_applies_what_can_change_live) {
  Daemon daemon;
  BOOST_TEST(!rateLimitedAfter(daemon, 3));  // the default: 10 failures
  std::string log =
      reloadWith(daemon, "", "rate_limit_failures = 2\n", "[limits]\nmax_connections = 4\n");
  BOOST_TEST(log.find("event=reloaded changed=credentials.rate_limit_failures,"
                      "limits.max_connections") != std::string::npos,
             log);
  BOOST_TEST(rateLimitedAfter(daemon, 2));
  {
    std::vector<client::Client> held;
    for (int i = 0; i < 4; ++i) held.push_back(daemon.connect());
    held.back().call([](wire::Request::Builder r) { r.setPing(); });
    BOOST_TEST(daemon.cli({"ping"}).status == 2);  // the fifth connection
  }
  // The log level: at warning, the info lines of a backup are no longer written.
  reloadWith(daemon, "log_level = \"warning\"\n", "rate_limit_failures = 2\n",
             "[limits]\nmax_connections = 4\n");
  TempDir scratch;
  size_t before = daemon.log().size();
  ok(daemon.cli({"backup", (scratch.path() / "b.mdb").string()}));
  BOOST_TEST(daemon.log().substr(before).find("event=backup") == std::string::npos);
}

// A key that only a restart applies is named, and the rest applied; a bad file changes nothing.
BOOST_AUTO_TEST_CASE(sighup_names_restart_keys_and_refuses_a_bad_file) {
  Daemon daemon;
  std::string log =
      reloadWith(daemon, "", "rate_limit_failures = 2\n", "[limits]\nmax_batch = 8\n");
  BOOST_TEST(
      log.find("event=reloaded changed=credentials.rate_limit_failures") != std::string::npos, log);
  BOOST_TEST(log.find("event=reload_needs_restart keys=limits.max_batch") != std::string::npos,
             log);
  log = reloadWith(daemon, "", "rate_limit_failures = 50\nrate_limit_windw = 3\n");
  BOOST_TEST(log.find("event=reload_refused") != std::string::npos, log);
  BOOST_TEST(log.find("credentials.rate_limit_windw") != std::string::npos, log);
  BOOST_TEST(rateLimitedAfter(daemon, 2));  // still the 2 of the last good file
  ok(daemon.cli({"ping"}));
}

// A SIGTERM sent while the daemon starts is held until it serves, then stops it cleanly (exit 0,
// after "ready"): it is never lost, and never cuts the start-up short.
BOOST_AUTO_TEST_CASE(a_sigterm_during_start_up_stops_the_daemon_once_it_serves) {
  Daemon daemon;
  BOOST_REQUIRE(daemon.stop() == 0);
  size_t before = daemon.log().size();
  std::string config = (daemon.dir() / "gatehoused.toml").string();
  std::string logPath = (daemon.dir() / "daemon.log").string();
  pid_t pid = ::fork();
  if (pid == 0) {
    int log = ::open(logPath.c_str(), O_WRONLY | O_APPEND);
    ::dup2(log, 2);
    ::execl(GATEHOUSE_DAEMON_PATH, GATEHOUSE_DAEMON_PATH, "--config", config.c_str(), nullptr);
    ::_exit(127);
  }
  // Sent once the daemon has blocked it, before it serves: until then SIGTERM kills outright.
  constexpr unsigned long kTerm = 1ul << (SIGTERM - 1);
  bool blocked = false;
  for (int i = 0; i < 2000 && !blocked; ++i) {
    std::ifstream status(fmt::format("/proc/{}/status", pid));
    std::string line, name;
    unsigned long mask = 0;
    while (std::getline(status, line)) {
      if (line.starts_with("Name:")) name = line.substr(line.find_first_not_of(" \t", 5));
      if (line.starts_with("SigBlk:")) mask = std::stoul(line.substr(7), nullptr, 16);
    }
    blocked = name == "gatehoused" && (mask & kTerm) != 0;
    if (!blocked) std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  BOOST_REQUIRE_MESSAGE(blocked, "the daemon never blocked SIGTERM");
  BOOST_REQUIRE(::kill(pid, SIGTERM) == 0);
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  std::string log = daemon.log().substr(before);
  size_t ready = log.find("event=ready"), signal = log.find("event=signal signal=SIGTERM");
  BOOST_TEST(ready != std::string::npos, log);
  BOOST_TEST(signal != std::string::npos, log);
  BOOST_TEST(ready < signal, log);
  BOOST_TEST(log.find("event=stopped") != std::string::npos, log);
}

// A backup taken while mutations commit holds exactly those committed up to its revision; one
// taken at rest, restored, holds every table — principals, grants, keys, credentials, audit
// events — byte for byte.
BOOST_AUTO_TEST_CASE(backup_under_write_load_restores_what_was_committed) {
  TempDir backups;
  Daemon daemon;
  std::string key = provision(daemon);
  WriteLoad load(daemon);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Json during = backup(daemon, backups.path() / "during.mdb");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto created = load.stop();
  uint64_t revision = during["revision"].get<uint64_t>();
  size_t before = 0;
  for (const auto& [name, rev] : created) before += rev <= revision ? 1 : 0;
  BOOST_TEST_MESSAGE(created.size() << " users created under load, " << before
                                    << " of them by revision " << revision);
  BOOST_REQUIRE(before > 0);
  BOOST_REQUIRE(before < created.size());  // the load went on during and after the copy
  BOOST_TEST(during["schemaVersion"] == 5);
  BOOST_TEST(during["bytes"].get<uint64_t>() ==
             std::filesystem::file_size(backups.path() / "during.mdb"));
  std::ifstream meta(backups.path() / "during.mdb.meta");
  std::string firstLine;
  std::getline(meta, firstLine);
  BOOST_TEST(firstLine == "revision=" + std::to_string(revision));

  backup(daemon, backups.path() / "rest.mdb");
  BOOST_REQUIRE(daemon.stop() == 0);
  std::string original = dumpTables(daemon.dir() / "data");

  // At rest: every table the same.
  Run restored = restore(daemon, backups.path() / "rest.mdb");
  BOOST_REQUIRE_MESSAGE(restored.status == 0, restored.err);
  BOOST_TEST(restored.out.find("the data file that was there is kept as") != std::string::npos);
  BOOST_TEST(dumpTables(daemon.dir() / "data") == original);

  // Under load: exactly the users committed by the backup's revision, and the key still verifies
  // (the pepper is the same: it is not in the backup).
  restored = restore(daemon, backups.path() / "during.mdb");
  BOOST_REQUIRE_MESSAGE(restored.status == 0, restored.err);
  daemon.start();
  client::Client c = daemon.connect();
  for (const auto& [name, rev] : created) {
    auto a = c.call([&](wire::Request::Builder r) {
      auto q = r.initLookup();
      q.setKind(wire::EntityKind::PRINCIPAL);
      q.setName(name);
    });
    BOOST_TEST(a->getLookup().getFound() == (rev <= revision), name << " at revision " << rev);
  }
  BOOST_TEST(daemon.cli({"login"}, key + "\n").status == 0);
  BOOST_TEST(daemon.cli({"check", "bob", "acme", "routers.read"}).status == 0);
  Run audit = daemon.cli({"--json", "audit", "list"});
  ok(audit);
  BOOST_TEST(audit.out.find("createUser") != std::string::npos, audit.out);
}

// What the backup request refuses, each with its reason, and nothing is left behind.
BOOST_AUTO_TEST_CASE(backup_refusals) {
  TempDir backups;
  Daemon daemon;
  // No descriptor with the request.
  auto a = daemon.connect().call([](wire::Request::Builder r) { r.setBackup(); });
  BOOST_REQUIRE(a->which() == wire::Response::ERROR);
  BOOST_TEST((a->getError().getCode() == wire::ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST(std::string(a->getError().getMessage().cStr()).find("no file descriptor") !=
             std::string::npos);
  // A descriptor that is not a regular file open for writing.
  auto refused = [&](int fd, const std::string& why) {
    auto answer =
        daemon.connect().callWithDescriptor(fd, [](wire::Request::Builder r) { r.setBackup(); });
    ::close(fd);
    BOOST_REQUIRE(answer->which() == wire::Response::ERROR);
    BOOST_TEST((answer->getError().getCode() == wire::ErrorCode::INVALID_ARGUMENT));
    BOOST_TEST(std::string(answer->getError().getMessage().cStr()).find(why) != std::string::npos,
               answer->getError().getMessage().cStr());
  };
  refused(::open(backups.path().c_str(), O_RDONLY | O_DIRECTORY), "not a regular file");
  std::ofstream(backups.path() / "read-only") << "";
  refused(::open((backups.path() / "read-only").c_str(), O_RDONLY), "not open for writing");
  // An existing file is never overwritten; a failed backup leaves no file.
  ok(daemon.cli({"backup", (backups.path() / "b.mdb").string()}));
  Run again = daemon.cli({"backup", (backups.path() / "b.mdb").string()});
  BOOST_TEST(again.status == 2);
  BOOST_TEST(again.err.find("never overwrites") != std::string::npos, again.err);
  Run unreachable = runProcess({GATEHOUSE_CLI_PATH, "--socket", (backups.path() / "none").string(),
                                "backup", (backups.path() / "c.mdb").string()});
  BOOST_TEST(unreachable.status == 2);
  BOOST_TEST(!std::filesystem::exists(backups.path() / "c.mdb"));
  BOOST_TEST(!std::filesystem::exists(backups.path() / "c.mdb.meta"));
}

// A connection that did not send acceptDescriptors never receives one: the kernel drops it, and
// the backup is refused for want of a file.
BOOST_AUTO_TEST_CASE(descriptors_reach_only_connections_that_asked) {
  TempDir scratch;
  Daemon daemon;
  client::Client c = daemon.connect();
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<wire::Request>();
  request.setId(1);
  request.setBackup();
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asChars();
  int file = ::open((scratch.path() / "b.mdb").c_str(), O_WRONLY | O_CREAT, 0600);
  c.sendWithDescriptor(std::string_view(bytes.begin(), bytes.size()), file);
  ::close(file);
  auto a = c.receive();
  BOOST_REQUIRE(a->which() == wire::Response::ERROR);
  BOOST_TEST(std::string(a->getError().getMessage().cStr()).find("no file descriptor") !=
             std::string::npos);
  BOOST_TEST(std::filesystem::file_size(scratch.path() / "b.mdb") == 0u);
}

// Descriptors sent with other requests are closed, not hoarded.
BOOST_AUTO_TEST_CASE(descriptors_sent_with_other_requests_are_closed) {
  TempDir scratch;
  Daemon daemon;
  auto openFds = [&] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(daemon.pid()) + "/fd")) {
      ++n;
    }
    return n;
  };
  client::Client c = daemon.connect();
  c.call([](wire::Request::Builder r) { r.setPing(); });
  size_t before = openFds();
  std::ofstream(scratch.path() / "f") << "";
  for (int i = 0; i < 50; ++i) {
    int fd = ::open((scratch.path() / "f").c_str(), O_WRONLY);
    auto a = c.callWithDescriptor(fd, [](wire::Request::Builder r) { r.setPing(); });
    ::close(fd);
    BOOST_TEST((a->which() == wire::Response::PONG));
  }
  // Hoarding would leave up to 50 more; fewer is fine (a descriptor the daemon held briefly at
  // start, seen under TSan, may have closed meanwhile).
  BOOST_TEST(openFds() <= before);
}

// Only the admin class may take a backup.
BOOST_AUTO_TEST_CASE(a_check_class_peer_may_not_back_up) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: needs root to run the CLI as an unprivileged user");
    return;
  }
  TempDir backups;
  std::filesystem::permissions(backups.path(), std::filesystem::perms(0777));
  Daemon daemon("socket_mode = \"0666\"\n");
  std::filesystem::permissions(daemon.dir(), std::filesystem::perms(0755));
  Run run = runProcess({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        GATEHOUSE_CLI_PATH, "--socket", daemon.socket(), "backup",
                        (backups.path() / "b.mdb").string()});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(run.err.find("accessDenied") != std::string::npos, run.err);
  BOOST_TEST(!std::filesystem::exists(backups.path() / "b.mdb"));
}

// --restore refuses a file that is not a backup, and a data directory in use; nothing changes.
BOOST_AUTO_TEST_CASE(restore_refusals) {
  TempDir scratch;
  Daemon daemon;
  provision(daemon);
  ok(daemon.cli({"backup", (scratch.path() / "b.mdb").string()}));
  Run busy = restore(daemon, scratch.path() / "b.mdb");
  BOOST_TEST(busy.status == 1);
  BOOST_TEST(busy.err.find("is in use (is gatehoused running?)") != std::string::npos, busy.err);
  BOOST_REQUIRE(daemon.stop() == 0);
  std::string original = dumpTables(daemon.dir() / "data");
  std::ofstream(scratch.path() / "junk.mdb") << std::string(8192, 'x');
  Run junk = restore(daemon, scratch.path() / "junk.mdb");
  BOOST_TEST(junk.status == 1);
  BOOST_TEST(junk.err.find("is not a gatehouse backup") != std::string::npos, junk.err);
  BOOST_TEST(dumpTables(daemon.dir() / "data") == original);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(daemon.dir() / "data")) {
    ++files;
  }
  BOOST_TEST(files == 2u);  // data.mdb and lock.mdb: nothing moved aside
}

BOOST_AUTO_TEST_CASE(stats_count_what_the_daemon_did) {
  Daemon daemon("[limits]\nmax_connections = 4\n");
  std::string key = provision(daemon);
  Json before = statsJson(daemon);
  double committed = sample(before, "gatehouse_mutations_committed_total");
  BOOST_TEST(committed >= 6);  // company, catalog, user, grant, sa, key

  ok(daemon.cli({"check", "bob", "acme", "routers.read"}));
  ok(daemon.cli({"check", "bob", "acme", "routers.read"}));
  BOOST_TEST(daemon.cli({"check", "bob", "acme", "routers.reboot"}).status == 1);
  BOOST_TEST(daemon.cli({"check", "bob", "acme", "no.such"}).status == 1);
  ok(daemon.cli({"login"}, key + "\n"));
  BOOST_TEST(daemon.cli({"login"}, "gh_not_a_key\n").status == 1);
  sendGarbage(daemon);
  {
    // Four connections fill max_connections (the admin reserve is a quarter of them): the fifth,
    // the CLI's, is refused and counted.
    std::vector<client::Client> held;
    for (int i = 0; i < 4; ++i) held.push_back(daemon.connect());
    held.back().call([](wire::Request::Builder r) { r.setPing(); });
    BOOST_TEST(daemon.cli({"ping"}).status == 2);
  }

  Json after = statsJson(daemon);
  using L = std::vector<std::pair<std::string, std::string>>;
  BOOST_TEST(sample(after, "gatehouse_checks_total", L{{"decision", "allow"}}) == 2);
  BOOST_TEST(sample(after, "gatehouse_checks_total",
                    L{{"decision", "deny"}, {"reason", "notGranted"}}) == 1);
  BOOST_TEST(sample(after, "gatehouse_checks_total",
                    L{{"decision", "deny"}, {"reason", "unknownPermission"}}) == 1);
  BOOST_TEST(sample(after, "gatehouse_credential_checks_total", L{{"result", "accepted"}}) == 1);
  BOOST_TEST(sample(after, "gatehouse_credential_checks_total",
                    L{{"result", "refused"}, {"reason", "badCredential"}}) == 1);
  BOOST_TEST(sample(after, "gatehouse_requests_total", L{{"kind", "authorize"}}) == 4);
  BOOST_TEST(sample(after, "gatehouse_requests_total", L{{"kind", "stats"}}) == 2);
  BOOST_TEST(sample(after, "gatehouse_mutations_committed_total") == committed);
  BOOST_TEST(sample(after, "gatehouse_framing_violations_total") == 1);
  BOOST_TEST(sample(after, "gatehouse_connections_refused_total") == 1);
  BOOST_TEST(sample(after, "gatehouse_connections_open") == 1);  // the stats call's own
  BOOST_TEST(sample(after, "gatehouse_cache_hits_total", L{{"cache", "row"}}) +
                 sample(after, "gatehouse_cache_misses_total", L{{"cache", "row"}}) ==
             4);
  BOOST_TEST(sample(after, "gatehouse_group_commit_size", L{{"le", "+Inf"}}, "_bucket") ==
             sample(after, "gatehouse_group_commit_size", {}, "_count"));
  BOOST_TEST(sample(after, "gatehouse_group_commit_size", {}, "_count") >= 6);
  BOOST_TEST(sample(after, "gatehouse_writer_queue_depth") == 0);
  BOOST_TEST(sample(after, "gatehouse_revision") >= 6);
  BOOST_TEST(sample(after, "gatehouse_map_used_pages") > 0);
  BOOST_TEST(sample(after, "gatehouse_map_used_bytes") <=
             sample(after, "gatehouse_map_size_bytes"));
  BOOST_TEST(sample(after, "gatehouse_build_info", L{{"version", GATEHOUSE_VERSION}}) == 1);
}

// The exposition passes promtool's check (syntax and the naming conventions), and the table
// leaves out labelled series that are still zero.
BOOST_AUTO_TEST_CASE(prometheus_exposition_passes_promtool) {
  Daemon daemon;
  provision(daemon);
  ok(daemon.cli({"check", "bob", "acme", "routers.read"}));
  Run prometheus = daemon.cli({"stats", "--prometheus"});
  ok(prometheus);
  BOOST_TEST(prometheus.out.find("# TYPE gatehouse_checks_total counter\n") != std::string::npos);
  BOOST_TEST(prometheus.out.find("gatehouse_checks_total{decision=\"deny\",reason=\"notGranted\"} "
                                 "0\n") != std::string::npos);
  BOOST_TEST(prometheus.out.find("gatehouse_group_commit_size_bucket{le=\"+Inf\"} ") !=
             std::string::npos);
  Run check = runProcess({kPromtool, "check", "metrics"}, prometheus.out);
  BOOST_TEST(check.status == 0, check.out + check.err);
  BOOST_TEST(check.out + check.err == "", check.out + check.err);  // no lint findings either

  Run table = daemon.cli({"stats"});
  ok(table);
  BOOST_TEST(table.out.find("gatehouse_checks_total") != std::string::npos);
  BOOST_TEST(table.out.find("reason=notGranted") == std::string::npos, table.out);

  Run both = daemon.cli({"--json", "stats", "--prometheus"});
  BOOST_TEST(both.status == 2);
  BOOST_TEST(both.out.find("exclude each other") != std::string::npos, both.out);
}

// promtool does fail on a broken exposition: the check above can fail.
BOOST_AUTO_TEST_CASE(promtool_refuses_a_broken_exposition) {
  Run check = runProcess({kPromtool, "check", "metrics"},
                         "# TYPE gatehouse_x counter\ngatehouse_x{le=\"1\" 3\n");
  BOOST_TEST(check.status != 0);
}

// A peer of the check class may read the stats (the monitoring agent needs no admin rights).
BOOST_AUTO_TEST_CASE(a_check_class_peer_reads_the_stats) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: needs root to run the CLI as an unprivileged user");
    return;
  }
  Daemon daemon("socket_mode = \"0666\"\n");
  std::filesystem::permissions(daemon.dir(), std::filesystem::perms(0755));
  Run run = runProcess({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        GATEHOUSE_CLI_PATH, "--socket", daemon.socket(), "stats", "--prometheus"});
  BOOST_TEST(run.status == 0, run.err);
  BOOST_TEST(run.out.find("gatehouse_uptime_seconds ") != std::string::npos);
}

// The thread of `pid` named `name` (as top -H shows it), or 0.
pid_t threadNamed(pid_t pid, std::string_view wanted) {
  for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid))) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name == wanted) return static_cast<pid_t>(std::stoi(task.path().filename()));
  }
  return 0;
}

// Each IO thread is named for top -H and ps -L: gh-io-0 up to io_threads - 1 (the fixture's
// daemons run two), and no more.
BOOST_AUTO_TEST_CASE(io_threads_are_named) {
  Daemon daemon;  // it has answered: its IO threads are started, and named
  BOOST_TEST(threadNamed(daemon.pid(), "gh-io-0") != 0);
  BOOST_TEST(threadNamed(daemon.pid(), "gh-io-1") != 0);
  BOOST_TEST(threadNamed(daemon.pid(), "gh-io-2") == 0);
}

// The writer thread ("gh-writer") runs below the IO threads' CPU priority by default
// (writer.yield_to_readers: SCHED_BATCH at nice 10), and with ordinary scheduling when it is off.
BOOST_AUTO_TEST_CASE(the_writer_yields_the_cpu_to_readers_unless_told_not_to) {
  auto writerThread = [](pid_t pid) { return threadNamed(pid, "gh-writer"); };
  auto nice = [](pid_t pid, pid_t tid) {
    std::ifstream stat(fmt::format("/proc/{}/task/{}/stat", pid, tid));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    for (int i = 3; i <= 19; ++i) fields >> field;  // field 19: nice
    return std::stoi(field);
  };
  {
    Daemon daemon;
    pid_t tid = writerThread(daemon.pid());
    BOOST_REQUIRE(tid != 0);
    BOOST_TEST(::sched_getscheduler(tid) == SCHED_BATCH);
    BOOST_TEST(nice(daemon.pid(), tid) == 10);
    ok(daemon.cli({"company", "create", "acme"}));  // writes still commit
  }
  {
    Daemon daemon("[writer]\nyield_to_readers = false\n");
    pid_t tid = writerThread(daemon.pid());
    BOOST_REQUIRE(tid != 0);
    BOOST_TEST(::sched_getscheduler(tid) == SCHED_OTHER);
    BOOST_TEST(nice(daemon.pid(), tid) == ::getpriority(PRIO_PROCESS, 0));  // as started
  }
}

// `count` createCompany requests (ids 1 up, companies `prefix`0 up), framed back to back: sent in
// one write, the daemon reads them together.
std::string createCompanies(const std::string& prefix, int count) {
  std::string frames;
  for (int i = 0; i < count; ++i) {
    capnp::MallocMessageBuilder message;
    auto request = message.initRoot<wire::Request>();
    request.setId(static_cast<uint64_t>(i + 1));
    request.initCreateCompany().setName(prefix + std::to_string(i));
    auto flat = capnp::messageToFlatArray(message);
    frames.append(reinterpret_cast<const char*>(flat.asBytes().begin()), flat.asBytes().size());
  }
  return frames;
}

// writer.commit_delay_ms: mutations that arrive while the oldest one waits share its commit — one
// revision, one group.
BOOST_AUTO_TEST_CASE(mutations_within_the_commit_delay_share_one_commit) {
  Daemon daemon("[writer]\ncommit_delay_ms = 500\n");
  double groups = sample(statsJson(daemon), "gatehouse_group_commit_size", {}, "_count");
  client::Client c = daemon.connect();
  c.sendBytes(createCompanies("shared-", 20));
  std::set<uint64_t> revisions;
  for (int i = 0; i < 20; ++i) {
    auto a = c.receive();
    BOOST_REQUIRE(a->which() == wire::Response::MUTATION);
    revisions.insert(a->getMutation().getRevision());
  }
  BOOST_TEST(revisions.size() == 1u);
  BOOST_TEST(sample(statsJson(daemon), "gatehouse_group_commit_size", {}, "_count") == groups + 1);
}

// A stop does not drop what waits in the commit delay: the queued mutations are committed and
// answered, and are there after a restart.
BOOST_AUTO_TEST_CASE(a_stop_commits_what_waits_in_the_commit_delay) {
  Daemon daemon("[writer]\ncommit_delay_ms = 1000\n");
  client::Client c = daemon.connect();
  c.sendBytes(createCompanies("waiting-", 5));
  for (int i = 0; i < 500 && sample(statsJson(daemon), "gatehouse_writer_queue_depth") < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_REQUIRE(sample(statsJson(daemon), "gatehouse_writer_queue_depth") == 5);
  BOOST_REQUIRE(::kill(daemon.pid(), SIGTERM) == 0);
  for (int i = 0; i < 5; ++i) {
    auto a = c.receive();
    BOOST_TEST((a->which() == wire::Response::MUTATION));
  }
  BOOST_TEST(daemon.stop() == 0);
  daemon.start();
  Run list = daemon.cli({"--json", "company", "list"});
  ok(list);
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST(list.out.find("\"waiting-" + std::to_string(i) + "\"") != std::string::npos,
               list.out);
  }
}
