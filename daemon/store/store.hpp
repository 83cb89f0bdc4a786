// The permission graph in LMDB: companies, the permission catalog, roles, principals, grants, and
// the materialised effective-permission set of every (principal, company) grant.
//
// Reading: each thread that answers queries owns a `Snapshot` (a reused read-only transaction plus
// small caches validated by the transaction id). `begin()` takes the newest committed snapshot,
// `end()` releases it; everything read in between is one consistent state, and the views it
// returns are valid only until `end()`. `authorize` is one LMDB lookup plus a bit test, and no
// heap allocation.
//
// Writing: exactly one thread calls `commitBatch`, which applies many mutations in one durable
// write transaction (group commit), each in its own nested transaction so a refused mutation
// leaves no trace. Every mutation that can change an answer rewrites the affected effective rows
// in the same transaction. When the map is full it is grown and the batch is retried.
//
// Ids: companies and principals are numbered from 1 and stay below 2^32 (they share the 8-byte
// key of a grant); roles from 1. Id 0 never names anything.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/huge_array.hpp"
#include "store/lmdb.hpp"
#include "store/permission_set.hpp"

namespace gatehouse::store {

using CompanyId = uint64_t;
using PrincipalId = uint64_t;
using RoleId = uint64_t;
using PermissionBit = uint32_t;

constexpr uint32_t kSchemaVersion = 1;
constexpr size_t kMaxPermissionName = 64;
constexpr size_t kMaxEntityName = 128;
constexpr size_t kMaxDescription = 1024;
constexpr uint64_t kMaxEntityId = 0xFFFFFFFFull;

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
  conflict
};
struct Refusal {
  RefusalCode code;
  std::string message;  // Names the field or value at fault.
};

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
};

// Validation of names, shared by the store and its callers.
bool isValidPermissionName(std::string_view name);
// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool isValidUtf8(std::string_view s);
std::optional<std::string> checkEntityName(std::string_view field, std::string_view name);

// The grant key: principal in the high half, company in the low half.
inline uint64_t grantKey(PrincipalId p, CompanyId c) { return (p << 32) | c; }

struct Tables {
  MDB_dbi meta, companies, companyNames, catalog, catalogNames, roles, roleNames, principals,
      principalNames, grants, roleHolders, effective, keys, principalKeys, passwords, totp,
      companyGrants, ownedAccounts, audit, auditByCompany, accessUsed;
};

// Read access shared by snapshots and the writer. Views are valid while the transaction is.
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
  std::optional<std::string_view> effective(PrincipalId p, CompanyId c) const;

  void forEachCompany(const std::function<void(CompanyId, std::string_view)>& fn) const;
  void forEachPermission(const std::function<void(PermissionBit, std::string_view)>& fn) const;
  // System roles, then (when company != 0) the company's roles.
  void forEachRole(CompanyId company, const std::function<void(const RoleRecord&)>& fn) const;
  // The companies where the principal holds a grant, ascending.
  std::vector<CompanyId> companiesOf(PrincipalId p) const;

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

  const Txn& txn_;
  const Tables& t_;
};

class Store;

// A thread's reader: see the header comment. A resource; not thread-safe.
class Snapshot {
 public:
  explicit Snapshot(Store& store);
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  void begin();
  void end();
  uint64_t revision() const { return revision_; }
  GraphReader reader() const { return GraphReader(txn_, tables_); }

  // The hot path. Between begin() and end() only.
  Decision authorize(PrincipalId p, CompanyId c, std::string_view permission);

  // How many authorize calls found their effective row in the cache, and how many did not.
  uint64_t rowCacheHits() const { return rowHits_; }
  uint64_t rowCacheMisses() const { return rowMisses_; }

 private:
  friend class Store;
  // One cache line: the effective set inline when it is small (the common case), else a view
  // into the map (valid for the epoch that stored it).
  struct RowEntry {
    static constexpr size_t kInline = 40;
    uint64_t key = 0;
    uint32_t epoch = 0;
    uint32_t size = 0;
    const char* data = nullptr;
    char bits[kInline];
  };
  static_assert(sizeof(RowEntry) == 64);
  struct NameEntry {
    uint32_t epoch = 0;
    int32_t bit = -1;  // -1: not in the catalog.
    uint8_t size = 0;
    char name[kMaxPermissionName];
  };
  static constexpr unsigned kRowCacheBits = 17;  // 131072 rows, 8 MiB per snapshot.
  static constexpr size_t kRowCacheSize = size_t{1} << kRowCacheBits;
  static constexpr size_t kNameCacheSize = 1024;

  int32_t permissionBit(std::string_view name);
  void nextEpoch();

  Store& store_;
  const Tables& tables_;
  Txn txn_;
  uint64_t revision_ = 0;
  uint64_t mapGeneration_ = 0;
  uint32_t epoch_ = 0;  // Bumped whenever the snapshot or the mapping changes; 0 is never valid.
  std::atomic<bool> active_{false};
  uint64_t rowHits_ = 0;
  uint64_t rowMisses_ = 0;
  HugeArray<RowEntry> rows_;
  std::unique_ptr<NameEntry[]> names_;
};

// Mutations within the current write transaction (writer thread only).
class Writer : public GraphReader {
 public:
  Writer(Txn& txn, const Tables& tables, const StoreOptions& options)
      : GraphReader(txn, tables), wtxn_(txn), options_(options) {}

  uint64_t revision() const { return wtxn_.id(); }

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
  Result<PrincipalId> setGrant(PrincipalId p, CompanyId c,
                               const std::vector<std::string_view>& permissions,
                               const std::vector<RoleId>& roles);
  Result<PrincipalId> removeGrant(PrincipalId p, CompanyId c);
  Result<PrincipalId> setPrincipalState(PrincipalId p, PrincipalState state);
  Result<PrincipalId> deletePrincipal(PrincipalId p);

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
  void putKey(const KeyRecord& key);
  // The user's record, or a notFound refusal (also for a service account).
  Result<PrincipalRecord> userOf(PrincipalId user) const;
  Result<PermissionSet> resolvePermissions(const std::vector<std::string_view>& names) const;
  uint64_t nextId(std::string_view counter);
  Result<PrincipalId> createPrincipal(const PrincipalRecord& record);
  void putPrincipal(const PrincipalRecord& record);
  void putGrant(uint64_t key, const GrantRecord& grant);
  void putRole(const RoleRecord& role);
  void dropGrant(uint64_t key, const GrantRecord& grant);
  void rematerialise(uint64_t key);
  std::vector<uint64_t> holdersOf(RoleId role) const;

  Txn& wtxn_;
  const StoreOptions& options_;
};

class Store {
 public:
  // Opens (creating when absent) the environment in options.directory. Throws on failure, with
  // the path and the LMDB function in the message.
  static std::unique_ptr<Store> open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies apply(i, writer) for i in [0, count), each in a nested transaction that is kept when
  // it returns true and rolled back when it returns false; then, outside the nested transaction
  // (so it stays even when the change was rolled back), after(i, writer, kept) — the audit trail.
  // Then commits durably. On MDB_MAP_FULL the batch is rolled back, the map grown, and every item
  // applied again (so both must be repeatable). Returns the committed revision. Other failures
  // throw; nothing is committed.
  using AfterApply = std::function<void(size_t, Writer&, bool kept)>;
  uint64_t commitBatch(size_t count, const std::function<bool(size_t, Writer&)>& apply,
                       const AfterApply& after = {});

  // Convenience for one mutation; returns the committed revision.
  uint64_t commit(const std::function<bool(Writer&)>& apply) {
    return commitBatch(1, [&](size_t, Writer& w) { return apply(w); });
  }

  size_t mapSize() const { return mapSize_.load(); }
  uint64_t mapGeneration() const { return mapGeneration_.load(std::memory_order_acquire); }
  int staleReadersCleared() const { return staleReadersCleared_; }
  MDB_env* env() const { return env_.get(); }
  const Tables& tables() const { return tables_; }

 private:
  friend class Snapshot;
  explicit Store(const StoreOptions& options) : options_(options) {}
  void grow();
  void enter(Snapshot& s);

  StoreOptions options_;
  Env env_;
  Tables tables_{};
  std::atomic<size_t> mapSize_{0};
  std::atomic<uint64_t> mapGeneration_{1};
  std::atomic<bool> resizing_{false};
  int staleReadersCleared_ = 0;
  std::mutex snapshotsMutex_;
  std::vector<Snapshot*> snapshots_;
};

}  // namespace gatehouse::store
