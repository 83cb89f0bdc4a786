// In-process authorize on a generated graph: 100k principals x 10k companies, 1M grants, lookups
// drawn from a Zipf distribution over the grants (a few hot principals, a long tail), against a
// baseline in the same process: a plain `mdb_get` of a 16-byte key among 1M rows of 64-byte values
// under the same lookups — what one table without a designed layout costs.
//
// The graph is generated once into $GATEHOUSE_BENCH_DIR (default /tmp/gatehouse-bench-graph-v2) and
// reused by later runs. Run:
//   build/bench/authorize_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "graph.hpp"
#include "store/store.hpp"
#include "temp_dir.hpp"

using namespace gatehouse::store;
using namespace gatehouse::bench;

namespace {

struct Graph {
  std::filesystem::path dir;
  std::unique_ptr<Store> store;
  GrantList grants;
  std::vector<Lookup> zipf, uniform;
  // Baseline: the same grants as 16-byte keys with 64-byte values, in a plain table.
  MDB_dbi plain = 0;
};

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

Graph& graph() {
  static Graph g = [] {
    Graph g;
    g.dir = graphDir();
    g.grants = grantList();
    g.store = openGraph(g.dir, g.grants);
    generatePlain(g);
    g.zipf = lookups(g.grants, true);
    g.uniform = lookups(g.grants, false);
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

// What the row cache's limit costs: the snapshot caches copies of effective sets up to 48 bytes
// (permission bits below 384) and reads larger ones from the map on every check, since LMDB
// promises a value only until its transaction ends. One grant, checked over and over, with its
// highest bit below the limit (`small`) or at bit 999 (125 bytes).
void authorizeOneRow(benchmark::State& state, bool large) {
  gatehouse::testing::TempDir dir;
  StoreOptions options;
  options.directory = dir.path();
  options.initialMapSize = size_t{64} << 20;
  options.durable = false;
  auto store = Store::open(options);
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back(fmt::format("p{}", i));
  uint64_t p = 0, c = 0;
  store->commit([&](Writer& w) {
    w.definePermissions({names.begin(), names.end()});
    c = std::get<CompanyId>(w.createCompany("acme"));
    p = std::get<PrincipalId>(w.createUser("alice"));
    std::vector<std::string_view> held = {"p3", large ? "p999" : "p300"};
    w.setGrant(p, c, held, {});
    return true;
  });
  Snapshot snap(*store);
  snap.begin();
  for (auto _ : state) benchmark::DoNotOptimize(snap.authorize(p, c, "p3"));
  snap.end();
}
void BM_Authorize_OneRow_Small(benchmark::State& state) { authorizeOneRow(state, false); }
void BM_Authorize_OneRow_Large(benchmark::State& state) { authorizeOneRow(state, true); }

}  // namespace

BENCHMARK(BM_Baseline_MdbGet16x64_Zipf);
BENCHMARK(BM_Baseline_MdbGet16x64_Uniform);
BENCHMARK(BM_Authorize_Zipf);
BENCHMARK(BM_Authorize_Uniform);
BENCHMARK(BM_Authorize_Zipf_SnapshotPerCheck);
BENCHMARK(BM_Decide_Uncached_Zipf);
BENCHMARK(BM_Authorize_OneRow_Small);
BENCHMARK(BM_Authorize_OneRow_Large);

BENCHMARK_MAIN();
