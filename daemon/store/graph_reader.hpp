// Read access to the permission graph inside one LMDB transaction, shared by the IO threads'
// snapshots and the writer. Views returned here point into the map: valid while the transaction
// is, and only until its next write (lmdb.h, mdb_get).
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "store/lmdb.hpp"
#include "store/types.hpp"

namespace gatehouse::store {

// The named databases of the environment (kTableSpecs lists them with their names and flags).
struct Tables {
  MDB_dbi meta, companies, companyNames, catalog, catalogNames, roles, roleNames, principals,
      principalNames, grants, roleHolders, effective, keys, principalKeys, passwords, totp,
      companyGrants, ownedAccounts, audit, auditByCompany, accessUsed, offers, companyOffers,
      ceilings, grantExpiries, transfers, companyTransfers;
};

// Every table: where Tables keeps its handle, its name in the environment, its flags (Store::open
// creates it with them). A table's place here is its index in replicated batches
// (store/journal.hpp): only ever append, so that an index names one table for good.
struct TableSpec {
  MDB_dbi Tables::*member;
  const char* name;
  unsigned flags;
};
inline constexpr unsigned kIdList = MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP;
inline constexpr TableSpec kTableSpecs[] = {
    {&Tables::meta, "meta", 0},
    {&Tables::companies, "companies", MDB_INTEGERKEY},
    {&Tables::companyNames, "company_names", 0},
    {&Tables::catalog, "catalog", MDB_INTEGERKEY},
    {&Tables::catalogNames, "catalog_names", 0},
    {&Tables::roles, "roles", MDB_INTEGERKEY},
    {&Tables::roleNames, "role_names", 0},
    {&Tables::principals, "principals", MDB_INTEGERKEY},
    {&Tables::principalNames, "principal_names", 0},
    {&Tables::grants, "grants", MDB_INTEGERKEY},
    {&Tables::roleHolders, "role_holders", kIdList},
    {&Tables::effective, "effective", MDB_INTEGERKEY},
    {&Tables::keys, "keys", MDB_INTEGERKEY},
    {&Tables::principalKeys, "principal_keys", kIdList},
    {&Tables::passwords, "passwords", MDB_INTEGERKEY},
    {&Tables::totp, "totp", MDB_INTEGERKEY},
    {&Tables::companyGrants, "company_grants", kIdList},
    {&Tables::ownedAccounts, "owned_accounts", kIdList},
    {&Tables::audit, "audit", MDB_INTEGERKEY},
    {&Tables::auditByCompany, "audit_by_company", kIdList},
    {&Tables::accessUsed, "access_used", MDB_INTEGERKEY},
    {&Tables::offers, "offers", MDB_INTEGERKEY},
    {&Tables::companyOffers, "company_offers", kIdList},
    {&Tables::ceilings, "ceilings", MDB_INTEGERKEY},
    {&Tables::grantExpiries, "grant_expiries", kIdList},  // expiry -> grant keys
    {&Tables::transfers, "transfers", MDB_INTEGERKEY},
    {&Tables::companyTransfers, "company_transfers", kIdList},
};
static_assert(sizeof(kTableSpecs) / sizeof(TableSpec) * sizeof(MDB_dbi) == sizeof(Tables),
              "a table of Tables missing from kTableSpecs");

class GraphReader {
 public:
  GraphReader(const Txn& txn, const Tables& tables) : txn_(txn), t_(tables) {}

  std::optional<std::string_view> company(CompanyId id) const;  // The company's name.
  std::optional<CompanyId> companyByName(std::string_view name) const;
  std::optional<PrincipalRecord> principal(PrincipalId id) const;
  // The principal's state alone, without decoding its names (the API-key check path).
  std::optional<PrincipalState> principalState(PrincipalId id) const;
  std::optional<PrincipalId> principalByName(std::string_view name) const;
  std::optional<RoleRecord> role(RoleId id) const;
  std::optional<RoleId> roleByName(CompanyId scope, std::string_view name) const;
  std::optional<PermissionBit> permission(std::string_view name) const;
  std::optional<std::string_view> permissionName(PermissionBit bit) const;
  std::optional<GrantRecord> grant(PrincipalId p, CompanyId c) const;
  // The grant as the views show it: none once its expiry has passed, even before the writer has
  // removed it.
  std::optional<GrantRecord> liveGrant(PrincipalId p, CompanyId c) const;
  // The permissions (p, c)'s grant gives now: none when there is no grant, the principal is
  // disabled, or the grant's expiry has passed (even before the writer has removed it).
  std::optional<std::string_view> effective(PrincipalId p, CompanyId c) const;
  // The earliest expiry of any grant still stored (unix seconds); nullopt when none expires.
  std::optional<uint64_t> nextGrantExpiry() const;

  void forEachCompany(const std::function<void(CompanyId, std::string_view)>& fn) const;
  void forEachPermission(const std::function<void(PermissionBit, std::string_view)>& fn) const;
  // System roles, then (when company != 0) the company's roles.
  void forEachRole(CompanyId company, const std::function<void(const RoleRecord&)>& fn) const;
  // Pages of the lists, ascending from the first id (bit) given, at most `limit` items; views
  // valid while the transaction is.
  std::vector<std::pair<CompanyId, std::string_view>> companiesFrom(CompanyId first,
                                                                    size_t limit) const;
  std::vector<std::pair<PermissionBit, std::string_view>> permissionsFrom(PermissionBit first,
                                                                          size_t limit) const;
  // Roles of exactly `scope` (0: the system roles) with ids from `first`.
  std::vector<RoleRecord> rolesFrom(CompanyId scope, RoleId first, size_t limit) const;
  // The companies where the principal holds a grant, ascending.
  std::vector<CompanyId> companiesOf(PrincipalId p) const;
  // Offers of service accounts (docs/service-accounts.md, "Sharing"): whether the account's owner
  // offers it to the company; the companies it is offered to; the accounts offered to a company.
  // All ascending.
  bool offered(PrincipalId account, CompanyId c) const;
  std::vector<CompanyId> offersOf(PrincipalId account) const;
  std::vector<PrincipalId> offeredTo(CompanyId c) const;
  // Ownership transfers (docs/service-accounts.md, "Transfer"): the account's pending offer of
  // its ownership; the accounts whose ownership is offered to a company, ascending.
  std::optional<TransferOffer> transferOffer(PrincipalId account) const;
  std::vector<PrincipalId> transfersTo(CompanyId c) const;
  // Ceilings (docs/service-accounts.md, "Ceilings"): the most the account's owner lets any other
  // company grant it, as a stored permission set; nullopt when it set none (no limit).
  std::optional<PermissionSet> ceiling(PrincipalId account) const;
  // The permissions of `bits` (a stored set) outside `ceiling`.
  PermissionSet outside(std::string_view bits, std::string_view ceiling) const;
  // The names of the permissions in `bits`, ascending by bit ("?" for a bit not in the catalog).
  std::vector<std::string> permissionNames(std::string_view bits) const;
  // The companies other than its owner where the account's grant holds a permission, directly or
  // through a role, outside `ceiling`: where lowering the ceiling to it trims. Ascending.
  std::vector<CompanyId> grantsAbove(const PrincipalRecord& account,
                                     std::string_view ceiling) const;

  std::optional<KeyRecord> key(uint64_t id) const;
  std::vector<KeyRecord> keysOf(PrincipalId p) const;  // Ascending by id.
  std::optional<std::string_view> passwordHash(PrincipalId user) const;
  std::optional<TotpRecord> totp(PrincipalId user) const;

  // Principals holding a grant in the company, and service accounts it owns; ascending ids.
  std::vector<PrincipalId> principalsIn(CompanyId c) const;
  std::vector<PrincipalId> ownedAccounts(CompanyId c) const;
  // When the principal last used its access in the company (coarse); 0: never recorded.
  uint64_t accessUsed(PrincipalId p, CompanyId c) const;
  // Newest first: events with sequence < `before` (0: all), at most `limit`; company 0: all events.
  std::vector<AuditRecord> auditPage(CompanyId company, uint64_t before, size_t limit) const;

  // The full decision, walking the reasons in their documented order. No caches.
  Decision decide(PrincipalId p, CompanyId c, std::string_view permission) const;
  // Why there is no effective row for (p, c): the reason order of `decide` without a permission.
  DenyReason whyNoRow(PrincipalId p, CompanyId c) const;

 protected:
  // The u64 duplicates stored under `key` in a DUPSORT table, ascending.
  std::vector<uint64_t> duplicates(MDB_dbi dbi, uint64_t key) const;
  // The companies of `p`'s entries in a table keyed by grantKey(p, company) (grants, offers).
  std::vector<CompanyId> companiesKeyedBy(MDB_dbi dbi, PrincipalId p) const;

  const Txn& txn_;
  const Tables& t_;
};

}  // namespace gatehouse::store
