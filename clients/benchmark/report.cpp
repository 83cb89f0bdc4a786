#include "report.hpp"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <map>

#include "wire_text.hpp"

namespace gatehouse::benchmark {
namespace {

constexpr double kNsPerUs = 1000.0;

double us(uint64_t ns) { return double(ns) / kNsPerUs; }

double share(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0 : double(part) / double(whole);
}

// "1 request", "2 requests"; `many` when the plural is not the word with an s.
std::string plural(uint64_t n, std::string_view word, std::string_view many = "") {
  if (n == 1) return fmt::format("1 {}", word);
  return many.empty() ? fmt::format("{} {}s", n, word) : fmt::format("{} {}", n, many);
}

// "notGranted 9.80%, noAccess 0.08%", the counts as shares of `whole`.
std::string shares(const std::map<std::string, uint64_t>& counts, uint64_t whole) {
  std::vector<std::string> parts;
  parts.reserve(counts.size());
  for (const auto& [name, n] : counts) {
    parts.push_back(fmt::format("{} {:.2f}%", name, 100 * share(n, whole)));
  }
  return cli::joined(parts, ", ");
}

std::string countsText(const std::map<std::string, uint64_t>& counts) {
  std::vector<std::string> parts;
  parts.reserve(counts.size());
  for (const auto& [name, n] : counts) parts.push_back(fmt::format("{} {}", name, n));
  return cli::joined(parts, ", ");
}

std::string durationText(const Report& report) {
  std::vector<std::string> bounds;
  if (report.requests) bounds.push_back(plural(*report.requests, "request"));
  if (report.durationSeconds) bounds.push_back(fmt::format("{} s", *report.durationSeconds));
  return cli::joined(bounds, " or ");
}

// The text histogram's rows: the buckets gathered eight to a power of two (each at most 12.5%
// wide), so that a run's spread fits on a screen.
struct Row {
  uint64_t lowestNs;
  uint64_t highestNs;
  uint64_t count;
};

std::vector<Row> rows(const load::Histogram& histogram) {
  std::vector<Row> out;
  for (const load::Histogram::Bucket& b : histogram.buckets()) {
    uint64_t lowest = 0, highest = 7;
    if (b.lowestNs >= 8) {
      unsigned shift = static_cast<unsigned>(std::bit_width(b.lowestNs)) - 4;
      lowest = b.lowestNs >> shift << shift;
      highest = lowest + (uint64_t{1} << shift) - 1;
    }
    if (!out.empty() && out.back().lowestNs == lowest) {
      out.back().count += b.count;
      out.back().highestNs = std::min(highest, histogram.maxNs());
      continue;
    }
    out.push_back({lowest, std::min(highest, histogram.maxNs()), b.count});
  }
  return out;
}

void printHistogram(const load::Histogram& histogram) {
  fmt::print("  latency histogram (usec; rows at most 12.5% wide, the JSON's buckets 0.8%):\n");
  fmt::print("  {:>12} {:>12} {:>12} {:>8} {:>8}\n", "from", "to", "count", "%", "cumul.");
  uint64_t seen = 0;
  for (const Row& row : rows(histogram)) {
    seen += row.count;
    double part = share(row.count, histogram.count());
    fmt::print("  {:>12.3f} {:>12.3f} {:>12} {:>7.2f}% {:>7.2f}%  {}\n", us(row.lowestNs),
               us(row.highestNs), row.count, 100 * part, 100 * share(seen, histogram.count()),
               std::string(static_cast<size_t>(std::lround(part * 50)), '#'));
  }
}

Json latencyJson(const load::Histogram& h) {
  return {{"min", us(h.minNs())},
          {"mean", h.meanNs() / kNsPerUs},
          {"p50", us(h.percentileNs(0.5))},
          {"p90", us(h.percentileNs(0.9))},
          {"p99", us(h.percentileNs(0.99))},
          {"p99_9", us(h.percentileNs(0.999))},
          {"max", us(h.maxNs())}};
}

Json histogramJson(const load::Histogram& h) {
  Json buckets = Json::array();
  for (const load::Histogram::Bucket& b : h.buckets()) {
    buckets.push_back(
        {{"from_us", us(b.lowestNs)}, {"to_us", us(b.highestNs)}, {"count", b.count}});
  }
  return {{"precision", load::Histogram::kPrecision}, {"buckets", std::move(buckets)}};
}

double throughput(const TestResult& t) {
  return t.seconds > 0 ? double(t.requests) / t.seconds : 0;
}

Json testJson(const TestResult& t) {
  return {{"test", testName(t.test)},
          {"requests", t.requests},
          {"seconds", t.seconds},
          {"requests_per_s", throughput(t)},
          {"latency_us", latencyJson(t.latency)},
          {"allowed", t.allowed},
          {"denied", t.denied},
          {"allowed_share", share(t.allowed, t.allowed + t.denied)},
          {"granted_share", share(t.granted, t.requests)},
          {"deny_reasons", t.denyReasons},
          {"errors", t.errors},
          {"error_kinds", t.errorKinds},
          {"warmup_requests", t.warmup},
          {"interrupted", t.interrupted},
          {"histogram", histogramJson(t.latency)}};
}

}  // namespace

void printHeader(const Report& r) {
  const GraphFacts& g = r.graph;
  fmt::print("gatehouse-benchmark {}: gatehoused {} on {}, revision {}{}\n", r.version, g.version,
             r.socket, g.revision,
             r.scratch ? fmt::format(" (scratch daemon, pid {})", r.scratch->pid) : "");
  fmt::print("  graph: {}, {}; sampled {} holding {} (read principal ids 1 to {})\n",
             plural(g.companies, "company", "companies"), plural(g.catalog, "permission name"),
             plural(g.principals, "active principal"), plural(g.grants, "grant"),
             g.principalIdsRead);
  fmt::print(
      "  lookups: {} drawn (zipf {:.2f} over the grants), {:.0f}% of permissions from the "
      "grant's own\n",
      r.lookups, r.sample.zipf, 100 * r.sample.grantedShare);
  if (r.keys) {
    fmt::print("  keys: {} given, {} accepted, their accounts holding {}\n", r.keys->given,
               r.keys->given - r.keys->refused.size(), plural(r.keys->grants, "grant"));
    for (const RefusedKey& k : r.keys->refused) {
      fmt::print("  key on line {} refused: {}\n", k.line, k.refusal);
    }
  }
}

void printTest(const Report& r, const TestResult& t, bool histogram) {
  const load::Histogram& h = t.latency;
  fmt::print("\n====== {} ======\n", testName(t.test));
  fmt::print("  {} completed in {:.2f} seconds{}\n", plural(t.requests, "request"), t.seconds,
             t.interrupted ? " (interrupted)" : "");
  fmt::print("  {} x {} in flight ({}), ending after {}; warm-up {} per connection\n",
             plural(static_cast<uint64_t>(r.shape.connections), "connection"), r.shape.window,
             load::modeName(r.shape), durationText(r), plural(r.warmup, "request"));
  uint64_t decided = t.allowed + t.denied;
  fmt::print("  allowed {:.2f}%, denied {:.2f}%{}\n", 100 * share(t.allowed, decided),
             100 * share(t.denied, decided),
             t.denyReasons.empty() ? "" : fmt::format(" ({})", shares(t.denyReasons, decided)));
  fmt::print("  errors: {}{}\n", t.errors,
             t.errors == 0 ? "" : fmt::format(" ({})", countsText(t.errorKinds)));
  fmt::print("\n  throughput summary: {:.2f} requests per second\n", throughput(t));
  fmt::print("  latency summary (usec):\n");
  fmt::print("  {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n", "avg", "min", "p50", "p90",
             "p99", "p99.9", "max");
  fmt::print("  {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f}\n",
             h.meanNs() / kNsPerUs, us(h.minNs()), us(h.percentileNs(0.5)), us(h.percentileNs(0.9)),
             us(h.percentileNs(0.99)), us(h.percentileNs(0.999)), us(h.maxNs()));
  if (histogram && h.count() > 0) {
    fmt::print("\n");
    printHistogram(h);
  }
}

void printFooter(const Report& r) {
  fmt::print("\n");
  if (r.revisionAfter && *r.revisionAfter == r.graph.revision) {
    fmt::print("revision {} before the run and after it: nothing was written\n", r.graph.revision);
  } else if (r.revisionAfter) {
    fmt::print(
        "revision {} before the run, {} after it: the store changed meanwhile (this "
        "benchmark sends no mutation; the daemon writes the last-used times of keys "
        "presented and removes expired grants, and other clients may write)\n",
        r.graph.revision, *r.revisionAfter);
  }
  if (r.scratch) {
    fmt::print("scratch daemon stopped; {} {}\n", r.scratch->dir,
               r.scratch->kept ? "kept (gatehoused --config DIR/gatehoused.toml serves it again; "
                                 "its keys are in DIR/keys)"
                               : "removed");
  }
}

void printQuiet(const TestResult& t) {
  fmt::print(
      "{}: {:.2f} requests per second, p50={:.3f} usec{}{}\n", testName(t.test), throughput(t),
      us(t.latency.percentileNs(0.5)),
      t.errors == 0 ? "" : fmt::format(", {} errors ({})", t.errors, countsText(t.errorKinds)),
      t.interrupted ? " (interrupted)" : "");
}

Json toJson(const Report& r) {
  const GraphFacts& g = r.graph;
  Json daemon = {
      {"socket", r.socket},
      {"version", g.version},
      {"revision_before", g.revision},
      {"revision_after", r.revisionAfter ? Json(*r.revisionAfter) : Json()},
      {"scratch",
       r.scratch ? Json{{"dir", r.scratch->dir}, {"pid", r.scratch->pid}, {"kept", r.scratch->kept}}
                 : Json()}};
  Json config = {{"mode", load::modeName(r.shape)},
                 {"connections", r.shape.connections},
                 {"pipeline", r.shape.window},
                 {"requests", r.requests ? Json(*r.requests) : Json()},
                 {"duration_s", r.durationSeconds ? Json(*r.durationSeconds) : Json()},
                 {"warmup", r.warmup},
                 {"seed", r.sample.seed},
                 {"zipf", r.sample.zipf},
                 {"granted_share", r.sample.grantedShare},
                 {"sample_principals", r.sample.principals}};
  Json sample = {{"companies", g.companies},
                 {"catalog", g.catalog},
                 {"principal_ids_read", g.principalIdsRead},
                 {"principals", g.principals},
                 {"grants", g.grants},
                 {"lookups", r.lookups}};
  if (r.keys) {
    Json refused = Json::array();
    for (const RefusedKey& k : r.keys->refused) {
      refused.push_back({{"line", k.line}, {"refusal", k.refusal}});
    }
    sample["keys"] = {{"given", r.keys->given},
                      {"accepted", r.keys->given - r.keys->refused.size()},
                      {"refused", std::move(refused)},
                      {"grants", r.keys->grants}};
  }
  Json tests = Json::array();
  for (const TestResult& t : r.tests) tests.push_back(testJson(t));
  return {{"tool", "gatehouse-benchmark"}, {"version", r.version},
          {"daemon", std::move(daemon)},   {"config", std::move(config)},
          {"sample", std::move(sample)},   {"tests", std::move(tests)},
          {"interrupted", r.interrupted}};
}

}  // namespace gatehouse::benchmark
