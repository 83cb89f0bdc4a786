// One test of gatehouse-benchmark: the sampled lookups encoded once as frames, then `connections`
// threads, each with its own connection keeping `window` requests in flight (load.hpp), warmed up
// and started together, until the requests are done or the duration is over. Every answer is
// checked: its id must name a request in flight, its kind must be the test's, a checkAccess key
// must be accepted. Whatever is not is counted as an error by kind, never dropped; allowed and
// denied answers are counted, the denies by reason. Latencies go into one histogram per connection,
// merged at the end.
//
// Threading: runTest starts and joins its own threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "key_file.hpp"
#include "load.hpp"
#include "sampler.hpp"

namespace gatehouse::benchmark {

enum class Test { authorize, checkAccess };

// "authorize", "checkAccess".
std::string testName(Test test);

struct RunOptions {
  std::string socket;
  load::Shape shape;
  // Requests measured in all (split between the connections); nullopt: until the duration ends.
  std::optional<uint64_t> requests;
  std::optional<std::chrono::duration<double>> duration;
  uint64_t warmup = 0;  // per connection
  std::chrono::milliseconds timeout{10000};
};

struct TestResult {
  Test test = Test::authorize;
  load::Histogram latency;  // measured answers
  uint64_t requests = 0;    // measured answers
  uint64_t warmup = 0;      // warm-up answers, all connections
  double seconds = 0;       // from the common start to the last connection's last answer
  uint64_t allowed = 0;
  uint64_t denied = 0;
  std::map<std::string, uint64_t> denyReasons;  // by the schema's DenyReason name
  uint64_t granted = 0;  // measured lookups whose permission came from the grant
  uint64_t errors = 0;   // measured and warm-up answers that were not the expected kind
  std::map<std::string, uint64_t> errorKinds;
  bool interrupted = false;
};

// Runs `test` over `lookups` (keys: the KeyRing the lookups' key indices refer to, for
// checkAccess). Throws BenchmarkError `connection` naming the connection when one fails.
TestResult runTest(const RunOptions& options, Test test, const std::vector<Lookup>& lookups,
                   const KeyRing* keys, const std::atomic<bool>& cancel);

}  // namespace gatehouse::benchmark
