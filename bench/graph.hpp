// The benchmark graph: 100,000 principals x 10,000 companies, 1,000,000 grants (one of 64 system
// roles of eight random permissions each, plus one direct permission, from a catalog of 256), and
// Zipf-distributed lookups over the grants. Deterministic (fixed seeds), so every benchmark — the
// in-process one, the socket load generator, the Redis baseline — sees the same graph.
//
// The first 1,000 principals are service accounts (owned by the first company), each with one API
// key, for the checkAccess workload; the others are users. Key hashes need the pepper, kept beside
// the graph directory (`<dir>.pepper`, mode 0600: the daemon refuses a pepper inside its data
// directory); the keys themselves are regenerated from a fixed seed by whoever needs them.
#pragma once

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "credentials/api_key.hpp"
#include "credentials/pepper.hpp"
#include "store/store.hpp"
#include "zipf.hpp"

namespace gatehouse::bench {

using load::Zipf;
using store::CompanyId;
using store::PrincipalId;

constexpr uint32_t kPrincipals = 100000;
constexpr uint32_t kCompanies = 10000;
constexpr uint32_t kGrants = 1000000;
constexpr uint32_t kPermissions = 256;
constexpr uint32_t kRoles = 64;
constexpr size_t kLookups = 1 << 20;
constexpr double kZipfExponent = 1.0;
constexpr uint32_t kServiceAccounts = 1000;  // principals 1..1000
constexpr uint64_t kKeyIdBase = 0x6b65790000000000ull;

std::string permName(uint32_t i) {
  return "perm" + std::to_string(i / 16) + ".p" + std::to_string(i % 16);
}

struct Lookup {
  PrincipalId principal;
  CompanyId company;
  std::string permission;
};

using GrantList = std::vector<std::pair<PrincipalId, CompanyId>>;

// Principal-major, ten companies each, so that every (p, c) is distinct; shuffled so that the
// Zipf ranks are not correlated with key order.
inline GrantList grantList() {
  std::mt19937_64 rng(1);
  GrantList out;
  out.reserve(kGrants);
  for (uint32_t i = 0; i < kGrants; ++i) {
    PrincipalId p = 1 + i % kPrincipals;
    CompanyId c = 1 + (i / kPrincipals * 997 + p * 31) % kCompanies;
    out.emplace_back(p, c);
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

inline std::filesystem::path pepperPath(const std::filesystem::path& dir) {
  return dir.string() + ".pepper";
}

// Service account `p`'s key: its id and secret, from a fixed seed.
struct BenchKey {
  uint64_t id;
  uint8_t secret[credentials::kKeySecretBytes];
};

inline std::vector<BenchKey> serviceAccountKeys() {
  std::mt19937_64 rng(5);
  std::vector<BenchKey> out(kServiceAccounts);
  for (uint32_t i = 0; i < kServiceAccounts; ++i) {
    out[i].id = kKeyIdBase + i + 1;
    for (auto& b : out[i].secret) b = static_cast<uint8_t>(rng());
  }
  return out;
}

// Opens the graph in `dir`, generating it first when it is not complete there.
inline std::unique_ptr<store::Store> openGraph(const std::filesystem::path& dir,
                                               const GrantList& grants) {
  store::StoreOptions o;
  o.directory = dir;
  o.durable = false;
  o.initialMapSize = size_t{4} << 30;
  auto db = store::Store::open(o);
  store::Snapshot probe(*db);
  probe.begin();
  bool ready = probe.reader().company(kCompanies).has_value() &&
               probe.reader().key(kKeyIdBase + kServiceAccounts).has_value() &&
               probe.reader().grant(grants.back().first, grants.back().second).has_value();
  bool started = probe.reader().company(1).has_value();
  probe.end();
  if (ready) return db;
  if (started) {
    throw std::runtime_error(dir.string() +
                             " holds an incomplete or older benchmark graph: remove it and rerun");
  }
  std::fprintf(stderr, "generating the graph in %s (once)...\n", dir.c_str());
  if (sodium_init() < 0) throw std::runtime_error("sodium_init failed");
  auto pepper = credentials::Pepper::loadOrCreate(pepperPath(dir));
  auto keys = serviceAccountKeys();
  std::mt19937_64 rng(2);
  std::vector<std::string> names;
  for (uint32_t i = 0; i < kPermissions; ++i) names.push_back(permName(i));
  std::vector<std::string_view> views(names.begin(), names.end());
  db->commit([&](store::Writer& w) {
    w.definePermissions(views);
    for (uint32_t r = 0; r < kRoles; ++r) {
      std::vector<std::string_view> perms;
      for (int k = 0; k < 8; ++k) perms.push_back(views[rng() % kPermissions]);
      w.createRole(0, "role" + std::to_string(r), perms);
    }
    for (uint32_t c = 0; c < kCompanies; ++c) w.createCompany("company" + std::to_string(c));
    for (uint32_t p = 0; p < kPrincipals; ++p) {
      if (p < kServiceAccounts) {
        auto sa = w.createServiceAccount("sa" + std::to_string(p), 1, "benchmark");
        store::KeyRecord key;
        key.id = keys[p].id;
        key.principal = std::get<PrincipalId>(sa);
        key.createdAt = 1;
        key.hash = pepper.keyedHash(keys[p].secret, sizeof keys[p].secret);
        if (!std::holds_alternative<uint64_t>(w.addKey(key, 10, 1))) {
          throw std::runtime_error("benchmark graph: adding a key was refused");
        }
      } else {
        w.createUser("user" + std::to_string(p));
      }
    }
    return true;
  });
  constexpr size_t kBatch = 20000;
  for (size_t start = 0; start < grants.size(); start += kBatch) {
    db->commit([&](store::Writer& w) {
      for (size_t i = start; i < std::min(start + kBatch, grants.size()); ++i) {
        std::vector<std::string_view> direct = {views[rng() % 16]};
        w.setGrant(grants[i].first, grants[i].second, direct, {1 + rng() % kRoles});
      }
      return true;
    });
  }
  return db;
}

// kLookups (principal, company, permission) triples: the grant from a Zipf distribution over the
// grants (or uniformly), the permission uniformly from the 16 names every grant may hold directly.
inline std::vector<Lookup> lookups(const GrantList& grants, bool zipf) {
  std::mt19937_64 rng(zipf ? 3 : 4);
  Zipf dist(grants.size(), kZipfExponent);
  std::vector<Lookup> out;
  out.reserve(kLookups);
  for (size_t i = 0; i < kLookups; ++i) {
    size_t k = zipf ? dist(rng) : rng() % grants.size();
    out.push_back({grants[k].first, grants[k].second, permName(rng() % 16)});
  }
  return out;
}

// kLookups checkAccess triples over the service accounts' grants (Zipf): the account's key, the
// company, a permission.
struct AccessLookup {
  std::string key;
  CompanyId company;
  std::string permission;
};

inline std::vector<AccessLookup> accessLookups(const GrantList& grants) {
  GrantList own;
  for (auto g : grants) {
    if (g.first <= kServiceAccounts) own.push_back(g);
  }
  auto keys = serviceAccountKeys();
  std::mt19937_64 rng(6);
  Zipf dist(own.size(), kZipfExponent);
  std::vector<AccessLookup> out;
  out.reserve(kLookups);
  for (size_t i = 0; i < kLookups; ++i) {
    auto [p, c] = own[dist(rng)];
    const BenchKey& k = keys[p - 1];
    out.push_back({credentials::formatApiKey(k.id, k.secret), c, permName(rng() % 16)});
  }
  return out;
}

inline std::filesystem::path graphDir() {
  const char* env = std::getenv("GATEHOUSE_BENCH_DIR");
  return env != nullptr ? env : "/tmp/gatehouse-bench-graph-v2";
}

}  // namespace gatehouse::bench
