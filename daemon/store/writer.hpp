// Mutations of the permission graph inside the current write transaction (the writer thread
// only). Each returns a value or an expected `Refusal` (an answer, not a failure); failures of
// LMDB throw. Every mutation that can change an answer rewrites the affected effective rows in the
// same transaction, so readers always see materialised sets that match the graph.
//
// writer.cpp holds the graph (companies, catalog, roles, principals, grants, effective rows);
// writer_credentials.cpp the credentials, usage times and the audit trail.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/change_feed.hpp"
#include "store/graph_reader.hpp"

namespace gatehouse::store {

class Writer : public GraphReader {
 public:
  // `changes`, when given, collects what this writer changes that readers cache
  // (store/change_feed.hpp). `revision`, when not 0, is the revision the change commits as (a
  // replicated log's sequence); else it is the transaction's id.
  Writer(Txn& txn, const Tables& tables, const StoreOptions& options, ChangeSet* changes = nullptr,
         uint64_t revision = 0)
      : GraphReader(txn, tables),
        wtxn_(txn),
        options_(options),
        changes_(changes),
        revision_(revision) {}

  uint64_t revision() const { return revision_ != 0 ? revision_ : wtxn_.id(); }

  // Dry runs: between startRecording() and changes(), every effective row this writer is about
  // to rewrite or remove has its value before the first such write kept; changes() compares each
  // with the row now (as a reader at unix time `now` would see both: an expired grant gives
  // nothing) and answers those that differ, ascending by grant key, and stops recording.
  void startRecording();
  std::vector<EffectChange> changes(uint64_t now);

  Result<CompanyId> createCompany(std::string_view name);
  // Adds the names not yet in the catalog; returns how many were new.
  Result<uint32_t> definePermissions(const std::vector<std::string_view>& names);
  Result<RoleId> createRole(CompanyId scope, std::string_view name,
                            const std::vector<std::string_view>& permissions);
  Result<RoleId> updateRole(RoleId role, const std::vector<std::string_view>& permissions,
                            std::string_view rename);
  Result<RoleId> deleteRole(RoleId role);
  Result<PrincipalId> createUser(std::string_view name);
  Result<PrincipalId> createServiceAccount(std::string_view name, CompanyId owner,
                                           std::string_view description);
  // Replaces the whole grant: its direct permissions, roles and expiry (unix seconds; 0: never).
  // The caller checks that an expiry is in the future; the writer stores what it is given.
  Result<PrincipalId> setGrant(PrincipalId p, CompanyId c,
                               const std::vector<std::string_view>& permissions,
                               const std::vector<RoleId>& roles, uint64_t expiresAt = 0);
  Result<PrincipalId> removeGrant(PrincipalId p, CompanyId c);
  // Removes up to `max` grants whose expiry is at or before `now`, earliest first; answers which.
  std::vector<std::pair<PrincipalId, CompanyId>> expireGrants(uint64_t now, size_t max);
  Result<PrincipalId> setPrincipalState(PrincipalId p, PrincipalState state);
  Result<PrincipalId> deletePrincipal(PrincipalId p);
  // Offers (docs/service-accounts.md, "Sharing"). `offer` records that the account's owner offers
  // it to company `c` (no change when it already does). `withdrawOffer` removes the offer and the
  // account's grant in `c`, whichever exist; a refusal when neither does.
  Result<PrincipalId> offer(PrincipalId account, CompanyId c);
  Result<PrincipalId> withdrawOffer(PrincipalId account, CompanyId c);
  // Ownership transfers (docs/service-accounts.md, "Transfer"). `offerOwnership` records that the
  // owner offers the account's ownership to company `to` (replacing a pending offer);
  // `cancelOwnershipOffer` removes the pending offer and answers the company it was made to.
  // `acceptOwnership` by the company offered: the owner becomes `by`; every key live at `now` is
  // revoked; the ceiling (the former owner's) is removed; `by` needs no offer of its own any more;
  // the former owner's grant stays, with an offer, when the offer said keepAccess, else it goes.
  Result<PrincipalId> offerOwnership(PrincipalId account, CompanyId to, bool keepAccess,
                                     uint64_t now);
  Result<CompanyId> cancelOwnershipOffer(PrincipalId account);
  Result<TransferDone> acceptOwnership(PrincipalId account, CompanyId by, uint64_t now);
  // Ceilings (docs/service-accounts.md, "Ceilings"). `setCeiling` sets the most that any company
  // other than the owner may grant the account, and trims its grants there to it: direct
  // permissions outside the ceiling are removed, and a role with a permission outside it leaves the
  // grant (the grant itself stays, even when nothing is left in it). `clearCeiling` removes the
  // limit (no change when there was none). Both answer the companies whose grant changed. While a
  // ceiling is set, `setGrant` and `updateRole` refuse (`aboveCeiling`) anything that would give
  // the account more than the ceiling in a company other than its owner.
  Result<std::vector<CompanyId>> setCeiling(PrincipalId account,
                                            const std::vector<std::string_view>& permissions);
  Result<std::vector<CompanyId>> clearCeiling(PrincipalId account);

  // Credentials. The writer only stores what the credentials layer computed.
  // Adds a key for a service account that has fewer than `maxLive` live keys at `now`.
  Result<uint64_t> addKey(const KeyRecord& key, uint32_t maxLive, uint64_t now);
  // Sets every key of the account that is live at `now` to be revoked at `at` (now: at once).
  Result<uint32_t> retireKeys(PrincipalId serviceAccount, uint64_t at, uint64_t now);
  Result<uint64_t> revokeKey(uint64_t keyId, uint64_t now);
  // Coarse last-used times, flushed from memory; unknown keys are skipped.
  void touchKey(uint64_t keyId, uint64_t at);
  Result<PrincipalId> setPasswordHash(PrincipalId user, std::string_view hash);
  Result<PrincipalId> setTotp(PrincipalId user, std::string_view sealedSecret);
  Result<PrincipalId> removeTotp(PrincipalId user);
  void recordTotpStep(PrincipalId user, uint64_t step);

  Result<PrincipalId> setDescription(PrincipalId serviceAccount, std::string_view description);
  void touchAccess(PrincipalId p, CompanyId c, uint64_t at);
  // Appends an event; returns its sequence number.
  uint64_t appendAudit(AuditRecord record);
  // Deletes up to `max` events older than `before` (unix seconds); returns how many.
  size_t pruneAudit(uint64_t before, size_t max);

 private:
  // Writes a key record; a change of the account's credentials, which readers must see.
  void putKey(const KeyRecord& key);
  // Notes, for the readers' caches, that principal p's record or keys changed.
  void notePrincipal(PrincipalId p) {
    if (changes_ != nullptr) changes_->principal(p);
  }
  // The user's record, or a notFound refusal (also for a service account).
  Result<PrincipalRecord> userOf(PrincipalId user) const;
  Result<PermissionSet> resolvePermissions(const std::vector<std::string_view>& names) const;
  uint64_t nextId(std::string_view counter);
  Result<PrincipalId> createPrincipal(const PrincipalRecord& record);
  void putPrincipal(const PrincipalRecord& record);
  void putGrant(uint64_t key, const GrantRecord& grant);
  void putRole(const RoleRecord& role);
  void dropGrant(uint64_t key, const GrantRecord& grant);
  void dropOffer(PrincipalId account, CompanyId c);
  void dropTransfer(PrincipalId account, CompanyId to);
  // The record of a service account, or a notFound refusal.
  Result<PrincipalRecord> accountOf(PrincipalId account) const;
  void rematerialise(uint64_t key);
  // The permissions the grant gives, directly or through its roles.
  PermissionSet held(const GrantRecord& grant) const;
  // The permissions of `bits` that exceed the ceiling of principal p in company c (empty when p
  // is no service account, c is its owner, or it has no ceiling).
  PermissionSet overCeiling(PrincipalId p, CompanyId c, std::string_view bits) const;
  static Refusal aboveCeiling(PrincipalId p, std::vector<std::string> missing);
  std::vector<uint64_t> holdersOf(RoleId role) const;

  // Notes that the effective row `key` is about to be written or removed: for the readers'
  // caches, and (while recording) its value before its first write.
  void noteEffective(uint64_t key);

  Txn& wtxn_;
  const StoreOptions& options_;
  ChangeSet* changes_;
  uint64_t revision_;
  bool recording_ = false;
  std::map<uint64_t, std::optional<std::string>> before_;  // grant key -> row before, if any
};

}  // namespace gatehouse::store
