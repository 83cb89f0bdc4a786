#include "store/writer.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "store/effective_row.hpp"
#include "store/names.hpp"
#include "store/records.hpp"

namespace gatehouse::store {
using records::roleNameKey;

uint64_t Writer::nextId(std::string_view counter) {
  auto v = wtxn_.get(t_.meta, counter);
  uint64_t next = v ? readU64(*v) : 1;
  uint64_t after = next + 1;
  wtxn_.put(t_.meta, counter, u64Bytes(after));
  return next;
}

Result<PermissionSet> Writer::resolvePermissions(const std::vector<std::string_view>& names) const {
  PermissionSet set;
  for (auto name : names) {
    auto bit = permission(name);
    if (!bit) {
      if (!isValidPermissionName(name)) {
        return refuse(RefusalCode::invalidArgument,
                      fmt::format("permissions: '{}' is not a valid permission name",
                                  name.substr(0, kMaxPermissionName)));
      }
      return refuse(RefusalCode::notFound,
                    fmt::format("permissions: '{}' is not in the catalog", name));
    }
    set.set(*bit);
  }
  return set;
}

Result<CompanyId> Writer::createCompany(std::string_view name) {
  if (auto bad = checkEntityName("name", name)) return refuse(RefusalCode::invalidArgument, *bad);
  if (companyByName(name)) {
    return refuse(RefusalCode::alreadyExists, fmt::format("company '{}' already exists", name));
  }
  CompanyId id = nextId("next_company");
  if (id > kMaxEntityId) return refuse(RefusalCode::limitExceeded, "company ids are exhausted");
  wtxn_.put(t_.companies, IntKey(id).bytes(), records::encodeCompany(name));
  wtxn_.put(t_.companyNames, name, u64Bytes(id));
  return id;
}

Result<uint32_t> Writer::definePermissions(const std::vector<std::string_view>& names) {
  for (auto name : names) {
    if (!isValidPermissionName(name)) {
      return refuse(RefusalCode::invalidArgument,
                    fmt::format("permissions: '{}' is not a valid permission name (lowercase "
                                "dotted segments of [a-z0-9_], at most {} bytes)",
                                name.substr(0, kMaxPermissionName), kMaxPermissionName));
    }
  }
  auto v = wtxn_.get(t_.meta, "catalog_size");
  uint64_t size = v ? readU64(*v) : 0;
  uint32_t added = 0;
  for (auto name : names) {
    if (permission(name)) continue;
    if (size >= options_.maxPermissions) {
      return refuse(
          RefusalCode::limitExceeded,
          fmt::format("permissions: the catalog is full ({} names)", options_.maxPermissions));
    }
    uint32_t bit = static_cast<uint32_t>(size++);
    wtxn_.put(t_.catalog, IntKey(bit).bytes(), name);
    wtxn_.put(t_.catalogNames, name, std::string_view(reinterpret_cast<const char*>(&bit), 4));
    ++added;
    if (changes_ != nullptr) changes_->catalog = true;
  }
  wtxn_.put(t_.meta, "catalog_size", u64Bytes(size));
  return added;
}

void Writer::putRole(const RoleRecord& role) {
  wtxn_.put(t_.roles, IntKey(role.id).bytes(), records::encodeRole(role));
}

Result<RoleId> Writer::createRole(CompanyId scope, std::string_view name,
                                  const std::vector<std::string_view>& permissions) {
  if (auto bad = checkEntityName("name", name)) return refuse(RefusalCode::invalidArgument, *bad);
  if (scope != 0 && !company(scope)) {
    return refuse(RefusalCode::notFound, fmt::format("company: no company with id {}", scope));
  }
  if (roleByName(scope, name)) {
    return refuse(RefusalCode::alreadyExists, fmt::format("role '{}' already exists", name));
  }
  auto perms = resolvePermissions(permissions);
  if (auto r = refusalOf(perms)) return *r;
  RoleRecord role{nextId("next_role"), scope, std::string(name),
                  std::move(std::get<PermissionSet>(perms))};
  putRole(role);
  wtxn_.put(t_.roleNames, roleNameKey(scope, name), u64Bytes(role.id));
  return role.id;
}

std::vector<uint64_t> Writer::holdersOf(RoleId role) const {
  return duplicates(t_.roleHolders, role);
}

Result<RoleId> Writer::updateRole(RoleId id, const std::vector<std::string_view>& permissions,
                                  std::string_view rename) {
  auto role = this->role(id);
  if (!role) return refuse(RefusalCode::notFound, fmt::format("role: no role with id {}", id));
  auto perms = resolvePermissions(permissions);
  if (auto r = refusalOf(perms)) return *r;
  bool renamed = !rename.empty() && rename != role->name;
  if (renamed) {
    if (auto bad = checkEntityName("rename", rename)) {
      return refuse(RefusalCode::invalidArgument, *bad);
    }
    if (roleByName(role->company, rename)) {
      return refuse(RefusalCode::alreadyExists, fmt::format("role '{}' already exists", rename));
    }
  }
  role->permissions = std::move(std::get<PermissionSet>(perms));
  // A holder whose grant would exceed its ceiling refuses the edit, before anything is written.
  PermissionSet over;
  PrincipalId firstOver = 0;
  for (uint64_t key : holdersOf(id)) {
    auto g = grant(key >> 32, key & kMaxEntityId);
    if (!g) throw CorruptRecord("role_holders");
    std::erase(g->roles, id);
    PermissionSet bits = held(*g);
    bits.unite(role->permissions.stored());
    PermissionSet holderOver = overCeiling(key >> 32, key & kMaxEntityId, bits.stored());
    if (holderOver.stored().empty()) continue;
    if (firstOver == 0) firstOver = key >> 32;
    over.unite(holderOver.stored());
  }
  if (firstOver != 0) return aboveCeiling(firstOver, permissionNames(over.stored()));
  if (renamed) {
    wtxn_.del(t_.roleNames, roleNameKey(role->company, role->name));
    role->name = rename;
    wtxn_.put(t_.roleNames, roleNameKey(role->company, role->name), u64Bytes(id));
  }
  putRole(*role);
  for (uint64_t key : holdersOf(id)) rematerialise(key);
  return id;
}

Result<RoleId> Writer::deleteRole(RoleId id) {
  auto role = this->role(id);
  if (!role) return refuse(RefusalCode::notFound, fmt::format("role: no role with id {}", id));
  for (uint64_t key : holdersOf(id)) {
    auto g = grant(key >> 32, key & kMaxEntityId);
    if (!g) throw CorruptRecord("role_holders");
    std::erase(g->roles, id);
    putGrant(key, *g);
    rematerialise(key);
  }
  wtxn_.del(t_.roleHolders, IntKey(id).bytes());
  wtxn_.del(t_.roleNames, roleNameKey(role->company, role->name));
  wtxn_.del(t_.roles, IntKey(id).bytes());
  return id;
}

void Writer::putPrincipal(const PrincipalRecord& r) {
  notePrincipal(r.id);
  wtxn_.put(t_.principals, IntKey(r.id).bytes(), records::encodePrincipal(r));
}

Result<PrincipalId> Writer::createPrincipal(const PrincipalRecord& record) {
  if (auto bad = checkEntityName("name", record.name)) {
    return refuse(RefusalCode::invalidArgument, *bad);
  }
  if (record.description.size() > kMaxDescription) {
    return refuse(RefusalCode::invalidArgument,
                  fmt::format("description is {} bytes, the limit is {}", record.description.size(),
                              kMaxDescription));
  }
  if (principalByName(record.name)) {
    return refuse(RefusalCode::alreadyExists,
                  fmt::format("principal '{}' already exists", record.name));
  }
  PrincipalRecord r = record;
  r.id = nextId("next_principal");
  if (r.id > kMaxEntityId) return refuse(RefusalCode::limitExceeded, "principal ids are exhausted");
  putPrincipal(r);
  wtxn_.put(t_.principalNames, r.name, u64Bytes(r.id));
  return r.id;
}

Result<PrincipalId> Writer::createUser(std::string_view name) {
  PrincipalRecord r;
  r.kind = PrincipalKind::user;
  r.name = name;
  return createPrincipal(r);
}

Result<PrincipalId> Writer::createServiceAccount(std::string_view name, CompanyId owner,
                                                 std::string_view description) {
  if (!company(owner)) {
    return refuse(RefusalCode::notFound, fmt::format("ownerCompany: no company with id {}", owner));
  }
  PrincipalRecord r;
  r.kind = PrincipalKind::serviceAccount;
  r.ownerCompany = owner;
  r.name = name;
  r.description = description;
  auto created = createPrincipal(r);
  if (auto id = std::get_if<PrincipalId>(&created)) {
    wtxn_.put(t_.ownedAccounts, IntKey(owner).bytes(), u64Bytes(*id));
  }
  return created;
}

void Writer::putGrant(uint64_t key, const GrantRecord& g) {
  std::string_view keyBytes = u64Bytes(key);
  if (auto old = grant(key >> 32, key & kMaxEntityId); old && old->expiresAt != g.expiresAt) {
    if (old->expiresAt != 0) {
      wtxn_.del(t_.grantExpiries, IntKey(old->expiresAt).bytes(), &keyBytes);
    }
  }
  if (g.expiresAt != 0) wtxn_.put(t_.grantExpiries, IntKey(g.expiresAt).bytes(), keyBytes);
  wtxn_.put(t_.grants, IntKey(key).bytes(), records::encodeGrant(g));
}

void Writer::startRecording() {
  recording_ = true;
  before_.clear();
}

void Writer::noteEffective(uint64_t key) {
  if (changes_ != nullptr) changes_->row(key);
  if (!recording_ || before_.contains(key)) return;
  auto value = wtxn_.get(t_.effective, IntKey(key).bytes());
  before_.emplace(key, value ? std::optional<std::string>(*value) : std::nullopt);
}

std::vector<EffectChange> Writer::changes(uint64_t now) {
  auto live = [now](const std::optional<std::string_view>& value) {
    if (!value) return std::string_view();
    EffectiveRow row = decodeEffective(*value);
    return expiredAt(row.expiresAt, now) ? std::string_view() : row.bits;
  };
  std::vector<EffectChange> out;
  for (const auto& [key, value] : before_) {
    std::string_view was = live(value ? std::optional<std::string_view>(*value) : std::nullopt);
    std::string_view is = live(wtxn_.get(t_.effective, IntKey(key).bytes()));
    EffectChange change{key >> 32, key & kMaxEntityId, outside(is, was), outside(was, is)};
    if (change.gained.stored().empty() && change.lost.stored().empty()) continue;
    out.push_back(std::move(change));
  }
  recording_ = false;
  before_.clear();
  return out;
}

void Writer::rematerialise(uint64_t key) {
  noteEffective(key);
  PrincipalId p = key >> 32;
  CompanyId c = key & kMaxEntityId;
  auto g = grant(p, c);
  auto pr = principal(p);
  if (!g || !pr || pr->state != PrincipalState::active) {
    wtxn_.del(t_.effective, IntKey(key).bytes());
    return;
  }
  wtxn_.put(t_.effective, IntKey(key).bytes(), encodeEffective(held(*g).stored(), g->expiresAt));
}

PermissionSet Writer::held(const GrantRecord& grant) const {
  PermissionSet bits = grant.direct;
  for (RoleId r : grant.roles) {
    auto role = this->role(r);
    if (!role) throw CorruptRecord("grants");
    bits.unite(role->permissions.stored());
  }
  return bits;
}

PermissionSet Writer::overCeiling(PrincipalId p, CompanyId c, std::string_view bits) const {
  auto limit = ceiling(p);
  if (!limit) return {};
  auto account = principal(p);
  if (!account || account->kind != PrincipalKind::serviceAccount || account->ownerCompany == c) {
    return {};
  }
  return outside(bits, limit->stored());
}

Refusal Writer::aboveCeiling(PrincipalId p, std::vector<std::string> missing) {
  return Refusal{RefusalCode::aboveCeiling,
                 fmt::format("service account {} may be granted at most its ceiling outside its "
                             "owner company",
                             p),
                 std::move(missing)};
}

Result<PrincipalId> Writer::setGrant(PrincipalId p, CompanyId c,
                                     const std::vector<std::string_view>& permissions,
                                     const std::vector<RoleId>& roles, uint64_t expiresAt) {
  if (!principal(p)) {
    return refuse(RefusalCode::notFound, fmt::format("principal: no principal with id {}", p));
  }
  if (!company(c)) {
    return refuse(RefusalCode::notFound, fmt::format("company: no company with id {}", c));
  }
  auto perms = resolvePermissions(permissions);
  if (auto r = refusalOf(perms)) return *r;
  GrantRecord next{std::move(std::get<PermissionSet>(perms)), {}, expiresAt};
  for (RoleId id : roles) {
    auto role = this->role(id);
    if (!role) return refuse(RefusalCode::notFound, fmt::format("roles: no role with id {}", id));
    if (role->company != 0 && role->company != c) {
      return refuse(
          RefusalCode::conflict,
          fmt::format("roles: role {} belongs to company {}, not {}", id, role->company, c));
    }
    if (std::find(next.roles.begin(), next.roles.end(), id) == next.roles.end()) {
      next.roles.push_back(id);
    }
  }
  PermissionSet over = overCeiling(p, c, held(next).stored());
  if (!over.stored().empty()) return aboveCeiling(p, permissionNames(over.stored()));
  uint64_t key = grantKey(p, c);
  std::string_view keyBytes = u64Bytes(key);
  if (auto old = grant(p, c)) {
    for (RoleId r : old->roles) wtxn_.del(t_.roleHolders, IntKey(r).bytes(), &keyBytes);
  }
  putGrant(key, next);
  uint64_t principalId = p;
  wtxn_.put(t_.companyGrants, IntKey(c).bytes(), u64Bytes(principalId));
  for (RoleId r : next.roles) wtxn_.put(t_.roleHolders, IntKey(r).bytes(), keyBytes);
  rematerialise(key);
  return p;
}

void Writer::dropGrant(uint64_t key, const GrantRecord& g) {
  std::string_view keyBytes = u64Bytes(key);
  uint64_t principalId = key >> 32;
  std::string_view principalBytes = u64Bytes(principalId);
  wtxn_.del(t_.companyGrants, IntKey(key & kMaxEntityId).bytes(), &principalBytes);
  wtxn_.del(t_.accessUsed, IntKey(key).bytes());
  for (RoleId r : g.roles) wtxn_.del(t_.roleHolders, IntKey(r).bytes(), &keyBytes);
  if (g.expiresAt != 0) wtxn_.del(t_.grantExpiries, IntKey(g.expiresAt).bytes(), &keyBytes);
  wtxn_.del(t_.grants, IntKey(key).bytes());
  noteEffective(key);
  wtxn_.del(t_.effective, IntKey(key).bytes());
}

Result<PrincipalId> Writer::removeGrant(PrincipalId p, CompanyId c) {
  auto g = grant(p, c);
  if (!g) {
    return refuse(RefusalCode::notFound,
                  fmt::format("principal {} holds no grant in company {}", p, c));
  }
  dropGrant(grantKey(p, c), *g);
  return p;
}

std::vector<std::pair<PrincipalId, CompanyId>> Writer::expireGrants(uint64_t now, size_t max) {
  std::vector<uint64_t> due;
  {
    Cursor cur(wtxn_, t_.grantExpiries);
    std::string_view k, v;
    for (bool ok = cur.move(MDB_FIRST, k, v); ok && due.size() < max;
         ok = cur.move(MDB_NEXT, k, v)) {
      if (readU64(k) > now) break;
      due.push_back(readU64(v));
    }
  }
  std::vector<std::pair<PrincipalId, CompanyId>> expired;
  for (uint64_t key : due) {
    auto g = grant(key >> 32, key & kMaxEntityId);
    if (!g || !expiredAt(g->expiresAt, now)) throw CorruptRecord("grant_expiries");
    dropGrant(key, *g);
    expired.emplace_back(key >> 32, key & kMaxEntityId);
  }
  return expired;
}

Result<PrincipalId> Writer::setPrincipalState(PrincipalId p, PrincipalState state) {
  auto r = principal(p);
  if (!r)
    return refuse(RefusalCode::notFound, fmt::format("principal: no principal with id {}", p));
  if (state != PrincipalState::active && state != PrincipalState::disabled) {
    return refuse(RefusalCode::invalidArgument, "state: unknown principal state");
  }
  if (r->state == state) return p;
  r->state = state;
  putPrincipal(*r);
  for (CompanyId c : companiesOf(p)) rematerialise(grantKey(p, c));
  return p;
}

Result<PrincipalId> Writer::deletePrincipal(PrincipalId p) {
  auto r = principal(p);
  if (!r)
    return refuse(RefusalCode::notFound, fmt::format("principal: no principal with id {}", p));
  for (CompanyId c : companiesOf(p)) {
    auto g = grant(p, c);
    if (!g) throw CorruptRecord("grants");
    dropGrant(grantKey(p, c), *g);
  }
  for (CompanyId c : offersOf(p)) dropOffer(p, c);
  if (auto transfer = transferOffer(p)) dropTransfer(p, transfer->company);
  wtxn_.del(t_.ceilings, IntKey(p).bytes());
  for (const KeyRecord& k : keysOf(p)) wtxn_.del(t_.keys, IntKey(k.id).bytes());
  wtxn_.del(t_.principalKeys, IntKey(p).bytes());
  wtxn_.del(t_.passwords, IntKey(p).bytes());
  wtxn_.del(t_.totp, IntKey(p).bytes());
  if (r->kind == PrincipalKind::serviceAccount) {
    std::string_view idBytes = u64Bytes(r->id);
    wtxn_.del(t_.ownedAccounts, IntKey(r->ownerCompany).bytes(), &idBytes);
  }
  wtxn_.del(t_.principalNames, r->name);
  wtxn_.del(t_.principals, IntKey(p).bytes());
  notePrincipal(p);
  return p;
}

Result<PrincipalId> Writer::offer(PrincipalId account, CompanyId c) {
  auto found = accountOf(account);
  if (auto refusal = refusalOf(found)) return *refusal;
  const PrincipalRecord& r = std::get<PrincipalRecord>(found);
  if (!company(c)) {
    return refuse(RefusalCode::notFound, fmt::format("company: no company with id {}", c));
  }
  if (c == r.ownerCompany) {
    return refuse(
        RefusalCode::invalidArgument,
        fmt::format("company: company {} owns service account {}; it needs no offer", c, account));
  }
  wtxn_.put(t_.offers, IntKey(grantKey(account, c)).bytes(), std::string_view());
  wtxn_.put(t_.companyOffers, IntKey(c).bytes(), u64Bytes(account));
  return account;
}

void Writer::dropOffer(PrincipalId account, CompanyId c) {
  std::string_view accountBytes = u64Bytes(account);
  wtxn_.del(t_.companyOffers, IntKey(c).bytes(), &accountBytes);
  wtxn_.del(t_.offers, IntKey(grantKey(account, c)).bytes());
}

Result<PrincipalId> Writer::withdrawOffer(PrincipalId account, CompanyId c) {
  auto found = accountOf(account);
  if (auto refusal = refusalOf(found)) return *refusal;
  const PrincipalRecord& r = std::get<PrincipalRecord>(found);
  if (c == r.ownerCompany) {
    return refuse(
        RefusalCode::invalidArgument,
        fmt::format("company: company {} owns service account {}; it holds no offer", c, account));
  }
  bool wasOffered = offered(account, c);
  auto g = grant(account, c);
  if (!wasOffered && !g) {
    return refuse(RefusalCode::notFound,
                  fmt::format("service account {} is not shared with company {}", account, c));
  }
  if (wasOffered) dropOffer(account, c);
  if (g) dropGrant(grantKey(account, c), *g);
  return account;
}

Result<PrincipalRecord> Writer::accountOf(PrincipalId account) const {
  auto r = principal(account);
  if (!r || r->kind != PrincipalKind::serviceAccount) {
    return refuse(RefusalCode::notFound,
                  fmt::format("serviceAccount: no service account with id {}", account));
  }
  return *r;
}

void Writer::dropTransfer(PrincipalId account, CompanyId to) {
  std::string_view accountBytes = u64Bytes(account);
  wtxn_.del(t_.companyTransfers, IntKey(to).bytes(), &accountBytes);
  wtxn_.del(t_.transfers, IntKey(account).bytes());
}

Result<PrincipalId> Writer::offerOwnership(PrincipalId account, CompanyId to, bool keepAccess,
                                           uint64_t now) {
  auto r = accountOf(account);
  if (auto refusal = refusalOf(r)) return *refusal;
  if (!company(to)) {
    return refuse(RefusalCode::notFound, fmt::format("company: no company with id {}", to));
  }
  if (to == std::get<PrincipalRecord>(r).ownerCompany) {
    return refuse(RefusalCode::invalidArgument,
                  fmt::format("company: company {} already owns service account {}", to, account));
  }
  if (auto pending = transferOffer(account)) dropTransfer(account, pending->company);
  wtxn_.put(t_.transfers, IntKey(account).bytes(),
            records::encodeTransfer(TransferOffer{to, keepAccess, now}));
  wtxn_.put(t_.companyTransfers, IntKey(to).bytes(), u64Bytes(account));
  return account;
}

Result<CompanyId> Writer::cancelOwnershipOffer(PrincipalId account) {
  auto r = accountOf(account);
  if (auto refusal = refusalOf(r)) return *refusal;
  auto pending = transferOffer(account);
  if (!pending) {
    return refuse(RefusalCode::notFound,
                  fmt::format("service account {} has no pending ownership offer", account));
  }
  dropTransfer(account, pending->company);
  return pending->company;
}

Result<TransferDone> Writer::acceptOwnership(PrincipalId account, CompanyId by, uint64_t now) {
  auto r = accountOf(account);
  if (auto refusal = refusalOf(r)) return *refusal;
  PrincipalRecord record = std::move(std::get<PrincipalRecord>(r));
  auto pending = transferOffer(account);
  if (!pending || pending->company != by) {
    return refuse(
        RefusalCode::notFound,
        fmt::format("service account {} is not offered to company {} for ownership", account, by));
  }
  TransferDone done{record.ownerCompany, 0};
  dropTransfer(account, by);
  std::string_view idBytes = u64Bytes(record.id);
  wtxn_.del(t_.ownedAccounts, IntKey(done.formerOwner).bytes(), &idBytes);
  wtxn_.put(t_.ownedAccounts, IntKey(by).bytes(), idBytes);
  record.ownerCompany = by;
  putPrincipal(record);
  if (offered(account, by)) dropOffer(account, by);  // the owner needs no offer
  wtxn_.del(t_.ceilings, IntKey(account).bytes());   // the former owner's statement
  if (auto former = grant(account, done.formerOwner)) {
    if (pending->keepAccess) {  // an external grant, with the consent it now needs
      if (refusalOf(offer(account, done.formerOwner)) != nullptr) throw CorruptRecord("companies");
    } else {
      dropGrant(grantKey(account, done.formerOwner), *former);
    }
  }
  auto retired = retireKeys(account, now, now);
  if (auto refusal = refusalOf(retired)) return *refusal;
  done.keysRevoked = std::get<uint32_t>(retired);
  return done;
}

Result<std::vector<CompanyId>> Writer::setCeiling(
    PrincipalId account, const std::vector<std::string_view>& permissions) {
  auto found = accountOf(account);
  if (auto refusal = refusalOf(found)) return *refusal;
  const PrincipalRecord& r = std::get<PrincipalRecord>(found);
  auto perms = resolvePermissions(permissions);
  if (auto refusal = refusalOf(perms)) return *refusal;
  const PermissionSet& limit = std::get<PermissionSet>(perms);
  wtxn_.put(t_.ceilings, IntKey(account).bytes(), limit.stored());
  std::vector<CompanyId> trimmed = grantsAbove(r, limit.stored());
  for (CompanyId c : trimmed) {
    uint64_t key = grantKey(account, c);
    auto g = grant(account, c);
    if (!g) throw CorruptRecord("grants");
    std::string_view keyBytes = u64Bytes(key);
    GrantRecord next;
    next.expiresAt = g->expiresAt;
    forEachBit(g->direct.stored(), [&](uint32_t bit) {
      if (limit.test(bit)) next.direct.set(bit);
    });
    for (RoleId id : g->roles) {
      auto role = this->role(id);
      if (!role) throw CorruptRecord("grants");
      if (outside(role->permissions.stored(), limit.stored()).stored().empty()) {
        next.roles.push_back(id);
      } else {
        wtxn_.del(t_.roleHolders, IntKey(id).bytes(), &keyBytes);
      }
    }
    putGrant(key, next);
    rematerialise(key);
  }
  return trimmed;
}

Result<std::vector<CompanyId>> Writer::clearCeiling(PrincipalId account) {
  auto found = accountOf(account);
  if (auto refusal = refusalOf(found)) return *refusal;
  wtxn_.del(t_.ceilings, IntKey(account).bytes());
  return std::vector<CompanyId>{};
}

Result<PrincipalId> Writer::setDescription(PrincipalId serviceAccount,
                                           std::string_view description) {
  auto found = accountOf(serviceAccount);
  if (auto refusal = refusalOf(found)) return *refusal;
  PrincipalRecord r = std::move(std::get<PrincipalRecord>(found));
  if (description.size() > kMaxDescription) {
    return refuse(RefusalCode::invalidArgument,
                  fmt::format("description is {} bytes, the limit is {}", description.size(),
                              kMaxDescription));
  }
  if (!isValidUtf8(description)) {
    return refuse(RefusalCode::invalidArgument, "description is not valid UTF-8");
  }
  r.description = description;
  putPrincipal(r);
  return serviceAccount;
}

}  // namespace gatehouse::store
