// The benchmark graph: 100,000 principals x 10,000 companies, 1,000,000 grants (one of 64 system
// roles of eight random permissions each, plus one direct permission, from a catalog of 256), and
// Zipf-distributed lookups over the grants. Deterministic (fixed seeds), so every benchmark — the
// in-process one, the socket load generator, the Redis baseline — sees the same graph.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace gatehouse::bench {

using store::CompanyId;
using store::PrincipalId;

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
               probe.reader().grant(grants.back().first, grants.back().second).has_value();
  probe.end();
  if (ready) return db;
  std::fprintf(stderr, "generating the graph in %s (once)...\n", dir.c_str());
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
    for (uint32_t p = 0; p < kPrincipals; ++p) w.createUser("user" + std::to_string(p));
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

inline std::filesystem::path graphDir() {
  const char* env = std::getenv("GATEHOUSE_BENCH_DIR");
  return env != nullptr ? env : "/tmp/gatehouse-bench-graph";
}

}  // namespace gatehouse::bench
