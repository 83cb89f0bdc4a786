// In-process service-account key verification: parse (checksum), one LMDB lookup, a keyed
// BLAKE2b-256 of the secret and a constant-time compare, plus the rate-limiter bookkeeping — the
// API-key half of checkCredential / checkAccess, without the socket. Baselines in the same
// process: the keyed hash alone (the floor any peppered scheme pays) and the parser alone. With
// the verified-key cache (service/verified_keys.hpp), a key accepted since the last commit costs
// a SipHash of its text instead.
//
//   build/bench/key_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <random>

#include "credentials/api_key.hpp"
#include "credentials/pepper.hpp"
#include "service/service.hpp"
#include "store/test_support.hpp"

using namespace gatehouse;

namespace {

constexpr int kKeys = 10000;

struct SodiumInit {
  SodiumInit() {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init");
  }
};

struct Fixture {
  SodiumInit sodium;  // first: the pepper below lives in sodium_malloc'd memory
  store::testing::TempDir dir;
  std::unique_ptr<store::Store> db;
  credentials::Pepper pepper = credentials::Pepper::fromBytes(std::string(32, 'b'));
  std::unique_ptr<service::Service> service;
  std::vector<std::string> keys;

  Fixture() {
    db = store::Store::open(store::testing::testOptions(dir.path()));
    service::ServiceOptions options;
    options.credentials.maxKeysPerAccount = 50;
    service = std::make_unique<service::Service>(*db, pepper, options);
    // 1,000 service accounts with 10 keys each.
    db->commit([&](store::Writer& w) {
      auto company = store::testing::ok(w.createCompany("bench"));
      for (int a = 0; a < kKeys / 10; ++a) {
        auto sa = store::testing::ok(w.createServiceAccount("sa" + std::to_string(a), company, ""));
        for (int k = 0; k < 10; ++k) {
          uint8_t secret[credentials::kKeySecretBytes];
          randombytes_buf(secret, sizeof secret);
          store::KeyRecord record;
          record.id = static_cast<uint64_t>(a) * 100 + k + 1;
          record.principal = sa;
          record.createdAt = 1;
          record.hash = pepper.keyedHash(secret, sizeof secret);
          store::testing::ok(w.addKey(record, 50, 2));
          keys.push_back(credentials::formatApiKey(record.id, secret));
        }
      }
      return true;
    });
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// Keys drawn uniformly from the first `keys` of 10,000. `cached` false: every check verifies in
// full (as right after a commit); true: through a verified-key cache of 4,096 entries, the
// daemon's default per IO thread.
void verifyKeys(benchmark::State& state, size_t keys, bool cached) {
  auto& f = fixture();
  credentials::SecretBytes tagKey(crypto_shorthash_siphashx24_KEYBYTES);
  randombytes_buf(tagKey.data(), tagKey.size());
  service::VerifiedKeys verified(tagKey, 4096);
  service::KeyUsage::Filter filter;
  store::Snapshot snap(*f.db);
  snap.begin();
  std::mt19937 rng(1);
  benchmark::IterationCount accepted = 0;
  for (auto _ : state) {
    const std::string& key = f.keys[rng() % keys];
    accepted += f.service->credentials()
                    .checkKey(snap, cached ? &verified : nullptr, filter, key, "")
                    .refusal == wire::CredentialRefusal::NONE;
  }
  snap.end();
  if (accepted != state.iterations()) state.SkipWithError("a valid key was refused");
}

void BM_VerifyKey(benchmark::State& state) { verifyKeys(state, kKeys, false); }
// 10,000 keys in turn: the cache holds fewer than half of them.
void BM_VerifyKey_Cache10000(benchmark::State& state) { verifyKeys(state, kKeys, true); }
// A controller's few scripts: 100 keys, all held by the cache.
void BM_VerifyKey_Cache100(benchmark::State& state) { verifyKeys(state, 100, true); }

void BM_Baseline_KeyedHashOnly(benchmark::State& state) {
  auto& f = fixture();
  uint8_t secret[32] = {1};
  for (auto _ : state) {
    auto digest = f.pepper.keyedHash(secret, sizeof secret);
    benchmark::DoNotOptimize(digest);
  }
}

void BM_Baseline_ParseOnly(benchmark::State& state) {
  auto& f = fixture();
  std::mt19937 rng(1);
  for (auto _ : state) {
    credentials::ParsedKey parsed;
    benchmark::DoNotOptimize(credentials::parseApiKey(f.keys[rng() % f.keys.size()], parsed));
  }
}

}  // namespace

BENCHMARK(BM_Baseline_KeyedHashOnly);
BENCHMARK(BM_Baseline_ParseOnly);
BENCHMARK(BM_VerifyKey);
BENCHMARK(BM_VerifyKey_Cache10000);
BENCHMARK(BM_VerifyKey_Cache100);

BENCHMARK_MAIN();
