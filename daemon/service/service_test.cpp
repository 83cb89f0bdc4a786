// The service without sockets: access classes, unknown requests, limits, queued mutations, and
// the hot path's promise that answering checks allocates nothing.
#define BOOST_TEST_MODULE service
#include "service/service.hpp"

#include <capnp/schema.h>
#include <capnp/serialize.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <future>
#include <new>
#include <thread>

#include "credentials/api_key.hpp"
#include "service/test_support.hpp"
#include "store/test_support.hpp"

// Counts the C++ heap allocations made by this thread while `counting` is set (the service's own
// threads — writer, password pool — start when they like and are not the path under test).
namespace {
thread_local bool counting = false;
std::atomic<size_t> allocations{0};
}  // namespace

void* operator new(size_t n) {
  if (counting) allocations.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

using namespace gatehouse;
using namespace gatehouse::service;
using namespace gatehouse::protocol;
using namespace gatehouse::store::testing;
using gatehouse::service::testing::PromiseSink;

namespace {

// A decoded copy of the first framed response in `bytes`.
struct Decoded {
  explicit Decoded(const std::string& bytes)
      : words(kj::heapArray<capnp::word>(bytes.size() / 8)),
        reader((std::memcpy(words.begin(), bytes.data(), bytes.size()), words.asPtr())) {}
  wire::Response::Reader get() { return reader.getRoot<wire::Response>(); }
  kj::Array<capnp::word> words;
  capnp::FlatArrayMessageReader reader;
};

struct SodiumInit {
  SodiumInit() {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init");
  }
};
BOOST_GLOBAL_FIXTURE(SodiumInit);

struct Fixture {
  TempDir dir;
  std::unique_ptr<store::Store> db = store::Store::open(testOptions(dir.path()));
  credentials::Pepper pepper = credentials::Pepper::fromBytes(std::string(32, 'k'));
  Service service{*db, pepper, [] {
                    ServiceOptions o;
                    o.maxBatch = 16;
                    o.groupCommitMax = 8;
                    return o;
                  }()};
  std::unique_ptr<IoState> reader = service.newIoState();
  std::shared_ptr<PromiseSink> sink = std::make_shared<PromiseSink>();
  Peer admin{0, 0, 1, AccessClass::admin};
  Peer checker{1000, 1000, 2, AccessClass::check};
  uint64_t alice = 0, acme = 0;

  Fixture() {
    db->commit([&](store::Writer& w) {
      ok(w.definePermissions({"routers.read", "routers.reboot"}));
      acme = ok(w.createCompany("acme"));
      alice = ok(w.createUser("alice"));
      ok(w.setGrant(alice, acme, {"routers.read"}, {}));
      return true;
    });
  }

  // Handles one request built by `fill`; returns the inline answer (empty if queued).
  std::string handle(const Peer& peer, const std::function<void(wire::Request::Builder)>& fill,
                     bool* answeredInline = nullptr) {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<wire::Request>();
    r.setId(99);
    fill(r);
    std::string out;
    bool inlineAnswer =
        service.handle(*reader, peer, r.asReader(), out, *sink) == Disposition::answered;
    reader->release();
    if (answeredInline != nullptr) *answeredInline = inlineAnswer;
    return out;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(authorize_answers_inline_with_revision, Fixture) {
  Decoded d(handle(checker, [&](wire::Request::Builder r) {
    auto q = r.initAuthorize();
    q.setPrincipal(alice);
    q.setCompany(acme);
    q.setPermission("routers.read");
  }));
  BOOST_REQUIRE((d.get().which() == wire::Response::AUTHORIZE));
  BOOST_TEST(d.get().getId() == 99u);
  BOOST_TEST(d.get().getAuthorize().getAllowed());
  BOOST_TEST(d.get().getAuthorize().getRevision() > 0u);
}

BOOST_FIXTURE_TEST_CASE(check_class_cannot_mutate_and_nothing_is_queued, Fixture) {
  bool answeredInline = false;
  Decoded d(handle(
      checker, [](wire::Request::Builder r) { r.initCreateCompany().setName("x"); },
      &answeredInline));
  BOOST_TEST(answeredInline);
  BOOST_REQUIRE((d.get().which() == wire::Response::ERROR));
  BOOST_TEST((d.get().getError().getCode() == wire::ErrorCode::ACCESS_DENIED));
  BOOST_TEST(std::string(d.get().getError().getMessage().cStr()).find("uid 1000") !=
             std::string::npos);
  BOOST_TEST(service.mutationsCommitted() == 0u);
}

BOOST_FIXTURE_TEST_CASE(admin_mutation_is_answered_after_commit, Fixture) {
  bool answeredInline = true;
  std::string out = handle(
      admin, [](wire::Request::Builder r) { r.initCreateCompany().setName("globex"); },
      &answeredInline);
  BOOST_TEST(!answeredInline);
  BOOST_TEST(out.empty());
  Decoded d(sink->wait());
  BOOST_REQUIRE((d.get().which() == wire::Response::MUTATION));
  BOOST_TEST(d.get().getId() == 99u);
  BOOST_TEST(d.get().getMutation().getId() == acme + 1);
  // The answer came after the commit: a new snapshot sees it at that revision or later.
  Decoded look(handle(checker, [](wire::Request::Builder r) {
    auto q = r.initLookup();
    q.setKind(wire::EntityKind::COMPANY);
    q.setName("globex");
  }));
  BOOST_TEST(look.get().getLookup().getFound());
  BOOST_TEST(look.get().getLookup().getRevision() >= d.get().getMutation().getRevision());
}

BOOST_FIXTURE_TEST_CASE(refused_mutation_names_the_problem_and_changes_nothing, Fixture) {
  handle(admin, [&](wire::Request::Builder r) {
    auto g = r.initSetGrant();
    g.setPrincipal(alice);
    g.setCompany(acme);
    g.initPermissions(1).set(0, "routers.fly");
  });
  Decoded d(sink->wait());
  BOOST_REQUIRE((d.get().which() == wire::Response::ERROR));
  BOOST_TEST((d.get().getError().getCode() == wire::ErrorCode::NOT_FOUND));
  BOOST_TEST(std::string(d.get().getError().getMessage().cStr()).find("routers.fly") !=
             std::string::npos);
  Decoded still(handle(checker, [&](wire::Request::Builder r) {
    auto q = r.initAuthorize();
    q.setPrincipal(alice);
    q.setCompany(acme);
    q.setPermission("routers.read");
  }));
  BOOST_TEST(still.get().getAuthorize().getAllowed());
}

BOOST_FIXTURE_TEST_CASE(batch_limit_is_enforced_before_work, Fixture) {
  Decoded d(handle(checker, [](wire::Request::Builder r) { r.initAuthorizeBatch(17); }));
  BOOST_REQUIRE((d.get().which() == wire::Response::ERROR));
  BOOST_TEST((d.get().getError().getCode() == wire::ErrorCode::LIMIT_EXCEEDED));
  Decoded ok16(handle(checker, [](wire::Request::Builder r) { r.initAuthorizeBatch(16); }));
  BOOST_TEST((ok16.get().which() == wire::Response::AUTHORIZE_BATCH));
}

BOOST_FIXTURE_TEST_CASE(checks_allocate_nothing_in_the_steady_state, Fixture) {
  // Three requests, built once, answered over and over into one reused output buffer.
  capnp::MallocMessageBuilder one, batch, list;
  auto a = one.initRoot<wire::Request>().initAuthorize();
  a.setPrincipal(alice);
  a.setCompany(acme);
  a.setPermission("routers.read");
  auto items = batch.initRoot<wire::Request>().initAuthorizeBatch(16);
  for (auto item : items) {
    item.setPrincipal(alice);
    item.setCompany(acme);
    item.setPermission("routers.reboot");
  }
  auto l = list.initRoot<wire::Request>().initListPermissions();
  l.setPrincipal(alice);
  l.setCompany(acme);
  std::vector<wire::Request::Reader> requests = {one.getRoot<wire::Request>().asReader(),
                                                 batch.getRoot<wire::Request>().asReader(),
                                                 list.getRoot<wire::Request>().asReader()};

  std::string out;
  bool allInline = true;
  auto round = [&] {
    for (auto r : requests) {
      out.clear();
      allInline =
          service.handle(*reader, checker, r, out, *sink) == Disposition::answered && allInline;
    }
    reader->release();
  };
  round();  // warm-up: out grows to its working size, caches fill
  allocations = 0;
  counting = true;
  for (int i = 0; i < 1000; ++i) round();
  counting = false;
  BOOST_TEST(allInline);
  BOOST_TEST(allocations.load() == 0u);
}

BOOST_FIXTURE_TEST_CASE(check_access_with_a_valid_key_allocates_nothing_in_the_steady_state,
                        Fixture) {
  uint8_t secret[credentials::kKeySecretBytes];
  randombytes_buf(secret, sizeof secret);
  db->commit([&](store::Writer& w) {
    auto sa = ok(w.createServiceAccount("robot-with-a-long-name", acme, "checks access"));
    ok(w.setGrant(sa, acme, {"routers.read"}, {}));
    store::KeyRecord key;
    key.id = 77;
    key.principal = sa;
    key.createdAt = 1;
    key.hash = pepper.keyedHash(secret, sizeof secret);
    ok(w.addKey(key, 10, 1));
    return true;
  });
  capnp::MallocMessageBuilder m;
  auto q = m.initRoot<wire::Request>().initCheckAccess();
  q.setCredential(credentials::formatApiKey(77, secret));
  q.setCompany(acme);
  q.setPermission("routers.read");
  q.setSource("10.1.2.3:4567");
  auto request = m.getRoot<wire::Request>().asReader();

  std::string out;
  auto round = [&] {
    out.clear();
    bool answered = service.handle(*reader, checker, request, out, *sink) == Disposition::answered;
    reader->release();
    return answered && Decoded(out).get().getAccess().getAllowed();
  };
  BOOST_REQUIRE(round());  // warm-up: the key's usage entries exist, out has its size
  int allowed = 0;
  allocations = 0;
  counting = true;
  for (int i = 0; i < 1000; ++i) {
    out.clear();
    allowed +=
        service.handle(*reader, checker, request, out, *sink) == Disposition::answered ? 1 : 0;
    reader->release();
  }
  counting = false;
  BOOST_TEST(allowed == 1000);
  BOOST_TEST(Decoded(out).get().getAccess().getAllowed());
  BOOST_TEST(allocations.load() == 0u);
}

// The verified-key cache (service/verified_keys.hpp): a key accepted once is accepted again from
// the cache, but every change of its account, deadline, rate limit and changed character counts.
struct KeyFixture : Fixture {
  uint64_t robot = 0;
  uint8_t secret[credentials::kKeySecretBytes];
  std::string key;

  KeyFixture() {
    randombytes_buf(secret, sizeof secret);
    db->commit([&](store::Writer& w) {
      robot = ok(w.createServiceAccount("robot", acme, ""));
      ok(w.setGrant(robot, acme, {"routers.read"}, {}));
      addKey(w, 77, 0, 0);
      return true;
    });
    key = credentials::formatApiKey(77, secret);
  }

  // A key with the fixture's secret, for `owner` (0: robot).
  void addKey(store::Writer& w, uint64_t id, uint64_t expiresAt, uint64_t revokedAt,
              uint64_t owner = 0) {
    store::KeyRecord k;
    k.id = id;
    k.principal = owner != 0 ? owner : robot;
    k.createdAt = 1;
    k.expiresAt = expiresAt;
    k.revokedAt = revokedAt;
    k.hash = pepper.keyedHash(secret, sizeof secret);
    ok(w.addKey(k, 10, 1));
  }

  wire::CredentialRefusal access(const std::string& text, const std::string& source = "") {
    std::string out = handle(checker, [&](wire::Request::Builder r) {
      auto q = r.initCheckAccess();
      q.setCredential(text);
      q.setCompany(acme);
      q.setPermission("routers.read");
      q.setSource(source);
    });
    Decoded d(out);
    BOOST_REQUIRE(d.get().isAccess());
    return d.get().getAccess().getCredential();
  }
};

BOOST_FIXTURE_TEST_CASE(a_cached_key_is_accepted_again_and_refused_after_a_revocation, KeyFixture) {
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));  // from the cache
  db->commit([&](store::Writer& w) {
    ok(w.revokeKey(77, 1));
    return true;
  });
  BOOST_TEST((access(key) == wire::CredentialRefusal::KEY_REVOKED));
}

// A commit that touches neither the key nor its account (a grant, another account's key) leaves
// the key cached; one that touches the account (a new key for it) drops its entry.
BOOST_FIXTURE_TEST_CASE(a_cached_key_survives_commits_that_do_not_touch_its_account, KeyFixture) {
  auto hits = [&] { return reader->counters().verifiedKeys.hits.get(); };
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));  // verified in full, remembered
  uint64_t before = hits();
  db->commit([&](store::Writer& w) {
    ok(w.setGrant(alice, acme, {"routers.read", "routers.reboot"}, {}));
    ok(w.setGrant(robot, acme, {"routers.read", "routers.reboot"}, {}));
    addKey(w, 90, 0, 0, ok(w.createServiceAccount("other", acme, "")));
    return true;
  });
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));
  BOOST_TEST(hits() == before + 1);  // from the cache
  db->commit([&](store::Writer& w) {
    addKey(w, 91, 0, 0);  // the account's own keys changed
    return true;
  });
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));
  BOOST_TEST(hits() == before + 1);  // verified in full again
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));
  BOOST_TEST(hits() == before + 2);
}

BOOST_FIXTURE_TEST_CASE(a_cached_key_is_refused_once_its_account_is_disabled, KeyFixture) {
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));
  db->commit([&](store::Writer& w) {
    ok(w.setPrincipalState(robot, store::PrincipalState::disabled));
    return true;
  });
  BOOST_TEST((access(key) == wire::CredentialRefusal::DISABLED));
}

BOOST_FIXTURE_TEST_CASE(a_cached_key_is_refused_when_its_expiry_or_grace_passes, KeyFixture) {
  uint64_t soon = static_cast<uint64_t>(std::time(nullptr)) + 1;
  db->commit([&](store::Writer& w) {
    addKey(w, 79, soon, 0);  // expires
    addKey(w, 78, 0, soon);  // retires at the end of a rotation's grace
    return true;
  });
  std::string expiring = credentials::formatApiKey(79, secret);
  std::string retiring = credentials::formatApiKey(78, secret);
  BOOST_TEST((access(expiring) == wire::CredentialRefusal::NONE));
  BOOST_TEST((access(retiring) == wire::CredentialRefusal::NONE));
  while (static_cast<uint64_t>(std::time(nullptr)) < soon) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST((access(expiring) == wire::CredentialRefusal::KEY_EXPIRED));  // no commit between
  BOOST_TEST((access(retiring) == wire::CredentialRefusal::KEY_REVOKED));
}

BOOST_FIXTURE_TEST_CASE(a_changed_character_is_refused_after_the_key_is_cached, KeyFixture) {
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));
  int accepted = 0;
  for (size_t i = credentials::kKeyPrefix.size(); i < key.size(); ++i) {
    std::string typo = key;
    typo[i] = typo[i] == 'A' ? 'B' : 'A';
    accepted += access(typo) == wire::CredentialRefusal::NONE ? 1 : 0;
  }
  BOOST_TEST(accepted == 0);
  BOOST_TEST((access(key) == wire::CredentialRefusal::NONE));
}

BOOST_FIXTURE_TEST_CASE(a_rate_limited_source_is_refused_even_with_a_cached_key, KeyFixture) {
  BOOST_TEST((access(key, "10.0.0.9") == wire::CredentialRefusal::NONE));
  for (int i = 0; i < 10; ++i) access("gatesk_wrong", "10.0.0.9");  // the default threshold
  BOOST_TEST((access(key, "10.0.0.9") == wire::CredentialRefusal::RATE_LIMITED));
  BOOST_TEST((access(key, "10.0.0.10") == wire::CredentialRefusal::NONE));
}

BOOST_FIXTURE_TEST_CASE(keys_verify_in_full_with_the_cache_off, KeyFixture) {
  ServiceOptions options;
  options.credentials.verifiedKeyCache = 0;
  Service plain(*db, pepper, options);
  auto plainReader = plain.newIoState();
  auto check = [&] {
    capnp::MallocMessageBuilder m;
    auto q = m.initRoot<wire::Request>().initCheckAccess();
    q.setCredential(key);
    q.setCompany(acme);
    q.setPermission("routers.read");
    std::string out;
    plain.handle(*plainReader, checker, m.getRoot<wire::Request>().asReader(), out, *sink);
    plainReader->release();
    return Decoded(out).get().getAccess().getCredential();
  };
  BOOST_TEST((check() == wire::CredentialRefusal::NONE));
  BOOST_TEST((check() == wire::CredentialRefusal::NONE));
  db->commit([&](store::Writer& w) {
    ok(w.revokeKey(77, 1));
    return true;
  });
  BOOST_TEST((check() == wire::CredentialRefusal::KEY_REVOKED));
}

BOOST_AUTO_TEST_CASE(verified_keys_hold_two_per_set_and_evict_the_one_not_used_last) {
  credentials::SecretBytes tagKey(crypto_shorthash_siphashx24_KEYBYTES);
  randombytes_buf(tagKey.data(), tagKey.size());
  VerifiedKeys cache(tagKey, 2);  // one set: every tag lands in it
  auto entry = [&](std::string_view text, uint64_t id) {
    VerifiedKeys::Entry e;
    e.tag = cache.tag(text);
    e.keyId = id;
    e.principal = 100 + id;
    return e;
  };
  auto found = [&](std::string_view text) -> uint64_t {
    auto* e = cache.find(cache.tag(text));
    return e != nullptr ? e->keyId : 0;
  };
  cache.remember(entry("key-a", 1));
  cache.remember(entry("key-b", 2));
  BOOST_TEST(found("key-a") == 1u);
  BOOST_TEST(found("key-b") == 2u);
  BOOST_TEST(found("key-a") == 1u);   // a used last
  cache.remember(entry("key-c", 3));  // evicts b
  BOOST_TEST(found("key-a") == 1u);
  BOOST_TEST(found("key-b") == 0u);
  BOOST_TEST(found("key-c") == 3u);
  BOOST_TEST(found("key-d") == 0u);
  VerifiedKeys off(tagKey, 0);
  off.remember(entry("key-a", 1));
  BOOST_TEST(!off.enabled());
  BOOST_TEST(off.find(off.tag("key-a")) == nullptr);
}

// A commit drops the entries of the accounts it touched, and only those; `all` drops every one,
// and the freed ways take new keys.
BOOST_AUTO_TEST_CASE(verified_keys_forget_the_accounts_a_commit_touched) {
  credentials::SecretBytes tagKey(crypto_shorthash_siphashx24_KEYBYTES);
  randombytes_buf(tagKey.data(), tagKey.size());
  VerifiedKeys cache(tagKey, 64);
  auto remember = [&](std::string_view text, uint64_t id, uint64_t principal) {
    VerifiedKeys::Entry e;
    e.tag = cache.tag(text);
    e.keyId = id;
    e.principal = principal;
    cache.remember(e);
  };
  auto found = [&](std::string_view text) { return cache.find(cache.tag(text)) != nullptr; };
  remember("key-a", 1, 10);
  remember("key-b", 2, 20);
  remember("key-c", 3, 30);
  cache.forget(false, {});  // a commit of grants only
  BOOST_TEST((found("key-a") && found("key-b") && found("key-c")));
  cache.forget(false, {20, 40});
  BOOST_TEST(found("key-a"));
  BOOST_TEST(!found("key-b"));
  BOOST_TEST(found("key-c"));
  remember("key-b", 2, 20);  // verified again in full
  BOOST_TEST(found("key-b"));
  cache.forget(true, {});
  BOOST_TEST((!found("key-a") && !found("key-b") && !found("key-c")));
  remember("key-a", 1, 10);
  BOOST_TEST(found("key-a"));
}

// A password job that throws on the pool (here: Argon2id refuses a memory limit beyond what it
// supports) is answered `failed` exactly once, and the service still stops.
BOOST_AUTO_TEST_CASE(a_password_job_that_throws_is_answered_failed_and_shutdown_finishes) {
  TempDir dir;
  auto db = store::Store::open(testOptions(dir.path()));
  auto pepper = credentials::Pepper::fromBytes(std::string(32, 'k'));
  uint64_t alice = 0;
  db->commit([&](store::Writer& w) {
    alice = ok(w.createUser("alice"));
    return true;
  });
  ServiceOptions options;
  options.credentials.password.memLimit = SIZE_MAX;  // crypto_pwhash_str_alg fails
  Service service(*db, pepper, options);
  auto io = service.newIoState();
  Peer admin{0, 0, 1, AccessClass::admin};
  auto send = [&](const std::function<void(wire::Request::Builder)>& fill,
                  const std::shared_ptr<PromiseSink>& sink) {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<wire::Request>();
    r.setId(5);
    fill(r);
    std::string out;
    auto disposition = service.handle(*io, admin, r.asReader(), out, *sink);
    io->release();
    return disposition;
  };
  auto setPassword = std::make_shared<PromiseSink>();
  auto checkPassword = std::make_shared<PromiseSink>();
  BOOST_REQUIRE((send(
                     [&](wire::Request::Builder r) {
                       auto q = r.initSetPassword();
                       q.setUser(alice);
                       q.setPassword("a long enough password");
                     },
                     setPassword) == Disposition::queued));
  BOOST_REQUIRE((send(
                     [&](wire::Request::Builder r) {
                       auto q = r.initCheckCredential();
                       q.setUser("nobody");  // checked against the dummy hash, which fails
                       q.setCredential("some password");
                     },
                     checkPassword) == Disposition::queued));
  for (auto* sink : {&setPassword, &checkPassword}) {
    auto answer = (*sink)->future();
    BOOST_REQUIRE((answer.wait_for(std::chrono::seconds(30)) == std::future_status::ready));
    Decoded d(answer.get());
    BOOST_REQUIRE((d.get().which() == wire::Response::ERROR));
    BOOST_TEST((d.get().getError().getCode() == wire::ErrorCode::FAILED));
    BOOST_TEST(d.get().getId() == 5u);
  }
  service.stop();  // returns: nothing waits for an answer that never comes
  BOOST_TEST(service.mutationsCommitted() == 0u);
}

// The actor path's saSetState refuses a state this build does not know, like setPrincipalState,
// instead of reading it as `active`.
BOOST_FIXTURE_TEST_CASE(sa_set_state_refuses_an_unknown_state, Fixture) {
  uint64_t robot = 0;
  db->commit([&](store::Writer& w) {
    ok(w.definePermissions({"service_accounts.manage"}));
    robot = ok(w.createServiceAccount("robot", acme, ""));
    ok(w.setPrincipalState(robot, store::PrincipalState::disabled));
    ok(w.setGrant(alice, acme, {"routers.read", "service_accounts.manage"}, {}));
    return true;
  });
  auto setState = [&](wire::PrincipalState state, bool system) {
    sink = std::make_shared<PromiseSink>();
    handle(admin, [&](wire::Request::Builder r) {
      if (system) {
        auto q = r.initSetPrincipalState();
        q.setPrincipal(robot);
        q.setState(state);
        return;
      }
      r.setActor(alice);
      r.setActiveCompany(acme);
      auto q = r.initSaSetState();
      q.setPrincipal(robot);
      q.setState(state);
    });
    return Decoded(sink->wait());
  };
  auto unknown = static_cast<wire::PrincipalState>(7);
  for (bool system : {false, true}) {
    Decoded refused = setState(unknown, system);
    BOOST_REQUIRE((refused.get().which() == wire::Response::ERROR));
    BOOST_TEST((refused.get().getError().getCode() == wire::ErrorCode::INVALID_ARGUMENT));
    BOOST_TEST(std::string(refused.get().getError().getMessage().cStr()).find("state") !=
               std::string::npos);
  }
  // Still disabled: nothing changed. A known state is applied.
  store::Snapshot snap(*db);
  snap.begin();
  BOOST_TEST((snap.reader().principalState(robot) == store::PrincipalState::disabled));
  snap.end();
  Decoded enabled = setState(wire::PrincipalState::ACTIVE, false);
  BOOST_TEST((enabled.get().which() == wire::Response::MUTATION));
}

// The table: every request kind of the schema has exactly one row (one row per kind is checked at
// compile time), and every row has the handler its route calls and, when it mutates, an audit
// target.
BOOST_AUTO_TEST_CASE(every_request_kind_has_a_complete_row) {
  auto kinds = capnp::Schema::from<wire::Request>().getUnionFields();
  BOOST_TEST(requestRows().size() == kinds.size());
  for (auto field : kinds) {
    auto which = static_cast<wire::Request::Which>(field.getProto().getDiscriminantValue());
    const RequestRow* row = requestRow(which);
    BOOST_REQUIRE_MESSAGE(row != nullptr, "no row for " << field.getProto().getName().cStr());
    bool handled = (row->route == Route::snapshot && row->answer != nullptr) ||
                   (row->route == Route::writer && row->apply != nullptr) ||
                   (row->route == Route::pool && row->start != nullptr);
    BOOST_TEST(handled, field.getProto().getName().cStr());
    // Admin requests that change something are audited; a backup changes nothing (it is logged),
    // nor does asking for descriptors.
    if (row->access == AccessClass::admin && row->route != Route::snapshot &&
        row->which != wire::Request::BACKUP && row->which != wire::Request::ACCEPT_DESCRIPTORS) {
      BOOST_TEST(row->target != nullptr, field.getProto().getName().cStr());
    }
  }
}

// A check-class peer may not list an account's keys: key ids would let it aim failures at the
// account, and a controller checking access has no use for them.
BOOST_FIXTURE_TEST_CASE(list_keys_is_admin_class, Fixture) {
  bool answeredInline = false;
  Decoded refused(handle(
      checker, [](wire::Request::Builder r) { r.setListKeys(1); }, &answeredInline));
  BOOST_TEST(answeredInline);
  BOOST_REQUIRE((refused.get().which() == wire::Response::ERROR));
  BOOST_TEST((refused.get().getError().getCode() == wire::ErrorCode::ACCESS_DENIED));
  Decoded allowed(handle(admin, [](wire::Request::Builder r) { r.setListKeys(1); }));
  BOOST_TEST((allowed.get().which() == wire::Response::ERROR));  // no such account, but asked
  BOOST_TEST((allowed.get().getError().getCode() == wire::ErrorCode::NOT_FOUND));
}

namespace {

// Service accounts across companies, through the service: acme owns `robot`; north and stranger
// are other companies, each with an administrator holding service_accounts.manage and .read.
struct SharingFixture : Fixture {
  uint64_t north = 0, stranger = 0, nadia = 0, sam = 0, robot = 0, robotKey = 0;

  SharingFixture() {
    db->commit([&](store::Writer& w) {
      ok(w.definePermissions({"service_accounts.manage", "service_accounts.read"}));
      north = ok(w.createCompany("north"));
      stranger = ok(w.createCompany("stranger"));
      nadia = ok(w.createUser("nadia"));
      sam = ok(w.createUser("sam"));
      std::vector<std::string_view> admin{"routers.read", "service_accounts.manage",
                                          "service_accounts.read"};
      ok(w.setGrant(alice, acme, admin, {}));
      ok(w.setGrant(nadia, north, admin, {}));
      ok(w.setGrant(sam, stranger, admin, {}));
      robot = ok(w.createServiceAccount("robot", acme, "acme's script"));
      return true;
    });
    Decoded key(act(alice, acme, [&](wire::Request::Builder r) {
      r.initSaKeyCreate().setServiceAccount(robot);
    }));
    BOOST_REQUIRE((key.get().which() == wire::Response::KEY_ISSUED));
    robotKey = key.get().getKeyIssued().getKeyId();
  }

  // One actor request; the answer, inline or from the writer.
  std::string act(uint64_t actor, uint64_t company,
                  const std::function<void(wire::Request::Builder)>& fill) {
    sink = std::make_shared<PromiseSink>();
    bool answeredInline = false;
    std::string out = handle(
        admin,
        [&](wire::Request::Builder r) {
          fill(r);
          r.setActor(actor);
          r.setActiveCompany(company);
        },
        &answeredInline);
    return answeredInline ? out : sink->wait();
  }

  std::string share(uint64_t actor, uint64_t company, uint64_t account, uint64_t with,
                    bool offer = true) {
    return act(actor, company, [&](wire::Request::Builder r) {
      auto q = offer ? r.initSaShare() : r.initSaUnshare();
      q.setServiceAccount(account);
      q.setCompany(with);
    });
  }

  std::string grant(uint64_t actor, uint64_t company, uint64_t account) {
    return act(actor, company, [&](wire::Request::Builder r) {
      auto g = r.initSaGrant();
      g.setPrincipal(account);
      g.initPermissions(1).set(0, "routers.read");
    });
  }

  bool allowed(uint64_t company) {
    Decoded d(handle(checker, [&](wire::Request::Builder r) {
      auto q = r.initAuthorize();
      q.setPrincipal(robot);
      q.setCompany(company);
      q.setPermission("routers.read");
    }));
    return d.get().getAuthorize().getAllowed();
  }
};

// Every actor request that names a service account (or one of its keys), with the id to name.
using AccountRequest = std::function<void(wire::Request::Builder, uint64_t)>;
std::vector<std::pair<std::string, AccountRequest>> accountRequests(uint64_t company) {
  return {
      {"saShow", [](wire::Request::Builder r, uint64_t id) { r.setSaShow(id); }},
      {"saDescribe",
       [](wire::Request::Builder r, uint64_t id) {
         auto q = r.initSaDescribe();
         q.setServiceAccount(id);
         q.setDescription("x");
       }},
      {"saResetCredentials",
       [](wire::Request::Builder r, uint64_t id) { r.setSaResetCredentials(id); }},
      {"saSetState",
       [](wire::Request::Builder r, uint64_t id) {
         auto q = r.initSaSetState();
         q.setPrincipal(id);
         q.setState(wire::PrincipalState::DISABLED);
       }},
      {"saDelete", [](wire::Request::Builder r, uint64_t id) { r.setSaDelete(id); }},
      {"saGrant",
       [](wire::Request::Builder r, uint64_t id) {
         auto g = r.initSaGrant();
         g.setPrincipal(id);
         g.initPermissions(1).set(0, "routers.read");
       }},
      {"saRevoke", [](wire::Request::Builder r, uint64_t id) { r.setSaRevoke(id); }},
      {"saCompanies", [](wire::Request::Builder r, uint64_t id) { r.setSaCompanies(id); }},
      {"saKeyCreate",
       [](wire::Request::Builder r, uint64_t id) { r.initSaKeyCreate().setServiceAccount(id); }},
      {"saKeyRotate",
       [](wire::Request::Builder r, uint64_t id) {
         auto q = r.initSaKeyRotate();
         q.setServiceAccount(id);
         q.setGraceSeconds(60);
       }},
      {"saShare",
       [company](wire::Request::Builder r, uint64_t id) {
         auto q = r.initSaShare();
         q.setServiceAccount(id);
         q.setCompany(company);
       }},
      {"saUnshare",
       [company](wire::Request::Builder r, uint64_t id) {
         auto q = r.initSaUnshare();
         q.setServiceAccount(id);
         q.setCompany(company);
       }},
      {"saSetCeiling",
       [](wire::Request::Builder r, uint64_t id) {
         auto q = r.initSaSetCeiling();
         q.setServiceAccount(id);
         q.initPermissions(1).set(0, "routers.read");
       }},
  };
}

// The answer's code and message with every occurrence of `id` replaced by "ID".
std::pair<wire::ErrorCode, std::string> errorShape(const std::string& answer, uint64_t id) {
  Decoded d(answer);
  if (d.get().which() != wire::Response::ERROR) return {wire::ErrorCode::MALFORMED, "not an error"};
  std::string message = d.get().getError().getMessage().cStr();
  std::string needle = std::to_string(id);
  for (size_t at = message.find(needle); at != std::string::npos; at = message.find(needle, at)) {
    message.replace(at, needle.size(), "ID");
  }
  return {d.get().getError().getCode(), message};
}

}  // namespace

// No existence leaks: to a company with no relation to an account, every request about it is
// answered exactly as for an id that names nothing; nothing changes.
BOOST_FIXTURE_TEST_CASE(an_unrelated_account_is_answered_as_a_missing_one, SharingFixture) {
  const uint64_t missing = 4000;
  for (auto& [name, fill] : accountRequests(north)) {
    auto unrelated = errorShape(act(sam, stranger, [&](auto r) { fill(r, robot); }), robot);
    auto absent = errorShape(act(sam, stranger, [&](auto r) { fill(r, missing); }), missing);
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST((unrelated.first == wire::ErrorCode::NOT_FOUND));
      BOOST_TEST((unrelated == absent), unrelated.second << " vs " << absent.second);
    }
  }
  // A key of the account: as a key that does not exist.
  auto key = errorShape(act(sam, stranger, [&](auto r) { r.setSaKeyRevoke(robotKey); }), robotKey);
  auto noKey = errorShape(act(sam, stranger, [&](auto r) { r.setSaKeyRevoke(4001); }), 4001);
  BOOST_TEST((key.first == wire::ErrorCode::NOT_FOUND));
  BOOST_TEST((key == noKey), key.second << " vs " << noKey.second);
  // Nothing changed, and the account is not in the stranger's list.
  BOOST_TEST(allowed(acme) == false);  // it never held a grant in acme
  Decoded list(act(sam, stranger, [](auto r) { r.setSaList(); }));
  BOOST_TEST(list.get().getSaView().getRows().size() == 0u);
  Decoded row(act(alice, acme, [&](auto r) { r.setSaShow(robot); }));
  BOOST_TEST(std::string(row.get().getSaView().getRows()[0].getDescription().cStr()) ==
             "acme's script");
  BOOST_TEST(row.get().getSaView().getRows()[0].getKeys().size() == 1u);
}

// A related company that is not the owner (offered, or granted) keeps the old answers: notOwner
// for what only the owner may do.
BOOST_FIXTURE_TEST_CASE(an_offered_company_is_told_it_is_not_the_owner, SharingFixture) {
  Decoded shared(share(alice, acme, robot, north));
  BOOST_REQUIRE((shared.get().which() == wire::Response::MUTATION));
  for (auto& [name, fill] : accountRequests(stranger)) {
    if (name == "saShow" || name == "saGrant" || name == "saRevoke") continue;
    auto answer = errorShape(act(nadia, north, [&](auto r) { fill(r, robot); }), robot);
    BOOST_TEST_CONTEXT(name) { BOOST_TEST((answer.first == wire::ErrorCode::NOT_OWNER)); }
  }
  auto key = errorShape(act(nadia, north, [&](auto r) { r.setSaKeyRevoke(robotKey); }), robotKey);
  BOOST_TEST((key.first == wire::ErrorCode::NOT_OWNER));
  // Offered, not granted: it shows, and removing access it does not have is notFound.
  Decoded row(act(nadia, north, [&](auto r) { r.setSaShow(robot); }));
  BOOST_REQUIRE((row.get().which() == wire::Response::SA_VIEW));
  auto r = row.get().getSaView().getRows()[0];
  BOOST_TEST((r.getRelation() == wire::Relation::EXTERNAL));
  BOOST_TEST(r.getOffered());
  BOOST_TEST(!r.getHasAccess());
  BOOST_TEST(r.getOfferedTo().size() == 0u);  // the owner's business
  BOOST_TEST(r.getActions().getEditPermissions());
  BOOST_TEST(!r.getActions().getRemoveAccess());
  BOOST_TEST(!r.getActions().getShare());
  Decoded revoke(act(nadia, north, [&](auto q) { q.setSaRevoke(robot); }));
  BOOST_TEST((revoke.get().getError().getCode() == wire::ErrorCode::NOT_FOUND));
}

// Sharing needs the owner's consent: a grant without an offer is refused as for a missing
// account; with one, it is accepted; withdrawing removes the offer and the access, audited in
// both companies.
BOOST_FIXTURE_TEST_CASE(granting_needs_an_offer_and_withdrawing_ends_access, SharingFixture) {
  auto refused = errorShape(grant(nadia, north, robot), robot);
  BOOST_TEST((refused.first == wire::ErrorCode::NOT_FOUND));
  BOOST_TEST(!allowed(north));

  // Only the owner offers, to an existing other company, with service_accounts.manage.
  BOOST_TEST((errorShape(share(alice, acme, robot, acme), robot).first ==
              wire::ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST(
      (errorShape(share(alice, acme, robot, 777), robot).first == wire::ErrorCode::NOT_FOUND));
  BOOST_TEST((errorShape(share(sam, stranger, robot, stranger), robot).first ==
              wire::ErrorCode::NOT_FOUND));  // unrelated: not even told it exists
  uint64_t clerk = 0;
  db->commit([&](store::Writer& w) {
    clerk = ok(w.createUser("clerk"));
    ok(w.setGrant(clerk, acme, {"service_accounts.read"}, {}));
    return true;
  });
  BOOST_TEST(
      (errorShape(share(clerk, acme, robot, north), robot).first == wire::ErrorCode::FORBIDDEN));

  Decoded offered(share(alice, acme, robot, north));
  BOOST_REQUIRE((offered.get().which() == wire::Response::MUTATION));
  Decoded granted(grant(nadia, north, robot));
  BOOST_REQUIRE((granted.get().which() == wire::Response::MUTATION));
  BOOST_TEST(allowed(north));
  // The offered company may not pass it on.
  BOOST_TEST((errorShape(share(nadia, north, robot, stranger), robot).first ==
              wire::ErrorCode::NOT_OWNER));

  // The owner's view lists the offer; `sa companies` the grant.
  Decoded mine(act(alice, acme, [&](auto r) { r.setSaShow(robot); }));
  auto row = mine.get().getSaView().getRows()[0];
  BOOST_REQUIRE(row.getOfferedTo().size() == 1u);
  BOOST_TEST(row.getOfferedTo()[0].getId() == north);
  BOOST_TEST(std::string(row.getOfferedTo()[0].getName().cStr()) == "north");
  BOOST_TEST(row.getActions().getShare());

  // Withdrawn: no offer, no access; a second withdrawal finds nothing.
  Decoded withdrawn(share(alice, acme, robot, north, false));
  BOOST_REQUIRE((withdrawn.get().which() == wire::Response::MUTATION));
  BOOST_TEST(!allowed(north));
  BOOST_TEST((errorShape(share(alice, acme, robot, north, false), robot).first ==
              wire::ErrorCode::NOT_FOUND));
  BOOST_TEST((errorShape(grant(nadia, north, robot), robot).first == wire::ErrorCode::NOT_FOUND));
  Decoded list(act(nadia, north, [](auto r) { r.setSaList(); }));
  BOOST_TEST(list.get().getSaView().getRows().size() == 0u);

  // Both audits show the withdrawal.
  for (auto [actor, company] : {std::pair{alice, acme}, std::pair{nadia, north}}) {
    db->commit([&](store::Writer& w) {
      ok(w.definePermissions({"audit.read"}));
      ok(w.setGrant(
          actor, company,
          {"routers.read", "service_accounts.manage", "service_accounts.read", "audit.read"}, {}));
      return true;
    });
    Decoded audit(act(actor, company, [](auto r) { r.initAuditList(); }));
    bool seen = false;
    for (auto e : audit.get().getAudit().getEvents()) {
      seen = seen || (std::string(e.getOperation().cStr()) == "saUnshare" &&
                      std::string(e.getOutcome().cStr()) == "ok");
    }
    BOOST_TEST(seen, "saUnshare in the audit of company " << company);
  }
}

namespace {

std::vector<std::string> missingOf(Decoded& d) {
  std::vector<std::string> out;
  if (d.get().which() != wire::Response::ERROR) return out;
  for (auto name : d.get().getError().getMissing()) out.emplace_back(name.cStr());
  return out;
}

std::vector<std::string> texts(capnp::List<capnp::Text>::Reader list) {
  std::vector<std::string> out;
  for (auto t : list) out.emplace_back(t.cStr());
  return out;
}

}  // namespace

// Ceilings: only the owner sets one; lowering it trims the grants elsewhere (direct permissions
// outside it go, roles exceeding it leave the grant), audited where it changed something; then
// grants and role edits above it are refused with aboveCeiling, by an actor or the platform;
// the owner's own grant is never bound; clearing it lifts the limit.
BOOST_FIXTURE_TEST_CASE(a_ceiling_bounds_what_other_companies_grant, SharingFixture) {
  uint64_t ops = 0, viewer = 0, clerk = 0;
  std::vector<std::string_view> admin{
      "routers.read",          "routers.reboot", "service_accounts.manage",
      "service_accounts.read", "roles.manage",   "audit.read"};
  db->commit([&](store::Writer& w) {
    ok(w.definePermissions({"roles.manage", "audit.read"}));
    ok(w.setGrant(alice, acme, admin, {}));
    ok(w.setGrant(nadia, north, admin, {}));
    ok(w.setGrant(sam, stranger, admin, {}));
    ops = ok(w.createRole(north, "ops", {"routers.reboot"}));
    viewer = ok(w.createRole(north, "viewer", {"routers.read"}));
    clerk = ok(w.createUser("clerk"));
    ok(w.setGrant(clerk, acme, {"service_accounts.read"}, {}));
    ok(w.setGrant(robot, acme, {"routers.reboot"}, {}));
    return true;
  });
  auto ceiling = [&](uint64_t actor, uint64_t company, std::vector<std::string> perms,
                     bool clear = false) {
    return act(actor, company, [&](wire::Request::Builder r) {
      auto q = r.initSaSetCeiling();
      q.setServiceAccount(robot);
      auto list = q.initPermissions(static_cast<unsigned>(perms.size()));
      for (unsigned i = 0; i < perms.size(); ++i) list.set(i, perms[i]);
      q.setClear(clear);
    });
  };
  auto grantWith = [&](std::vector<std::string> perms, std::vector<uint64_t> roles) {
    return act(nadia, north, [&](wire::Request::Builder r) {
      auto g = r.initSaGrant();
      g.setPrincipal(robot);
      auto list = g.initPermissions(static_cast<unsigned>(perms.size()));
      for (unsigned i = 0; i < perms.size(); ++i) list.set(i, perms[i]);
      auto ids = g.initRoles(static_cast<unsigned>(roles.size()));
      for (unsigned i = 0; i < roles.size(); ++i) ids.set(i, roles[i]);
    });
  };
  auto may = [&](uint64_t company, const char* permission) {
    Decoded d(handle(checker, [&](wire::Request::Builder r) {
      auto q = r.initAuthorize();
      q.setPrincipal(robot);
      q.setCompany(company);
      q.setPermission(permission);
    }));
    return d.get().getAuthorize().getAllowed();
  };
  auto code = [](const std::string& answer) {
    Decoded d(answer);
    return d.get().which() == wire::Response::ERROR ? d.get().getError().getCode()
                                                    : wire::ErrorCode::MALFORMED;
  };

  Decoded offered(share(alice, acme, robot, north));
  BOOST_REQUIRE((offered.get().which() == wire::Response::MUTATION));
  Decoded granted(grantWith({"routers.read", "routers.reboot"}, {ops}));
  BOOST_REQUIRE((granted.get().which() == wire::Response::MUTATION));
  BOOST_TEST(may(north, "routers.reboot"));

  // The refusals: without service_accounts.manage, from a related non-owner, from an unrelated
  // company, a ceiling that is both cleared and given, an unknown permission.
  BOOST_TEST((code(ceiling(clerk, acme, {"routers.read"})) == wire::ErrorCode::FORBIDDEN));
  BOOST_TEST((code(ceiling(nadia, north, {"routers.read"})) == wire::ErrorCode::NOT_OWNER));
  BOOST_TEST((code(ceiling(sam, stranger, {"routers.read"})) == wire::ErrorCode::NOT_FOUND));
  BOOST_TEST(
      (code(ceiling(alice, acme, {"routers.read"}, true)) == wire::ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST((code(ceiling(alice, acme, {"routers.nope"})) == wire::ErrorCode::NOT_FOUND));
  BOOST_TEST(may(north, "routers.reboot"));  // nothing changed

  // Lowering it trims north's grant: routers.reboot goes, and so does the role `ops`.
  Decoded lowered(ceiling(alice, acme, {"routers.read"}));
  BOOST_REQUIRE((lowered.get().which() == wire::Response::MUTATION));
  BOOST_TEST(!may(north, "routers.reboot"));
  BOOST_TEST(may(north, "routers.read"));
  BOOST_TEST(may(acme, "routers.reboot"));  // the owner's own grant is not bound
  Decoded theirs(act(nadia, north, [&](auto r) { r.setSaShow(robot); }));
  auto row = theirs.get().getSaView().getRows()[0];
  BOOST_TEST(row.getHasCeiling());
  BOOST_TEST((texts(row.getCeiling()) == std::vector<std::string>{"routers.read"}));
  BOOST_TEST((texts(row.getPermissions()) == std::vector<std::string>{"routers.read"}));
  BOOST_TEST(row.getRoles().size() == 0u);
  Decoded mine(act(alice, acme, [&](auto r) { r.setSaShow(robot); }));
  BOOST_TEST(mine.get().getSaView().getRows()[0].getHasCeiling());
  BOOST_TEST((texts(mine.get().getSaView().getRows()[0].getCeiling()) ==
              std::vector<std::string>{"routers.read"}));

  // Above it: a grant (directly or through a role), a role edit, the platform's setGrant.
  Decoded direct(grantWith({"routers.read", "routers.reboot"}, {}));
  BOOST_TEST((direct.get().getError().getCode() == wire::ErrorCode::ABOVE_CEILING));
  BOOST_TEST((missingOf(direct) == std::vector<std::string>{"routers.reboot"}));
  Decoded throughRole(grantWith({}, {ops}));
  BOOST_TEST((missingOf(throughRole) == std::vector<std::string>{"routers.reboot"}));
  Decoded withViewer(grantWith({}, {viewer}));
  BOOST_REQUIRE((withViewer.get().which() == wire::Response::MUTATION));
  Decoded edit(act(nadia, north, [&](wire::Request::Builder r) {
    auto q = r.initRoleEdit();
    q.setRole(viewer);
    auto list = q.initPermissions(2);
    list.set(0, "routers.read");
    list.set(1, "routers.reboot");
  }));
  BOOST_TEST((edit.get().getError().getCode() == wire::ErrorCode::ABOVE_CEILING));
  BOOST_TEST((missingOf(edit) == std::vector<std::string>{"routers.reboot"}));
  Decoded platform(act(0, 0, [&](wire::Request::Builder r) {  // the system context
    auto q = r.initSetGrant();
    q.setPrincipal(robot);
    q.setCompany(north);
    q.initPermissions(1).set(0, "routers.reboot");
  }));
  BOOST_TEST((platform.get().getError().getCode() == wire::ErrorCode::ABOVE_CEILING));
  BOOST_TEST(!may(north, "routers.reboot"));
  // The owner grants itself what it likes.
  Decoded own(act(alice, acme, [&](wire::Request::Builder r) {
    auto g = r.initSaGrant();
    g.setPrincipal(robot);
    auto list = g.initPermissions(2);
    list.set(0, "routers.read");
    list.set(1, "routers.reboot");
  }));
  BOOST_TEST((own.get().which() == wire::Response::MUTATION));

  // The trim is audited in north (where it changed something), not in stranger.
  auto sawCeiling = [&](uint64_t actor, uint64_t company) {
    Decoded audit(act(actor, company, [](auto r) { r.initAuditList(); }));
    for (auto e : audit.get().getAudit().getEvents()) {
      if (std::string(e.getOperation().cStr()) == "saSetCeiling" &&
          std::string(e.getOutcome().cStr()) == "ok") {
        return true;
      }
    }
    return false;
  };
  BOOST_TEST(sawCeiling(alice, acme));
  BOOST_TEST(sawCeiling(nadia, north));
  BOOST_TEST(!sawCeiling(sam, stranger));

  // Cleared: no limit again.
  Decoded cleared(ceiling(alice, acme, {}, true));
  BOOST_REQUIRE((cleared.get().which() == wire::Response::MUTATION));
  Decoded after(grantWith({"routers.reboot"}, {}));
  BOOST_TEST((after.get().which() == wire::Response::MUTATION));
  BOOST_TEST(may(north, "routers.reboot"));
  Decoded view(act(nadia, north, [&](auto r) { r.setSaShow(robot); }));
  BOOST_TEST(!view.get().getSaView().getRows()[0].getHasCeiling());
}

// Dry runs: the impact of a role edit held by more grants than an answer lists (bounded, with the
// total), nothing written, nothing audited; a request that cannot be previewed is refused before
// it is queued; a refused dry run answers the refusal.
BOOST_FIXTURE_TEST_CASE(a_dry_run_answers_the_impact_and_writes_nothing, Fixture) {
  uint64_t role = 0;
  constexpr uint64_t kHolders = 1100;
  db->commit([&](store::Writer& w) {
    role = ok(w.createRole(0, "readers", {"routers.read"}));
    for (uint64_t i = 0; i < kHolders; ++i) {
      uint64_t u = ok(w.createUser("holder" + std::to_string(i)));
      ok(w.setGrant(u, acme, {}, {role}));
    }
    return true;
  });
  uint64_t before = db->revision();
  auto edit = [&](wire::Request::Builder r) {
    r.setDryRun(true);
    auto q = r.initUpdateRole();
    q.setRole(role);
    q.initPermissions(1).set(0, "routers.reboot");
  };
  BOOST_TEST(handle(admin, edit).empty());  // queued, like any mutation
  Decoded d(sink->wait());
  BOOST_REQUIRE((d.get().which() == wire::Response::IMPACT));
  auto impact = d.get().getImpact();
  BOOST_TEST(impact.getTotal() == kHolders);
  BOOST_REQUIRE(impact.getChanges().size() == 1000u);
  auto first = impact.getChanges()[0];
  BOOST_TEST(first.getCompany() == acme);
  BOOST_TEST(first.getGained().size() == 1u);
  BOOST_TEST(std::string(first.getGained()[0].cStr()) == "routers.reboot");
  BOOST_TEST(std::string(first.getLost()[0].cStr()) == "routers.read");
  BOOST_TEST(impact.getChanges()[1].getPrincipal() > first.getPrincipal());  // ascending
  BOOST_TEST(db->revision() == before);  // nothing was written, not even an audit event
  Decoded still(handle(checker, [&](wire::Request::Builder r) {
    auto q = r.initAuthorize();
    q.setPrincipal(first.getPrincipal());
    q.setCompany(acme);
    q.setPermission("routers.read");
  }));
  BOOST_TEST(still.get().getAuthorize().getAllowed());

  // A refusal is answered as it would be; what cannot change permissions is refused at once.
  sink = std::make_shared<PromiseSink>();  // one answer per sink
  handle(admin, [&](wire::Request::Builder r) {
    r.setDryRun(true);
    r.initUpdateRole().setRole(999);
  });
  Decoded refused(sink->wait());
  BOOST_REQUIRE((refused.get().which() == wire::Response::ERROR));
  BOOST_TEST((refused.get().getError().getCode() == wire::ErrorCode::NOT_FOUND));
  bool inlineAnswer = false;
  Decoded unsupported(handle(
      admin,
      [&](wire::Request::Builder r) {
        r.setDryRun(true);
        r.initCreateCompany().setName("x");
      },
      &inlineAnswer));
  BOOST_TEST(inlineAnswer);
  BOOST_TEST((unsupported.get().getError().getCode() == wire::ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST(std::string(unsupported.get().getError().getMessage().cStr()) ==
             "dryRun: createCompany cannot be previewed (it changes no effective permissions)");
}
