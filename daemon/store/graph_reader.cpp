#include "store/graph_reader.hpp"

#include "store/effective_row.hpp"
#include "store/records.hpp"

namespace gatehouse::store {
std::optional<std::string_view> GraphReader::company(CompanyId id) const {
  auto v = txn_.get(t_.companies, IntKey(id).bytes());
  if (!v) return std::nullopt;
  return records::decodeCompanyName(*v);
}

std::optional<CompanyId> GraphReader::companyByName(std::string_view name) const {
  if (name.empty() || name.size() > kMaxEntityName) return std::nullopt;  // no such name
  auto v = txn_.get(t_.companyNames, name);
  if (!v) return std::nullopt;
  return readU64(*v);
}

std::optional<PrincipalRecord> GraphReader::principal(PrincipalId id) const {
  auto v = txn_.get(t_.principals, IntKey(id).bytes());
  if (!v) return std::nullopt;
  return records::decodePrincipal(id, *v);
}

std::optional<PrincipalState> GraphReader::principalState(PrincipalId id) const {
  auto v = txn_.get(t_.principals, IntKey(id).bytes());
  if (!v) return std::nullopt;
  return records::decodePrincipalState(*v);
}

std::optional<PrincipalId> GraphReader::principalByName(std::string_view name) const {
  if (name.empty() || name.size() > kMaxEntityName) return std::nullopt;  // no such name
  auto v = txn_.get(t_.principalNames, name);
  if (!v) return std::nullopt;
  return readU64(*v);
}

std::optional<RoleRecord> GraphReader::role(RoleId id) const {
  auto v = txn_.get(t_.roles, IntKey(id).bytes());
  if (!v) return std::nullopt;
  return records::decodeRole(id, *v);
}

std::optional<RoleId> GraphReader::roleByName(CompanyId scope, std::string_view name) const {
  if (name.empty() || name.size() > kMaxEntityName) return std::nullopt;  // no such name
  auto v = txn_.get(t_.roleNames, records::roleNameKey(scope, name));
  if (!v) return std::nullopt;
  return readU64(*v);
}

std::optional<PermissionBit> GraphReader::permission(std::string_view name) const {
  if (name.empty() || name.size() > kMaxPermissionName) return std::nullopt;
  auto v = txn_.get(t_.catalogNames, name);
  if (!v) return std::nullopt;
  uint32_t bit = 0;
  if (v->size() != sizeof bit) throw CorruptRecord("catalog_names");
  std::memcpy(&bit, v->data(), sizeof bit);
  return bit;
}

std::optional<std::string_view> GraphReader::permissionName(PermissionBit bit) const {
  return txn_.get(t_.catalog, IntKey(bit).bytes());
}

std::optional<GrantRecord> GraphReader::grant(PrincipalId p, CompanyId c) const {
  if (p > kMaxEntityId || c > kMaxEntityId) return std::nullopt;
  auto v = txn_.get(t_.grants, IntKey(grantKey(p, c)).bytes());
  if (!v) return std::nullopt;
  return records::decodeGrant(*v);
}

std::optional<GrantRecord> GraphReader::liveGrant(PrincipalId p, CompanyId c) const {
  auto g = grant(p, c);
  if (g && expiredAt(g->expiresAt, clockNow())) return std::nullopt;
  return g;
}

std::optional<std::string_view> GraphReader::effective(PrincipalId p, CompanyId c) const {
  if (p > kMaxEntityId || c > kMaxEntityId) return std::nullopt;
  auto value = txn_.get(t_.effective, IntKey(grantKey(p, c)).bytes());
  if (!value || !hasExpiry(*value)) return value;
  EffectiveRow row = decodeEffective(*value);
  if (expiredAt(row.expiresAt, clockNow())) return std::nullopt;
  return row.bits;
}

std::optional<uint64_t> GraphReader::nextGrantExpiry() const {
  Cursor cur(txn_, t_.grantExpiries);
  std::string_view k, v;
  if (!cur.move(MDB_FIRST, k, v)) return std::nullopt;
  return readU64(k);
}

void GraphReader::forEachCompany(const std::function<void(CompanyId, std::string_view)>& fn) const {
  Cursor cur(txn_, t_.companies);
  std::string_view k, v;
  for (bool ok = cur.move(MDB_FIRST, k, v); ok; ok = cur.move(MDB_NEXT, k, v)) {
    fn(readU64(k), records::decodeCompanyName(v));
  }
}

void GraphReader::forEachPermission(
    const std::function<void(PermissionBit, std::string_view)>& fn) const {
  Cursor cur(txn_, t_.catalog);
  std::string_view k, v;
  for (bool ok = cur.move(MDB_FIRST, k, v); ok; ok = cur.move(MDB_NEXT, k, v)) {
    fn(static_cast<PermissionBit>(readU64(k)), v);
  }
}

void GraphReader::forEachRole(CompanyId company,
                              const std::function<void(const RoleRecord&)>& fn) const {
  Cursor cur(txn_, t_.roles);
  std::string_view k, v;
  std::vector<RoleRecord> companyRoles;
  for (bool ok = cur.move(MDB_FIRST, k, v); ok; ok = cur.move(MDB_NEXT, k, v)) {
    RoleRecord r = records::decodeRole(readU64(k), v);
    if (r.company == 0) fn(r);
    if (company != 0 && r.company == company) companyRoles.push_back(std::move(r));
  }
  for (const auto& r : companyRoles) fn(r);
}

std::vector<std::pair<CompanyId, std::string_view>> GraphReader::companiesFrom(CompanyId first,
                                                                               size_t limit) const {
  std::vector<std::pair<CompanyId, std::string_view>> out;
  Cursor cur(txn_, t_.companies);
  std::string_view k = u64Bytes(first), v;
  for (bool ok = cur.move(MDB_SET_RANGE, k, v); ok && out.size() < limit;
       ok = cur.move(MDB_NEXT, k, v)) {
    out.emplace_back(readU64(k), records::decodeCompanyName(v));
  }
  return out;
}

std::vector<std::pair<PermissionBit, std::string_view>> GraphReader::permissionsFrom(
    PermissionBit first, size_t limit) const {
  std::vector<std::pair<PermissionBit, std::string_view>> out;
  Cursor cur(txn_, t_.catalog);
  uint64_t start = first;
  std::string_view k = u64Bytes(start), v;
  for (bool ok = cur.move(MDB_SET_RANGE, k, v); ok && out.size() < limit;
       ok = cur.move(MDB_NEXT, k, v)) {
    out.emplace_back(static_cast<PermissionBit>(readU64(k)), v);
  }
  return out;
}

std::vector<RoleRecord> GraphReader::rolesFrom(CompanyId scope, RoleId first, size_t limit) const {
  std::vector<RoleRecord> out;
  Cursor cur(txn_, t_.roles);
  std::string_view k = u64Bytes(first), v;
  for (bool ok = cur.move(MDB_SET_RANGE, k, v); ok && out.size() < limit;
       ok = cur.move(MDB_NEXT, k, v)) {
    RoleRecord r = records::decodeRole(readU64(k), v);
    if (r.company == scope) out.push_back(std::move(r));
  }
  return out;
}

std::vector<CompanyId> GraphReader::companiesKeyedBy(MDB_dbi dbi, PrincipalId p) const {
  std::vector<CompanyId> out;
  if (p == 0 || p > kMaxEntityId) return out;
  Cursor cur(txn_, dbi);
  uint64_t start = grantKey(p, 0);
  std::string_view k = u64Bytes(start), v;
  for (bool ok = cur.move(MDB_SET_RANGE, k, v); ok; ok = cur.move(MDB_NEXT, k, v)) {
    uint64_t key = readU64(k);
    if ((key >> 32) != p) break;
    out.push_back(key & kMaxEntityId);
  }
  return out;
}

std::vector<CompanyId> GraphReader::companiesOf(PrincipalId p) const {
  return companiesKeyedBy(t_.grants, p);
}

bool GraphReader::offered(PrincipalId account, CompanyId c) const {
  if (account > kMaxEntityId || c > kMaxEntityId) return false;
  return txn_.get(t_.offers, IntKey(grantKey(account, c)).bytes()).has_value();
}

std::vector<CompanyId> GraphReader::offersOf(PrincipalId account) const {
  return companiesKeyedBy(t_.offers, account);
}

std::vector<PrincipalId> GraphReader::offeredTo(CompanyId c) const {
  return duplicates(t_.companyOffers, c);
}

std::optional<TransferOffer> GraphReader::transferOffer(PrincipalId account) const {
  auto v = txn_.get(t_.transfers, IntKey(account).bytes());
  if (!v) return std::nullopt;
  return records::decodeTransfer(*v);
}

std::vector<PrincipalId> GraphReader::transfersTo(CompanyId c) const {
  return duplicates(t_.companyTransfers, c);
}

std::optional<PermissionSet> GraphReader::ceiling(PrincipalId account) const {
  auto v = txn_.get(t_.ceilings, IntKey(account).bytes());
  if (!v) return std::nullopt;
  return PermissionSet(*v);
}

PermissionSet GraphReader::outside(std::string_view bits, std::string_view ceiling) const {
  PermissionSet over;
  forEachBit(bits, [&](uint32_t bit) {
    if (!testBit(ceiling, bit)) over.set(bit);
  });
  return over;
}

std::vector<std::string> GraphReader::permissionNames(std::string_view bits) const {
  std::vector<std::string> names;
  forEachBit(bits, [&](uint32_t bit) {
    names.emplace_back(permissionName(bit).value_or(std::string_view("?")));
  });
  return names;
}

std::vector<CompanyId> GraphReader::grantsAbove(const PrincipalRecord& account,
                                                std::string_view ceiling) const {
  std::vector<CompanyId> out;
  for (CompanyId c : companiesOf(account.id)) {
    if (c == account.ownerCompany) continue;
    auto g = grant(account.id, c);
    if (!g) throw CorruptRecord("grants");
    PermissionSet held = g->direct;
    for (RoleId r : g->roles) {
      auto role = this->role(r);
      if (!role) throw CorruptRecord("grants");
      held.unite(role->permissions.stored());
    }
    if (!outside(held.stored(), ceiling).stored().empty()) out.push_back(c);
  }
  return out;
}

std::optional<KeyRecord> GraphReader::key(uint64_t id) const {
  auto v = txn_.get(t_.keys, IntKey(id).bytes());
  if (!v) return std::nullopt;
  return records::decodeKey(id, *v);
}

std::vector<uint64_t> GraphReader::duplicates(MDB_dbi dbi, uint64_t key) const {
  std::vector<uint64_t> out;
  Cursor cur(txn_, dbi);
  IntKey k(key);
  std::string_view kv = k.bytes(), v;
  for (bool ok = cur.move(MDB_SET_KEY, kv, v); ok; ok = cur.move(MDB_NEXT_DUP, kv, v)) {
    out.push_back(readU64(v));
  }
  return out;
}

std::vector<KeyRecord> GraphReader::keysOf(PrincipalId p) const {
  std::vector<KeyRecord> out;
  for (uint64_t id : duplicates(t_.principalKeys, p)) {
    auto record = key(id);
    if (!record) throw CorruptRecord("principal_keys");
    out.push_back(*record);
  }
  return out;
}

std::optional<std::string_view> GraphReader::passwordHash(PrincipalId user) const {
  return txn_.get(t_.passwords, IntKey(user).bytes());
}

std::optional<TotpRecord> GraphReader::totp(PrincipalId user) const {
  auto v = txn_.get(t_.totp, IntKey(user).bytes());
  if (!v) return std::nullopt;
  return records::decodeTotp(*v);
}

std::vector<PrincipalId> GraphReader::principalsIn(CompanyId c) const {
  return duplicates(t_.companyGrants, c);
}

std::vector<PrincipalId> GraphReader::ownedAccounts(CompanyId c) const {
  return duplicates(t_.ownedAccounts, c);
}

uint64_t GraphReader::accessUsed(PrincipalId p, CompanyId c) const {
  if (p > kMaxEntityId || c > kMaxEntityId) return 0;
  auto v = txn_.get(t_.accessUsed, IntKey(grantKey(p, c)).bytes());
  return v ? readU64(*v) : 0;
}

std::vector<AuditRecord> GraphReader::auditPage(CompanyId company, uint64_t before,
                                                size_t limit) const {
  std::vector<AuditRecord> out;
  auto fetch = [&](uint64_t sequence) {
    auto v = txn_.get(t_.audit, IntKey(sequence).bytes());
    if (!v) throw CorruptRecord("audit_by_company");
    out.push_back(records::decodeAudit(sequence, *v));
  };
  std::string_view k, v;
  if (company == 0) {
    Cursor cur(txn_, t_.audit);
    uint64_t start = before == 0 ? UINT64_MAX : before;
    k = u64Bytes(start);
    bool ok = cur.move(MDB_SET_RANGE, k, v) ? cur.move(MDB_PREV, k, v) : cur.move(MDB_LAST, k, v);
    for (; ok && out.size() < limit; ok = cur.move(MDB_PREV, k, v)) {
      out.push_back(records::decodeAudit(readU64(k), v));
    }
    return out;
  }
  // A company's events: its index, walked from the newest down.
  std::vector<uint64_t> sequences = duplicates(t_.auditByCompany, company);
  for (auto it = sequences.rbegin(); it != sequences.rend() && out.size() < limit; ++it) {
    if (before == 0 || *it < before) fetch(*it);
  }
  return out;
}

DenyReason GraphReader::whyNoRow(PrincipalId p, CompanyId c) const {
  auto principal = this->principal(p);
  if (!principal) return DenyReason::unknownPrincipal;
  if (!company(c)) return DenyReason::unknownCompany;
  if (principal->state == PrincipalState::disabled) return DenyReason::principalDisabled;
  return DenyReason::noAccess;
}

Decision GraphReader::decide(PrincipalId p, CompanyId c, std::string_view permission) const {
  auto bits = effective(p, c);
  auto bit = this->permission(permission);
  if (!bits) {
    DenyReason why = whyNoRow(p, c);
    if (why == DenyReason::noAccess && !bit) why = DenyReason::unknownPermission;
    return Decision{false, why};
  }
  if (!bit) return Decision{false, DenyReason::unknownPermission};
  if (testBit(*bits, *bit)) return Decision{true, DenyReason::none};
  return Decision{false, DenyReason::notGranted};
}

}  // namespace gatehouse::store
