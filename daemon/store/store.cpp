#include "store/store.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <iterator>
#include <system_error>
#include <thread>

#include "store/codec.hpp"

static_assert(std::endian::native == std::endian::little, "records are stored little-endian");

namespace gatehouse::store {
namespace {

constexpr std::string_view kSchemaKey = "schema_version";

Refusal refuse(RefusalCode code, std::string message) { return Refusal{code, std::move(message)}; }

std::string_view u64Bytes(const uint64_t& v) {
  return {reinterpret_cast<const char*>(&v), sizeof v};
}

std::string roleNameKey(CompanyId scope, std::string_view name) {
  std::string key(reinterpret_cast<const char*>(&scope), sizeof scope);
  key.append(name);
  return key;
}

bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool isValidUtf8(std::string_view s) {
  static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    // Eight ASCII bytes at a time: the usual case (names, keys, addresses).
    for (uint64_t word; s.size() - i >= sizeof word; i += sizeof word) {
      std::memcpy(&word, s.data() + i, sizeof word);
      if ((word & 0x8080808080808080ull) != 0) break;
    }
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra = 0;
    uint32_t cp = 0;
    if ((c >> 5) == 0x6) {
      extra = 1, cp = c & 0x1Fu;
    } else if ((c >> 4) == 0xE) {
      extra = 2, cp = c & 0x0Fu;
    } else if ((c >> 3) == 0x1E) {
      extra = 3, cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

bool isValidPermissionName(std::string_view name) {
  if (name.empty() || name.size() > kMaxPermissionName) return false;
  bool segmentStart = true;
  for (char c : name) {
    if (segmentStart) {
      if (!isLower(c)) return false;
      segmentStart = false;
      continue;
    }
    if (c == '.') {
      segmentStart = true;
      continue;
    }
    if (!isLower(c) && !isDigit(c) && c != '_') return false;
  }
  return !segmentStart;
}

std::optional<std::string> checkEntityName(std::string_view field, std::string_view name) {
  if (name.empty()) return fmt::format("{} must not be empty", field);
  if (name.size() > kMaxEntityName) {
    return fmt::format("{} is {} bytes, the limit is {}", field, name.size(), kMaxEntityName);
  }
  if (!isValidUtf8(name)) return fmt::format("{} is not valid UTF-8", field);
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return fmt::format("{} contains a control character", field);
  }
  if (name.find_first_not_of("0123456789") == std::string_view::npos) {
    return fmt::format("{} must not be all digits (it would read as an id)", field);
  }
  return std::nullopt;
}

// ------------------------------------------------------------------------------------------------
// GraphReader

std::optional<std::string_view> GraphReader::company(CompanyId id) const {
  auto v = txn_.get(t_.companies, IntKey(id).bytes());
  if (!v) return std::nullopt;
  Decoder d(*v, "companies");
  return d.str();
}

std::optional<CompanyId> GraphReader::companyByName(std::string_view name) const {
  auto v = txn_.get(t_.companyNames, name);
  if (!v) return std::nullopt;
  return readU64(*v);
}

std::optional<PrincipalRecord> GraphReader::principal(PrincipalId id) const {
  auto v = txn_.get(t_.principals, IntKey(id).bytes());
  if (!v) return std::nullopt;
  Decoder d(*v, "principals");
  PrincipalRecord r;
  r.id = id;
  r.kind = static_cast<PrincipalKind>(d.u8());
  r.state = static_cast<PrincipalState>(d.u8());
  r.ownerCompany = d.u64();
  r.name = d.str();
  r.description = d.str();
  d.expectEnd();
  return r;
}

std::optional<PrincipalState> GraphReader::principalState(PrincipalId id) const {
  auto v = txn_.get(t_.principals, IntKey(id).bytes());
  if (!v) return std::nullopt;
  Decoder d(*v, "principals");
  d.u8();  // kind
  return static_cast<PrincipalState>(d.u8());
}

std::optional<PrincipalId> GraphReader::principalByName(std::string_view name) const {
  auto v = txn_.get(t_.principalNames, name);
  if (!v) return std::nullopt;
  return readU64(*v);
}

std::optional<RoleRecord> GraphReader::role(RoleId id) const {
  auto v = txn_.get(t_.roles, IntKey(id).bytes());
  if (!v) return std::nullopt;
  Decoder d(*v, "roles");
  RoleRecord r;
  r.id = id;
  r.company = d.u64();
  r.name = d.str();
  r.permissions = PermissionSet(d.str());
  d.expectEnd();
  return r;
}

std::optional<RoleId> GraphReader::roleByName(CompanyId scope, std::string_view name) const {
  auto v = txn_.get(t_.roleNames, roleNameKey(scope, name));
  if (!v) return std::nullopt;
  return readU64(*v);
}

std::optional<PermissionBit> GraphReader::permission(std::string_view name) const {
  if (name.empty() || name.size() > kMaxPermissionName) return std::nullopt;
  auto v = txn_.get(t_.catalogNames, name);
  if (!v) return std::nullopt;
  uint32_t bit = 0;
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
  Decoder d(*v, "grants");
  GrantRecord g;
  g.direct = PermissionSet(d.str());
  uint32_t n = d.u32();
  g.roles.reserve(n);
  for (uint32_t i = 0; i < n; ++i) g.roles.push_back(d.u64());
  d.expectEnd();
  return g;
}

std::optional<std::string_view> GraphReader::effective(PrincipalId p, CompanyId c) const {
  if (p > kMaxEntityId || c > kMaxEntityId) return std::nullopt;
  return txn_.get(t_.effective, IntKey(grantKey(p, c)).bytes());
}

void GraphReader::forEachCompany(const std::function<void(CompanyId, std::string_view)>& fn) const {
  Cursor cur(txn_, t_.companies);
  std::string_view k, v;
  for (bool ok = cur.move(MDB_FIRST, k, v); ok; ok = cur.move(MDB_NEXT, k, v)) {
    Decoder d(v, "companies");
    fn(readU64(k), d.str());
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
    auto r = role(readU64(k));
    if (r->company == 0) fn(*r);
    if (company != 0 && r->company == company) companyRoles.push_back(std::move(*r));
  }
  for (const auto& r : companyRoles) fn(r);
}

std::vector<CompanyId> GraphReader::companiesOf(PrincipalId p) const {
  std::vector<CompanyId> out;
  if (p == 0 || p > kMaxEntityId) return out;
  Cursor cur(txn_, t_.grants);
  uint64_t start = grantKey(p, 0);
  std::string_view k = u64Bytes(start), v;
  for (bool ok = cur.move(MDB_SET_RANGE, k, v); ok; ok = cur.move(MDB_NEXT, k, v)) {
    uint64_t key = readU64(k);
    if ((key >> 32) != p) break;
    out.push_back(key & kMaxEntityId);
  }
  return out;
}

namespace {

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

}  // namespace

std::optional<KeyRecord> GraphReader::key(uint64_t id) const {
  auto v = txn_.get(t_.keys, IntKey(id).bytes());
  if (!v) return std::nullopt;
  return decodeKey(id, *v);
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
  Decoder d(*v, "totp");
  TotpRecord r;
  r.lastStep = d.u64();
  r.sealedSecret = d.str();
  d.expectEnd();
  return r;
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

namespace {

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
  for (uint32_t i = 0; i < n; ++i) r.companies.push_back(d.u64());
  d.expectEnd();
  return r;
}

}  // namespace

std::vector<AuditRecord> GraphReader::auditPage(CompanyId company, uint64_t before,
                                                size_t limit) const {
  std::vector<AuditRecord> out;
  auto fetch = [&](uint64_t sequence) {
    auto v = txn_.get(t_.audit, IntKey(sequence).bytes());
    if (!v) throw CorruptRecord("audit_by_company");
    out.push_back(decodeAudit(sequence, *v));
  };
  std::string_view k, v;
  if (company == 0) {
    Cursor cur(txn_, t_.audit);
    uint64_t start = before == 0 ? UINT64_MAX : before;
    k = u64Bytes(start);
    bool ok = cur.move(MDB_SET_RANGE, k, v) ? cur.move(MDB_PREV, k, v) : cur.move(MDB_LAST, k, v);
    for (; ok && out.size() < limit; ok = cur.move(MDB_PREV, k, v)) {
      out.push_back(decodeAudit(readU64(k), v));
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

// ------------------------------------------------------------------------------------------------
// Snapshot

Snapshot::Snapshot(Store& store)
    : store_(store),
      tables_(store.tables()),
      rows_(kRowCacheSize),
      names_(new NameEntry[kNameCacheSize]()) {
  {
    std::lock_guard lock(store_.snapshotsMutex_);
    store_.snapshots_.push_back(this);
  }
  store_.enter(*this);
  txn_ = Txn::begin(store_.env(), MDB_RDONLY);
  txn_.reset();
  active_.store(false, std::memory_order_release);
}

Snapshot::~Snapshot() {
  txn_.abort();
  active_.store(false);
  std::lock_guard lock(store_.snapshotsMutex_);
  std::erase(store_.snapshots_, this);
}

void Snapshot::begin() {
  store_.enter(*this);
  txn_.renew();
  uint64_t revision = txn_.id();
  uint64_t generation = store_.mapGeneration();
  if (revision != revision_ || generation != mapGeneration_) {
    revision_ = revision;
    mapGeneration_ = generation;
    nextEpoch();
  }
}

void Snapshot::nextEpoch() {
  if (++epoch_ != 0) return;
  // Wrapped: entries of 2^32 snapshots ago would look current. Forget everything.
  std::fill_n(rows_.data(), kRowCacheSize, RowEntry{});
  std::fill_n(names_.get(), kNameCacheSize, NameEntry{});
  epoch_ = 1;
}

void Snapshot::end() {
  txn_.reset();
  active_.store(false, std::memory_order_release);
}

int32_t Snapshot::permissionBit(std::string_view name) {
  if (name.empty() || name.size() > kMaxPermissionName) return -1;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  NameEntry& e = names_[h & (kNameCacheSize - 1)];
  if (e.epoch == epoch_ && e.size == name.size() && std::memcmp(e.name, name.data(), e.size) == 0) {
    return e.bit;
  }
  auto bit = GraphReader(txn_, tables_).permission(name);
  e.epoch = epoch_;
  e.size = static_cast<uint8_t>(name.size());
  std::memcpy(e.name, name.data(), name.size());
  e.bit = bit ? static_cast<int32_t>(*bit) : -1;
  return e.bit;
}

Decision Snapshot::authorize(PrincipalId p, CompanyId c, std::string_view permission) {
  if (p > kMaxEntityId || c > kMaxEntityId || p == 0 || c == 0) {
    return GraphReader(txn_, tables_).decide(p, c, permission);
  }
  uint64_t key = grantKey(p, c);
  RowEntry& row = rows_[(key * 0x9E3779B97F4A7C15ull) >> (64 - kRowCacheBits)];
  if (row.epoch == epoch_ && row.key == key) {
    ++rowHits_;
  } else {
    ++rowMisses_;
    MDB_val k{sizeof key, &key};
    MDB_val v;
    int rc = mdb_get(txn_.get(), tables_.effective, &k, &v);
    if (rc == MDB_NOTFOUND) return GraphReader(txn_, tables_).decide(p, c, permission);
    check(rc, "mdb_get");
    row.key = key;
    row.epoch = epoch_;
    row.size = static_cast<uint32_t>(v.mv_size);
    row.data = static_cast<const char*>(v.mv_data);
    if (v.mv_size <= RowEntry::kInline) {
      std::memcpy(row.bits, v.mv_data, v.mv_size);
      row.data = row.bits;
    }
  }
  int32_t bit = permissionBit(permission);
  if (bit < 0) return Decision{false, DenyReason::unknownPermission};
  if (testBit(std::string_view(row.data, row.size), static_cast<uint32_t>(bit))) {
    return Decision{true, DenyReason::none};
  }
  return Decision{false, DenyReason::notGranted};
}

// ------------------------------------------------------------------------------------------------
// Writer

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
  wtxn_.put(t_.companies, IntKey(id).bytes(), Encoder().str(name).bytes());
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
  }
  wtxn_.put(t_.meta, "catalog_size", u64Bytes(size));
  return added;
}

void Writer::putRole(const RoleRecord& role) {
  wtxn_.put(t_.roles, IntKey(role.id).bytes(),
            Encoder().u64(role.company).str(role.name).str(role.permissions.stored()).bytes());
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
  if (!rename.empty() && rename != role->name) {
    if (auto bad = checkEntityName("rename", rename)) {
      return refuse(RefusalCode::invalidArgument, *bad);
    }
    if (roleByName(role->company, rename)) {
      return refuse(RefusalCode::alreadyExists, fmt::format("role '{}' already exists", rename));
    }
    wtxn_.del(t_.roleNames, roleNameKey(role->company, role->name));
    role->name = rename;
    wtxn_.put(t_.roleNames, roleNameKey(role->company, role->name), u64Bytes(id));
  }
  role->permissions = std::move(std::get<PermissionSet>(perms));
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
  wtxn_.put(t_.principals, IntKey(r.id).bytes(),
            Encoder()
                .u8(static_cast<uint8_t>(r.kind))
                .u8(static_cast<uint8_t>(r.state))
                .u64(r.ownerCompany)
                .str(r.name)
                .str(r.description)
                .bytes());
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
  Encoder e;
  e.str(g.direct.stored()).u32(static_cast<uint32_t>(g.roles.size()));
  for (RoleId r : g.roles) e.u64(r);
  wtxn_.put(t_.grants, IntKey(key).bytes(), e.bytes());
}

void Writer::rematerialise(uint64_t key) {
  PrincipalId p = key >> 32;
  CompanyId c = key & kMaxEntityId;
  auto g = grant(p, c);
  auto pr = principal(p);
  if (!g || !pr || pr->state != PrincipalState::active) {
    wtxn_.del(t_.effective, IntKey(key).bytes());
    return;
  }
  PermissionSet bits = g->direct;
  for (RoleId r : g->roles) {
    auto role = this->role(r);
    if (!role) throw CorruptRecord("grants");
    bits.unite(role->permissions.stored());
  }
  wtxn_.put(t_.effective, IntKey(key).bytes(), bits.stored());
}

Result<PrincipalId> Writer::setGrant(PrincipalId p, CompanyId c,
                                     const std::vector<std::string_view>& permissions,
                                     const std::vector<RoleId>& roles) {
  if (!principal(p)) {
    return refuse(RefusalCode::notFound, fmt::format("principal: no principal with id {}", p));
  }
  if (!company(c)) {
    return refuse(RefusalCode::notFound, fmt::format("company: no company with id {}", c));
  }
  auto perms = resolvePermissions(permissions);
  if (auto r = refusalOf(perms)) return *r;
  GrantRecord next{std::move(std::get<PermissionSet>(perms)), {}};
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
  wtxn_.del(t_.grants, IntKey(key).bytes());
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
  for (CompanyId c : companiesOf(p)) dropGrant(grantKey(p, c), *grant(p, c));
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
  return p;
}

void Writer::putKey(const KeyRecord& k) {
  wtxn_.put(t_.keys, IntKey(k.id).bytes(),
            Encoder()
                .u64(k.principal)
                .u64(k.createdAt)
                .u64(k.expiresAt)
                .u64(k.revokedAt)
                .u64(k.lastUsedAt)
                .str(std::string_view(reinterpret_cast<const char*>(k.hash.data()), k.hash.size()))
                .bytes());
}

Result<uint64_t> Writer::addKey(const KeyRecord& key, uint32_t maxLive, uint64_t now) {
  auto owner = principal(key.principal);
  if (!owner || owner->kind != PrincipalKind::serviceAccount) {
    return refuse(RefusalCode::notFound,
                  fmt::format("serviceAccount: no service account with id {}", key.principal));
  }
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
  auto owner = principal(serviceAccount);
  if (!owner || owner->kind != PrincipalKind::serviceAccount) {
    return refuse(RefusalCode::notFound,
                  fmt::format("serviceAccount: no service account with id {}", serviceAccount));
  }
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
  putKey(*k);
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
  wtxn_.put(t_.totp, IntKey(user).bytes(), Encoder().u64(0).str(sealedSecret).bytes());
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
  wtxn_.put(t_.totp, IntKey(user).bytes(), Encoder().u64(step).str(t->sealedSecret).bytes());
}

Result<PrincipalId> Writer::setDescription(PrincipalId serviceAccount,
                                           std::string_view description) {
  auto r = principal(serviceAccount);
  if (!r || r->kind != PrincipalKind::serviceAccount) {
    return refuse(RefusalCode::notFound,
                  fmt::format("serviceAccount: no service account with id {}", serviceAccount));
  }
  if (description.size() > kMaxDescription) {
    return refuse(RefusalCode::invalidArgument,
                  fmt::format("description is {} bytes, the limit is {}", description.size(),
                              kMaxDescription));
  }
  if (!isValidUtf8(description)) {
    return refuse(RefusalCode::invalidArgument, "description is not valid UTF-8");
  }
  r->description = description;
  putPrincipal(*r);
  return serviceAccount;
}

void Writer::touchAccess(PrincipalId p, CompanyId c, uint64_t at) {
  if (!grant(p, c) || accessUsed(p, c) >= at) return;
  wtxn_.put(t_.accessUsed, IntKey(grantKey(p, c)).bytes(), u64Bytes(at));
}

uint64_t Writer::appendAudit(AuditRecord r) {
  r.sequence = nextId("next_audit");
  Encoder e;
  e.u64(r.time).u64(r.actor).u64(r.activeCompany).u32(r.peerUid);
  e.u32(static_cast<uint32_t>(r.peerPid)).str(r.operation).str(r.target).str(r.outcome);
  std::sort(r.companies.begin(), r.companies.end());
  r.companies.erase(std::unique(r.companies.begin(), r.companies.end()), r.companies.end());
  std::erase(r.companies, CompanyId{0});
  e.u32(static_cast<uint32_t>(r.companies.size()));
  for (CompanyId c : r.companies) e.u64(c);
  wtxn_.put(t_.audit, IntKey(r.sequence).bytes(), e.bytes());
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
      AuditRecord r = decodeAudit(readU64(k), v);
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

// ------------------------------------------------------------------------------------------------
// Store

std::unique_ptr<Store> Store::open(const StoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.directory, ec);
  if (ec) {
    throw std::runtime_error(fmt::format("cannot create data directory {}: {}",
                                         options.directory.string(), ec.message()));
  }
  std::unique_ptr<Store> store(new Store(options));
  MDB_env* raw = nullptr;
  check(mdb_env_create(&raw), "mdb_env_create");
  store->env_ = Env(raw);
  check(mdb_env_set_maxdbs(raw, 32), "mdb_env_set_maxdbs");
  check(mdb_env_set_maxreaders(raw, options.maxReaders), "mdb_env_set_maxreaders");
  check(mdb_env_set_mapsize(raw, options.initialMapSize), "mdb_env_set_mapsize");
  unsigned flags = MDB_NOTLS | (options.durable ? 0u : MDB_NOSYNC);
  int rc = mdb_env_open(raw, options.directory.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) {
    throw std::runtime_error(
        fmt::format("mdb_env_open({}): {}", options.directory.string(), mdb_strerror(rc)));
  }
  // A file larger than the requested map (grown in an earlier run) keeps its size.
  MDB_envinfo info;
  check(mdb_env_info(raw, &info), "mdb_env_info");
  store->mapSize_ = info.me_mapsize;
  check(mdb_reader_check(raw, &store->staleReadersCleared_), "mdb_reader_check");

  Txn txn = Txn::begin(raw, 0);
  auto openDb = [&](const char* name, unsigned dbFlags) {
    MDB_dbi dbi;
    check(mdb_dbi_open(txn.get(), name, dbFlags | MDB_CREATE, &dbi), "mdb_dbi_open");
    return dbi;
  };
  Tables& t = store->tables_;
  t.meta = openDb("meta", 0);
  t.companies = openDb("companies", MDB_INTEGERKEY);
  t.companyNames = openDb("company_names", 0);
  t.catalog = openDb("catalog", MDB_INTEGERKEY);
  t.catalogNames = openDb("catalog_names", 0);
  t.roles = openDb("roles", MDB_INTEGERKEY);
  t.roleNames = openDb("role_names", 0);
  t.principals = openDb("principals", MDB_INTEGERKEY);
  t.principalNames = openDb("principal_names", 0);
  t.grants = openDb("grants", MDB_INTEGERKEY);
  t.roleHolders =
      openDb("role_holders", MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP);
  t.effective = openDb("effective", MDB_INTEGERKEY);
  t.keys = openDb("keys", MDB_INTEGERKEY);
  t.principalKeys =
      openDb("principal_keys", MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP);
  t.passwords = openDb("passwords", MDB_INTEGERKEY);
  t.totp = openDb("totp", MDB_INTEGERKEY);
  constexpr unsigned kIdList = MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP;
  t.companyGrants = openDb("company_grants", kIdList);
  t.ownedAccounts = openDb("owned_accounts", kIdList);
  t.audit = openDb("audit", MDB_INTEGERKEY);
  t.auditByCompany = openDb("audit_by_company", kIdList);
  t.accessUsed = openDb("access_used", MDB_INTEGERKEY);

  auto version = txn.get(t.meta, kSchemaKey);
  if (!version) {
    uint32_t v = kSchemaVersion;
    txn.put(t.meta, kSchemaKey, std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
  } else {
    uint32_t v = 0;
    if (version->size() != sizeof v) throw CorruptRecord("meta");
    std::memcpy(&v, version->data(), sizeof v);
    if (v != kSchemaVersion) {
      throw std::runtime_error(
          fmt::format("{}: on-disk schema version {} is not supported by this build (expects {})",
                      options.directory.string(), v, kSchemaVersion));
    }
  }
  txn.commit();
  return store;
}

Store::~Store() = default;

void Store::enter(Snapshot& s) {
  for (;;) {
    s.active_.store(true, std::memory_order_seq_cst);
    if (!resizing_.load(std::memory_order_seq_cst)) return;
    s.active_.store(false, std::memory_order_seq_cst);
    while (resizing_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
}

void Store::grow() {
  size_t current = mapSize_.load();
  if (current >= options_.maxMapSize) {
    throw MdbError("mdb_env_set_mapsize (map is at its configured maximum)", MDB_MAP_FULL);
  }
  size_t next = std::min(current * 2, options_.maxMapSize);
  resizing_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard lock(snapshotsMutex_);
    for (Snapshot* s : snapshots_) {
      while (s->active_.load(std::memory_order_seq_cst)) std::this_thread::yield();
    }
    int rc = mdb_env_set_mapsize(env_.get(), next);
    if (rc == MDB_SUCCESS) {
      mapSize_ = next;
      mapGeneration_.fetch_add(1, std::memory_order_release);
    }
    resizing_.store(false, std::memory_order_seq_cst);
    check(rc, "mdb_env_set_mapsize");
  }
}

uint64_t Store::commitBatch(size_t count, const std::function<bool(size_t, Writer&)>& apply,
                            const AfterApply& after) {
  for (;;) {
    try {
      Txn txn = Txn::begin(env_.get(), 0);
      Writer outer(txn, tables_, options_);
      for (size_t i = 0; i < count; ++i) {
        Txn nested = Txn::begin(env_.get(), 0, txn.get());
        Writer writer(nested, tables_, options_);
        bool kept = apply(i, writer);
        if (kept) {
          nested.commit();
        } else {
          nested.abort();
        }
        if (after) after(i, outer, kept);
      }
      uint64_t revision = txn.id();
      txn.commit();
      return revision;
    } catch (const MdbError& e) {
      if (e.code() != MDB_MAP_FULL) throw;
    }
    grow();
  }
}

}  // namespace gatehouse::store
