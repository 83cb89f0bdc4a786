#include "runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "errors.hpp"
#include "output.hpp"

namespace gatehouse::benchmark {
namespace {

using cli::enumName;

// Sets a text field from bytes that need not end with a NUL (a key in a KeyRing).
void setText(capnp::Text::Builder text, std::string_view bytes) {
  std::copy(bytes.begin(), bytes.end(), text.begin());
}

load::Frames encode(Test test, const std::vector<Lookup>& lookups, const KeyRing* keys) {
  return load::Frames([&](size_t i, wire::Request::Builder r) {
    const Lookup& l = lookups[i % lookups.size()];
    if (test == Test::authorize) {
      auto q = r.initAuthorize();
      q.setPrincipal(l.principal);
      q.setCompany(l.company);
      q.setPermission(*l.permission);
      return;
    }
    auto q = r.initCheckAccess();
    std::string_view key = keys->keys()[l.key].text;
    setText(q.initCredential(static_cast<unsigned>(key.size())), key);
    q.setCompany(l.company);
    q.setPermission(*l.permission);
  });
}

// One connection's count of what came back. While `measuring`, latencies are recorded.
class Tally : public load::AnswerSink {
 public:
  Tally(Test test, const std::vector<Lookup>& lookups, TestResult& into)
      : test_(test), lookups_(lookups), into_(into) {}

  void measure() { measuring_ = true; }

  void answer(size_t frame, wire::Response::Reader response,
              load::Clock::duration latency) override {
    if (!measuring_) {
      ++into_.warmup;
    } else {
      ++into_.requests;
      into_.latency.record(latency);
      if (lookups_[frame % lookups_.size()].granted) ++into_.granted;
    }
    switch (response.which()) {
      case wire::Response::AUTHORIZE:
        if (test_ != Test::authorize) break;
        decided(response.getAuthorize().getAllowed(), response.getAuthorize().getReason());
        return;
      case wire::Response::ACCESS: {
        if (test_ != Test::checkAccess) break;
        auto access = response.getAccess();
        if (access.getCredential() != wire::CredentialRefusal::NONE) {
          error("key refused: " + enumName(access.getCredential()));
          return;
        }
        decided(access.getAllowed(), access.getReason());
        return;
      }
      case wire::Response::ERROR:
        error("error: " + enumName(response.getError().getCode()));
        return;
      default:
        break;
    }
    error(fmt::format("an answer of another kind (Response member {})",
                      static_cast<unsigned>(response.which())));
  }

  void strayAnswer(uint64_t) override {
    if (!measuring_) {
      ++into_.warmup;
    } else {
      ++into_.requests;
    }
    error("an answer whose id no request in flight has");
  }

 private:
  void decided(bool allowed, wire::DenyReason reason) {
    if (!measuring_) return;
    if (allowed) {
      ++into_.allowed;
      return;
    }
    ++into_.denied;
    ++into_.denyReasons[enumName(reason)];
  }
  void error(const std::string& kind) {
    ++into_.errors;
    ++into_.errorKinds[kind];
  }

  Test test_;
  const std::vector<Lookup>& lookups_;
  TestResult& into_;
  bool measuring_ = false;
};

void add(TestResult& into, const TestResult& part) {
  into.latency.merge(part.latency);
  into.requests += part.requests;
  into.warmup += part.warmup;
  into.allowed += part.allowed;
  into.denied += part.denied;
  into.granted += part.granted;
  into.errors += part.errors;
  for (const auto& [reason, n] : part.denyReasons) into.denyReasons[reason] += n;
  for (const auto& [kind, n] : part.errorKinds) into.errorKinds[kind] += n;
}

}  // namespace

std::string testName(Test test) { return test == Test::authorize ? "authorize" : "checkAccess"; }

TestResult runTest(const RunOptions& options, Test test, const std::vector<Lookup>& lookups,
                   const KeyRing* keys, const std::atomic<bool>& cancel) {
  const load::Frames frames = encode(test, lookups, keys);
  const int connections = options.shape.connections;
  const auto n = static_cast<uint64_t>(connections);
  std::vector<TestResult> parts(static_cast<size_t>(connections));
  std::vector<load::Clock::time_point> ends(parts.size());
  load::Clock::time_point start;
  auto failures = load::runTogether(connections, [&](int i, load::StartLine& line) {
    auto index = static_cast<size_t>(i);
    // Connections start at frames far apart, so that they do not ask the same thing in step.
    load::Connection connection(options.socket, frames, frames.size() / n * index, options.timeout);
    Tally tally(test, lookups, parts[index]);
    connection.run(options.shape.window, {options.warmup, load::Clock::time_point::max(), &cancel},
                   tally);
    load::Clock::time_point begin = line.ready();
    if (i == 0) start = begin;
    load::Limits limits{std::numeric_limits<uint64_t>::max(), load::Clock::time_point::max(),
                        &cancel};
    if (options.requests) {
      limits.count = *options.requests / n + (index < *options.requests % n ? 1 : 0);
    }
    if (options.duration) {
      limits.deadline =
          begin + std::chrono::duration_cast<load::Clock::duration>(*options.duration);
    }
    tally.measure();
    connection.run(options.shape.window, limits, tally);
    ends[index] = load::Clock::now();
  });
  if (!failures.empty()) {
    const load::Failure& first = failures.front();
    throw BenchmarkError(kConnectionError, fmt::format("{}: connection {}: {}", testName(test),
                                                       first.runner + 1, first.message));
  }
  TestResult result;
  result.test = test;
  for (const TestResult& part : parts) add(result, part);
  result.seconds =
      std::chrono::duration<double>(*std::max_element(ends.begin(), ends.end()) - start).count();
  result.interrupted = cancel.load();
  return result;
}

}  // namespace gatehouse::benchmark
