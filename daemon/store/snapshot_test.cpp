// The hot path's snapshot: answers come from the revision the snapshot began at, cached rows never
// outlive their revision, and effective sets too large for a cache line are read correctly.
#include "store/snapshot.hpp"

#include <fmt/format.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "store/test_support.hpp"

using namespace gatehouse::store;
using namespace gatehouse::store::testing;

namespace {

// A catalog of `n` permissions named p0 .. p{n-1}, bit i for p{i}.
std::vector<std::string> catalog(size_t n) {
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) names.push_back(fmt::format("p{}", i));
  return names;
}

std::vector<std::string_view> views(const std::vector<std::string>& names) {
  return {names.begin(), names.end()};
}

}  // namespace

BOOST_AUTO_TEST_CASE(large_effective_rows_follow_every_commit) {
  TempDir dir;
  auto db = Store::open(testOptions(dir.path()));
  auto names = catalog(1000);  // rows up to 125 bytes: far beyond one cache line
  uint64_t p = 0, c = 0;
  db->commit([&](Writer& w) {
    ok(w.definePermissions(views(names)));
    c = ok(w.createCompany("acme"));
    p = ok(w.createUser("alice"));
    ok(w.setGrant(p, c, {"p3", "p999"}, {}));
    return true;
  });
  Snapshot snap(*db);
  for (int round = 0; round < 50; ++round) {
    std::string kept = fmt::format("p{}", 900 + round);  // a new high bit every round
    db->commit([&](Writer& w) {
      ok(w.setGrant(p, c, {"p3", kept}, {}));
      return true;
    });
    for (int again = 0; again < 3; ++again) {  // the second and third read: from any cache
      snap.begin();
      BOOST_TEST(snap.authorize(p, c, kept).allowed);
      BOOST_TEST(snap.authorize(p, c, "p3").allowed);
      std::string previous = fmt::format("p{}", round == 0 ? 999 : 899 + round);
      BOOST_TEST(!snap.authorize(p, c, previous).allowed, "round " << round << " " << previous);
      snap.end();
    }
  }
}

BOOST_AUTO_TEST_CASE(a_snapshot_answers_from_the_revision_it_began_at) {
  TempDir dir;
  auto db = Store::open(testOptions(dir.path()));
  auto names = catalog(600);
  uint64_t p = 0, c = 0;
  db->commit([&](Writer& w) {
    ok(w.definePermissions(views(names)));
    c = ok(w.createCompany("acme"));
    p = ok(w.createUser("alice"));
    ok(w.setGrant(p, c, {"p1", "p599"}, {}));
    return true;
  });
  Snapshot snap(*db);
  snap.begin();
  uint64_t before = snap.revision();
  BOOST_TEST(snap.authorize(p, c, "p599").allowed);
  BOOST_TEST(snap.authorize(p, c, "p1").allowed);
  // A commit while the snapshot is open: the open snapshot keeps its answers.
  db->commit([&](Writer& w) {
    ok(w.setGrant(p, c, {"p2"}, {}));
    return true;
  });
  BOOST_TEST(snap.authorize(p, c, "p599").allowed);
  BOOST_TEST(snap.authorize(p, c, "p1").allowed);
  snap.end();
  snap.begin();
  BOOST_TEST(snap.revision() > before);
  BOOST_TEST(!snap.authorize(p, c, "p599").allowed);
  BOOST_TEST(!snap.authorize(p, c, "p1").allowed);
  BOOST_TEST(snap.authorize(p, c, "p2").allowed);
  snap.end();
}
