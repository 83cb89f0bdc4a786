// What gatehouse-benchmark prints: text for people in the manner of redis-benchmark (a section per
// test as it ends, then a line on the store's revision), one line per test with --quiet, or one
// JSON document with --json (docs/performance.md gives its schema). Latencies are microseconds.
// Nothing here prints a key: refused keys are named by their line in the file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "load.hpp"
#include "runner.hpp"
#include "sampler.hpp"

namespace gatehouse::benchmark {

using Json = nlohmann::ordered_json;

struct ScratchFacts {
  std::string dir;
  pid_t pid = -1;
  bool kept = false;
};

struct KeyFacts {
  size_t given = 0;
  std::vector<RefusedKey> refused;
  uint64_t grants = 0;  // of the accepted keys' accounts
};

struct Report {
  std::string version;  // gatehouse-benchmark's
  std::string socket;
  GraphFacts graph;  // includes the daemon's version and the revision before the run
  std::optional<uint64_t> revisionAfter;
  std::optional<ScratchFacts> scratch;
  std::optional<KeyFacts> keys;
  load::Shape shape;
  std::optional<uint64_t> requests;
  std::optional<double> durationSeconds;
  uint64_t warmup = 0;  // per connection
  SampleOptions sample;
  size_t lookups = 0;  // distinct lookups the frames cycle through
  std::vector<TestResult> tests;
  bool interrupted = false;
};

// Text mode, in order: the header once sampling is done, each test as it ends, the footer.
void printHeader(const Report& report);
void printTest(const Report& report, const TestResult& test, bool histogram);
void printFooter(const Report& report);
// --quiet: "authorize: 81234.56 requests per second, p50=10.240 usec" (and its errors, if any).
void printQuiet(const TestResult& test);
// --json: the whole run.
Json toJson(const Report& report);

}  // namespace gatehouse::benchmark
