// gatehouse-benchmark against the real daemon: every mode runs both tests and reports the JSON it
// documents with no error; a run sends no mutation (the store's revision and the audit trail are
// unchanged); the text and quiet outputs; keys are never printed, refused ones are named by line;
// checkAccess without keys, bad options and an empty graph are clear errors (exit status 2);
// --scratch creates, benchmarks and removes its directory, keeps it on request, refuses a
// non-empty one, cleans up after a daemon that does not start, and after an interrupt. Nothing
// here asserts on speed.
#define BOOST_TEST_MODULE benchmark
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void ok(const Run& run) { BOOST_REQUIRE_MESSAGE(run.status == 0, run.out + run.err); }

Run benchmark(std::vector<std::string> args) {
  args.insert(args.begin(), GATEHOUSE_BENCHMARK_PATH);
  return runProcess(args);
}

Json parse(const Run& run) {
  ok(run);
  return Json::parse(run.out);
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// The daemon's revision and its newest audit event's sequence, read in the system context.
std::pair<uint64_t, uint64_t> revisionAndAudit(const Daemon& daemon) {
  auto client = daemon.connect();
  auto hello = client.call([](wire::Request::Builder r) { r.setHello(); });
  auto audit = client.call([](wire::Request::Builder r) { r.initAuditList().setLimit(1); });
  client::checkOk(audit);
  auto events = audit->getAudit().getEvents();
  BOOST_REQUIRE(events.size() == 1u);
  return {hello->getHello().getRevision(), events[0].getSequence()};
}

// A daemon with a small graph: two companies, four permission names, a system role, three users
// and two service accounts with grants (one user with none), and a key for each account, in
// keys.txt beside the daemon. Last-used times are written once a day, so that nothing but a
// request could move the revision during a test.
struct Graph {
  Daemon daemon{"", "last_used_flush_seconds = 86400"};
  std::vector<std::string> keys;
  fs::path keyFile = daemon.dir() / "keys.txt";

  Graph() {
    ok(daemon.cli({"company", "create", "north"}));
    ok(daemon.cli({"company", "create", "south"}));
    ok(daemon.cli(
        {"catalog", "define", "routers.read", "routers.write", "routers.reboot", "sites.read"}));
    ok(daemon.cli({"role", "create", "operator", "--perm", "routers.read,routers.reboot"}));
    for (const char* user : {"ann", "bob", "cem"}) ok(daemon.cli({"user", "create", user}));
    ok(daemon.cli({"grant", "set", "ann", "north", "--role", "operator"}));
    ok(daemon.cli({"grant", "set", "ann", "south", "--perm", "sites.read"}));
    ok(daemon.cli({"grant", "set", "bob", "north", "--perm", "routers.write"}));
    for (const char* sa : {"robot", "script"}) {
      ok(daemon.cli({"sa", "create", sa, "--owner", "north"}));
      Run key = daemon.cli({"sa", "key", "create", sa});
      ok(key);
      keys.push_back(key.out.substr(0, key.out.find('\n')));
    }
    ok(daemon.cli({"grant", "set", "robot", "north", "--role", "operator"}));
    ok(daemon.cli({"grant", "set", "robot", "south", "--perm", "routers.read"}));
    ok(daemon.cli({"grant", "set", "script", "south", "--perm", "routers.write"}));
    std::ofstream(keyFile) << "# the benchmark's keys\n" << keys[0] << "\n\n" << keys[1] << "\n";
  }

  Run run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--socket", daemon.socket()});
    return benchmark(args);
  }
};

// Checks one test's JSON against what the run asked for; `requests` 0: any number.
void checkTest(const Json& t, const std::string& name, uint64_t requests) {
  BOOST_TEST_CONTEXT(name) {
    BOOST_TEST(t["test"] == name);
    if (requests > 0) BOOST_TEST(t["requests"] == requests);
    uint64_t answered = t["requests"];
    BOOST_TEST(answered > 0u);
    BOOST_TEST(t["errors"] == 0);
    BOOST_TEST(t["error_kinds"].empty(), t["error_kinds"].dump());
    BOOST_TEST(t["allowed"].get<uint64_t>() + t["denied"].get<uint64_t>() == answered);
    BOOST_TEST(t["allowed"].get<uint64_t>() > 0u);
    BOOST_TEST(t["seconds"].get<double>() > 0);
    BOOST_TEST(t["requests_per_s"].get<double>() > 0);
    const Json& l = t["latency_us"];
    BOOST_TEST(l["min"].get<double>() <= l["p50"].get<double>());
    BOOST_TEST(l["p50"].get<double>() <= l["p90"].get<double>());
    BOOST_TEST(l["p90"].get<double>() <= l["p99"].get<double>());
    BOOST_TEST(l["p99"].get<double>() <= l["p99_9"].get<double>());
    BOOST_TEST(l["p99_9"].get<double>() <= l["max"].get<double>());
    BOOST_TEST(l["min"].get<double>() <= l["mean"].get<double>());
    BOOST_TEST(l["mean"].get<double>() <= l["max"].get<double>());
    uint64_t counted = 0;
    double previous = -1;
    for (const Json& b : t["histogram"]["buckets"]) {
      counted += b["count"].get<uint64_t>();
      BOOST_TEST(b["from_us"].get<double>() > previous);
      BOOST_TEST(b["from_us"].get<double>() <= b["to_us"].get<double>());
      previous = b["to_us"];
    }
    BOOST_TEST(counted == answered);
    BOOST_TEST(t["histogram"]["precision"].get<double>() <= 0.01);
  }
}

// Starts `argv` with its stdout in `out` and its stderr in `err`; returns its pid.
pid_t spawn(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600), 1);
    ::dup2(::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600), 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int exitStatus(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_mode_runs_both_tests_and_reports_its_json) {
  Graph g;
  for (auto [mode, connections, pipeline] :
       {std::tuple{"pingpong", 1, 1}, std::tuple{"pipelined", 1, 64},
        std::tuple{"concurrent", 4, 64}}) {
    BOOST_TEST_CONTEXT(mode) {
      Json out = parse(g.run({"--mode", mode, "-n", "600", "--keys", g.keyFile.string(), "-t",
                              "authorize,checkAccess", "--json"}));
      BOOST_TEST(out["tool"] == "gatehouse-benchmark");
      BOOST_TEST(out["version"] == GATEHOUSE_VERSION);
      BOOST_TEST(out["daemon"]["socket"] == g.daemon.socket());
      BOOST_TEST(out["daemon"]["version"] == GATEHOUSE_VERSION);
      BOOST_TEST(out["daemon"]["scratch"].is_null());
      BOOST_TEST(out["config"]["mode"] == mode);
      BOOST_TEST(out["config"]["connections"] == connections);
      BOOST_TEST(out["config"]["pipeline"] == pipeline);
      BOOST_TEST(out["config"]["requests"] == 600);
      BOOST_TEST(out["config"]["duration_s"].is_null());
      BOOST_TEST(out["sample"]["companies"] == 2);
      BOOST_TEST(out["sample"]["catalog"] == 4);
      BOOST_TEST(out["sample"]["principals"] == 4);  // cem holds no grant
      BOOST_TEST(out["sample"]["grants"] == 6);
      BOOST_TEST(out["sample"]["keys"]["given"] == 2);
      BOOST_TEST(out["sample"]["keys"]["accepted"] == 2);
      BOOST_TEST(out["sample"]["keys"]["refused"].empty());
      BOOST_TEST(out["sample"]["keys"]["grants"] == 3);
      BOOST_REQUIRE(out["tests"].size() == 2u);
      checkTest(out["tests"][0], "authorize", 600);
      checkTest(out["tests"][1], "checkAccess", 600);
      BOOST_TEST(out["interrupted"] == false);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_run_against_a_live_daemon_sends_no_mutation) {
  Graph g;
  auto before = revisionAndAudit(g.daemon);
  Json out =
      parse(g.run({"--mode", "concurrent", "-n", "4000", "--keys", g.keyFile.string(), "--json"}));
  BOOST_REQUIRE(out["tests"].size() == 2u);  // both by default, with keys
  auto after = revisionAndAudit(g.daemon);
  BOOST_TEST(after.first == before.first);    // nothing committed
  BOOST_TEST(after.second == before.second);  // nothing refused either: no audit event
  BOOST_TEST(out["daemon"]["revision_before"] == before.first);
  BOOST_TEST(out["daemon"]["revision_after"] == before.first);
}

BOOST_AUTO_TEST_CASE(options_beyond_the_modes_and_a_duration_alone) {
  Graph g;
  Json out = parse(g.run({"-c", "2", "-P", "3", "-d", "0.2", "--warmup", "5", "--zipf", "0",
                          "--granted-share", "1", "--seed", "9", "--json"}));
  BOOST_TEST(out["config"]["mode"] == "custom");
  BOOST_TEST(out["config"]["connections"] == 2);
  BOOST_TEST(out["config"]["pipeline"] == 3);
  BOOST_TEST(out["config"]["requests"].is_null());
  BOOST_TEST(out["config"]["duration_s"] == 0.2);
  BOOST_TEST(out["config"]["warmup"] == 5);
  BOOST_TEST(out["config"]["seed"] == 9);
  BOOST_REQUIRE(out["tests"].size() == 1u);  // no keys: authorize only
  const Json& t = out["tests"][0];
  checkTest(t, "authorize", 0);
  BOOST_TEST(t["warmup_requests"] == 10);
  // Every permission drawn from what its grant holds: all allowed.
  BOOST_TEST(t["granted_share"] == 1.0);
  BOOST_TEST(t["denied"] == 0);
}

BOOST_AUTO_TEST_CASE(text_histogram_and_quiet_outputs) {
  Graph g;
  Run text = g.run({"-n", "300", "--keys", g.keyFile.string(), "--histogram"});
  ok(text);
  for (const char* part :
       {"====== authorize ======", "====== checkAccess ======", "300 requests completed in",
        "throughput summary:", "requests per second",
        "latency summary (usec):", "latency histogram (usec", "errors: 0",
        "keys: 2 given, 2 accepted", "nothing was written"}) {
    BOOST_TEST(contains(text.out, part), part << " in:\n" << text.out);
  }
  Run quiet = g.run({"-n", "300", "--keys", g.keyFile.string(), "-q"});
  ok(quiet);
  std::istringstream lines(quiet.out);
  std::vector<std::string> all;
  for (std::string line; std::getline(lines, line);) all.push_back(line);
  BOOST_REQUIRE_MESSAGE(all.size() == 2u, quiet.out);
  BOOST_TEST(all[0].starts_with("authorize: "));
  BOOST_TEST(contains(all[0], " requests per second, p50="));
  BOOST_TEST(all[1].starts_with("checkAccess: "));
}

BOOST_AUTO_TEST_CASE(keys_are_never_printed_and_refused_ones_are_named_by_their_line) {
  Graph g;
  // A mistyped copy of the first key (its checksum fails): refused, reported by line only.
  std::string mistyped = g.keys[0];
  mistyped[20] = mistyped[20] == 'A' ? 'B' : 'A';
  fs::path file = g.daemon.dir() / "some-bad.txt";
  std::ofstream(file) << g.keys[0] << "\r\n" << mistyped << "\n" << g.keys[1] << "\n";
  for (const char* format : {"--json", "--histogram"}) {
    Run run = g.run({"-n", "200", "--keys", file.string(), format});
    ok(run);
    for (const std::string& key : {g.keys[0], g.keys[1], mistyped}) {
      BOOST_TEST(!contains(run.out + run.err, key), format);
      BOOST_TEST(!contains(run.out + run.err, key.substr(0, 24)), format);
    }
    if (std::string(format) == "--json") {
      Json out = Json::parse(run.out);
      BOOST_TEST(out["sample"]["keys"]["accepted"] == 2);
      BOOST_REQUIRE(out["sample"]["keys"]["refused"].size() == 1u);
      BOOST_TEST(out["sample"]["keys"]["refused"][0]["line"] == 2);
      BOOST_TEST(out["sample"]["keys"]["refused"][0]["refusal"] == "badCredential");
      checkTest(out["tests"][1], "checkAccess", 200);
    } else {
      BOOST_TEST(contains(run.out, "key on line 2 refused: badCredential"), run.out);
    }
  }

  std::ofstream(file, std::ios::trunc) << mistyped << "\n";
  Run none = g.run({"-n", "200", "--keys", file.string()});
  BOOST_TEST(none.status == 2);
  BOOST_TEST(contains(none.err, "refused every key"), none.err);
  BOOST_TEST(!contains(none.out + none.err, mistyped));
}

BOOST_AUTO_TEST_CASE(check_access_without_keys_is_refused_clearly) {
  Graph g;
  Run run = g.run({"-t", "checkAccess"});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(run.out.empty());
  BOOST_TEST(contains(run.err,
                      "gatehouse-benchmark: error: usage: the checkAccess test needs API "
                      "keys, which no read-only request reveals: give --keys FILE"),
             run.err);
  std::ofstream(g.daemon.dir() / "empty.txt") << "# no key yet\n\n";
  Run empty = g.run({"-t", "checkAccess", "--keys", (g.daemon.dir() / "empty.txt").string()});
  BOOST_TEST(empty.status == 2);
  BOOST_TEST(contains(empty.err, "no key in the file"), empty.err);
}

BOOST_AUTO_TEST_CASE(bad_options_are_usage_errors_with_exit_status_2) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--bogus"},
           {"-c", "0"},
           {"-c", "many"},
           {"-P", "5000"},
           {"-n", "0"},
           {"-d", "-1"},
           {"--mode", "fast"},
           {"-t", "authorize,bogus"},
           {"--zipf", "11"},
           {"--granted-share", "1.5"},
           {"--json", "-q"},
           {"--companies", "3"},
           {"--keep"},
           {"--scratch", "/tmp/x", "--keys", "/tmp/k"},
           {"--scratch", "/tmp/x", "--principals", "2", "--service-accounts", "3"},
           {"--scratch", "/tmp/x", "--companies", "2", "--grants", "3"},
           {"-s", "/tmp/x.sock", "--scratch", "/tmp/x"},
           {"--keys", "/nonexistent/keys"},
       }) {
    Run run = benchmark(args);
    std::string words;
    for (const std::string& a : args) words += a + " ";
    BOOST_TEST(run.status == 2, words);
    BOOST_TEST(run.err.starts_with("gatehouse-benchmark: error: usage: "), words << run.err);
    BOOST_TEST(run.out.empty(), words << run.out);
  }
  Run help = benchmark({"--help"});
  BOOST_TEST(help.status == 0);
  for (const char* option :
       {"--socket", "--connections", "--pipeline", "--requests", "--duration", "--mode", "--tests",
        "--warmup", "--json", "--quiet", "--seed", "--keys", "--scratch", "--histogram"}) {
    BOOST_TEST(contains(help.out, option), option);
  }
  Run version = benchmark({"--version"});
  BOOST_TEST(version.status == 0);
  BOOST_TEST(contains(version.out, GATEHOUSE_VERSION));
}

BOOST_AUTO_TEST_CASE(an_empty_graph_is_a_clear_error) {
  Daemon daemon;
  auto run = [&] { return benchmark({"--socket", daemon.socket(), "--json"}); };
  auto expectGraphError = [&](const std::string& message) {
    Run r = run();
    BOOST_TEST(r.status == 2);
    BOOST_TEST(contains(r.err, "gatehouse-benchmark: error: graph: " + message), r.err);
    BOOST_TEST(contains(r.err, "--scratch DIR"), r.err);
    BOOST_TEST(Json::parse(r.out)["error"]["code"] == "graph");
  };
  expectGraphError("the daemon's permission catalog is empty");
  ok(daemon.cli({"catalog", "define", "routers.read"}));
  expectGraphError("the daemon's graph has no principals");
  ok(daemon.cli({"company", "create", "north"}));
  ok(daemon.cli({"user", "create", "ann"}));
  expectGraphError("no active principal among ids 1 to ");
  ok(daemon.cli({"grant", "set", "ann", "north", "--perm", "routers.read"}));
  ok(run());
}

BOOST_AUTO_TEST_CASE(scratch_creates_benchmarks_and_removes_its_directory) {
  TempDir parent;
  fs::path dir = parent.path() / "scratch";
  // No --daemon: the build's gatehoused is found beside the benchmark (../daemon).
  Json out = parse(benchmark({"--scratch",
                              dir.string(),
                              "--companies",
                              "5",
                              "--principals",
                              "40",
                              "--service-accounts",
                              "6",
                              "--grants",
                              "2",
                              "--permissions",
                              "8",
                              "--roles",
                              "2",
                              "--io-threads",
                              "1",
                              "--mode",
                              "pipelined",
                              "-n",
                              "500",
                              "--json"}));
  BOOST_TEST(!fs::exists(dir));
  const Json& scratch = out["daemon"]["scratch"];
  BOOST_TEST(scratch["dir"] == dir.string());
  BOOST_TEST(scratch["kept"] == false);
  BOOST_TEST(!alive(scratch["pid"].get<pid_t>()));
  BOOST_TEST(out["daemon"]["socket"] == (dir / "gatehouse.sock").string());
  BOOST_TEST(out["sample"]["companies"] == 5);
  BOOST_TEST(out["sample"]["catalog"] == 8);
  BOOST_TEST(out["sample"]["principals"] == 40);
  BOOST_TEST(out["sample"]["grants"] == 80);
  BOOST_TEST(out["sample"]["keys"]["given"] == 6);
  BOOST_TEST(out["sample"]["keys"]["accepted"] == 6);
  BOOST_TEST(out["sample"]["keys"]["grants"] == 12);
  BOOST_REQUIRE(out["tests"].size() == 2u);
  checkTest(out["tests"][0], "authorize", 500);
  checkTest(out["tests"][1], "checkAccess", 500);
  BOOST_TEST(out["daemon"]["revision_before"] == out["daemon"]["revision_after"]);
}

BOOST_AUTO_TEST_CASE(scratch_keep_leaves_a_store_that_serves_again) {
  TempDir parent;
  fs::path dir = parent.path() / "kept";
  Json out =
      parse(benchmark({"--scratch", dir.string(), "--daemon", GATEHOUSE_DAEMON_PATH, "--keep",
                       "--principals", "20", "--service-accounts", "3", "-n", "100", "--json"}));
  BOOST_TEST(out["daemon"]["scratch"]["kept"] == true);
  BOOST_TEST(!alive(out["daemon"]["scratch"]["pid"].get<pid_t>()));
  BOOST_TEST(!fs::exists(dir / "gatehouse.sock"));
  for (const char* file : {"gatehoused.toml", "gatehoused.log", "data/data.mdb"}) {
    BOOST_TEST(fs::exists(dir / file), file);
  }
  for (const char* secret : {"pepper", "keys"}) {
    BOOST_TEST((fs::status(dir / secret).permissions() ==
                (fs::perms::owner_read | fs::perms::owner_write)),
               secret);
  }
  BOOST_TEST((fs::status(dir).permissions() == fs::perms::owner_all));

  // The kept store, served again, benchmarks with the kept keys.
  pid_t daemon = spawn({GATEHOUSE_DAEMON_PATH, "--config", (dir / "gatehoused.toml").string()},
                       "/dev/null", dir / "restart.log");
  for (int i = 0; i < 2000 && !fs::exists(dir / "gatehouse.sock"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Json again = parse(benchmark({"--socket", (dir / "gatehouse.sock").string(), "--keys",
                                (dir / "keys").string(), "-n", "100", "--json"}));
  ::kill(daemon, SIGTERM);
  BOOST_TEST(exitStatus(daemon) == 0);
  BOOST_TEST(again["sample"]["principals"] == 20);
  BOOST_TEST(again["sample"]["keys"]["accepted"] == 3);
  BOOST_REQUIRE(again["tests"].size() == 2u);
  checkTest(again["tests"][1], "checkAccess", 100);
}

BOOST_AUTO_TEST_CASE(scratch_refuses_a_directory_that_is_not_new_or_empty) {
  TempDir parent;
  fs::path dir = parent.path() / "busy";
  fs::create_directory(dir);
  std::ofstream(dir / "precious") << "keep me";
  Run run = benchmark({"--scratch", dir.string()});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(contains(run.err, "gatehouse-benchmark: error: usage: --scratch " + dir.string() +
                                   ": exists and is not empty"),
             run.err);
  BOOST_TEST(readFile(dir / "precious") == "keep me");
  BOOST_TEST(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);

  Run file = benchmark({"--scratch", (dir / "precious").string()});
  BOOST_TEST(file.status == 2);
  BOOST_TEST(contains(file.err, "exists and is not a directory"), file.err);
  BOOST_TEST(readFile(dir / "precious") == "keep me");

  // An empty directory is used, and removed afterwards.
  fs::path empty = parent.path() / "empty";
  fs::create_directory(empty);
  ok(benchmark({"--scratch", empty.string(), "--principals", "10", "-n", "50", "-q"}));
  BOOST_TEST(!fs::exists(empty));
}

BOOST_AUTO_TEST_CASE(scratch_cleans_up_after_a_daemon_that_does_not_start) {
  TempDir parent;
  fs::path dir = parent.path() / "scratch";
  Run run = benchmark({"--scratch", dir.string(), "--daemon", "/nonexistent/gatehoused"});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(contains(run.err,
                      "gatehouse-benchmark: error: scratch: /nonexistent/gatehoused "
                      "exited during start-up"),
             run.err);
  BOOST_TEST(!fs::exists(dir));
}

BOOST_AUTO_TEST_CASE(an_interrupt_reports_what_ran_and_cleans_up) {
  TempDir parent;
  fs::path dir = parent.path() / "scratch";
  fs::path out = parent.path() / "out.json";
  pid_t pid = spawn({GATEHOUSE_BENCHMARK_PATH, "--scratch", dir.string(), "--principals", "50",
                     "-d", "600", "--json"},
                    out, parent.path() / "err.txt");
  // Once the daemon serves (or has come and gone), interrupt; the run may be anywhere after.
  for (int i = 0; i < 2000 && !fs::exists(dir / "gatehouse.sock"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(pid, SIGINT);
  BOOST_TEST(exitStatus(pid) == 130);
  BOOST_TEST(readFile(parent.path() / "err.txt") == "gatehouse-benchmark: interrupted\n");
  BOOST_TEST(!fs::exists(dir));
  Json report = Json::parse(readFile(out));
  BOOST_TEST(report["interrupted"] == true);
  BOOST_TEST(!alive(report["daemon"]["scratch"]["pid"].get<pid_t>()));
  for (const Json& t : report["tests"]) BOOST_TEST(t["errors"] == 0);
}
