// What gatehouse-benchmark asks: (principal, company, permission) triples of the daemon's own
// graph, found with read-only requests only (class `check`): `hello`, `listCatalog` and
// `listCompanies` pages, `getPrincipal` by id, `listPermissions` of a grant, and for the keys of
// the checkAccess test `checkCredential`. Nothing here sends a mutation.
//
// How: principal ids are sequential from 1, so getPrincipal is asked for ids 1, 2, ... (pipelined,
// 1,024 at a time) until `principals` active principals holding a grant are found, or a run of
// 1,024 ids names none (the end of the ids; a longer run of deleted principals ends it early).
// Each principal's record lists the companies where it holds a grant: those (principal, company)
// pairs are the grants sampled. The lookups then draw a grant from a Zipf distribution (exponent
// `zipf`; 0 is uniform) over the grants, shuffled so that hot grants are spread over the ids, and
// a permission: with probability `grantedShare` one of the grant's effective permissions (its
// `listPermissions`, asked once per grant drawn), otherwise any name of the catalog (mostly
// denied). Deterministic for a given graph and `seed`.
//
// For checkAccess, each key is checked once (`checkCredential`, API channel, no source address,
// so that a refused key cannot rate-limit a source): a key accepted names its service account,
// whose grants are sampled as above. Refused keys are reported by their line, never their text.
//
// Threading: one Sampler per thread (it owns a blocking client connection).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "client.hpp"
#include "key_file.hpp"

namespace gatehouse::benchmark {

struct SampleOptions {
  uint64_t principals = 10000;  // active principals with grants to sample, at most
  double zipf = 1.0;
  double grantedShare = 0.9;
  uint64_t seed = 1;
};

// The daemon and its graph, as the sampling found them.
struct GraphFacts {
  std::string version;  // gatehoused's
  uint64_t revision = 0;
  uint64_t companies = 0;
  uint64_t catalog = 0;           // permission names
  uint64_t principalIdsRead = 0;  // getPrincipal requests sent
  uint64_t principals = 0;        // active principals found with at least one grant
  uint64_t grants = 0;            // their (principal, company) pairs
};

// A sampled check: the principal (or, for checkAccess, the index of its key in the KeyRing), the
// company and the permission.
struct Lookup {
  uint64_t principal = 0;
  uint32_t key = 0;
  uint64_t company = 0;
  const std::string* permission = nullptr;  // a name of the Sampler's catalog
  bool granted = false;                     // drawn from the grant's effective permissions
};

// A key the daemon refused: its line in the file and the refusal's name.
struct RefusedKey {
  size_t line;
  std::string refusal;
};

// The daemon's version and the store's revision, from `hello` on a connection of its own.
std::pair<std::string, uint64_t> hello(const std::string& socket,
                                       std::chrono::milliseconds timeout);

class Sampler {
 public:
  // Connects to `socket`; every answer must come within `timeout`. Throws client::ClientError
  // when the daemon cannot be reached or stops answering, here and in every member.
  Sampler(const std::string& socket, std::chrono::milliseconds timeout, SampleOptions options);

  // Reads the catalog, counts the companies and samples the principals. Throws BenchmarkError
  // `graph` when the graph has no principal, no grant or no permission name to draw from.
  const GraphFacts& sampleGraph();
  // `count` authorize lookups over the sampled grants (after sampleGraph).
  std::vector<Lookup> authorizeLookups(size_t count);
  // Checks every key once; `count` checkAccess lookups over the grants of the accounts whose
  // keys were accepted (after sampleGraph). Throws BenchmarkError `graph` when no key was accepted
  // or no accepted key's account holds a grant.
  std::vector<Lookup> accessLookups(const KeyRing& keys, size_t count);
  // The keys refused by the last accessLookups.
  const std::vector<RefusedKey>& refusedKeys() const { return refused_; }
  // How many grants the last accessLookups drew from.
  uint64_t accessGrants() const { return accessGrants_; }

 private:
  struct Grant {
    uint64_t principal;
    uint32_t key;
    uint64_t company;
  };
  void readCatalog();
  void countCompanies();
  void readPrincipals();
  // Principal ids' records; `companies` of each active principal, empty for others.
  std::vector<std::vector<uint64_t>> companiesOf(const std::vector<uint64_t>& principals);
  std::vector<Lookup> draw(std::vector<Grant> grants, size_t count, uint64_t stream);

  client::Client client_;
  SampleOptions options_;
  GraphFacts facts_;
  std::vector<std::string> catalog_;  // by bit
  std::vector<Grant> grants_;
  std::vector<RefusedKey> refused_;
  uint64_t accessGrants_ = 0;
};

}  // namespace gatehouse::benchmark
