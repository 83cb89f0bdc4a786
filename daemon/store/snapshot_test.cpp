// The hot path's snapshot: answers come from the revision the snapshot began at, cached rows never
// outlive their revision, and effective sets too large for a cache line are read correctly.
#include "store/snapshot.hpp"

#include <fmt/format.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "store/effective_row.hpp"
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

// A time-boxed grant gives nothing from its expiry on, at the revision it was read at and from
// the row cache, before any writer has removed it; the writer's sweep then removes exactly the
// grants due, keeping the expiry index in step with every edit of a grant.
BOOST_AUTO_TEST_CASE(a_time_boxed_grant_ends_at_its_expiry_even_from_the_cache) {
  TempDir dir;
  auto db = Store::open(testOptions(dir.path()));
  uint64_t alice = 0, bob = 0, acme = 0;
  uint64_t soon = clockNow() + 1;
  db->commit([&](Writer& w) {
    ok(w.definePermissions({"routers.read"}));
    acme = ok(w.createCompany("acme"));
    alice = ok(w.createUser("alice"));
    bob = ok(w.createUser("bob"));
    ok(w.setGrant(alice, acme, {"routers.read"}, {}, soon));
    ok(w.setGrant(bob, acme, {"routers.read"}, {}));
    return true;
  });
  Snapshot snap(*db);
  snap.begin();
  uint64_t revision = snap.revision();
  BOOST_TEST(snap.authorize(alice, acme, "routers.read").allowed);
  BOOST_TEST(snap.authorize(alice, acme, "routers.read").allowed);  // now in the row cache
  BOOST_TEST(snap.rowCacheHits() >= 1u);
  BOOST_TEST((snap.reader().nextGrantExpiry() == std::optional<uint64_t>(soon)));
  snap.end();
  while (clockNow() < soon) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  snap.begin();
  BOOST_TEST(snap.revision() == revision);  // nothing was written: the same revision, the cache
  Decision d = snap.authorize(alice, acme, "routers.read");
  BOOST_TEST(!d.allowed);
  BOOST_TEST((d.reason == DenyReason::noAccess));
  BOOST_TEST((snap.authorize(alice, acme, "no.such").reason == DenyReason::unknownPermission));
  BOOST_TEST(!snap.reader().effective(alice, acme).has_value());
  BOOST_TEST(snap.reader().grant(alice, acme).has_value());  // still stored, until the sweep
  BOOST_TEST(snap.authorize(bob, acme, "routers.read").allowed);
  snap.end();

  db->commit([&](Writer& w) {
    BOOST_TEST(w.expireGrants(soon - 1, 100).empty());  // not due yet at that time
    auto expired = w.expireGrants(soon, 100);
    BOOST_TEST((expired == std::vector<std::pair<PrincipalId, CompanyId>>{{alice, acme}}));
    return true;
  });
  snap.begin();
  BOOST_TEST(!snap.reader().grant(alice, acme).has_value());
  BOOST_TEST(!snap.reader().nextGrantExpiry().has_value());
  BOOST_TEST(snap.reader().companiesOf(alice).empty());
  snap.end();
}

BOOST_AUTO_TEST_CASE(the_expiry_index_follows_every_edit_of_a_grant) {
  TempDir dir;
  auto db = Store::open(testOptions(dir.path()));
  uint64_t u = 0, sa = 0, owner = 0, client = 0, role = 0;
  constexpr uint64_t kLater = 4000000000ull;  // far ahead
  auto next = [&] {
    Snapshot snap(*db);
    snap.begin();
    auto at = snap.reader().nextGrantExpiry();
    snap.end();
    return at;
  };
  db->commit([&](Writer& w) {
    ok(w.definePermissions({"a.read", "a.write"}));
    owner = ok(w.createCompany("owner"));
    client = ok(w.createCompany("client"));
    u = ok(w.createUser("u"));
    sa = ok(w.createServiceAccount("bot", owner, ""));
    role = ok(w.createRole(0, "writer", {"a.write"}));
    ok(w.setGrant(u, client, {"a.read"}, {role}, kLater + 5));
    return true;
  });
  BOOST_TEST((next() == std::optional<uint64_t>(kLater + 5)));
  // Replacing the grant replaces its expiry, and a permanent grant leaves the index.
  db->commit([&](Writer& w) { return !refusalOf(w.setGrant(u, client, {"a.read"}, {}, kLater)); });
  BOOST_TEST((next() == std::optional<uint64_t>(kLater)));
  db->commit([&](Writer& w) { return !refusalOf(w.setGrant(u, client, {"a.read"}, {})); });
  BOOST_TEST(!next().has_value());
  // Removing, deleting the principal, withdrawing an offer: the entry goes with the grant.
  db->commit([&](Writer& w) { return !refusalOf(w.setGrant(u, client, {}, {}, kLater)); });
  db->commit([&](Writer& w) { return !refusalOf(w.removeGrant(u, client)); });
  BOOST_TEST(!next().has_value());
  db->commit([&](Writer& w) {
    ok(w.offer(sa, client));
    ok(w.setGrant(sa, client, {"a.read"}, {role}, kLater + 1));
    ok(w.setGrant(u, owner, {"a.read"}, {role}, kLater + 2));
    return true;
  });
  // A ceiling's trim and a role's deletion edit the grant and keep its expiry.
  db->commit([&](Writer& w) { return !refusalOf(w.setCeiling(sa, {"a.read"})); });
  db->commit([&](Writer& w) { return !refusalOf(w.deleteRole(role)); });
  {
    Snapshot snap(*db);
    snap.begin();
    BOOST_TEST(snap.reader().grant(sa, client)->expiresAt == kLater + 1);
    BOOST_TEST(snap.reader().grant(sa, client)->roles.empty());
    BOOST_TEST(snap.reader().grant(u, owner)->expiresAt == kLater + 2);
    BOOST_TEST(snap.authorize(sa, client, "a.read").allowed);
    snap.end();
  }
  BOOST_TEST((next() == std::optional<uint64_t>(kLater + 1)));
  db->commit([&](Writer& w) { return !refusalOf(w.withdrawOffer(sa, client)); });
  BOOST_TEST((next() == std::optional<uint64_t>(kLater + 2)));
  // A disabled principal's grant keeps its expiry and gets it back in its row when enabled.
  db->commit([&](Writer& w) {
    ok(w.setPrincipalState(u, PrincipalState::disabled));
    ok(w.setPrincipalState(u, PrincipalState::active));
    return true;
  });
  {
    Txn txn = Txn::begin(db->env(), MDB_RDONLY);
    auto value = txn.get(db->tables().effective, IntKey(grantKey(u, owner)).bytes());
    BOOST_TEST_REQUIRE(value.has_value());
    BOOST_TEST(decodeEffective(*value).expiresAt == kLater + 2);
  }
  db->commit([&](Writer& w) { return !refusalOf(w.deletePrincipal(u)); });
  BOOST_TEST(!next().has_value());
  // The sweep takes at most `max` at a time, earliest first.
  db->commit([&](Writer& w) {
    u = ok(w.createUser("u2"));
    for (CompanyId c : {owner, client}) ok(w.setGrant(u, c, {"a.read"}, {}, 10 + c));
    BOOST_TEST(
        (w.expireGrants(100, 1) == std::vector<std::pair<PrincipalId, CompanyId>>{{u, owner}}));
    BOOST_TEST(
        (w.expireGrants(100, 5) == std::vector<std::pair<PrincipalId, CompanyId>>{{u, client}}));
    return true;
  });
  BOOST_TEST(!next().has_value());
}
