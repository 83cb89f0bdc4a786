// Fault injection into the writer's LMDB calls, for every position of the fault over a mixed
// workload.
//
// This test binary interposes the LMDB functions the store calls to write (mdb_txn_begin of a
// write transaction, mdb_put, mdb_del, mdb_txn_commit) and the syncs LMDB makes inside a durable
// commit (fdatasync, fsync). Once armed, the Nth such call fails with EIO, as LMDB fails it: the
// transaction it struck refuses every later call (MDB_BAD_TXN), and committing a nested
// transaction in that state spoils its parent. The same workload — rounds of mutations queued
// together so that they share group commits — runs once for every N up to the number of calls a
// fault-free run makes, each time on a new store, and each run is checked:
//   - every request is answered; requests answered `failed` are exactly those the fault struck:
//     one request when it struck that request's own nested transaction, every request of one group
//     when it struck the group's transaction (its begin, commit or sync);
//   - nothing is partially applied: afterwards the store holds exactly what a fault-free run of the
//     workload without the failed requests holds (every table byte for byte, except times,
//     hashes and secrets), and every other request got the same answer as there;
//   - the service keeps serving: the last round, queued after the fault, is applied.
#define BOOST_TEST_MODULE fault_injection
#include <capnp/serialize.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <lmdb.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "service/service.hpp"
#include "service/test_support.hpp"
#include "store/records.hpp"
#include "store/test_support.hpp"

using namespace gatehouse;

// ---- The fault: shared by the interposed functions below -------------------------------------

namespace {

enum class Site : size_t { begin, put, del, commit, sync, count };
constexpr std::array<const char*, static_cast<size_t>(Site::count)> kSiteNames = {
    "begin", "put", "del", "commit", "sync"};

struct Fault {
  std::mutex mutex;
  bool armed = false;
  long calls = 0;   // counted calls since arming
  long failAt = 0;  // 1-based; 0: count only
  bool struck = false;
  Site site = Site::begin;
  bool nested = false;       // it struck a nested (per-request) transaction
  std::optional<Site> only;  // count and strike calls of this site alone
  int error = EIO;           // what a struck LMDB call answers
  std::array<long, static_cast<size_t>(Site::count)> injected{};
  std::map<MDB_txn*, MDB_txn*> parents;  // live write transactions -> parent (or null)
  std::set<MDB_txn*> spoiled;            // a call failed in them: LMDB's MDB_TXN_ERROR
};

Fault& fault() {
  static Fault f;
  return f;
}

// Called with the mutex held: true when this counted call is the one that fails.
bool strikes(Fault& f, Site site, MDB_txn* txn) {
  if (!f.armed || (f.only && *f.only != site) || ++f.calls != f.failAt) return false;
  f.struck = true;
  f.site = site;
  auto parent = txn != nullptr ? f.parents.find(txn) : f.parents.end();
  f.nested = parent != f.parents.end() && parent->second != nullptr;
  ++f.injected[static_cast<size_t>(site)];
  return true;
}

template <typename Fn>
Fn real(const char* name) {
  void* fn = ::dlsym(RTLD_NEXT, name);
  if (fn == nullptr) std::abort();
  return reinterpret_cast<Fn>(fn);
}

// A write inside a transaction (put or del): fails when spoiled or struck; a failure spoils it.
template <typename Call>
int write(Site site, MDB_txn* txn, Call&& call) {
  Fault& f = fault();
  {
    std::lock_guard lock(f.mutex);
    if (f.spoiled.count(txn) != 0) return MDB_BAD_TXN;
    if (strikes(f, site, txn)) {
      f.spoiled.insert(txn);
      return f.error;
    }
  }
  int rc = call();
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST) {
    std::lock_guard lock(f.mutex);
    f.spoiled.insert(txn);
  }
  return rc;
}

void forget(Fault& f, MDB_txn* txn) {
  f.parents.erase(txn);
  f.spoiled.erase(txn);
}

int sync(Site site, int fd, int (*call)(int)) {
  Fault& f = fault();
  {
    std::lock_guard lock(f.mutex);
    if (strikes(f, site, nullptr)) {
      errno = EIO;
      return -1;
    }
  }
  return call(fd);
}

}  // namespace

extern "C" {

int mdb_txn_begin(MDB_env* env, MDB_txn* parent, unsigned int flags, MDB_txn** txn) {
  static auto next = real<int (*)(MDB_env*, MDB_txn*, unsigned, MDB_txn**)>("mdb_txn_begin");
  if ((flags & MDB_RDONLY) != 0) return next(env, parent, flags, txn);
  Fault& f = fault();
  {
    std::lock_guard lock(f.mutex);
    if (parent != nullptr && f.spoiled.count(parent) != 0) return MDB_BAD_TXN;
    if (strikes(f, Site::begin, nullptr)) {
      f.nested = parent != nullptr;
      return f.error;
    }
  }
  int rc = next(env, parent, flags, txn);
  if (rc == MDB_SUCCESS) {
    std::lock_guard lock(f.mutex);
    f.parents[*txn] = parent;
  }
  return rc;
}

int mdb_txn_commit(MDB_txn* txn) {
  static auto next = real<int (*)(MDB_txn*)>("mdb_txn_commit");
  static auto abort = real<void (*)(MDB_txn*)>("mdb_txn_abort");
  Fault& f = fault();
  {
    std::lock_guard lock(f.mutex);
    auto it = f.parents.find(txn);
    if (it != f.parents.end()) {
      MDB_txn* parent = it->second;
      bool spoiled = f.spoiled.count(txn) != 0;
      bool struck = !spoiled && strikes(f, Site::commit, txn);
      if (spoiled || struck) {
        // LMDB frees the transaction on a failed commit; a spoiled child spoils its parent.
        if (spoiled && parent != nullptr) f.spoiled.insert(parent);
        forget(f, txn);
        abort(txn);
        return spoiled ? MDB_BAD_TXN : f.error;
      }
      forget(f, txn);
    }
  }
  return next(txn);
}

void mdb_txn_abort(MDB_txn* txn) {
  static auto next = real<void (*)(MDB_txn*)>("mdb_txn_abort");
  {
    std::lock_guard lock(fault().mutex);
    forget(fault(), txn);
  }
  next(txn);
}

int mdb_put(MDB_txn* txn, MDB_dbi dbi, MDB_val* key, MDB_val* data, unsigned int flags) {
  static auto next = real<int (*)(MDB_txn*, MDB_dbi, MDB_val*, MDB_val*, unsigned)>("mdb_put");
  return write(Site::put, txn, [&] { return next(txn, dbi, key, data, flags); });
}

int mdb_del(MDB_txn* txn, MDB_dbi dbi, MDB_val* key, MDB_val* data) {
  static auto next = real<int (*)(MDB_txn*, MDB_dbi, MDB_val*, MDB_val*)>("mdb_del");
  return write(Site::del, txn, [&] { return next(txn, dbi, key, data); });
}

int fdatasync(int fd) {
  static auto next = real<int (*)(int)>("fdatasync");
  return sync(Site::sync, fd, next);
}

int fsync(int fd) {
  static auto next = real<int (*)(int)>("fsync");
  return sync(Site::sync, fd, next);
}

}  // extern "C"

// ---- The workload ------------------------------------------------------------------------------

namespace {

using Fill = std::function<void(wire::Request::Builder)>;
using Round = std::vector<Fill>;

void texts(capnp::List<capnp::Text>::Builder list, std::initializer_list<const char*> items) {
  unsigned i = 0;
  for (const char* item : items) list.set(i++, item);
}

// Rounds of mutations in the system context; a request refers only to what earlier rounds made
// (ids are assigned in order, so a failed creation shifts later ids alike in both runs).
std::vector<Round> workload() {
  std::vector<Round> rounds;
  rounds.push_back({
      [](auto r) {
        texts(r.initDefinePermissions(4),
              {"routers.read", "routers.write", "routers.reboot", "service_accounts.manage"});
      },
      [](auto r) { r.initCreateCompany().setName("acme"); },
      [](auto r) { r.initCreateCompany().setName("globex"); },
      [](auto r) { r.initCreateCompany().setName("initech"); },
      [](auto r) { r.initCreateUser().setName("alice"); },
      [](auto r) { r.initCreateUser().setName("bob"); },
  });
  rounds.push_back({
      [](auto r) {
        auto q = r.initCreateServiceAccount();
        q.setName("robot");
        q.setOwnerCompany(1);
        q.setDescription("deploys");
      },
      [](auto r) {
        auto q = r.initCreateRole();
        q.setCompany(1);
        q.setName("operators");
        texts(q.initPermissions(2), {"routers.read", "routers.write"});
      },
      [](auto r) {
        auto q = r.initCreateRole();
        q.setName("viewers");
        texts(q.initPermissions(1), {"routers.read"});
      },
      [](auto r) {
        auto q = r.initSetGrant();
        q.setPrincipal(1);
        q.setCompany(1);
        texts(q.initPermissions(2), {"routers.reboot", "service_accounts.manage"});
      },
      [](auto r) {
        auto q = r.initSetGrant();
        q.setPrincipal(2);
        q.setCompany(2);
        texts(q.initPermissions(1), {"routers.read"});
      },
      [](auto r) { r.initCreateCompany().setName("acme"); },  // refused: the name is taken
      [](auto r) {
        auto q = r.initSetPassword();
        q.setUser(1);
        q.setPassword("correct horse battery");
      },
  });
  rounds.push_back({
      [](auto r) {
        auto q = r.initSetGrant();
        q.setPrincipal(3);
        q.setCompany(2);
        texts(q.initPermissions(1), {"routers.read"});
        q.initRoles(1).set(0, 2);
      },
      [](auto r) { r.initCreateKey().setServiceAccount(3); },
      [](auto r) { r.initCreateKey().setServiceAccount(3); },
      [](auto r) {
        auto q = r.initUpdateRole();
        q.setRole(1);
        texts(q.initPermissions(1), {"routers.read"});
        q.setRename("ops");
      },
      [](auto r) { r.setEnrollTotp(1); },
      [](auto r) {
        auto q = r.initSetPrincipalState();
        q.setPrincipal(2);
        q.setState(wire::PrincipalState::DISABLED);
      },
      [](auto r) {
        auto q = r.initSetGrant();
        q.setPrincipal(1);
        q.setCompany(3);
        q.initRoles(1).set(0, 2);
      },
  });
  rounds.push_back({
      [](auto r) { r.initResetKeys().setServiceAccount(3); },
      [](auto r) {
        auto q = r.initRotateKey();
        q.setServiceAccount(3);
        q.setGraceSeconds(60);
      },
      [](auto r) {
        auto q = r.initRemoveGrant();
        q.setPrincipal(2);
        q.setCompany(2);
      },
      [](auto r) { r.setDeleteRole(2); },
      [](auto r) { r.setDeletePrincipal(2); },
      [](auto r) {
        r.setActor(1);
        r.setActiveCompany(1);
        auto q = r.initSaCreate();
        q.setName("bot");
        texts(q.initPermissions(1), {"routers.reboot"});
      },
      [](auto r) { r.setRemoveTotp(1); },
  });
  // After the fault: the service still applies what it is given.
  rounds.push_back({
      [](auto r) { r.initCreateCompany().setName("after"); },
      [](auto r) {
        auto q = r.initSetGrant();
        q.setPrincipal(1);
        q.setCompany(2);
        texts(q.initPermissions(1), {"routers.write"});
      },
  });
  return rounds;
}

// An answer as compared between runs: its kind, and for an error its code and message.
struct Answer {
  wire::Response::Which which = wire::Response::PONG;
  wire::ErrorCode code = wire::ErrorCode::MALFORMED;
  std::string message;

  bool failed() const { return which == wire::Response::ERROR && code == wire::ErrorCode::FAILED; }
  std::string text() const {
    return which == wire::Response::ERROR
               ? fmt::format("error {}: {}", static_cast<int>(code), message)
               : fmt::format("answer {}", static_cast<int>(which));
  }
};

Answer decode(const std::string& frame) {
  auto words = kj::heapArray<capnp::word>(frame.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), frame.data(), words.size() * sizeof(capnp::word));
  capnp::FlatArrayMessageReader message(words);
  auto response = message.getRoot<wire::Response>();
  Answer a;
  a.which = response.which();
  if (a.which == wire::Response::ERROR) {
    a.code = response.getError().getCode();
    a.message = response.getError().getMessage();
  }
  return a;
}

std::string hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

// What a store holds, as compared between runs.
struct State {
  std::string tables;       // every table in key order (see dump)
  size_t failedEvents = 0;  // audit events of requests that failed, left out of `tables`
};

// Every table, in key order, leaving out what differs between any two runs: times, hashes,
// secrets and key ids (random; keys are listed by account, sorted). Audit events are numbered in
// order, without the events of requests that failed (a request whose change failed is still
// audited, as `failed`; the run without that request has no such event), and the audit counter
// in `meta` is left out with them.
State dump(const store::Store& db) {
  store::Txn txn = store::Txn::begin(db.env(), MDB_RDONLY);
  const store::Tables& t = db.tables();
  enum class Form { bytes, keysOnly, key, keyOfAccount, audit, auditIndex };
  const std::vector<std::tuple<const char*, MDB_dbi, Form>> tables = {
      {"meta", t.meta, Form::bytes},
      {"companies", t.companies, Form::bytes},
      {"company_names", t.companyNames, Form::bytes},
      {"catalog", t.catalog, Form::bytes},
      {"catalog_names", t.catalogNames, Form::bytes},
      {"roles", t.roles, Form::bytes},
      {"role_names", t.roleNames, Form::bytes},
      {"principals", t.principals, Form::bytes},
      {"principal_names", t.principalNames, Form::bytes},
      {"grants", t.grants, Form::bytes},
      {"role_holders", t.roleHolders, Form::bytes},
      {"effective", t.effective, Form::bytes},
      {"keys", t.keys, Form::key},
      {"principal_keys", t.principalKeys, Form::keyOfAccount},
      {"passwords", t.passwords, Form::keysOnly},
      {"totp", t.totp, Form::keysOnly},
      {"company_grants", t.companyGrants, Form::bytes},
      {"owned_accounts", t.ownedAccounts, Form::bytes},
      {"audit", t.audit, Form::audit},
      {"audit_by_company", t.auditByCompany, Form::auditIndex},
      {"access_used", t.accessUsed, Form::keysOnly},
  };
  State state;
  std::string& out = state.tables;
  std::map<uint64_t, size_t> eventNumber;  // audit sequence -> its number among those kept
  for (const auto& [name, dbi, form] : tables) {
    std::multiset<std::string> keys;  // Form::key and keyOfAccount, sorted without their ids
    store::Cursor cursor(txn, dbi);
    std::string_view key, value;
    for (bool more = cursor.move(MDB_FIRST, key, value); more;
         more = cursor.move(MDB_NEXT, key, value)) {
      std::string shown = hex(value);
      if (form == Form::bytes && key == "next_audit") continue;
      if (form == Form::keysOnly) shown.clear();
      if (form == Form::key) {
        auto k = store::records::decodeKey(store::readU64(key), value);
        keys.insert(fmt::format("{} principal {} created {} expires {} revoked {}\n", name,
                                k.principal, k.createdAt != 0, k.expiresAt != 0, k.revokedAt != 0));
        continue;
      }
      if (form == Form::keyOfAccount) {
        keys.insert(fmt::format("{} {}\n", name, hex(key)));
        continue;
      }
      if (form == Form::audit) {
        auto a = store::records::decodeAudit(store::readU64(key), value);
        if (a.outcome.starts_with("failed:")) {
          ++state.failedEvents;
          continue;
        }
        size_t number = eventNumber.size();
        eventNumber[a.sequence] = number;
        a.sequence = 0;
        a.time = 0;
        out += fmt::format("{} #{} {}\n", name, number, hex(store::records::encodeAudit(a)));
        continue;
      }
      if (form == Form::auditIndex) {
        auto number = eventNumber.find(store::readU64(value));
        if (number == eventNumber.end()) continue;  // a failed request's event
        shown = fmt::format("#{}", number->second);
      }
      out += fmt::format("{} {} {}\n", name, hex(key), shown);
    }
    for (const std::string& line : keys) out += line;
  }
  return state;
}

struct Outcome {
  std::vector<Answer> answers;  // in workload order
  State state;                  // afterwards
};

// Runs the workload on a new durable store, leaving out the requests in `skip`; arms the fault
// (failing call `failAt`; 0: none) for every round but the last.
Outcome run(long failAt, const std::set<size_t>& skip = {}) {
  testing::TempDir dir;
  store::StoreOptions so = store::testing::testOptions(dir.path() / "data");
  so.durable = true;  // syncs are among the calls that fail
  auto db = store::Store::open(so);
  auto pepper = credentials::Pepper::fromBytes(std::string(32, 'p'));
  service::ServiceOptions options;
  options.credentials.password.opsLimit = 1;  // Argon2id at its cheapest: faults, not hashing
  options.credentials.password.memLimit = size_t{8} << 10;
  options.credentials.lastUsedFlush = std::chrono::hours(1);  // no housekeeping during the run
  options.groupCommitMax = 4;                                 // several groups per round
  Outcome outcome;
  {
    service::Service service(*db, pepper, options);
    auto io = service.newIoState();
    protocol::Peer admin{0, 0, 1, protocol::AccessClass::admin};
    auto rounds = workload();
    size_t index = 0;
    for (size_t r = 0; r < rounds.size(); ++r) {
      {
        std::lock_guard lock(fault().mutex);
        fault().armed = r + 1 < rounds.size();
        fault().failAt = failAt;
      }
      std::vector<std::future<std::string>> pending;
      for (const Fill& fill : rounds[r]) {
        if (skip.count(index++) != 0) continue;
        capnp::MallocMessageBuilder message;
        auto request = message.initRoot<wire::Request>();
        request.setId(index);
        fill(request);
        auto sink = std::make_shared<service::testing::PromiseSink>();
        std::string out;
        auto future = sink->future();
        if (service.handle(*io, admin, request.asReader(), out, *sink) ==
            protocol::Disposition::answered) {
          std::promise<std::string> now;
          now.set_value(std::move(out));
          future = now.get_future();
        }
        io->release();
        pending.push_back(std::move(future));
      }
      for (auto& future : pending) outcome.answers.push_back(decode(future.get()));
    }
  }
  outcome.state = dump(*db);
  return outcome;
}

struct SodiumInit {
  SodiumInit() {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init");
  }
};
BOOST_GLOBAL_FIXTURE(SodiumInit);

}  // namespace

BOOST_AUTO_TEST_CASE(every_lmdb_call_fails_in_turn_and_only_its_requests_fail) {
  Outcome clean = run(0);
  long calls = 0;
  {
    std::lock_guard lock(fault().mutex);
    calls = fault().calls;
  }
  for (const Answer& a : clean.answers) {
    BOOST_TEST_MESSAGE(a.text());
    BOOST_REQUIRE_MESSAGE(!a.failed(), a.text());
  }
  BOOST_TEST_MESSAGE(calls << " LMDB calls in a fault-free run");
  BOOST_REQUIRE(calls > 50);

  std::map<std::set<size_t>, Outcome> references;  // by the requests left out
  references.emplace(std::set<size_t>{}, clean);
  for (long n = 1; n <= calls; ++n) {
    {
      std::lock_guard lock(fault().mutex);
      fault().calls = 0;
      fault().struck = false;
    }
    Outcome faulty = run(n);
    bool struck = false, nested = false;
    Site site = Site::begin;
    {
      std::lock_guard lock(fault().mutex);
      struck = fault().struck;
      nested = fault().nested;
      site = fault().site;
    }
    std::string where =
        fmt::format("fault at call {} ({}, {})", n, kSiteNames[static_cast<size_t>(site)],
                    nested ? "a request's transaction" : "the group's transaction");
    std::set<size_t> failed;
    for (size_t i = 0; i < faulty.answers.size(); ++i) {
      if (faulty.answers[i].failed()) failed.insert(i);
    }
    // Whom the fault struck.
    if (!struck) {
      BOOST_CHECK_MESSAGE(failed.empty(), where << ": nothing struck, yet requests failed");
      continue;
    }
    BOOST_REQUIRE_MESSAGE(!failed.empty(), where << ": no request was told of it");
    for (size_t i : failed) {
      const std::string& message = faulty.answers[i].message;
      bool groupFailed = message.starts_with("commit failed, nothing was written");
      BOOST_CHECK_MESSAGE(groupFailed == !nested,
                          where << ": request " << i << " answered '" << message << "'");
    }
    if (nested)
      BOOST_CHECK_MESSAGE(failed.size() == 1, where << ": " << failed.size() << " failed");

    // Nothing partially applied, nobody else affected: as if the failed requests never came.
    auto ref = references.find(failed);
    if (ref == references.end()) {
      {
        std::lock_guard lock(fault().mutex);
        fault().calls = 0;
      }
      ref = references.emplace(failed, run(0, failed)).first;
    }
    const Outcome& expected = ref->second;
    std::vector<Answer> others;
    for (size_t i = 0; i < faulty.answers.size(); ++i) {
      if (failed.count(i) == 0) others.push_back(faulty.answers[i]);
    }
    BOOST_REQUIRE_EQUAL(others.size(), expected.answers.size());
    for (size_t i = 0; i < others.size(); ++i) {
      BOOST_CHECK_MESSAGE(others[i].text() == expected.answers[i].text(),
                          where << ": answer " << i << " is '" << others[i].text() << "', not '"
                                << expected.answers[i].text() << "'");
    }
    BOOST_CHECK_MESSAGE(faulty.state.tables == expected.state.tables,
                        where << ": the store differs");
    // A request whose change failed is audited as failed, once, unless the audit itself was
    // struck; nothing of a failed group is written.
    BOOST_CHECK_MESSAGE(faulty.state.failedEvents <= (nested ? 1u : 0u),
                        where << ": " << faulty.state.failedEvents << " failed events audited");
    // The last round (after the fault) was applied.
    BOOST_CHECK_MESSAGE(faulty.state.tables.find(hex("after")) != std::string::npos,
                        where << ": the round after the fault was not applied");
  }

  // Every kind of call was made to fail at least once.
  std::lock_guard lock(fault().mutex);
  for (size_t s = 0; s < static_cast<size_t>(Site::count); ++s) {
    BOOST_TEST_MESSAGE(kSiteNames[s] << ": " << fault().injected[s] << " faults");
    BOOST_CHECK_MESSAGE(fault().injected[s] > 0, "no " << kSiteNames[s] << " fault was injected");
  }
}

// Replicated mode: the commit of a batch the log has stored fails with MDB_MAP_FULL. Map growth
// retries a batch only until it is published: here the batch must not be applied and published
// again (the second publish would conflict with the first, and the group be validated anew
// against its own effects). The commit is reported failed, the log holds the batch once, and the
// replica applies it from there.
BOOST_AUTO_TEST_CASE(a_full_map_after_the_log_stored_a_batch_does_not_publish_it_again) {
  store::testing::TempDir dir;
  auto options = store::testing::testOptions(dir.path());
  options.replicated = true;
  auto db = store::Store::open(options);
  auto arm = [](bool on) {
    std::lock_guard lock(fault().mutex);
    Fault& f = fault();
    f.armed = on;
    f.calls = 0;
    f.failAt = 2;  // the item's nested commit, then the batch's own
    f.only = on ? std::optional<Site>(Site::commit) : std::nullopt;
    f.error = on ? MDB_MAP_FULL : EIO;
    f.struck = false;
  };
  auto apply = [](size_t, store::Writer& w) {
    store::testing::ok(w.createCompany("acme"));
    return true;
  };
  int publishes = 0;
  std::string published;
  auto publish = [&](std::string_view batch) {
    ++publishes;
    published = std::string(batch);
    return true;  // the log stored it as sequence 1
  };
  arm(true);
  std::string error;
  try {
    db->commitReplicated(1, 1, apply, {}, {}, publish);
  } catch (const store::MdbError& e) {
    error = std::string("an MdbError, which callers may retry: ") + e.what();
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  bool struck = false, nested = true;
  {
    std::lock_guard lock(fault().mutex);
    struck = fault().struck;
    nested = fault().nested;
  }
  arm(false);
  BOOST_TEST_REQUIRE(struck);
  BOOST_TEST(!nested);
  BOOST_TEST(publishes == 1);
  BOOST_TEST(error.find("after the log stored the batch as 1") != std::string::npos, error);
  BOOST_TEST(db->appliedSequence() == 0u);

  db->applyReplicated(1, published);
  BOOST_TEST(db->appliedSequence() == 1u);
  store::Snapshot snap(*db);
  snap.begin();
  BOOST_TEST(snap.reader().companyByName("acme").has_value());
  snap.end();
}
