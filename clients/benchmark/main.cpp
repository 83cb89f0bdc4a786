// gatehouse-benchmark: the operators' load generator. Measures a live gatehoused's throughput and
// latency for authorize and checkAccess, with checks sampled from the daemon's own graph through
// read-only requests, or benchmarks a throwaway daemon it starts and populates (--scratch DIR).
// See docs/performance.md.
//
// main parses the command line, wires the parts together (scratch.hpp, key_file.hpp, sampler.hpp,
// runner.hpp, report.hpp) and maps the outcome to the exit status: 0 every test ran and every
// answer was as expected, 1 some answers were errors (they are reported), 2 any failure (command
// line included), 130 interrupted (what ran is reported).
#include <fmt/format.h>
#include <kj/exception.h>
#include <signal.h>
#include <sodium.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"
#include "errors.hpp"
#include "key_file.hpp"
#include "load.hpp"
#include "report.hpp"
#include "runner.hpp"
#include "sampler.hpp"
#include "scratch.hpp"

namespace {

using namespace gatehouse;
using namespace gatehouse::benchmark;

constexpr int kExitOk = 0;
constexpr int kExitAnswerErrors = 1;
constexpr int kExitError = 2;
constexpr int kExitInterrupted = 130;
constexpr uint64_t kDefaultRequests = 100000;
constexpr uint64_t kMaxWarmup = 10000;

// Set by SIGINT and SIGTERM: every connection stops sending, reads what is in flight, and what ran
// is reported. A second signal ends the process (SA_RESETHAND). A signal handler can only reach a
// variable of static storage.
std::atomic<bool> interrupted{false};
void onSignal(int) { interrupted.store(true); }

struct Options {
  std::string socket;
  std::optional<int> connections;
  std::optional<int> pipeline;
  std::string mode;
  std::optional<uint64_t> requests;
  std::optional<double> duration;
  std::vector<std::string> tests;
  std::optional<uint64_t> warmup;
  bool json = false;
  bool quiet = false;
  bool histogram = false;
  std::string keys;
  double timeoutSeconds = 10;
  SampleOptions sample;
  std::string scratchDir;
  std::string daemon;
  ScratchOptions scratch;
  std::optional<uint64_t> serviceAccounts;
};

// What to run, from the options: the defaults that depend on other options are filled in, what
// the command line cannot check by itself is checked, and a mistake is a CLI::ValidationError (a
// usage error).
struct Plan {
  RunOptions run;
  std::vector<Test> tests;
  bool scratch = false;
};

Plan plan(Options& o, const CLI::App& app) {
  Plan p;
  p.scratch = !o.scratchDir.empty();
  const char* fromEnvironment = std::getenv("GATEHOUSE_SOCKET");
  if (p.scratch && app.count("--socket") > 0 &&
      (fromEnvironment == nullptr || o.socket != fromEnvironment)) {
    throw CLI::ValidationError(
        "--socket and --scratch exclude each other: --scratch benchmarks "
        "the daemon it starts");
  }
  p.run.socket = o.socket.empty() ? client::Client::defaultSocket() : o.socket;
  p.run.shape = o.mode.empty() ? load::Shape{} : *load::modeShape(o.mode);
  if (o.connections) p.run.shape.connections = *o.connections;
  if (o.pipeline) p.run.shape.window = *o.pipeline;
  p.run.requests = o.requests;
  if (!o.requests && !o.duration) p.run.requests = kDefaultRequests;
  if (o.duration) p.run.duration = std::chrono::duration<double>(*o.duration);
  auto connections = static_cast<uint64_t>(p.run.shape.connections);
  p.run.warmup = o.warmup.value_or(
      p.run.requests ? std::min(*p.run.requests / connections / 10, kMaxWarmup) : kMaxWarmup);
  p.run.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeoutSeconds * 1000));

  o.scratch.serviceAccounts = o.serviceAccounts.value_or(o.scratch.principals / 10);
  bool haveKeys = !o.keys.empty() || (p.scratch && o.scratch.serviceAccounts > 0);
  for (const std::string& name : o.tests) {
    Test test = name == "authorize" ? Test::authorize : Test::checkAccess;
    if (std::find(p.tests.begin(), p.tests.end(), test) == p.tests.end()) p.tests.push_back(test);
  }
  if (p.tests.empty()) {
    p.tests.push_back(Test::authorize);
    if (haveKeys) p.tests.push_back(Test::checkAccess);
  }
  bool access = std::find(p.tests.begin(), p.tests.end(), Test::checkAccess) != p.tests.end();
  if (access && !haveKeys) {
    throw CLI::ValidationError(
        p.scratch ? "the checkAccess test needs API keys: give the scratch graph service accounts "
                    "(--service-accounts N)"
                  : "the checkAccess test needs API keys, which no read-only request reveals: "
                    "give --keys FILE (one key per line), or benchmark a scratch daemon with "
                    "--scratch DIR");
  }
  if (p.scratch) {
    const ScratchOptions& s = o.scratch;
    if (s.serviceAccounts > s.principals) {
      throw CLI::ValidationError("--service-accounts: at most --principals (" +
                                 std::to_string(s.principals) + ")");
    }
    if (s.grants > s.companies) {
      throw CLI::ValidationError("--grants: at most --companies (" + std::to_string(s.companies) +
                                 "): each of a principal's grants is in another company");
    }
  }
  return p;
}

// Prints a failure as the gatehouse CLI does: one line on stderr, and with --json the object.
int fail(const Options& o, std::string_view code, std::string_view message) {
  fmt::print(stderr, "gatehouse-benchmark: error: {}: {}\n", code, message);
  if (o.json) {
    Json error = {{"error", {{"code", code}, {"message", message}}}};
    fmt::print("{}\n", error.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return kExitError;
}

void installSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = onSignal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

int run(const Options& o, Plan& p) {
  bool text = !o.json && !o.quiet;
  installSignalHandlers();
  std::unique_ptr<Scratch> scratch;
  if (p.scratch) {
    ScratchOptions s = o.scratch;
    s.dir = o.scratchDir;
    s.daemon = o.daemon.empty() ? defaultDaemon() : std::filesystem::path(o.daemon);
    s.seed = o.sample.seed;
    s.timeout = p.run.timeout;
    if (text) {
      fmt::print(
          "starting {} in {} on a graph of {} companies, {} principals ({} service "
          "accounts), {} grants each...\n",
          s.daemon.string(), s.dir.string(), s.companies, s.principals, s.serviceAccounts,
          s.grants);
    }
    scratch = Scratch::create(s);
    p.run.socket = scratch->socket();
  }
  KeyRing fileKeys;
  const KeyRing* keys = nullptr;
  if (!o.keys.empty()) {
    try {
      fileKeys = KeyRing::read(o.keys);
    } catch (const std::runtime_error& e) {
      throw BenchmarkError(kUsageError, e.what());
    }
    keys = &fileKeys;
  } else if (scratch) {
    keys = &scratch->keys();
  }

  Report report;
  report.version = GATEHOUSE_VERSION;
  report.socket = p.run.socket;
  report.shape = p.run.shape;
  report.requests = p.run.requests;
  if (p.run.duration) report.durationSeconds = p.run.duration->count();
  report.warmup = p.run.warmup;
  report.sample = o.sample;
  report.lookups = load::Frames::kCount;
  if (scratch)
    report.scratch = ScratchFacts{scratch->dir().string(), scratch->pid(), scratch->kept()};

  Sampler sampler(p.run.socket, p.run.timeout, o.sample);
  report.graph = sampler.sampleGraph();
  std::vector<std::vector<Lookup>> lookups;
  for (Test test : p.tests) {
    if (test == Test::authorize) {
      lookups.push_back(sampler.authorizeLookups(load::Frames::kCount));
      continue;
    }
    lookups.push_back(sampler.accessLookups(*keys, load::Frames::kCount));
    report.keys = KeyFacts{keys->keys().size(), sampler.refusedKeys(), sampler.accessGrants()};
  }
  if (text) printHeader(report);

  for (size_t i = 0; i < p.tests.size() && !interrupted.load(); ++i) {
    TestResult result = runTest(p.run, p.tests[i], lookups[i], keys, interrupted);
    if (text) printTest(report, result, o.histogram);
    if (o.quiet) printQuiet(result);
    report.tests.push_back(std::move(result));
  }
  report.interrupted = interrupted.load();
  report.revisionAfter = hello(p.run.socket, p.run.timeout).second;
  if (scratch) scratch->finish();
  if (text) printFooter(report);
  if (o.json) {
    fmt::print("{}\n", toJson(report).dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  if (report.interrupted) {
    fmt::print(stderr, "gatehouse-benchmark: interrupted\n");
    return kExitInterrupted;
  }
  for (const TestResult& t : report.tests) {
    if (t.errors > 0) return kExitAnswerErrors;
  }
  return kExitOk;
}

// `name` taking a number from `min` to `max`, shown as `typeName` (with its default, if any).
template <typename Value, typename Bound>
CLI::Option* addNumber(CLI::App& app, const std::string& name, Value& value, Bound min, Bound max,
                       const std::string& typeName, const std::string& help) {
  return app.add_option(name, value, help)
      ->check(CLI::Range(min, max))
      ->capture_default_str()
      ->type_name(typeName);
}

void addOptions(CLI::App& app, Options& o) {
  app.add_option("-s,--socket", o.socket,
                 fmt::format("The daemon's Unix socket. Default: {} when it exists, otherwise {}",
                             client::Client::kCheckoutSocket, client::Client::kSystemSocket))
      ->envname("GATEHOUSE_SOCKET")
      ->type_name("PATH");
  app.add_option("--mode", o.mode,
                 "A preset of -c and -P: pingpong (1 x 1, the default), pipelined (1 x 64), "
                 "concurrent (4 x 64); -c and -P given as well override it")
      ->check(CLI::IsMember({"pingpong", "pipelined", "concurrent"}))
      ->type_name("MODE");
  addNumber(app, "-c,--connections", o.connections, 1, 256, "N",
            "Connections, each on a thread of its own (default 1)");
  addNumber(app, "-P,--pipeline", o.pipeline, 1, 4096, "N",
            "Requests in flight on each connection (default 1)");
  addNumber(app, "-n,--requests", o.requests, uint64_t{1}, uint64_t{1000000000000}, "N",
            "Requests measured per test, over all connections (default 100000; with -d alone, "
            "no limit)");
  addNumber(app, "-d,--duration", o.duration, 0.001, 86400.0, "SECONDS",
            "Seconds each test runs at most (with -n too, whichever ends first)");
  app.add_option("-t,--tests", o.tests,
                 "Tests to run, comma-separated: authorize, checkAccess (default: authorize, and "
                 "checkAccess when there are keys)")
      ->delimiter(',')
      ->check(CLI::IsMember({"authorize", "checkAccess"}, CLI::ignore_case))
      ->type_name("LIST");
  addNumber(app, "--warmup", o.warmup, uint64_t{0}, uint64_t{1000000000}, "N",
            "Unmeasured requests per connection before each test (default: a tenth of its "
            "share, at most 10000)");
  auto* keys = app.add_option("--keys", o.keys,
                              "A file of API keys, one per line, for checkAccess (secrets: never "
                              "printed)")
                   ->type_name("FILE");
  auto* json = app.add_flag("--json", o.json, "Print one JSON document (latency in microseconds)");
  auto* histogram = app.add_flag("--histogram", o.histogram,
                                 "Print each test's latency histogram too (always in --json)");
  app.add_flag("-q,--quiet", o.quiet, "Print one line per test: throughput and p50")
      ->excludes(json)
      ->excludes(histogram);
  app.add_option("--seed", o.sample.seed, "Seed of the sampling and the lookups")
      ->capture_default_str()
      ->type_name("N");
  addNumber(app, "--zipf", o.sample.zipf, 0.0, 10.0, "S",
            "Exponent of the Zipf distribution the lookups draw grants from (0: uniform)");
  addNumber(app, "--granted-share", o.sample.grantedShare, 0.0, 1.0, "FRACTION",
            "Share of lookups whose permission is one the grant holds; the others draw from the "
            "whole catalog");
  addNumber(app, "--sample-principals", o.sample.principals, uint64_t{1}, uint64_t{100000000}, "N",
            "Active principals with grants to sample, reading ids from 1 up");
  addNumber(app, "--timeout", o.timeoutSeconds, 0.001, 86400.0, "SECONDS",
            "Seconds to wait for an answer before giving up on the daemon");

  // --socket and --scratch: checked in plan(), since GATEHOUSE_SOCKET may set --socket.
  auto* scratch =
      app.add_option("--scratch", o.scratchDir,
                     "Create DIR (new or empty), start a gatehoused there on a synthetic "
                     "graph, benchmark it, stop it and remove DIR")
          ->type_name("DIR")
          ->excludes(keys);
  app.add_option("--daemon", o.daemon,
                 "The gatehoused to start (default: the one installed beside this program)")
      ->needs(scratch)
      ->type_name("PATH");
  app.add_flag("--keep", o.scratch.keep,
               "Keep DIR afterwards: the store, its configuration and the keys (DIR/keys)")
      ->needs(scratch);
  ScratchOptions& s = o.scratch;
  for (CLI::Option* option : {
           addNumber(app, "--companies", s.companies, uint64_t{1}, uint64_t{1000000}, "N",
                     "Companies"),
           addNumber(app, "--principals", s.principals, uint64_t{1}, uint64_t{10000000}, "N",
                     "Principals"),
           addNumber(app, "--service-accounts", o.serviceAccounts, uint64_t{0}, uint64_t{10000000},
                     "N",
                     "Of the principals, service accounts with one API key each (default: a "
                     "tenth)"),
           addNumber(app, "--grants", s.grants, uint64_t{1}, uint64_t{1000}, "N",
                     "Grants per principal, each in another company"),
           addNumber(app, "--permissions", s.permissions, uint64_t{1}, uint64_t{4096}, "N",
                     "Permission names"),
           addNumber(app, "--roles", s.roles, uint64_t{0}, uint64_t{10000}, "N",
                     "System roles, of 8 permissions each"),
           addNumber(app, "--io-threads", s.ioThreads, 0u, 1024u, "N",
                     "The daemon's IO threads (0: one per core)"),
       }) {
    option->needs(scratch);
  }
}

std::string usageFailure(const CLI::App*, const CLI::Error& error) {
  return fmt::format("gatehouse-benchmark: error: {}: {}\nRun with --help for more information.\n",
                     kUsageError, error.what());
}

constexpr const char* kExamples = R"(Examples:
  gatehouse-benchmark
      ping-pong authorize, 100,000 requests, against the default socket
  gatehouse-benchmark --mode pipelined -n 1000000 -q
      one connection with 64 requests in flight; one line of results
  gatehouse-benchmark -c 4 -P 32 -d 30 --keys keys.txt --json > run.json
      authorize and checkAccess for 30 s each over 4 connections; one JSON document
  gatehouse-benchmark --scratch /tmp/gh-bench --principals 10000 --companies 1000 --histogram
      a throwaway daemon on a synthetic graph, removed afterwards

Exit status: 0 every answer was as expected, 1 some answers were errors (reported), 2 any
failure or a bad command line, 130 interrupted. The benchmark never sends a mutation to a live
daemon: only --scratch populates the daemon it starts. See docs/performance.md.)";

int benchmarkMain(int argc, char** argv) {
  CLI::App app{
      "gatehouse-benchmark: measure gatehoused's throughput and latency.\n\n"
      "Sends authorize requests (and checkAccess, given API keys) sampled from the daemon's own "
      "graph through read-only requests, over -c connections with -P requests in flight on each, "
      "and reports the throughput, the latency percentiles and an HDR-style histogram of each "
      "test. It never sends a mutation to a live daemon; --scratch DIR benchmarks a throwaway "
      "daemon that it starts, populates and removes.",
      "gatehouse-benchmark"};
  Options o;
  addOptions(app, o);
  app.set_version_flag("--version", GATEHOUSE_VERSION);
  app.footer(kExamples);
  app.failure_message(usageFailure);

  Plan p;
  try {
    app.parse(argc, argv);
    p = plan(o, app);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;  // --help is a success
  }
  try {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init failed");
    return run(o, p);
  } catch (const BenchmarkError& e) {
    return fail(o, e.code(), e.what());
  } catch (const client::RequestError& e) {
    return fail(o, "daemon", e.what());
  } catch (const client::ClientError& e) {
    return fail(o, kConnectionError, e.what());
  } catch (const kj::Exception& e) {
    return fail(o, kProtocolError, e.getDescription().cStr());
  } catch (const std::exception& e) {
    return fail(o, "internal", e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return benchmarkMain(argc, argv);
  } catch (...) {
    std::fputs("gatehouse-benchmark: error: internal: an unexpected failure\n", stderr);
    return kExitError;
  }
}
