// The hot path's snapshot: answers come from the revision the snapshot began at, a commit drops
// from a reader's caches what it changed (and everything when the change feed cannot say), and
// effective sets too large for a cache line are read correctly.
#include "store/snapshot.hpp"

#include <fmt/format.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <tuple>
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

// Between commits a reader's caches answer alone (Snapshot::current, authorizeCached), and only
// what they hold; a commit that writes anything, wherever, ends that until the snapshot is taken
// again, and one that writes nothing does not.
BOOST_AUTO_TEST_CASE(the_caches_answer_alone_until_the_next_commit) {
  TempDir dir;
  auto db = Store::open(testOptions(dir.path()));
  uint64_t alice = 0, bob = 0, carol = 0, acme = 0;
  uint64_t soon = clockNow() + 1;
  db->commit([&](Writer& w) {
    ok(w.definePermissions({"routers.read", "routers.write"}));
    acme = ok(w.createCompany("acme"));
    alice = ok(w.createUser("alice"));
    bob = ok(w.createUser("bob"));
    carol = ok(w.createUser("carol"));
    ok(w.setGrant(alice, acme, {"routers.read"}, {}));
    ok(w.setGrant(bob, acme, {"routers.read"}, {}, soon));
    ok(w.setGrant(carol, acme, {"routers.read"}, {}));
    return true;
  });
  Snapshot snap(*db);
  BOOST_TEST(!snap.current());  // never taken: nothing is known
  BOOST_TEST(!snap.authorizeCached(alice, acme, "routers.read").has_value());
  snap.begin();
  BOOST_TEST(snap.authorize(alice, acme, "routers.read").allowed);  // the row, the name cached
  BOOST_TEST(snap.authorize(bob, acme, "routers.read").allowed);
  snap.end();
  BOOST_TEST(snap.current());

  uint64_t hits = snap.rowCacheHits(), misses = snap.rowCacheMisses();
  auto d = snap.authorizeCached(alice, acme, "routers.read");
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(d->allowed);
  BOOST_TEST(snap.rowCacheHits() == hits + 1);
  d = snap.authorizeCached(alice, acme, "");  // never a name: no lookup needed to say so
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST((d->reason == DenyReason::unknownPermission));
  // Not held: a name never looked up, a row never read, a pair with no grant at all.
  BOOST_TEST(!snap.authorizeCached(alice, acme, "routers.write").has_value());
  BOOST_TEST(!snap.authorizeCached(carol, acme, "routers.read").has_value());
  BOOST_TEST(!snap.authorizeCached(alice, acme + 1000, "routers.read").has_value());
  BOOST_TEST(!snap.authorizeCached(0, acme, "routers.read").has_value());
  BOOST_TEST(snap.rowCacheHits() == hits + 2);  // a refusal counts nothing
  BOOST_TEST(snap.rowCacheMisses() == misses);

  db->commit([&](Writer&) { return false; });  // rolled back: nothing written
  BOOST_TEST(snap.current());
  db->commit([&](Writer& w) {  // touches no cached row, but is a new state
    ok(w.createCompany("globex"));
    return true;
  });
  BOOST_TEST(!snap.current());
  snap.begin();
  snap.end();
  BOOST_TEST(snap.current());
  d = snap.authorizeCached(alice, acme, "routers.read");  // the feed kept the row
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(d->allowed);

  // A time-boxed grant past its expiry is never answered from the cache alone.
  BOOST_TEST(snap.authorizeCached(bob, acme, "routers.read").has_value());
  while (clockNow() < soon) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  BOOST_TEST(!snap.authorizeCached(bob, acme, "routers.read").has_value());
  snap.begin();
  BOOST_TEST((snap.authorize(bob, acme, "routers.read").reason == DenyReason::noAccess));
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

// A commit costs a reader's caches only what it changed: the rows it wrote are read again, every
// other cached row is still a hit, and no flush happens while the feed can say what changed.
BOOST_AUTO_TEST_CASE(a_commit_drops_only_the_rows_it_changed) {
  TempDir dir;
  auto db = Store::open(testOptions(dir.path()));
  uint64_t a = 0, b = 0, c = 0;
  db->commit([&](Writer& w) {
    ok(w.definePermissions({"x.read", "x.write"}));
    c = ok(w.createCompany("acme"));
    a = ok(w.createUser("alice"));
    b = ok(w.createUser("bob"));
    ok(w.setGrant(a, c, {"x.read"}, {}));
    ok(w.setGrant(b, c, {"x.read"}, {}));
    return true;
  });
  Snapshot snap(*db);
  auto read = [&] {
    snap.begin();
    bool alice = snap.authorize(a, c, "x.write").allowed;
    uint64_t misses = snap.rowCacheMisses();
    bool bob = snap.authorize(b, c, "x.read").allowed;
    bool bobFromCache = snap.rowCacheMisses() == misses;
    snap.end();
    return std::tuple(alice, bob, bobFromCache);
  };
  read();  // warms both rows
  uint64_t flushes = snap.counters()->flushes.get();
  db->commit([&](Writer& w) {
    ok(w.setGrant(a, c, {"x.read", "x.write"}, {}));
    return true;
  });
  auto [alice, bob, bobFromCache] = read();
  BOOST_TEST(alice);  // the changed row: read again
  BOOST_TEST(bob);
  BOOST_TEST(bobFromCache);  // the other: still cached
  BOOST_TEST(snap.counters()->flushes.get() == flushes);
  // Removing alice's grant and disabling bob: both rows dropped.
  db->commit([&](Writer& w) {
    ok(w.removeGrant(a, c));
    ok(w.setPrincipalState(b, PrincipalState::disabled));
    return true;
  });
  snap.begin();
  BOOST_TEST(!snap.authorize(a, c, "x.read").allowed);
  BOOST_TEST(!snap.authorize(b, c, "x.read").allowed);
  snap.end();
  BOOST_TEST(snap.counters()->flushes.get() == flushes);
}

// A permission added to the catalog after a reader cached its name as unknown is known at the
// next revision: a catalog change drops the name cache.
BOOST_AUTO_TEST_CASE(a_catalog_change_drops_the_names_a_reader_cached) {
  TempDir dir;
  auto db = Store::open(testOptions(dir.path()));
  uint64_t p = 0, c = 0;
  db->commit([&](Writer& w) {
    ok(w.definePermissions({"x.read"}));
    c = ok(w.createCompany("acme"));
    p = ok(w.createUser("alice"));
    ok(w.setGrant(p, c, {"x.read"}, {}));
    return true;
  });
  Snapshot snap(*db);
  snap.begin();
  BOOST_TEST((snap.authorize(p, c, "y.new").reason == DenyReason::unknownPermission));
  snap.end();
  db->commit([&](Writer& w) {
    ok(w.definePermissions({"y.new"}));
    return true;
  });
  snap.begin();
  BOOST_TEST((snap.authorize(p, c, "y.new").reason == DenyReason::notGranted));
  snap.end();
}

// When the feed cannot say what changed — the reader is more than ChangeFeed::kSlots commits
// behind, or one commit rewrote more rows than a set lists — the reader drops everything, and
// its answers are those of the new revision.
BOOST_AUTO_TEST_CASE(a_reader_drops_everything_when_the_feed_cannot_say) {
  TempDir dir;
  auto db = Store::open(testOptions(dir.path()));
  uint64_t c = 0;
  std::vector<uint64_t> users;
  RoleId role = 0;
  db->commit([&](Writer& w) {
    ok(w.definePermissions({"x.read", "x.write"}));
    c = ok(w.createCompany("acme"));
    role = ok(w.createRole(c, "viewer", {"x.read"}));
    for (size_t i = 0; i < ChangeSet::kMaxRows + 10; ++i) {
      users.push_back(ok(w.createUser(fmt::format("u{}", i))));
      ok(w.setGrant(users.back(), c, {}, {role}));
    }
    return true;
  });
  Snapshot snap(*db);
  auto everyone = [&](std::string_view permission) {
    snap.begin();
    bool all = true;
    for (uint64_t u : users) all = all && snap.authorize(u, c, permission).allowed;
    snap.end();
    return all;
  };
  BOOST_TEST(everyone("x.read"));
  uint64_t flushes = snap.counters()->flushes.get();
  // One commit rewrites every holder's row: more than a set lists.
  db->commit([&](Writer& w) {
    ok(w.updateRole(role, {"x.write"}, ""));
    return true;
  });
  BOOST_TEST(everyone("x.write"));
  BOOST_TEST(!everyone("x.read"));
  BOOST_TEST(snap.counters()->flushes.get() == flushes + 1);
  // More commits than the feed keeps, each of one row, while the reader waits.
  for (size_t i = 0; i <= ChangeFeed::kSlots; ++i) {
    db->commit([&](Writer& w) {
      ok(w.setGrant(users[i % users.size()], c, {"x.read"}, {role}));
      return true;
    });
  }
  BOOST_TEST(everyone("x.read"));
  BOOST_TEST(snap.counters()->flushes.get() == flushes + 2);
}

// The feed itself: a revision published twice (a failed attempt, then the commit) answers the
// second set; a missing or overwritten revision makes the feed say it cannot tell.
BOOST_AUTO_TEST_CASE(the_change_feed_answers_only_what_it_knows) {
  ChangeFeed feed;
  ChangeSet first, second;
  first.row(1);
  second.row(2);
  second.principal(7);
  feed.publish(10, first);
  feed.publish(10, second);
  std::vector<uint64_t> rows, principals;
  auto visit = [&](const ChangeSet& set) {
    rows.insert(rows.end(), set.rows.begin(), set.rows.end());
    principals.insert(principals.end(), set.principals.begin(), set.principals.end());
  };
  BOOST_TEST(feed.replay(9, 10, visit));
  BOOST_TEST((rows == std::vector<uint64_t>{2}));
  BOOST_TEST((principals == std::vector<uint64_t>{7}));
  BOOST_TEST(feed.replay(10, 10, visit));        // nothing in between
  BOOST_TEST(!feed.replay(8, 10, visit));        // 9 was never published
  BOOST_TEST(!feed.replay(10, 9, visit));        // backwards
  feed.publish(10 + ChangeFeed::kSlots, first);  // overwrites 10's slot
  BOOST_TEST(!feed.replay(9, 10, visit));
  BOOST_TEST(!feed.replay(9, 10 + ChangeFeed::kSlots, visit));  // too far apart
  ChangeSet many;
  for (uint64_t k = 0; k <= ChangeSet::kMaxRows; ++k) many.row(k);
  BOOST_TEST(many.allRows);
  BOOST_TEST(many.rows.empty());
}
