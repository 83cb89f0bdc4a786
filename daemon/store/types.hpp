// The store's vocabulary: ids, limits, the records of each table as values, and the result type of
// a mutation (a value, or an expected refusal). Nothing here touches LMDB.
//
// Ids: companies and principals are numbered from 1 and stay below 2^32 (they share the 8-byte
// key of a grant); roles from 1. Id 0 never names anything.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "store/permission_set.hpp"

namespace gatehouse::store {

using CompanyId = uint64_t;
using PrincipalId = uint64_t;
using RoleId = uint64_t;
using PermissionBit = uint32_t;

// The on-disk schema. 1: the first. 2: adds the offers of service accounts (`offers`,
// `company_offers`). 3: adds the ceilings of service accounts (`ceilings`). 4: adds time-boxed
// grants (an expiry in a grant record and in its effective row, `grant_expiries`). 5: adds offers
// of a service account's ownership (`transfers`, `company_transfers`). An older store is migrated
// when opened, one version at a time (Store::open).
constexpr uint32_t kSchemaVersion = 5;
constexpr size_t kMaxPermissionName = 64;
constexpr size_t kMaxEntityName = 128;
constexpr size_t kMaxDescription = 1024;
constexpr uint64_t kMaxEntityId = 0xFFFFFFFFull;
// The latest expiry a grant may carry: 9999-12-31T23:59:59Z, in unix seconds.
constexpr uint64_t kMaxExpiry = 253402300799ull;

// The grant key: principal in the high half, company in the low half.
inline uint64_t grantKey(PrincipalId p, CompanyId c) { return (p << 32) | c; }

enum class DenyReason : uint8_t {
  none,
  unknownPrincipal,
  unknownCompany,
  principalDisabled,
  unknownPermission,
  noAccess,
  notGranted,
};

struct Decision {
  bool allowed = false;
  DenyReason reason = DenyReason::none;
  friend bool operator==(const Decision&, const Decision&) = default;
};

enum class PrincipalKind : uint8_t { user = 0, serviceAccount = 1 };
enum class PrincipalState : uint8_t { active = 0, disabled = 1 };

// An expected refusal of a mutation (an answer, not a failure).
enum class RefusalCode : uint8_t {
  invalidArgument,
  notFound,
  alreadyExists,
  limitExceeded,
  conflict,
  aboveCeiling,  // A grant of a service account would exceed its owner's ceiling; see `missing`.
};
struct Refusal {
  RefusalCode code;
  std::string message;               // Names the field or value at fault.
  std::vector<std::string> missing;  // aboveCeiling: the permissions over the ceiling.
};

inline Refusal refuse(RefusalCode code, std::string message) {
  return Refusal{code, std::move(message), {}};
}

template <typename T>
using Result = std::variant<T, Refusal>;

template <typename T>
const Refusal* refusalOf(const Result<T>& r) {
  return std::get_if<Refusal>(&r);
}

struct PrincipalRecord {
  PrincipalId id = 0;
  PrincipalKind kind = PrincipalKind::user;
  PrincipalState state = PrincipalState::active;
  CompanyId ownerCompany = 0;
  std::string name;
  std::string description;
};

struct RoleRecord {
  RoleId id = 0;
  CompanyId company = 0;  // 0: a system role.
  std::string name;
  PermissionSet permissions;
};

struct GrantRecord {
  PermissionSet direct;
  std::vector<RoleId> roles;
  uint64_t expiresAt = 0;  // Unix seconds; 0: never. From then on the grant gives nothing.
};

// An API key as stored: never the secret, only its keyed hash. Times are unix seconds; 0 = never.
struct KeyRecord {
  uint64_t id = 0;
  PrincipalId principal = 0;
  uint64_t createdAt = 0;
  uint64_t expiresAt = 0;
  uint64_t revokedAt = 0;  // In the future for a key retiring after a rotation.
  uint64_t lastUsedAt = 0;
  std::array<uint8_t, 32> hash{};

  bool revoked(uint64_t now) const { return revokedAt != 0 && revokedAt <= now; }
  bool expired(uint64_t now) const { return expiresAt != 0 && expiresAt <= now; }
  bool live(uint64_t now) const { return !revoked(now) && !expired(now); }
};

// A pending offer of a service account's ownership (docs/service-accounts.md, "Transfer").
struct TransferOffer {
  CompanyId company = 0;   // the company offered the ownership
  bool keepAccess = true;  // the owner keeps its grant, as an external company, at acceptance
  uint64_t offeredAt = 0;  // unix seconds
};

// What an accepted transfer did.
struct TransferDone {
  CompanyId formerOwner = 0;
  uint32_t keysRevoked = 0;
};

// A change of one grant's effective permissions (a dry run's answer, docs/protocol.md).
struct EffectChange {
  PrincipalId principal = 0;
  CompanyId company = 0;
  PermissionSet gained;
  PermissionSet lost;
};

struct TotpRecord {
  std::string sealedSecret;  // Encrypted by the credentials layer; opaque here.
  uint64_t lastStep = 0;     // The last accepted time step (replay protection).
};

// One audit event: who did what where, and how it ended. Kept in the same transaction as the
// change (or the refusal) it records.
struct AuditRecord {
  uint64_t sequence = 0;  // Assigned by the store, ascending.
  uint64_t time = 0;      // Unix seconds.
  PrincipalId actor = 0;  // 0: system context.
  CompanyId activeCompany = 0;
  uint32_t peerUid = 0;
  int32_t peerPid = 0;
  std::string operation;
  std::string target;
  std::string outcome;
  std::vector<CompanyId> companies;  // Whose audit lists show it (besides the system's).
};

struct StoreOptions {
  std::filesystem::path directory;
  size_t initialMapSize = size_t{1} << 30;
  size_t maxMapSize = size_t{1} << 40;
  unsigned maxReaders = 126;
  bool durable = true;  // false: MDB_NOSYNC (benchmarks and tests only).
  uint32_t maxPermissions = 65536;
  // A replica of a replicated log (docs/replication.md): revisions are the log's sequence numbers,
  // recorded with each batch (Store::commitReplicated, Store::applyReplicated).
  bool replicated = false;
};

}  // namespace gatehouse::store
