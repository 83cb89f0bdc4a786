// In-process authorize on a generated graph: 100k principals x 10k companies, 1M grants, lookups
// drawn from a Zipf distribution over the grants (a few hot principals, a long tail), against a
// baseline in the same process: a plain `mdb_get` of a 16-byte key among 1M rows of 64-byte values
// under the same lookups — what one table without a designed layout costs.
//
// The graph is generated once into $GATEHOUSE_BENCH_DIR (default /tmp/gatehouse-bench-graph) and
// reused by later runs. Run:
//   build/bench/authorize_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "store/store.hpp"

using namespace gatehouse::store;

namespace {

constexpr uint32_t kPrincipals = 100000;
constexpr uint32_t kCompanies = 10000;
constexpr uint32_t kGrants = 1000000;
constexpr uint32_t kPermissions = 256;
constexpr uint32_t kRoles = 64;
constexpr size_t kLookups = 1 << 20;
constexpr double kZipfExponent = 1.0;

std::string permName(uint32_t i) {
  return "perm" + std::to_string(i / 16) + ".p" + std::to_string(i % 16);
}

struct Lookup {
  PrincipalId principal;
  CompanyId company;
  std::string permission;
};

// Draws indices in [0, n) with P(k) proportional to 1 / (k + 1)^s, by inverse CDF.
class Zipf {
 public:
  Zipf(size_t n, double s) : cdf_(n) {
    double sum = 0;
    for (size_t k = 0; k < n; ++k) cdf_[k] = (sum += 1.0 / std::pow(double(k + 1), s));
    for (auto& c : cdf_) c /= sum;
  }
  size_t operator()(std::mt19937_64& rng) const {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
  }

 private:
  std::vector<double> cdf_;
};

struct Graph {
  std::filesystem::path dir;
  std::unique_ptr<Store> store;
  std::vector<std::pair<PrincipalId, CompanyId>> grants;  // in generation order
  std::vector<Lookup> zipf, uniform;
  // Baseline: the same grants as 16-byte keys with 64-byte values, in a plain table.
  MDB_dbi plain = 0;
};

std::vector<std::pair<PrincipalId, CompanyId>> grantList() {
  std::mt19937_64 rng(1);
  std::vector<std::pair<PrincipalId, CompanyId>> out;
  out.reserve(kGrants);
  // Principal-major, ten companies each, so that every (p, c) is distinct; shuffled below so the
  // Zipf ranks are not correlated with key order.
  for (uint32_t i = 0; i < kGrants; ++i) {
    PrincipalId p = 1 + i % kPrincipals;
    CompanyId c = 1 + (i / kPrincipals * 997 + p * 31) % kCompanies;
    out.emplace_back(p, c);
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

void generate(Graph& g) {
  StoreOptions o;
  o.directory = g.dir;
  o.durable = false;
  o.initialMapSize = size_t{4} << 30;
  g.store = Store::open(o);
  Snapshot probe(*g.store);
  probe.begin();
  bool ready = probe.reader().company(kCompanies).has_value() &&
               probe.reader().grant(g.grants.back().first, g.grants.back().second).has_value();
  probe.end();
  if (ready) return;
  std::fprintf(stderr, "generating the graph in %s (once)...\n", g.dir.c_str());
  std::mt19937_64 rng(2);
  std::vector<std::string> names;
  for (uint32_t i = 0; i < kPermissions; ++i) names.push_back(permName(i));
  std::vector<std::string_view> views(names.begin(), names.end());
  g.store->commit([&](Writer& w) {
    w.definePermissions(views);
    for (uint32_t r = 0; r < kRoles; ++r) {
      std::vector<std::string_view> perms;
      for (int k = 0; k < 8; ++k) perms.push_back(views[rng() % kPermissions]);
      w.createRole(0, "role" + std::to_string(r), perms);
    }
    for (uint32_t c = 0; c < kCompanies; ++c) w.createCompany("company" + std::to_string(c));
    for (uint32_t p = 0; p < kPrincipals; ++p) w.createUser("user" + std::to_string(p));
    return true;
  });
  constexpr size_t kBatch = 20000;
  for (size_t start = 0; start < g.grants.size(); start += kBatch) {
    g.store->commit([&](Writer& w) {
      for (size_t i = start; i < std::min(start + kBatch, g.grants.size()); ++i) {
        std::vector<std::string_view> direct = {views[rng() % 16]};
        w.setGrant(g.grants[i].first, g.grants[i].second, direct, {1 + rng() % kRoles});
      }
      return true;
    });
  }
}

void generatePlain(Graph& g) {
  Txn txn = Txn::begin(g.store->env(), 0);
  check(mdb_dbi_open(txn.get(), "bench_plain", MDB_CREATE, &g.plain), "mdb_dbi_open");
  MDB_stat st;
  check(mdb_stat(txn.get(), g.plain, &st), "mdb_stat");
  if (st.ms_entries < kGrants) {
    char value[64] = {1};
    for (auto [p, c] : g.grants) {
      uint64_t key[2] = {__builtin_bswap64(p), __builtin_bswap64(c)};
      txn.put(g.plain, std::string_view(reinterpret_cast<char*>(key), 16),
              std::string_view(value, sizeof value));
    }
  }
  txn.commit();
}

std::vector<Lookup> lookups(const Graph& g, bool zipf) {
  std::mt19937_64 rng(zipf ? 3 : 4);
  Zipf dist(g.grants.size(), kZipfExponent);
  std::vector<Lookup> out;
  out.reserve(kLookups);
  for (size_t i = 0; i < kLookups; ++i) {
    size_t k = zipf ? dist(rng) : rng() % g.grants.size();
    out.push_back({g.grants[k].first, g.grants[k].second, permName(rng() % 16)});
  }
  return out;
}

Graph& graph() {
  static Graph g = [] {
    Graph g;
    const char* env = std::getenv("GATEHOUSE_BENCH_DIR");
    g.dir = env != nullptr ? env : "/tmp/gatehouse-bench-graph";
    g.grants = grantList();
    generate(g);
    generatePlain(g);
    g.zipf = lookups(g, true);
    g.uniform = lookups(g, false);
    return g;
  }();
  return g;
}

// Checks within one open snapshot, as the daemon does for the frames of one read. The snapshot's
// caches are warmed with one pass over the lookups first: the steady state of a daemon that has
// served for a while without writes (every commit empties them; see BM_Decide_Uncached_Zipf for
// the cost with cold caches).
void authorizeInSnapshot(benchmark::State& state, const std::vector<Lookup>& work) {
  Snapshot snap(*graph().store);
  snap.begin();
  for (const Lookup& l : work)
    benchmark::DoNotOptimize(snap.authorize(l.principal, l.company, l.permission));
  uint64_t warmHits = snap.rowCacheHits(), warmMisses = snap.rowCacheMisses();
  size_t i = 0, allowed = 0;
  for (auto _ : state) {
    const Lookup& l = work[i++ & (kLookups - 1)];
    allowed += snap.authorize(l.principal, l.company, l.permission).allowed;
  }
  snap.end();
  benchmark::DoNotOptimize(allowed);
  double hits = double(snap.rowCacheHits() - warmHits);
  state.counters["hit_rate"] = hits / (hits + double(snap.rowCacheMisses() - warmMisses));
  state.counters["allowed"] = benchmark::Counter(double(allowed) / double(state.iterations()));
}

void BM_Authorize_Zipf(benchmark::State& state) { authorizeInSnapshot(state, graph().zipf); }
void BM_Authorize_Uniform(benchmark::State& state) { authorizeInSnapshot(state, graph().uniform); }

// A fresh snapshot per check (renew + reset around each), as for a lone ping-pong request.
void BM_Authorize_Zipf_SnapshotPerCheck(benchmark::State& state) {
  Snapshot snap(*graph().store);
  snap.begin();
  for (const Lookup& l : graph().zipf)
    benchmark::DoNotOptimize(snap.authorize(l.principal, l.company, l.permission));
  snap.end();
  size_t i = 0;
  for (auto _ : state) {
    const Lookup& l = graph().zipf[i++ & (kLookups - 1)];
    snap.begin();
    benchmark::DoNotOptimize(snap.authorize(l.principal, l.company, l.permission));
    snap.end();
  }
}

// The same decision without the snapshot's caches: three LMDB lookups on the designed layout.
void BM_Decide_Uncached_Zipf(benchmark::State& state) {
  Snapshot snap(*graph().store);
  snap.begin();
  GraphReader reader = snap.reader();
  size_t i = 0;
  for (auto _ : state) {
    const Lookup& l = graph().zipf[i++ & (kLookups - 1)];
    benchmark::DoNotOptimize(reader.decide(l.principal, l.company, l.permission));
  }
  snap.end();
}

// Baseline: plain mdb_get, 16-byte key, 64-byte value, 1M rows.
void plainGet(benchmark::State& state, const std::vector<Lookup>& work) {
  Txn txn = Txn::begin(graph().store->env(), MDB_RDONLY);
  size_t i = 0;
  for (auto _ : state) {
    const Lookup& l = work[i++ & (kLookups - 1)];
    uint64_t key[2] = {__builtin_bswap64(l.principal), __builtin_bswap64(l.company)};
    MDB_val k{16, key}, v;
    benchmark::DoNotOptimize(mdb_get(txn.get(), graph().plain, &k, &v));
  }
}
void BM_Baseline_MdbGet16x64_Zipf(benchmark::State& state) { plainGet(state, graph().zipf); }
void BM_Baseline_MdbGet16x64_Uniform(benchmark::State& state) { plainGet(state, graph().uniform); }

}  // namespace

BENCHMARK(BM_Baseline_MdbGet16x64_Zipf);
BENCHMARK(BM_Baseline_MdbGet16x64_Uniform);
BENCHMARK(BM_Authorize_Zipf);
BENCHMARK(BM_Authorize_Uniform);
BENCHMARK(BM_Authorize_Zipf_SnapshotPerCheck);
BENCHMARK(BM_Decide_Uncached_Zipf);

BENCHMARK_MAIN();
