// The credential, usage and audit writes of `Writer` (store/writer.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "store/names.hpp"
#include "store/records.hpp"
#include "store/writer.hpp"

namespace gatehouse::store {

void Writer::putKey(const KeyRecord& k) {
  notePrincipal(k.principal);
  wtxn_.put(t_.keys, IntKey(k.id).bytes(), records::encodeKey(k));
}

Result<uint64_t> Writer::addKey(const KeyRecord& key, uint32_t maxLive, uint64_t now) {
  auto found = accountOf(key.principal);
  if (auto refusal = refusalOf(found)) return *refusal;
  if (key.id == 0 || this->key(key.id)) {
    return refuse(RefusalCode::conflict, "key id already in use");
  }
  auto existing = keysOf(key.principal);
  auto live = std::count_if(existing.begin(), existing.end(),
                            [&](const KeyRecord& k) { return k.live(now); });
  if (live >= static_cast<long>(maxLive)) {
    return refuse(RefusalCode::limitExceeded,
                  fmt::format("service account {} already has {} live keys (the limit); revoke "
                              "one or use reset",
                              key.principal, live));
  }
  // Keep at most 64 records per account: drop the oldest dead ones.
  constexpr size_t kMaxRecords = 64;
  if (existing.size() >= kMaxRecords) {
    std::vector<KeyRecord> dead;
    std::copy_if(existing.begin(), existing.end(), std::back_inserter(dead),
                 [&](const KeyRecord& k) { return !k.live(now); });
    std::sort(dead.begin(), dead.end(),
              [](const KeyRecord& a, const KeyRecord& b) { return a.createdAt < b.createdAt; });
    size_t excess = std::min(dead.size(), existing.size() + 1 - kMaxRecords);
    for (size_t i = 0; i < excess; ++i) {
      std::string_view idBytes = u64Bytes(dead[i].id);
      wtxn_.del(t_.principalKeys, IntKey(key.principal).bytes(), &idBytes);
      wtxn_.del(t_.keys, IntKey(dead[i].id).bytes());
    }
  }
  putKey(key);
  uint64_t id = key.id;
  wtxn_.put(t_.principalKeys, IntKey(key.principal).bytes(), u64Bytes(id));
  return key.id;
}

Result<uint32_t> Writer::retireKeys(PrincipalId serviceAccount, uint64_t at, uint64_t now) {
  auto found = accountOf(serviceAccount);
  if (auto refusal = refusalOf(found)) return *refusal;
  uint32_t retired = 0;
  for (KeyRecord k : keysOf(serviceAccount)) {
    if (!k.live(now) || (k.revokedAt != 0 && k.revokedAt <= at)) continue;
    k.revokedAt = at;
    putKey(k);
    ++retired;
  }
  return retired;
}

Result<uint64_t> Writer::revokeKey(uint64_t keyId, uint64_t now) {
  auto k = key(keyId);
  if (!k) return refuse(RefusalCode::notFound, fmt::format("key: no key with id {}", keyId));
  if (!k->revoked(now)) {
    k->revokedAt = now;
    putKey(*k);
  }
  return keyId;
}

void Writer::touchKey(uint64_t keyId, uint64_t at) {
  auto k = key(keyId);
  if (!k || k->lastUsedAt >= at) return;
  k->lastUsedAt = at;
  // Not putKey: a last-used time changes nothing a reader caches, and flushes come every second.
  wtxn_.put(t_.keys, IntKey(k->id).bytes(), records::encodeKey(*k));
}

Result<PrincipalRecord> Writer::userOf(PrincipalId user) const {
  auto p = principal(user);
  if (!p || p->kind != PrincipalKind::user) {
    return refuse(RefusalCode::notFound, fmt::format("user: no user with id {}", user));
  }
  return *p;
}

Result<PrincipalId> Writer::setPasswordHash(PrincipalId user, std::string_view hash) {
  auto u = userOf(user);
  if (auto r = refusalOf(u)) return *r;
  wtxn_.put(t_.passwords, IntKey(user).bytes(), hash);
  return user;
}

Result<PrincipalId> Writer::setTotp(PrincipalId user, std::string_view sealedSecret) {
  auto u = userOf(user);
  if (auto r = refusalOf(u)) return *r;
  wtxn_.put(t_.totp, IntKey(user).bytes(),
            records::encodeTotp(TotpRecord{std::string(sealedSecret), 0}));
  return user;
}

Result<PrincipalId> Writer::removeTotp(PrincipalId user) {
  auto u = userOf(user);
  if (auto r = refusalOf(u)) return *r;
  if (!wtxn_.del(t_.totp, IntKey(user).bytes())) {
    return refuse(RefusalCode::notFound, fmt::format("user {} has no TOTP enrolled", user));
  }
  return user;
}

void Writer::recordTotpStep(PrincipalId user, uint64_t step) {
  auto t = totp(user);
  if (!t || t->lastStep >= step) return;
  t->lastStep = step;
  wtxn_.put(t_.totp, IntKey(user).bytes(), records::encodeTotp(*t));
}

void Writer::touchAccess(PrincipalId p, CompanyId c, uint64_t at) {
  if (!grant(p, c) || accessUsed(p, c) >= at) return;
  wtxn_.put(t_.accessUsed, IntKey(grantKey(p, c)).bytes(), u64Bytes(at));
}

uint64_t Writer::appendAudit(AuditRecord r) {
  r.sequence = nextId("next_audit");
  std::sort(r.companies.begin(), r.companies.end());
  r.companies.erase(std::unique(r.companies.begin(), r.companies.end()), r.companies.end());
  std::erase(r.companies, CompanyId{0});
  wtxn_.put(t_.audit, IntKey(r.sequence).bytes(), records::encodeAudit(r));
  for (CompanyId c : r.companies) {
    wtxn_.put(t_.auditByCompany, IntKey(c).bytes(), u64Bytes(r.sequence));
  }
  return r.sequence;
}

size_t Writer::pruneAudit(uint64_t before, size_t max) {
  std::vector<AuditRecord> old;
  {
    Cursor cur(txn_, t_.audit);
    std::string_view k, v;
    for (bool ok = cur.move(MDB_FIRST, k, v); ok && old.size() < max;
         ok = cur.move(MDB_NEXT, k, v)) {
      AuditRecord r = records::decodeAudit(readU64(k), v);
      if (r.time >= before) break;
      old.push_back(std::move(r));
    }
  }
  for (const AuditRecord& r : old) {
    std::string_view sequence = u64Bytes(r.sequence);
    for (CompanyId c : r.companies) wtxn_.del(t_.auditByCompany, IntKey(c).bytes(), &sequence);
    wtxn_.del(t_.audit, IntKey(r.sequence).bytes());
  }
  return old.size();
}

}  // namespace gatehouse::store
