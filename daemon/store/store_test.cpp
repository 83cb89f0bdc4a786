#define BOOST_TEST_MODULE store
#include "store/store.hpp"

#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <cstring>

#include "store/test_support.hpp"

using namespace gatehouse::store;
using namespace gatehouse::store::testing;

namespace {

struct Fixture {
  TempDir dir;
  std::unique_ptr<Store> store = Store::open(testOptions(dir.path()));
  Snapshot snap{*store};

  // Runs one mutation and returns its result.
  template <typename Fn>
  auto mutate(Fn&& fn) {
    std::optional<decltype(fn(std::declval<Writer&>()))> out;
    store->commit([&](Writer& w) {
      out.emplace(fn(w));
      return refusalOf(*out) == nullptr;
    });
    return *out;
  }

  Decision check(PrincipalId p, CompanyId c, std::string_view perm) {
    snap.begin();
    Decision d = snap.authorize(p, c, perm);
    Decision slow = snap.reader().decide(p, c, perm);
    snap.end();
    BOOST_TEST((d == slow), "cached and uncached paths disagree");
    return d;
  }
};

const Decision kAllow{true, DenyReason::none};

// The refusal's code, or nullopt when the mutation was accepted.
template <typename T>
std::optional<RefusalCode> refusedWith(const Result<T>& r) {
  if (auto refusal = refusalOf(r)) return refusal->code;
  return std::nullopt;
}
Decision deny(DenyReason r) { return Decision{false, r}; }

}  // namespace

BOOST_AUTO_TEST_CASE(permission_names_follow_the_catalog_grammar) {
  BOOST_TEST(isValidPermissionName("routers.read"));
  BOOST_TEST(isValidPermissionName("a"));
  BOOST_TEST(isValidPermissionName("service_accounts.manage"));
  BOOST_TEST(isValidPermissionName("a1.b_2.c"));
  BOOST_TEST(!isValidPermissionName(""));
  BOOST_TEST(!isValidPermissionName("Routers.read"));
  BOOST_TEST(!isValidPermissionName("routers."));
  BOOST_TEST(!isValidPermissionName(".routers"));
  BOOST_TEST(!isValidPermissionName("routers..read"));
  BOOST_TEST(!isValidPermissionName("1routers"));
  BOOST_TEST(!isValidPermissionName("routers.1read"));
  BOOST_TEST(!isValidPermissionName("routers-read"));
  BOOST_TEST(isValidPermissionName(std::string(64, 'a')));
  BOOST_TEST(!isValidPermissionName(std::string(65, 'a')));
}

BOOST_AUTO_TEST_CASE(entity_names_are_bounded_and_printable) {
  BOOST_TEST(!checkEntityName("name", "acme").has_value());
  BOOST_TEST(checkEntityName("name", "").has_value());
  BOOST_TEST(checkEntityName("name", std::string(129, 'x')).has_value());
  BOOST_TEST(checkEntityName("name", "tab\there").has_value());
  BOOST_TEST(checkEntityName("name", "12345").has_value());
  BOOST_TEST(checkEntityName("name", "bad\xff utf8").has_value());
  BOOST_TEST(!checkEntityName("name", "caf\xc3\xa9").has_value());
}

BOOST_FIXTURE_TEST_CASE(grant_then_authorize_each_reason, Fixture) {
  ok(mutate([](Writer& w) { return w.definePermissions({"routers.read", "routers.reboot"}); }));
  CompanyId acme = ok(mutate([](Writer& w) { return w.createCompany("acme"); }));
  CompanyId other = ok(mutate([](Writer& w) { return w.createCompany("other"); }));
  PrincipalId alice = ok(mutate([](Writer& w) { return w.createUser("alice"); }));
  ok(mutate([&](Writer& w) { return w.setGrant(alice, acme, {"routers.read"}, {}); }));

  BOOST_TEST((check(alice, acme, "routers.read") == kAllow));
  BOOST_TEST((check(alice, acme, "routers.reboot") == deny(DenyReason::notGranted)));
  BOOST_TEST((check(alice, acme, "routers.nope") == deny(DenyReason::unknownPermission)));
  BOOST_TEST((check(alice, other, "routers.read") == deny(DenyReason::noAccess)));
  BOOST_TEST((check(alice, 999, "routers.read") == deny(DenyReason::unknownCompany)));
  BOOST_TEST((check(999, acme, "routers.read") == deny(DenyReason::unknownPrincipal)));
  BOOST_TEST((check(0, 0, "routers.read") == deny(DenyReason::unknownPrincipal)));
  BOOST_TEST((check(uint64_t{1} << 40, acme, "x") == deny(DenyReason::unknownPrincipal)));

  ok(mutate([&](Writer& w) { return w.setPrincipalState(alice, PrincipalState::disabled); }));
  BOOST_TEST((check(alice, acme, "routers.read") == deny(DenyReason::principalDisabled)));
  ok(mutate([&](Writer& w) { return w.setPrincipalState(alice, PrincipalState::active); }));
  BOOST_TEST((check(alice, acme, "routers.read") == kAllow));

  ok(mutate([&](Writer& w) { return w.removeGrant(alice, acme); }));
  BOOST_TEST((check(alice, acme, "routers.read") == deny(DenyReason::noAccess)));
}

BOOST_FIXTURE_TEST_CASE(role_edits_rematerialise_every_holder, Fixture) {
  ok(mutate([](Writer& w) { return w.definePermissions({"a.read", "a.write", "b.read"}); }));
  CompanyId c1 = ok(mutate([](Writer& w) { return w.createCompany("c1"); }));
  CompanyId c2 = ok(mutate([](Writer& w) { return w.createCompany("c2"); }));
  RoleId viewer = ok(mutate([](Writer& w) { return w.createRole(0, "viewer", {"a.read"}); }));
  RoleId local = ok(mutate([&](Writer& w) { return w.createRole(c1, "local", {"b.read"}); }));
  PrincipalId u = ok(mutate([](Writer& w) { return w.createUser("u"); }));
  PrincipalId v = ok(mutate([](Writer& w) { return w.createUser("v"); }));
  ok(mutate([&](Writer& w) { return w.setGrant(u, c1, {}, {viewer, local}); }));
  ok(mutate([&](Writer& w) { return w.setGrant(v, c2, {"a.write"}, {viewer}); }));
  BOOST_TEST((check(u, c1, "a.read") == kAllow));
  BOOST_TEST((check(u, c1, "b.read") == kAllow));
  BOOST_TEST((check(v, c2, "a.read") == kAllow));

  ok(mutate([&](Writer& w) { return w.updateRole(viewer, {"a.write"}, ""); }));
  BOOST_TEST((check(u, c1, "a.read") == deny(DenyReason::notGranted)));
  BOOST_TEST((check(u, c1, "a.write") == kAllow));
  BOOST_TEST((check(v, c2, "a.read") == deny(DenyReason::notGranted)));

  ok(mutate([&](Writer& w) { return w.deleteRole(viewer); }));
  BOOST_TEST((check(u, c1, "a.write") == deny(DenyReason::notGranted)));
  BOOST_TEST((check(u, c1, "b.read") == kAllow));
  BOOST_TEST((check(v, c2, "a.write") == kAllow));  // direct permission survives

  // A company role cannot be used in another company.
  auto refused = mutate([&](Writer& w) { return w.setGrant(v, c2, {}, {local}); });
  BOOST_REQUIRE(refusalOf(refused));
  BOOST_TEST((refusalOf(refused)->code == RefusalCode::conflict));
  BOOST_TEST((check(v, c2, "a.write") == kAllow));  // the refused edit changed nothing
}

BOOST_FIXTURE_TEST_CASE(refusals_name_the_field_and_change_nothing, Fixture) {
  CompanyId acme = ok(mutate([](Writer& w) { return w.createCompany("acme"); }));
  auto dup = mutate([](Writer& w) { return w.createCompany("acme"); });
  BOOST_REQUIRE(refusalOf(dup));
  BOOST_TEST((refusalOf(dup)->code == RefusalCode::alreadyExists));

  auto badPerm = mutate([](Writer& w) { return w.definePermissions({"ok.name", "Bad Name"}); });
  BOOST_REQUIRE(refusalOf(badPerm));
  BOOST_TEST(refusalOf(badPerm)->message.find("Bad Name") != std::string::npos);
  snap.begin();
  BOOST_TEST(!snap.reader().permission("ok.name").has_value());  // all or nothing
  snap.end();

  PrincipalId u = ok(mutate([](Writer& w) { return w.createUser("u"); }));
  auto unknown = mutate([&](Writer& w) { return w.setGrant(u, acme, {"not.defined"}, {}); });
  BOOST_REQUIRE(refusalOf(unknown));
  BOOST_TEST((refusalOf(unknown)->code == RefusalCode::notFound));
  BOOST_TEST(refusalOf(unknown)->message.find("not.defined") != std::string::npos);

  auto noCompany = mutate([&](Writer& w) { return w.setGrant(u, 77, {}, {}); });
  BOOST_TEST((refusalOf(noCompany)->code == RefusalCode::notFound));
  auto noSa = mutate([&](Writer& w) { return w.createServiceAccount("bot", 77, ""); });
  BOOST_TEST((refusalOf(noSa)->code == RefusalCode::notFound));
  auto longDesc = mutate(
      [&](Writer& w) { return w.createServiceAccount("bot", acme, std::string(2000, 'd')); });
  BOOST_TEST((refusalOf(longDesc)->code == RefusalCode::invalidArgument));
  auto noGrant = mutate([&](Writer& w) { return w.removeGrant(u, acme); });
  BOOST_TEST((refusalOf(noGrant)->code == RefusalCode::notFound));
}

BOOST_FIXTURE_TEST_CASE(delete_principal_removes_all_grants_and_name, Fixture) {
  ok(mutate([](Writer& w) { return w.definePermissions({"x.y"}); }));
  CompanyId c1 = ok(mutate([](Writer& w) { return w.createCompany("c1"); }));
  CompanyId c2 = ok(mutate([](Writer& w) { return w.createCompany("c2"); }));
  RoleId r = ok(mutate([](Writer& w) { return w.createRole(0, "r", {"x.y"}); }));
  PrincipalId sa = ok(mutate([&](Writer& w) { return w.createServiceAccount("bot", c1, "d"); }));
  ok(mutate([&](Writer& w) { return w.setGrant(sa, c1, {"x.y"}, {}); }));
  ok(mutate([&](Writer& w) { return w.setGrant(sa, c2, {}, {r}); }));
  ok(mutate([&](Writer& w) { return w.deletePrincipal(sa); }));
  BOOST_TEST((check(sa, c1, "x.y") == deny(DenyReason::unknownPrincipal)));
  BOOST_TEST((check(sa, c2, "x.y") == deny(DenyReason::unknownPrincipal)));
  snap.begin();
  BOOST_TEST(!snap.reader().principalByName("bot").has_value());
  BOOST_TEST(snap.reader().companiesOf(sa).empty());
  snap.end();
  // The role no longer lists the deleted holder: editing it touches nothing stale.
  ok(mutate([&](Writer& w) { return w.updateRole(r, {}, "renamed"); }));
  PrincipalId again = ok(mutate([&](Writer& w) { return w.createServiceAccount("bot", c1, ""); }));
  BOOST_TEST(again != sa);
}

BOOST_FIXTURE_TEST_CASE(revision_advances_with_each_commit_and_cache_follows, Fixture) {
  ok(mutate([](Writer& w) { return w.definePermissions({"p.a", "p.b"}); }));
  CompanyId c = ok(mutate([](Writer& w) { return w.createCompany("c"); }));
  PrincipalId u = ok(mutate([](Writer& w) { return w.createUser("u"); }));
  ok(mutate([&](Writer& w) { return w.setGrant(u, c, {"p.a"}, {}); }));
  snap.begin();
  uint64_t before = snap.revision();
  BOOST_TEST(snap.authorize(u, c, "p.a").allowed);  // now cached
  snap.end();
  uint64_t committed =
      store->commit([&](Writer& w) { return !refusalOf(w.setGrant(u, c, {"p.b"}, {})); });
  BOOST_TEST(committed > before);
  snap.begin();
  BOOST_TEST(snap.revision() == committed);
  BOOST_TEST(!snap.authorize(u, c, "p.a").allowed);
  BOOST_TEST(snap.authorize(u, c, "p.b").allowed);
  snap.end();
}

BOOST_AUTO_TEST_CASE(map_grows_instead_of_failing_writes) {
  TempDir dir;
  StoreOptions o = testOptions(dir.path());
  o.initialMapSize = size_t{1} << 20;  // 1 MiB: fills after a few thousand rows
  auto store = Store::open(o);
  Snapshot snap(*store);  // a registered reader must not block growth
  size_t before = store->mapSize();
  const std::string pad(80, 'x');
  for (int batch = 0; batch < 20; ++batch) {
    store->commitBatch(500, [&](size_t i, Writer& w) {
      return !refusalOf(w.createCompany(pad + std::to_string(batch * 500 + i)));
    });
  }
  BOOST_TEST(store->mapSize() > before);
  snap.begin();
  BOOST_TEST(snap.reader().companyByName(pad + "9999").has_value());
  snap.end();
}

BOOST_AUTO_TEST_CASE(everything_survives_reopen) {
  TempDir dir;
  PrincipalId u = 0;
  CompanyId c = 0;
  {
    auto store = Store::open(testOptions(dir.path()));
    store->commit([&](Writer& w) {
      ok(w.definePermissions({"k.v"}));
      c = ok(w.createCompany("c"));
      u = ok(w.createUser("u"));
      ok(w.setGrant(u, c, {"k.v"}, {}));
      return true;
    });
  }
  auto store = Store::open(testOptions(dir.path()));
  Snapshot snap(*store);
  snap.begin();
  BOOST_TEST(snap.authorize(u, c, "k.v").allowed);
  snap.end();
}

BOOST_FIXTURE_TEST_CASE(audit_pages_scopes_and_retention, Fixture) {
  store->commit([&](Writer& w) {
    for (uint64_t t = 1; t <= 10; ++t) {
      AuditRecord r;
      r.time = t * 100;
      r.operation = "op" + std::to_string(t);
      r.companies = {t % 2 == 0 ? 2u : 3u, 0};
      w.appendAudit(r);
    }
    return true;
  });
  snap.begin();
  auto all = snap.reader().auditPage(0, 0, 100);
  BOOST_TEST(all.size() == 10u);
  BOOST_TEST(all.front().operation == "op10");  // newest first
  auto even = snap.reader().auditPage(2, 0, 100);
  BOOST_TEST(even.size() == 5u);
  auto page = snap.reader().auditPage(0, all[3].sequence, 2);
  BOOST_TEST(page.size() == 2u);
  BOOST_TEST(page[0].sequence == all[4].sequence);
  snap.end();

  store->commit([&](Writer& w) { return w.pruneAudit(450, 100) == 4; });
  snap.begin();
  BOOST_TEST(snap.reader().auditPage(0, 0, 100).size() == 6u);
  BOOST_TEST(snap.reader().auditPage(2, 0, 100).size() == 3u);  // the index was pruned too
  BOOST_TEST(snap.reader().auditPage(3, 0, 100).size() == 3u);
  snap.end();
}

// Every offset of a good or bad sequence within ASCII runs of every length around the 8-byte
// fast path.
BOOST_AUTO_TEST_CASE(utf8_validation_at_every_offset) {
  const std::vector<std::string> good = {"é", "€", "𝄞", "\x7f"};
  const std::vector<std::string> bad = {
      "\x80",     "\xc0\x80", "\xed\xa0\x80",        "\xf4\x90\x80\x80",
      "\xe2\x82", "\xff",     "\xf8\x88\x80\x80\x80"};
  BOOST_TEST(isValidUtf8(""));
  for (size_t before = 0; before < 20; ++before) {
    for (size_t after = 0; after < 20; ++after) {
      std::string a(before, 'a'), b(after, 'b');
      BOOST_TEST(isValidUtf8(a + b));
      for (const auto& g : good) BOOST_TEST(isValidUtf8(a + g + b), before << "/" << after);
      for (const auto& x : bad) BOOST_TEST(!isValidUtf8(a + x + b), before << "/" << after);
    }
  }
  BOOST_TEST(!isValidUtf8(std::string(16, 'a') + "\xe2\x82"));  // truncated at the end
}

// The data directory is created private whatever the umask, and a directory or database file that
// others may write is refused with a message naming it.
BOOST_AUTO_TEST_CASE(data_directory_is_private_and_a_shared_one_is_refused) {
  TempDir dir;
  auto fresh = dir.path() / "nested" / "data";
  mode_t old = ::umask(0);
  { auto db = Store::open(testOptions(fresh)); }
  ::umask(old);
  struct stat st {};
  BOOST_REQUIRE(::stat(fresh.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);

  ::chmod(fresh.c_str(), 0777);
  try {
    Store::open(testOptions(fresh));
    BOOST_FAIL("a world-writable data directory was accepted");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("group- or world-writable (mode 0777)") !=
               std::string::npos);
    BOOST_TEST(std::string(e.what()).find(fresh.string()) != std::string::npos);
  }
  ::chmod(fresh.c_str(), 0700);
  ::chmod((fresh / "data.mdb").c_str(), 0660);
  BOOST_CHECK_THROW(Store::open(testOptions(fresh)), std::runtime_error);
  ::chmod((fresh / "data.mdb").c_str(), 0640);  // group-readable is the operator's choice
  BOOST_CHECK_NO_THROW(Store::open(testOptions(fresh)));
}

// Offers (docs/service-accounts.md, "Sharing"): made by the owner to another company, withdrawn
// with the company's grant in one mutation, and gone with the account.
BOOST_FIXTURE_TEST_CASE(offers_are_made_withdrawn_with_the_grant_and_deleted_with_the_account,
                        Fixture) {
  ok(mutate([](Writer& w) { return w.definePermissions({"x.y"}); }));
  CompanyId owner = ok(mutate([](Writer& w) { return w.createCompany("owner"); }));
  CompanyId c2 = ok(mutate([](Writer& w) { return w.createCompany("c2"); }));
  CompanyId c3 = ok(mutate([](Writer& w) { return w.createCompany("c3"); }));
  PrincipalId sa = ok(mutate([&](Writer& w) { return w.createServiceAccount("bot", owner, ""); }));
  PrincipalId u = ok(mutate([](Writer& w) { return w.createUser("u"); }));

  ok(mutate([&](Writer& w) { return w.offer(sa, c2); }));
  ok(mutate([&](Writer& w) { return w.offer(sa, c2); }));  // again: no change
  ok(mutate([&](Writer& w) { return w.offer(sa, c3); }));
  ok(mutate([&](Writer& w) { return w.setGrant(sa, c2, {"x.y"}, {}); }));
  snap.begin();
  BOOST_TEST(snap.reader().offered(sa, c2));
  BOOST_TEST(!snap.reader().offered(sa, owner));
  BOOST_TEST((snap.reader().offersOf(sa) == std::vector<CompanyId>{c2, c3}));
  BOOST_TEST((snap.reader().offeredTo(c2) == std::vector<PrincipalId>{sa}));
  snap.end();
  BOOST_TEST((check(sa, c2, "x.y") == kAllow));

  // Refusals: the owner itself, an unknown company, a user, an unknown account.
  BOOST_TEST((refusedWith(mutate([&](Writer& w) { return w.offer(sa, owner); })) ==
              RefusalCode::invalidArgument));
  BOOST_TEST(
      (refusedWith(mutate([&](Writer& w) { return w.offer(sa, 77); })) == RefusalCode::notFound));
  BOOST_TEST(
      (refusedWith(mutate([&](Writer& w) { return w.offer(u, c2); })) == RefusalCode::notFound));
  BOOST_TEST(
      (refusedWith(mutate([&](Writer& w) { return w.offer(999, c2); })) == RefusalCode::notFound));

  // Withdrawing removes the offer and the grant together.
  ok(mutate([&](Writer& w) { return w.withdrawOffer(sa, c2); }));
  BOOST_TEST((check(sa, c2, "x.y") == deny(DenyReason::noAccess)));
  snap.begin();
  BOOST_TEST(!snap.reader().offered(sa, c2));
  BOOST_TEST(snap.reader().offeredTo(c2).empty());
  BOOST_TEST((snap.reader().companiesOf(sa) == std::vector<CompanyId>{}));
  snap.end();
  // Nothing left to withdraw: notFound. A grant without an offer (the system's) is withdrawn too.
  BOOST_TEST((refusedWith(mutate([&](Writer& w) { return w.withdrawOffer(sa, c2); })) ==
              RefusalCode::notFound));
  ok(mutate([&](Writer& w) { return w.setGrant(sa, c2, {"x.y"}, {}); }));
  ok(mutate([&](Writer& w) { return w.withdrawOffer(sa, c2); }));
  BOOST_TEST((check(sa, c2, "x.y") == deny(DenyReason::noAccess)));

  // Deleting the account removes its remaining offers.
  ok(mutate([&](Writer& w) { return w.deletePrincipal(sa); }));
  snap.begin();
  BOOST_TEST(snap.reader().offeredTo(c3).empty());
  BOOST_TEST(snap.reader().offersOf(sa).empty());
  snap.end();
}

// The on-disk schema version recorded in the store's meta table (0 when there is none).
static uint32_t schemaVersionOf(Store& s) {
  Txn txn = Txn::begin(s.env(), MDB_RDONLY);
  auto v = txn.get(s.tables().meta, "schema_version");
  uint32_t out = 0;
  if (v && v->size() == sizeof out) std::memcpy(&out, v->data(), sizeof out);
  return out;
}

// A store of schema version 1 (no offers tables) is migrated when opened: every external grant of
// a service account becomes an offer plus that grant, once, and the version becomes 2, then 3 (no
// ceilings). The version-1 layout is made here from a fresh store by dropping the tables versions
// 2 and 3 added and recording version 1, which is byte for byte what version 1 wrote for these
// records.
BOOST_AUTO_TEST_CASE(a_version_1_store_is_migrated_to_offers_once) {
  TempDir dir;
  PrincipalId sa = 0, other = 0, u = 0;
  CompanyId owner = 0, c2 = 0, c3 = 0;
  {
    auto store = Store::open(testOptions(dir.path()));
    BOOST_TEST(schemaVersionOf(*store) == kSchemaVersion);
    store->commit([&](Writer& w) {
      ok(w.definePermissions({"x.y"}));
      owner = ok(w.createCompany("owner"));
      c2 = ok(w.createCompany("c2"));
      c3 = ok(w.createCompany("c3"));
      sa = ok(w.createServiceAccount("bot", owner, ""));
      other = ok(w.createServiceAccount("other", c3, ""));
      u = ok(w.createUser("u"));
      ok(w.setGrant(sa, owner, {"x.y"}, {}));  // owned: no offer
      ok(w.setGrant(sa, c2, {"x.y"}, {}));     // external
      ok(w.setGrant(sa, c3, {}, {}));          // external
      ok(w.setGrant(other, c3, {"x.y"}, {}));  // owned
      ok(w.setGrant(u, c2, {"x.y"}, {}));      // a user: never offered
      return true;
    });
    Txn txn = Txn::begin(store->env(), 0);
    check(mdb_drop(txn.get(), store->tables().offers, 1), "mdb_drop");
    check(mdb_drop(txn.get(), store->tables().companyOffers, 1), "mdb_drop");
    check(mdb_drop(txn.get(), store->tables().ceilings, 1), "mdb_drop");
    check(mdb_drop(txn.get(), store->tables().grantExpiries, 1), "mdb_drop");
    check(mdb_drop(txn.get(), store->tables().transfers, 1), "mdb_drop");
    check(mdb_drop(txn.get(), store->tables().companyTransfers, 1), "mdb_drop");
    uint32_t v1 = 1;
    txn.put(store->tables().meta, "schema_version",
            std::string_view(reinterpret_cast<const char*>(&v1), sizeof v1));
    txn.commit();
  }
  for (int open = 0; open < 2; ++open) {  // the second open finds nothing to migrate
    auto store = Store::open(testOptions(dir.path()));
    BOOST_TEST(schemaVersionOf(*store) == kSchemaVersion);
    Snapshot snap(*store);
    snap.begin();
    auto g = snap.reader();
    BOOST_TEST((g.offersOf(sa) == std::vector<CompanyId>{c2, c3}));
    BOOST_TEST(g.offersOf(other).empty());
    BOOST_TEST((g.offeredTo(c2) == std::vector<PrincipalId>{sa}));
    BOOST_TEST(!g.offered(u, c2));
    BOOST_TEST(snap.authorize(sa, c2, "x.y").allowed);  // the grants are as they were
    BOOST_TEST(snap.authorize(sa, owner, "x.y").allowed);
    BOOST_TEST(snap.authorize(u, c2, "x.y").allowed);
    BOOST_TEST(!g.ceiling(sa).has_value());
    snap.end();
  }
  // A version newer than this build is refused, naming both.
  {
    auto store = Store::open(testOptions(dir.path()));
    Txn txn = Txn::begin(store->env(), 0);
    uint32_t v9 = 9;
    txn.put(store->tables().meta, "schema_version",
            std::string_view(reinterpret_cast<const char*>(&v9), sizeof v9));
    txn.commit();
  }
  try {
    Store::open(testOptions(dir.path()));
    BOOST_ERROR("a store of schema version 9 was opened");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("schema version 9") != std::string::npos);
  }
}

// A store of schema version 2 (no ceilings table) is migrated to 3, then 4 (no grant_expiries),
// when opened: the tables are created empty, nothing else changes, and ceilings and time-boxed
// grants work from then on.
BOOST_AUTO_TEST_CASE(a_version_2_store_is_migrated_to_ceilings_and_expiries) {
  TempDir dir;
  PrincipalId sa = 0;
  CompanyId owner = 0, c2 = 0;
  {
    auto store = Store::open(testOptions(dir.path()));
    store->commit([&](Writer& w) {
      ok(w.definePermissions({"x.y", "x.z"}));
      owner = ok(w.createCompany("owner"));
      c2 = ok(w.createCompany("c2"));
      sa = ok(w.createServiceAccount("bot", owner, ""));
      ok(w.offer(sa, c2));
      ok(w.setGrant(sa, c2, {"x.y", "x.z"}, {}));
      return true;
    });
    Txn txn = Txn::begin(store->env(), 0);
    check(mdb_drop(txn.get(), store->tables().ceilings, 1), "mdb_drop");
    check(mdb_drop(txn.get(), store->tables().grantExpiries, 1), "mdb_drop");
    check(mdb_drop(txn.get(), store->tables().transfers, 1), "mdb_drop");
    check(mdb_drop(txn.get(), store->tables().companyTransfers, 1), "mdb_drop");
    uint32_t v2 = 2;
    txn.put(store->tables().meta, "schema_version",
            std::string_view(reinterpret_cast<const char*>(&v2), sizeof v2));
    txn.commit();
  }
  for (int open = 0; open < 2; ++open) {
    auto store = Store::open(testOptions(dir.path()));
    BOOST_TEST(schemaVersionOf(*store) == kSchemaVersion);
    Snapshot snap(*store);
    snap.begin();
    BOOST_TEST(snap.reader().offered(sa, c2));
    BOOST_TEST(!snap.reader().ceiling(sa).has_value());
    BOOST_TEST(!snap.reader().nextGrantExpiry().has_value());
    BOOST_TEST(snap.authorize(sa, c2, "x.z").allowed);
    snap.end();
  }
  auto store = Store::open(testOptions(dir.path()));
  store->commit([&](Writer& w) {
    auto trimmed = w.setCeiling(sa, {"x.y"});
    BOOST_TEST((std::get<std::vector<CompanyId>>(trimmed) == std::vector<CompanyId>{c2}));
    ok(w.setGrant(sa, owner, {"x.y"}, {}, 1));  // expired long ago
    return true;
  });
  Snapshot snap(*store);
  snap.begin();
  BOOST_TEST(!snap.authorize(sa, c2, "x.z").allowed);
  BOOST_TEST(snap.authorize(sa, c2, "x.y").allowed);
  BOOST_TEST((snap.authorize(sa, owner, "x.y").reason == DenyReason::noAccess));
  BOOST_TEST((snap.reader().nextGrantExpiry() == std::optional<uint64_t>(1)));
  snap.end();
}

// Ownership transfer: offered by the owner to one company at a time, cancelled, accepted only by
// the company offered; at acceptance the owner changes (and the owned-accounts index with it),
// every live key is revoked, the ceiling goes, the new owner's offer goes, and the former owner's
// grant stays with an offer (keepAccess) or goes.
BOOST_AUTO_TEST_CASE(ownership_moves_only_when_the_company_offered_accepts) {
  TempDir dir;
  auto store = Store::open(testOptions(dir.path()));
  PrincipalId bot = 0;
  CompanyId msp = 0, north = 0, south = 0;
  uint64_t key = 0;
  store->commit([&](Writer& w) {
    ok(w.definePermissions({"x.y", "x.z"}));
    msp = ok(w.createCompany("msp"));
    north = ok(w.createCompany("north"));
    south = ok(w.createCompany("south"));
    bot = ok(w.createServiceAccount("bot", msp, ""));
    ok(w.setGrant(bot, msp, {"x.y", "x.z"}, {}));
    ok(w.offer(bot, north));
    ok(w.setGrant(bot, north, {"x.y"}, {}));
    ok(w.offer(bot, south));
    ok(w.setCeiling(bot, {"x.y"}));
    KeyRecord k;
    k.id = 42;
    k.principal = bot;
    k.createdAt = 10;
    key = ok(w.addKey(k, 8, 10));
    return true;
  });
  auto refused = [&](auto&& op, RefusalCode code) {
    store->commit([&](Writer& w) {
      auto r = op(w);
      BOOST_TEST_REQUIRE(refusalOf(r) != nullptr);
      BOOST_TEST((refusalOf(r)->code == code), refusalOf(r)->message);
      return false;
    });
  };
  refused([&](Writer& w) { return w.offerOwnership(bot, msp, true, 20); },
          RefusalCode::invalidArgument);
  refused([&](Writer& w) { return w.offerOwnership(bot, 999, true, 20); }, RefusalCode::notFound);
  refused([&](Writer& w) { return w.offerOwnership(999, north, true, 20); }, RefusalCode::notFound);
  refused([&](Writer& w) { return w.cancelOwnershipOffer(bot); }, RefusalCode::notFound);
  refused([&](Writer& w) { return w.acceptOwnership(bot, north, 20); }, RefusalCode::notFound);
  // Offered to south, then to north instead: one pending offer at a time.
  store->commit([&](Writer& w) {
    ok(w.offerOwnership(bot, south, false, 20));
    ok(w.offerOwnership(bot, north, true, 21));
    return true;
  });
  {
    Snapshot snap(*store);
    snap.begin();
    auto g = snap.reader();
    BOOST_TEST(g.transferOffer(bot)->company == north);
    BOOST_TEST(g.transferOffer(bot)->keepAccess);
    BOOST_TEST(g.transferOffer(bot)->offeredAt == 21u);
    BOOST_TEST(g.transfersTo(south).empty());
    BOOST_TEST((g.transfersTo(north) == std::vector<PrincipalId>{bot}));
    snap.end();
  }
  refused([&](Writer& w) { return w.acceptOwnership(bot, south, 22); }, RefusalCode::notFound);
  store->commit([&](Writer& w) {
    TransferDone done = ok(w.acceptOwnership(bot, north, 30));
    BOOST_TEST(done.formerOwner == msp);
    BOOST_TEST(done.keysRevoked == 1u);
    return true;
  });
  Snapshot snap(*store);
  snap.begin();
  auto g = snap.reader();
  BOOST_TEST(g.principal(bot)->ownerCompany == north);
  BOOST_TEST(g.ownedAccounts(msp).empty());
  BOOST_TEST((g.ownedAccounts(north) == std::vector<PrincipalId>{bot}));
  BOOST_TEST(!g.transferOffer(bot).has_value());
  BOOST_TEST(g.transfersTo(north).empty());
  BOOST_TEST(!g.offered(bot, north));       // the owner needs no offer
  BOOST_TEST(g.offered(bot, msp));          // the former owner keeps its grant, offered
  BOOST_TEST(g.offered(bot, south));        // other offers stay
  BOOST_TEST(!g.ceiling(bot).has_value());  // the former owner's ceiling is gone
  BOOST_TEST(snap.authorize(bot, msp, "x.z").allowed);
  BOOST_TEST(snap.authorize(bot, north, "x.y").allowed);
  BOOST_TEST(g.key(key)->revoked(30));
  snap.end();

  // Back to msp, this time without keeping north's access; a deleted account takes its offer.
  store->commit([&](Writer& w) {
    ok(w.offerOwnership(bot, msp, false, 40));
    ok(w.acceptOwnership(bot, msp, 41));
    return true;
  });
  snap.begin();
  BOOST_TEST(snap.reader().principal(bot)->ownerCompany == msp);
  BOOST_TEST(!snap.reader().grant(bot, north).has_value());
  BOOST_TEST(!snap.reader().offered(bot, north));
  BOOST_TEST((snap.authorize(bot, north, "x.y").reason == DenyReason::noAccess));
  snap.end();
  store->commit([&](Writer& w) {
    ok(w.offerOwnership(bot, south, true, 50));
    ok(w.deletePrincipal(bot));
    return true;
  });
  snap.begin();
  BOOST_TEST(snap.reader().transfersTo(south).empty());
  BOOST_TEST(!snap.reader().transferOffer(bot).has_value());
  snap.end();
}

namespace {

// Two replicas of one log: batches committed on `origin` are replayed on `replica`.
struct Replicas {
  TempDir dir;
  std::unique_ptr<Store> origin = open("origin");
  std::unique_ptr<Store> replica = open("replica");

  std::unique_ptr<Store> open(const char* name) {
    StoreOptions o = testOptions(dir.path() / name);
    o.replicated = true;
    return Store::open(o);
  }

  // Commits `count` items on the origin; answers the published batch ("" when none was).
  std::string commit(size_t count, const Store::ApplyItem& apply, bool accept = true) {
    std::string published;
    origin->commitReplicated(
        origin->appliedSequence() + 1, count, apply, {}, [](size_t, const std::exception&) {},
        [&](std::string_view batch) {
          published = batch;
          return accept;
        });
    return published;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_replicated_batch_holds_what_the_commit_kept_and_nothing_else) {
  Replicas r;
  uint64_t revisionSeen = 0;
  std::string batch = r.commit(
      3,
      [&](size_t i, Writer& w) {
        revisionSeen = w.revision();
        if (i == 1) {  // refused after writing: rolled back, so not in the batch
          ok(w.createCompany("refused"));
          return false;
        }
        if (i == 2) throw std::runtime_error("an item that fails leaves nothing either");
        ok(w.createCompany("kept"));
        return true;
      },
      true);
  BOOST_TEST(revisionSeen == 1u);  // the writer sees the log's sequence, not a transaction id
  BOOST_TEST(r.origin->appliedSequence() == 1u);
  BOOST_REQUIRE(!batch.empty());
  r.replica->applyReplicated(1, batch);
  BOOST_TEST(r.replica->appliedSequence() == 1u);
  BOOST_TEST((dumpTables(*r.origin) == dumpTables(*r.replica)));
  Snapshot snap(*r.replica);
  snap.begin();
  BOOST_TEST(snap.revision() == 1u);
  BOOST_TEST(snap.reader().companyByName("kept").has_value());
  BOOST_TEST(!snap.reader().companyByName("refused").has_value());
  snap.end();
  BOOST_TEST(r.replica->revision() == 1u);
}

BOOST_AUTO_TEST_CASE(a_batch_the_log_refused_writes_nothing_and_an_empty_one_is_not_published) {
  Replicas r;
  std::string before = dumpTables(*r.origin);
  std::string batch = r.commit(
      1,
      [](size_t, Writer& w) {
        ok(w.createCompany("acme"));
        return true;
      },
      false);
  BOOST_TEST(!batch.empty());
  BOOST_TEST(r.origin->appliedSequence() == 0u);
  BOOST_TEST((dumpTables(*r.origin) == before));
  bool published = false;
  auto outcome = r.origin->commitReplicated(
      1, 1, [](size_t, Writer&) { return false; }, {}, {},
      [&](std::string_view) { return published = true; });
  BOOST_TEST((outcome == Store::Outcome::empty));
  BOOST_TEST(!published);
  // A publish that throws (the log unreachable) leaves nothing either, and the error goes on.
  BOOST_CHECK_THROW(r.origin->commitReplicated(
                        1, 1,
                        [](size_t, Writer& w) {
                          ok(w.createCompany("acme"));
                          return true;
                        },
                        {}, {}, [](std::string_view) -> bool { throw std::runtime_error("down"); }),
                    std::runtime_error);
  BOOST_TEST((dumpTables(*r.origin) == before));
  // Out of order: the next sequence only.
  BOOST_CHECK_THROW(r.origin->commitReplicated(
                        3, 1, [](size_t, Writer&) { return true; }, {}, {},
                        [](std::string_view) { return true; }),
                    std::logic_error);
}

BOOST_AUTO_TEST_CASE(a_replica_refuses_a_batch_out_of_order_corrupt_or_of_another_schema) {
  Replicas r;
  std::string first = r.commit(1, [](size_t, Writer& w) {
    ok(w.createCompany("acme"));
    return true;
  });
  std::string second = r.commit(1, [](size_t, Writer& w) {
    ok(w.createUser("alice"));
    return true;
  });
  std::string before = dumpTables(*r.replica);
  BOOST_CHECK_THROW(r.replica->applyReplicated(2, second), std::logic_error);  // 1 is missing
  for (size_t cut : {size_t{0}, size_t{3}, size_t{9}, first.size() / 2, first.size() - 1}) {
    BOOST_CHECK_THROW(r.replica->applyReplicated(1, first.substr(0, cut)), CorruptBatch);
  }
  std::string otherSchema = first;
  otherSchema[4] = static_cast<char>(otherSchema[4] + 1);  // the schema version's low byte
  BOOST_CHECK_EXCEPTION(r.replica->applyReplicated(1, otherSchema), CorruptBatch,
                        [](const CorruptBatch& e) {
                          return std::string(e.what()).find("schema version") != std::string::npos;
                        });
  BOOST_TEST((dumpTables(*r.replica) == before));
  BOOST_TEST(r.replica->appliedSequence() == 0u);
  // The second batch deletes nothing the first did not create; replayed on a store that lacks
  // what a delete removes, the replica stops instead of diverging.
  r.replica->applyReplicated(1, first);
  r.replica->applyReplicated(2, second);
  BOOST_TEST((dumpTables(*r.origin) == dumpTables(*r.replica)));
}

BOOST_AUTO_TEST_CASE(replication_meta_is_kept_locally_and_the_sequence_survives_a_reopen) {
  TempDir dir;
  StoreOptions o = testOptions(dir.path());
  o.replicated = true;
  {
    auto store = Store::open(o);
    BOOST_TEST(store->replicationMeta("stream").empty());
    store->setReplicationMeta("stream", "GATEHOUSE 1");
    store->commitReplicated(
        1, 1, [](size_t, Writer& w) { return ok(w.createCompany("acme")) > 0; }, {}, {},
        [](std::string_view) { return true; });
  }
  auto store = Store::open(o);
  BOOST_TEST(store->appliedSequence() == 1u);
  BOOST_TEST(store->replicationMeta("stream") == "GATEHOUSE 1");
}
