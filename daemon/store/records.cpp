#include "store/records.hpp"

#include <cstring>

namespace gatehouse::store::records {
namespace {

PrincipalKind kindOf(uint8_t v) {
  if (v > static_cast<uint8_t>(PrincipalKind::serviceAccount)) throw CorruptRecord("principals");
  return static_cast<PrincipalKind>(v);
}

PrincipalState stateOf(uint8_t v) {
  if (v > static_cast<uint8_t>(PrincipalState::disabled)) throw CorruptRecord("principals");
  return static_cast<PrincipalState>(v);
}

}  // namespace

std::string encodeCompany(std::string_view name) { return Encoder().str(name).bytes(); }

std::string_view decodeCompanyName(std::string_view bytes) {
  Decoder d(bytes, "companies");
  std::string_view name = d.str();
  d.expectEnd();
  return name;
}

std::string roleNameKey(CompanyId scope, std::string_view name) {
  std::string key(reinterpret_cast<const char*>(&scope), sizeof scope);
  key.append(name);
  return key;
}

std::string encodePrincipal(const PrincipalRecord& r) {
  return Encoder()
      .u8(static_cast<uint8_t>(r.kind))
      .u8(static_cast<uint8_t>(r.state))
      .u64(r.ownerCompany)
      .str(r.name)
      .str(r.description)
      .bytes();
}

PrincipalRecord decodePrincipal(PrincipalId id, std::string_view bytes) {
  Decoder d(bytes, "principals");
  PrincipalRecord r;
  r.id = id;
  r.kind = kindOf(d.u8());
  r.state = stateOf(d.u8());
  r.ownerCompany = d.u64();
  r.name = d.str();
  r.description = d.str();
  d.expectEnd();
  return r;
}

PrincipalState decodePrincipalState(std::string_view bytes) {
  Decoder d(bytes, "principals");
  kindOf(d.u8());
  return stateOf(d.u8());
}

std::string encodeRole(const RoleRecord& r) {
  return Encoder().u64(r.company).str(r.name).str(r.permissions.stored()).bytes();
}

RoleRecord decodeRole(RoleId id, std::string_view bytes) {
  Decoder d(bytes, "roles");
  RoleRecord r;
  r.id = id;
  r.company = d.u64();
  r.name = d.str();
  r.permissions = PermissionSet(d.str());
  d.expectEnd();
  return r;
}

std::string encodeGrant(const GrantRecord& g) {
  Encoder e;
  e.str(g.direct.stored()).u32(static_cast<uint32_t>(g.roles.size()));
  for (RoleId r : g.roles) e.u64(r);
  if (g.expiresAt != 0) e.u64(g.expiresAt);  // absent: never (every record before schema 4)
  return e.bytes();
}

GrantRecord decodeGrant(std::string_view bytes) {
  Decoder d(bytes, "grants");
  GrantRecord g;
  g.direct = PermissionSet(d.str());
  uint32_t n = d.u32();
  if (n > bytes.size() / sizeof(uint64_t)) throw CorruptRecord("grants");
  g.roles.reserve(n);
  for (uint32_t i = 0; i < n; ++i) g.roles.push_back(d.u64());
  if (!d.atEnd()) {
    g.expiresAt = d.u64();
    if (g.expiresAt == 0) throw CorruptRecord("grants");
  }
  d.expectEnd();
  return g;
}

std::string encodeTransfer(const TransferOffer& t) {
  return Encoder().u64(t.company).u8(t.keepAccess ? 1 : 0).u64(t.offeredAt).bytes();
}

TransferOffer decodeTransfer(std::string_view bytes) {
  Decoder d(bytes, "transfers");
  TransferOffer t;
  t.company = d.u64();
  uint8_t keep = d.u8();
  if (keep > 1 || t.company == 0) throw CorruptRecord("transfers");
  t.keepAccess = keep == 1;
  t.offeredAt = d.u64();
  d.expectEnd();
  return t;
}

std::string encodeKey(const KeyRecord& k) {
  return Encoder()
      .u64(k.principal)
      .u64(k.createdAt)
      .u64(k.expiresAt)
      .u64(k.revokedAt)
      .u64(k.lastUsedAt)
      .str(std::string_view(reinterpret_cast<const char*>(k.hash.data()), k.hash.size()))
      .bytes();
}

KeyRecord decodeKey(uint64_t id, std::string_view bytes) {
  Decoder d(bytes, "keys");
  KeyRecord k;
  k.id = id;
  k.principal = d.u64();
  k.createdAt = d.u64();
  k.expiresAt = d.u64();
  k.revokedAt = d.u64();
  k.lastUsedAt = d.u64();
  std::string_view hash = d.str();
  d.expectEnd();
  if (hash.size() != k.hash.size()) throw CorruptRecord("keys");
  std::memcpy(k.hash.data(), hash.data(), hash.size());
  return k;
}

std::string encodeTotp(const TotpRecord& t) {
  return Encoder().u64(t.lastStep).str(t.sealedSecret).bytes();
}

TotpRecord decodeTotp(std::string_view bytes) {
  Decoder d(bytes, "totp");
  TotpRecord r;
  r.lastStep = d.u64();
  r.sealedSecret = d.str();
  d.expectEnd();
  return r;
}

std::string encodeAudit(const AuditRecord& r) {
  Encoder e;
  e.u64(r.time).u64(r.actor).u64(r.activeCompany).u32(r.peerUid);
  e.u32(static_cast<uint32_t>(r.peerPid)).str(r.operation).str(r.target).str(r.outcome);
  e.u32(static_cast<uint32_t>(r.companies.size()));
  for (CompanyId c : r.companies) e.u64(c);
  return e.bytes();
}

AuditRecord decodeAudit(uint64_t sequence, std::string_view bytes) {
  Decoder d(bytes, "audit");
  AuditRecord r;
  r.sequence = sequence;
  r.time = d.u64();
  r.actor = d.u64();
  r.activeCompany = d.u64();
  r.peerUid = d.u32();
  r.peerPid = static_cast<int32_t>(d.u32());
  r.operation = d.str();
  r.target = d.str();
  r.outcome = d.str();
  uint32_t n = d.u32();
  if (n > bytes.size() / sizeof(uint64_t)) throw CorruptRecord("audit");
  for (uint32_t i = 0; i < n; ++i) r.companies.push_back(d.u64());
  d.expectEnd();
  return r;
}

}  // namespace gatehouse::store::records
