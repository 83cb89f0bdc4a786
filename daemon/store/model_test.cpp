// Model-based test: random mutations applied both to the store and to a plain in-memory model of
// the rules; every authorize answer of the store must equal the model's. Mutations are applied in
// group-committed batches, some of which contain refused operations, so nested rollback is
// exercised too. Offers of service accounts are modelled as well: withdrawing one also removes the
// company's grant, and the store's offers must match the model's. So are ceilings: a grant or role
// edit that would give an account more than its ceiling outside its owner is refused, setting one
// trims the grants above it, and no effective row outside the owner ever exceeds it. And so are
// time-boxed grants: a grant may carry an expiry long past (the store keeps what it is given; the
// readers must treat it as absent) or far ahead, and `expireGrants` sweeps those due at a chosen
// time; the store's earliest expiry must match the model's. And ownership transfers: an offer of
// the ownership, its cancellation, and its acceptance (the owner changes, the new owner's offer and
// the ceiling go, the former owner's grant stays with an offer or goes).
//
// Between commits the reader's caches answer alone (Snapshot::authorizeCached): after each
// sample, and again after the next commit, every answer they give must be the model's.
//
// The replicated variant commits every batch through Store::commitReplicated and replays what it
// publishes on a second store with Store::applyReplicated: the two must stay identical, table by
// table (store/journal.hpp).
//
// GATEHOUSE_MODEL_SEED and GATEHOUSE_MODEL_OPS override the fixed seed and the operation count;
// the seed is printed with every failure.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>

#include "store/effective_row.hpp"
#include "store/store.hpp"
#include "store/test_support.hpp"

using namespace gatehouse::store;
using namespace gatehouse::store::testing;

namespace {

struct Model {
  std::vector<std::string> catalog;  // bit -> name
  std::set<CompanyId> companies;
  std::map<PrincipalId, bool> principals;  // id -> active
  struct Role {
    CompanyId scope;
    std::set<uint32_t> perms;
  };
  std::map<RoleId, Role> roles;
  struct Grant {
    std::set<uint32_t> direct;
    std::vector<RoleId> roles;
    uint64_t expiresAt = 0;
  };
  std::map<std::pair<PrincipalId, CompanyId>, Grant> grants;
  std::map<PrincipalId, CompanyId> accountOwners;  // service accounts only
  std::set<std::pair<PrincipalId, CompanyId>> offers;
  std::map<PrincipalId, std::set<uint32_t>> ceilings;
  std::map<PrincipalId, std::pair<CompanyId, bool>> transfers;  // account -> (company, keep)

  std::set<uint32_t> held(const Grant& g) const {
    std::set<uint32_t> out = g.direct;
    for (RoleId r : g.roles) out.insert(roles.at(r).perms.begin(), roles.at(r).perms.end());
    return out;
  }
  // Whether `bits` held by p in c would exceed p's ceiling.
  bool aboveCeiling(PrincipalId p, CompanyId c, const std::set<uint32_t>& bits) const {
    auto limit = ceilings.find(p);
    if (limit == ceilings.end() || accountOwners.at(p) == c) return false;
    return !std::includes(limit->second.begin(), limit->second.end(), bits.begin(), bits.end());
  }

  // Whether an offer of `p` to `c` may be made: a service account, an existing company that is
  // not its owner.
  bool offerable(PrincipalId p, CompanyId c) const {
    auto owner = accountOwners.find(p);
    return owner != accountOwners.end() && companies.contains(c) && owner->second != c;
  }

  std::optional<uint32_t> bitOf(std::string_view name) const {
    for (uint32_t i = 0; i < catalog.size(); ++i) {
      if (catalog[i] == name) return i;
    }
    return std::nullopt;
  }

  // What (p, c)'s grant gives now, as readers see it: nothing for a disabled principal or a
  // passed expiry.
  std::set<uint32_t> effective(PrincipalId p, CompanyId c) const {
    auto pr = principals.find(p);
    auto g = grants.find({p, c});
    if (pr == principals.end() || !pr->second || g == grants.end() ||
        expiredAt(g->second.expiresAt, clockNow())) {
      return {};
    }
    return held(g->second);
  }

  Decision decide(PrincipalId p, CompanyId c, std::string_view perm) const {
    auto pr = principals.find(p);
    if (pr == principals.end()) return {false, DenyReason::unknownPrincipal};
    if (!companies.contains(c)) return {false, DenyReason::unknownCompany};
    if (!pr->second) return {false, DenyReason::principalDisabled};
    auto bit = bitOf(perm);
    if (!bit) return {false, DenyReason::unknownPermission};
    auto g = grants.find({p, c});
    if (g == grants.end() || expiredAt(g->second.expiresAt, clockNow())) {
      return {false, DenyReason::noAccess};
    }
    if (g->second.direct.contains(*bit)) return {true, DenyReason::none};
    for (RoleId r : g->second.roles) {
      if (roles.at(r).perms.contains(*bit)) return {true, DenyReason::none};
    }
    return {false, DenyReason::notGranted};
  }
};

class ModelTest {
 public:
  explicit ModelTest(uint64_t seed, bool replicated = false)
      : seed_(seed), rng_(seed), replicated_(replicated) {}

  void run(int operations) {
    int done = 0;
    uint64_t commits = 0;
    while (done < operations) {
      ++commits;
      size_t batch = 1 + rng_() % 8;
      std::vector<std::function<bool(Writer&)>> ops;
      for (size_t i = 0; i < batch; ++i) ops.push_back(chance(5) ? dryRun(randomOp()) : randomOp());
      commit(ops);
      done += static_cast<int>(batch);
      compareSample(32);
      if (done % 1000 < static_cast<int>(batch)) compareAll();
    }
    compareAll();
    if (replicated_) {
      BOOST_TEST(replica_->appliedSequence() == store_->appliedSequence());
      BOOST_TEST(published_ > 0u);
      BOOST_TEST_MESSAGE("replica: " << published_ << " batches replayed, " << emptyBatches_
                                     << " empty batches not published");
    }
    size_t withRoles = 0;
    for (auto& [key, g] : model_.grants) withRoles += g.roles.empty() ? 0 : 1;
    BOOST_TEST_MESSAGE("model: " << model_.grants.size() << " grants (" << withRoles
                                 << " with roles), " << model_.roles.size() << " roles, "
                                 << model_.principals.size() << " principals, "
                                 << model_.offers.size() << " offers, " << model_.ceilings.size()
                                 << " ceilings, " << checks_ << " authorize answers compared ("
                                 << cachedChecks_ << " from the caches alone, "
                                 << cachedAfterCommit_ << " of them after a commit), " << dryRuns_
                                 << " dry runs, " << snap_.counters()->flushes.get()
                                 << " cache flushes in " << commits << " commits");
    // The reader's caches followed the commits through the change feed, not by dropping
    // everything each time (the first begin and the rare large change do that).
    BOOST_TEST(snap_.counters()->flushes.get() < commits / 10, "seed " << seed_);
    // Most sampled pairs hold no grant (nothing to cache); those that do were answered alone too,
    // and so were some after a commit that wrote nothing (a batch of dry runs).
    BOOST_TEST(cachedChecks_ > checks_ / 100, "seed " << seed_);
    BOOST_TEST(cachedAfterCommit_ > 0u, "seed " << seed_);
  }

 private:
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[rng_() % v.size()];
  }
  bool chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }

  // Copies, not views: the catalog may grow (and move its strings) before the op is applied.
  std::vector<std::string> randomPerms(int max) {
    std::vector<std::string> out;
    int n = static_cast<int>(rng_() % (max + 1));
    for (int i = 0; i < n && !model_.catalog.empty(); ++i) out.push_back(pick(model_.catalog));
    if (chance(3)) out.push_back("undefined.permission");
    return out;
  }

  std::vector<PrincipalId> principalIds() const {
    std::vector<PrincipalId> ids;
    for (auto& [id, active] : model_.principals) ids.push_back(id);
    ids.push_back(nextPrincipalGuess_);  // sometimes an unknown id
    return ids;
  }
  std::vector<CompanyId> companyIds() const {
    std::vector<CompanyId> ids(model_.companies.begin(), model_.companies.end());
    ids.push_back(999999);
    return ids;
  }
  std::vector<RoleId> roleIds() const {
    std::vector<RoleId> ids;
    for (auto& [id, role] : model_.roles) ids.push_back(id);
    ids.push_back(999999);
    return ids;
  }

  // Checks that the store accepted exactly when the model did.
  template <typename T>
  bool agree(const Result<T>& r, bool expected, const char* op) {
    bool accepted = refusalOf(r) == nullptr;
    BOOST_TEST_CONTEXT("seed " << seed_ << ", op " << op) {
      BOOST_TEST(accepted == expected,
                 (refusalOf(r) ? refusalOf(r)->message : std::string("accepted")));
    }
    return accepted;
  }

  std::function<bool(Writer&)> randomOp() {
    int kind = static_cast<int>(rng_() % 100);
    if ((kind < 4 && model_.catalog.size() < 48) || model_.catalog.size() < 4) {
      return [this](Writer& w) {
        std::string name = "perm.p" + std::to_string(nameCounter_++);
        bool ok = agree(w.definePermissions({name}), true, "definePermissions");
        if (ok) model_.catalog.push_back(name);
        return ok;
      };
    }
    if ((kind < 8 && model_.companies.size() < 16) || model_.companies.size() < 3) {
      return [this](Writer& w) {
        auto r = w.createCompany("company" + std::to_string(nameCounter_++));
        if (agree(r, true, "createCompany")) model_.companies.insert(std::get<CompanyId>(r));
        return refusalOf(r) == nullptr;
      };
    }
    if ((kind < 14 && model_.principals.size() < 48) || model_.principals.size() < 3) {
      bool sa = chance(50);
      return [this, sa](Writer& w) {
        std::string name = "principal" + std::to_string(nameCounter_++);
        auto r =
            sa ? w.createServiceAccount(name, *model_.companies.begin(), "d") : w.createUser(name);
        if (agree(r, true, "createPrincipal")) {
          model_.principals[std::get<PrincipalId>(r)] = true;
          if (sa) model_.accountOwners[std::get<PrincipalId>(r)] = *model_.companies.begin();
          nextPrincipalGuess_ = std::get<PrincipalId>(r) + 1;
        }
        return refusalOf(r) == nullptr;
      };
    }
    if (chance(5)) return transferOp();
    if (kind < 20 && model_.roles.size() < 40) {
      CompanyId scope = chance(40) ? 0 : pick(companyIds());
      auto perms = randomPerms(4);
      return [this, scope, perms](Writer& w) {
        bool valid = (scope == 0 || model_.companies.contains(scope)) && validPerms(perms);
        auto r = w.createRole(scope, "role" + std::to_string(nameCounter_++), views(perms));
        if (agree(r, valid, "createRole")) model_.roles[std::get<RoleId>(r)] = {scope, bits(perms)};
        return refusalOf(r) == nullptr;
      };
    }
    if (kind < 28) {
      RoleId role = pick(roleIds());
      auto perms = randomPerms(4);
      return [this, role, perms](Writer& w) {
        bool valid = model_.roles.contains(role) && validPerms(perms);
        for (auto& [key, g] : model_.grants) {
          if (!valid || std::find(g.roles.begin(), g.roles.end(), role) == g.roles.end()) continue;
          Model::Grant next = g;
          std::erase(next.roles, role);
          std::set<uint32_t> after = model_.held(next);
          for (uint32_t b : bits(perms)) after.insert(b);
          if (model_.aboveCeiling(key.first, key.second, after)) valid = false;
        }
        auto r = w.updateRole(role, views(perms), "");
        if (agree(r, valid, "updateRole")) model_.roles[role].perms = bits(perms);
        return refusalOf(r) == nullptr;
      };
    }
    if (kind < 31) {
      RoleId role = pick(roleIds());
      return [this, role](Writer& w) {
        auto r = w.deleteRole(role);
        if (agree(r, model_.roles.contains(role), "deleteRole")) {
          model_.roles.erase(role);
          for (auto& [key, g] : model_.grants) std::erase(g.roles, role);
        }
        return refusalOf(r) == nullptr;
      };
    }
    if (kind < 75) {
      PrincipalId p = pick(principalIds());
      CompanyId c = pick(companyIds());
      auto perms = randomPerms(3);
      std::vector<RoleId> roles;
      std::vector<RoleId> usable;
      for (auto& [id, role] : model_.roles) {
        if (role.scope == 0 || role.scope == c) usable.push_back(id);
      }
      for (int i = 0, n = static_cast<int>(rng_() % 3); i < n; ++i) {
        roles.push_back(chance(90) && !usable.empty() ? pick(usable) : pick(roleIds()));
      }
      // Mostly permanent; else long expired (the readers must ignore it) or far ahead.
      uint64_t expiresAt = chance(70) ? 0 : chance(50) ? 100 * (1 + rng_() % 3) : kFarAhead;
      return [this, p, c, perms, roles, expiresAt](Writer& w) {
        bool valid =
            model_.principals.contains(p) && model_.companies.contains(c) && validPerms(perms);
        for (RoleId r : roles) {
          auto it = model_.roles.find(r);
          valid =
              valid && it != model_.roles.end() && (it->second.scope == 0 || it->second.scope == c);
        }
        Model::Grant g{bits(perms), {}, expiresAt};
        if (valid) {
          for (RoleId role : roles) {
            if (std::find(g.roles.begin(), g.roles.end(), role) == g.roles.end())
              g.roles.push_back(role);
          }
          valid = !model_.aboveCeiling(p, c, model_.held(g));
        }
        auto r = w.setGrant(p, c, views(perms), roles, expiresAt);
        if (agree(r, valid, "setGrant")) model_.grants[{p, c}] = g;
        return refusalOf(r) == nullptr;
      };
    }
    if (kind < 77) {
      uint64_t now = 50 + 100 * (rng_() % 4);  // sweeps none, or up to the first 1, 2, 3 times
      size_t max = 1 + rng_() % 4;
      return [this, now, max](Writer& w) { return expireGrants(w, now, max); };
    }
    if (kind < 79) {
      PrincipalId p = pick(principalIds());
      bool clear = chance(20);
      auto perms = randomPerms(4);
      return [this, p, clear, perms](Writer& w) { return setCeiling(w, p, clear, perms); };
    }
    if (kind < 81) {
      PrincipalId p = pick(principalIds());
      CompanyId c = pick(companyIds());
      return [this, p, c](Writer& w) {
        auto r = w.removeGrant(p, c);
        if (agree(r, model_.grants.contains({p, c}), "removeGrant")) model_.grants.erase({p, c});
        return refusalOf(r) == nullptr;
      };
    }
    if (kind < 91) {
      PrincipalId p = pick(principalIds());
      bool active = chance(50);
      return [this, p, active](Writer& w) {
        auto r = w.setPrincipalState(p, active ? PrincipalState::active : PrincipalState::disabled);
        if (agree(r, model_.principals.contains(p), "setPrincipalState"))
          model_.principals[p] = active;
        return refusalOf(r) == nullptr;
      };
    }
    if (kind < 94) {
      PrincipalId p = pick(principalIds());
      CompanyId c = pick(companyIds());
      return [this, p, c](Writer& w) {
        auto r = w.offer(p, c);
        if (agree(r, model_.offerable(p, c), "offer")) model_.offers.insert({p, c});
        return refusalOf(r) == nullptr;
      };
    }
    if (kind < 97) {
      PrincipalId p = pick(principalIds());
      CompanyId c = pick(companyIds());
      return [this, p, c](Writer& w) {
        auto r = w.withdrawOffer(p, c);
        auto owner = model_.accountOwners.find(p);
        bool valid = owner != model_.accountOwners.end() && owner->second != c &&
                     (model_.offers.contains({p, c}) || model_.grants.contains({p, c}));
        if (agree(r, valid, "withdrawOffer")) {
          model_.offers.erase({p, c});
          model_.grants.erase({p, c});
        }
        return refusalOf(r) == nullptr;
      };
    }
    PrincipalId p = pick(principalIds());
    return [this, p](Writer& w) {
      auto r = w.deletePrincipal(p);
      if (agree(r, model_.principals.contains(p), "deletePrincipal")) {
        model_.principals.erase(p);
        model_.accountOwners.erase(p);
        std::erase_if(model_.grants, [p](const auto& kv) { return kv.first.first == p; });
        std::erase_if(model_.offers, [p](const auto& o) { return o.first == p; });
        model_.ceilings.erase(p);
        model_.transfers.erase(p);
      }
      return refusalOf(r) == nullptr;
    };
  }

  // `op` as a dry run: applied and rolled back; the effective rows it would change must be the
  // model's difference before and after it, and the model is put back as it was.
  std::function<bool(Writer&)> dryRun(std::function<bool(Writer&)> op) {
    return [this, op = std::move(op)](Writer& w) {
      Model saved = model_;
      w.startRecording();
      bool applied = op(w);
      std::vector<EffectChange> got = w.changes(clockNow());
      if (applied) {
        std::set<std::pair<PrincipalId, CompanyId>> keys;
        for (auto& [key, g] : saved.grants) keys.insert(key);
        for (auto& [key, g] : model_.grants) keys.insert(key);
        std::vector<EffectChange> want;
        for (auto [p, c] : keys) {
          std::set<uint32_t> was = saved.effective(p, c), is = model_.effective(p, c);
          EffectChange change{p, c, {}, {}};
          for (uint32_t b : is) {
            if (!was.contains(b)) change.gained.set(b);
          }
          for (uint32_t b : was) {
            if (!is.contains(b)) change.lost.set(b);
          }
          if (!change.gained.stored().empty() || !change.lost.stored().empty()) {
            want.push_back(std::move(change));
          }
        }
        BOOST_TEST_REQUIRE(got.size() == want.size(), "seed " << seed_ << ": dry run changes");
        for (size_t i = 0; i < got.size(); ++i) {
          BOOST_TEST((got[i].principal == want[i].principal && got[i].company == want[i].company &&
                      got[i].gained == want[i].gained && got[i].lost == want[i].lost),
                     "seed " << seed_ << ": dry run change " << i);
        }
        ++dryRuns_;
      }
      model_ = std::move(saved);
      return false;  // rolled back: the store stays as the model was
    };
  }

  // Offer an account's ownership, cancel the offer, or accept it (mostly by the company offered).
  std::function<bool(Writer&)> transferOp() {
    PrincipalId p = pick(principalIds());
    CompanyId c = pick(companyIds());
    auto pending = model_.transfers.find(p);
    if (pending != model_.transfers.end() && chance(70)) c = pending->second.first;
    int what = static_cast<int>(rng_() % 3);
    bool keep = chance(50);
    return [this, p, c, what, keep](Writer& w) {
      auto owner = model_.accountOwners.find(p);
      bool account = owner != model_.accountOwners.end();
      auto pending = model_.transfers.find(p);
      if (what == 0) {
        auto r = w.offerOwnership(p, c, keep, 1000);
        if (agree(r, account && model_.companies.contains(c) && owner->second != c,
                  "offerOwnership")) {
          model_.transfers[p] = {c, keep};
        }
        return refusalOf(r) == nullptr;
      }
      if (what == 1) {
        auto r = w.cancelOwnershipOffer(p);
        if (agree(r, pending != model_.transfers.end(), "cancelOwnershipOffer")) {
          BOOST_TEST(std::get<CompanyId>(r) == pending->second.first, "seed " << seed_);
          model_.transfers.erase(p);
        }
        return refusalOf(r) == nullptr;
      }
      auto r = w.acceptOwnership(p, c, 1000);
      if (!agree(r, pending != model_.transfers.end() && pending->second.first == c,
                 "acceptOwnership")) {
        return false;
      }
      CompanyId former = owner->second;
      BOOST_TEST(std::get<TransferDone>(r).formerOwner == former, "seed " << seed_);
      owner->second = c;
      model_.offers.erase({p, c});
      model_.ceilings.erase(p);
      if (model_.grants.contains({p, former})) {
        if (pending->second.second) {
          model_.offers.insert({p, former});
        } else {
          model_.grants.erase({p, former});
        }
      }
      model_.transfers.erase(pending);
      return true;
    };
  }

  // Sets (or clears) the account's ceiling; the model trims its grants outside the owner:
  // direct permissions outside the ceiling go, and so do roles with a permission outside it.
  bool setCeiling(Writer& w, PrincipalId p, bool clear, const std::vector<std::string>& perms) {
    bool valid = model_.accountOwners.contains(p) && (clear || validPerms(perms));
    auto r = clear ? w.clearCeiling(p) : w.setCeiling(p, views(perms));
    if (!agree(r, valid, clear ? "clearCeiling" : "setCeiling")) return false;
    std::vector<CompanyId> trimmed;
    if (clear) {
      model_.ceilings.erase(p);
    } else {
      std::set<uint32_t> limit = bits(perms);
      model_.ceilings[p] = limit;
      for (auto& [key, g] : model_.grants) {
        if (key.first != p || key.second == model_.accountOwners.at(p)) continue;
        if (!model_.aboveCeiling(p, key.second, model_.held(g))) continue;
        trimmed.push_back(key.second);
        std::erase_if(g.direct, [&](uint32_t b) { return !limit.contains(b); });
        std::erase_if(g.roles, [&](RoleId role) {
          const auto& rp = model_.roles.at(role).perms;
          return !std::includes(limit.begin(), limit.end(), rp.begin(), rp.end());
        });
      }
    }
    BOOST_TEST((std::get<std::vector<CompanyId>>(r) == trimmed),
               "seed " << seed_ << ": companies trimmed by the ceiling of " << p);
    return true;
  }

  // Removes up to `max` grants due at `now`, earliest expiry first (ties by grant key, as the
  // store's index orders them).
  bool expireGrants(Writer& w, uint64_t now, size_t max) {
    std::vector<std::tuple<uint64_t, uint64_t, std::pair<PrincipalId, CompanyId>>> due;
    for (auto& [key, g] : model_.grants) {
      if (expiredAt(g.expiresAt, now))
        due.emplace_back(g.expiresAt, grantKey(key.first, key.second), key);
    }
    std::sort(due.begin(), due.end());
    if (due.size() > max) due.resize(max);
    std::vector<std::pair<PrincipalId, CompanyId>> want;
    for (auto& [at, key, pc] : due) {
      want.push_back(pc);
      model_.grants.erase(pc);
    }
    BOOST_TEST((w.expireGrants(now, max) == want),
               "seed " << seed_ << ": expireGrants(" << now << ")");
    return true;
  }

  static std::vector<std::string_view> views(const std::vector<std::string>& names) {
    return {names.begin(), names.end()};
  }

  bool validPerms(const std::vector<std::string>& perms) const {
    for (auto n : perms) {
      if (!model_.bitOf(n)) return false;
    }
    return true;
  }
  std::set<uint32_t> bits(const std::vector<std::string>& perms) const {
    std::set<uint32_t> out;
    for (auto n : perms) {
      if (auto b = model_.bitOf(n)) out.insert(*b);
    }
    return out;
  }

  void compareOne(PrincipalId p, CompanyId c, std::string_view perm) {
    recent_.emplace_back(p, c, std::string(perm));
    mismatch("authorize", p, c, perm, snap_.authorize(p, c, perm));
    ++checks_;
  }

  // The caches alone (Snapshot::authorizeCached), wherever the snapshot says they hold the newest
  // state: each answer they give must be the model's now. Called right after a sample (when they
  // must say so) and again after the next commit (when they must not, unless it wrote nothing).
  uint64_t compareCached() {
    if (!snap_.current()) return 0;
    uint64_t compared = 0;
    for (const auto& [p, c, perm] : recent_) {
      auto got = snap_.authorizeCached(p, c, perm);
      if (!got) continue;
      ++compared;
      mismatch("authorizeCached", p, c, perm, *got);
    }
    cachedChecks_ += compared;
    return compared;
  }

  void mismatch(const char* what, PrincipalId p, CompanyId c, std::string_view perm, Decision got) {
    Decision want = model_.decide(p, c, perm);
    if (got == want) return;
    BOOST_ERROR("seed " << seed_ << ": " << what << "(" << p << ", " << c << ", " << perm
                        << ") gave allowed=" << got.allowed << " reason=" << int(got.reason)
                        << ", the model says allowed=" << want.allowed
                        << " reason=" << int(want.reason));
    ++failures_;
    if (failures_ > 20) throw std::runtime_error("too many mismatches");
  }

  std::string_view randomPermName() {
    if (chance(5) || model_.catalog.empty()) return "not.in.catalog";
    return pick(model_.catalog);
  }

  void compareSample(int n) {
    cachedAfterCommit_ += compareCached();  // after the commit since the last sample
    recent_.clear();
    snap_.begin();
    auto ps = principalIds();
    auto cs = companyIds();
    for (int i = 0; i < n; ++i) compareOne(pick(ps), pick(cs), randomPermName());
    // Repeat a few through the warm cache.
    for (int i = 0; i < n / 4; ++i) compareOne(pick(ps), pick(cs), randomPermName());
    snap_.end();
    BOOST_TEST(snap_.current(), "seed " << seed_ << ": nothing was committed since begin()");
    compareCached();
  }

  void commit(const std::vector<std::function<bool(Writer&)>>& ops) {
    auto apply = [&](size_t i, Writer& w) { return ops[i](w); };
    if (!replicated_) {
      store_->commitBatch(ops.size(), apply);
      return;
    }
    uint64_t sequence = store_->appliedSequence() + 1;
    auto outcome =
        store_->commitReplicated(sequence, ops.size(), apply, {}, {}, [&](std::string_view batch) {
          replica_->applyReplicated(sequence, batch);
          return true;
        });
    if (outcome == Store::Outcome::empty) {
      ++emptyBatches_;
      return;
    }
    BOOST_REQUIRE(outcome == Store::Outcome::committed);
    ++published_;
  }

  void compareAll() {
    if (replicated_) {
      BOOST_TEST((dumpTables(*store_) == dumpTables(*replica_)),
                 "seed " << seed_ << ": the replica differs after " << published_ << " batches");
    }
    snap_.begin();
    std::optional<uint64_t> earliest;
    for (auto& [key, g] : model_.grants) {
      if (g.expiresAt != 0 && (!earliest || g.expiresAt < *earliest)) earliest = g.expiresAt;
    }
    BOOST_TEST((snap_.reader().nextGrantExpiry() == earliest), "seed " << seed_ << ": next expiry");
    for (PrincipalId p : principalIds()) {
      auto transfer = snap_.reader().transferOffer(p);
      auto modelled = model_.transfers.find(p);
      BOOST_TEST(transfer.has_value() == (modelled != model_.transfers.end()),
                 "seed " << seed_ << ": transfer of " << p);
      if (transfer && modelled != model_.transfers.end()) {
        BOOST_TEST(transfer->company == modelled->second.first, "seed " << seed_);
        BOOST_TEST(transfer->keepAccess == modelled->second.second, "seed " << seed_);
      }
      if (auto owner = model_.accountOwners.find(p); owner != model_.accountOwners.end()) {
        BOOST_TEST(snap_.reader().principal(p)->ownerCompany == owner->second, "seed " << seed_);
      }
      std::vector<CompanyId> want;
      for (auto [account, c] : model_.offers) {
        if (account == p) want.push_back(c);
      }
      BOOST_TEST((snap_.reader().offersOf(p) == want), "seed " << seed_ << ": offers of " << p);
      // The ceiling as the model has it, and no effective row outside the owner above it.
      auto ceiling = snap_.reader().ceiling(p);
      auto limit = model_.ceilings.find(p);
      BOOST_TEST(ceiling.has_value() == (limit != model_.ceilings.end()),
                 "seed " << seed_ << ": ceiling of " << p);
      if (!ceiling || limit == model_.ceilings.end()) continue;
      PermissionSet want_ceiling;
      for (uint32_t b : limit->second) want_ceiling.set(b);
      BOOST_TEST((ceiling->stored() == want_ceiling.stored()), "seed " << seed_);
      for (CompanyId c : snap_.reader().companiesOf(p)) {
        if (c == model_.accountOwners.at(p)) continue;
        auto row = snap_.reader().effective(p, c);
        if (!row) continue;
        BOOST_TEST(snap_.reader().outside(*row, ceiling->stored()).stored().empty(),
                   "seed " << seed_ << ": effective row of " << p << " in " << c);
      }
    }
    for (PrincipalId p : principalIds()) {
      for (CompanyId c : companyIds()) {
        for (const auto& perm : model_.catalog) compareOne(p, c, perm);
        compareOne(p, c, "not.in.catalog");
      }
    }
    snap_.end();
  }

  static constexpr uint64_t kFarAhead = kMaxExpiry;

  uint64_t seed_;
  std::mt19937_64 rng_;
  StoreOptions optionsFor(const std::filesystem::path& dir) const {
    StoreOptions o = testOptions(dir);
    o.replicated = replicated_;
    return o;
  }

  TempDir dir_;
  bool replicated_;
  std::unique_ptr<Store> store_ = Store::open(optionsFor(dir_.path() / "origin"));
  std::unique_ptr<Store> replica_ =
      replicated_ ? Store::open(optionsFor(dir_.path() / "replica")) : nullptr;
  uint64_t published_ = 0;
  uint64_t emptyBatches_ = 0;
  Snapshot snap_{*store_};
  Model model_;
  uint64_t nameCounter_ = 0;
  PrincipalId nextPrincipalGuess_ = 1;
  int failures_ = 0;
  uint64_t checks_ = 0;
  uint64_t cachedChecks_ = 0;
  uint64_t cachedAfterCommit_ = 0;
  uint64_t dryRuns_ = 0;
  std::vector<std::tuple<PrincipalId, CompanyId, std::string>> recent_;  // the last sample
};

uint64_t envOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

BOOST_AUTO_TEST_CASE(store_matches_reference_model) {
  uint64_t seed = envOr("GATEHOUSE_MODEL_SEED", 20261128);
  int ops = static_cast<int>(envOr("GATEHOUSE_MODEL_OPS", 10000));
  BOOST_TEST_MESSAGE("model test: seed " << seed << ", " << ops << " operations");
  ModelTest(seed).run(ops);
}

BOOST_AUTO_TEST_CASE(a_replica_replaying_the_published_batches_stays_identical) {
  uint64_t seed = envOr("GATEHOUSE_MODEL_SEED", 20261130);
  int ops = static_cast<int>(envOr("GATEHOUSE_MODEL_OPS", 10000)) / 2;
  BOOST_TEST_MESSAGE("replicated model test: seed " << seed << ", " << ops << " operations");
  ModelTest(seed, true).run(ops);
}
