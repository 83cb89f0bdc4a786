#include "store/snapshot.hpp"

#include <algorithm>
#include <cstring>

#include "store/effective_row.hpp"
#include "store/store.hpp"

namespace gatehouse::store {

Snapshot::Snapshot(Store& store)
    : store_(store),
      tables_(store.tables()),
      rows_(kRowCacheSize),
      names_(new NameEntry[kNameCacheSize]()) {
  replicated_ = store.journal_.has_value();
  store_.addReader(active_);
  store_.enter(active_);
  txn_ = Txn::begin(store_.env(), MDB_RDONLY);
  txn_.reset();
  active_.store(false, std::memory_order_release);
}

Snapshot::~Snapshot() {
  txn_.abort();
  active_.store(false);
  store_.removeReader(active_);
}

bool Snapshot::begin() {
  store_.enter(active_);
  txn_.renew();
  uint64_t revision = txn_.id();
  if (revision == revision_) return false;
  advance(revision);
  if (replicated_) sequence_ = store_.sequenceIn(txn_);
  return true;
}

void Snapshot::advance(uint64_t revision) {
  credentialChanges_.all = false;
  credentialChanges_.principals.clear();
  bool names = false;
  bool rows = false;
  bool known =
      revision_ != 0 && store_.changes().replay(revision_, revision, [&](const ChangeSet& set) {
        names = names || set.catalog;
        if (set.allRows) {
          rows = true;
        } else if (!rows) {
          for (uint64_t key : set.rows) {
            RowEntry& entry = rowSlot(key);
            if (entry.key == key) entry.epoch = 0;
          }
        }
        if (set.allPrincipals) {
          credentialChanges_.all = true;
        } else if (!credentialChanges_.all) {
          credentialChanges_.principals.insert(credentialChanges_.principals.end(),
                                               set.principals.begin(), set.principals.end());
        }
      });
  if (!known) names = rows = credentialChanges_.all = true;
  if (rows) {
    nextEpoch(rowEpoch_);
    counters_->flushes.add();
  }
  if (names) nextEpoch(nameEpoch_);
  if (credentialChanges_.all) credentialChanges_.principals.clear();
  revision_ = revision;
}

void Snapshot::nextEpoch(uint32_t& epoch) {
  if (++epoch != 0) return;
  // Wrapped: entries of 2^32 epochs ago would look current. Forget everything.
  std::fill_n(rows_.data(), kRowCacheSize, RowEntry{});
  std::fill_n(names_.get(), kNameCacheSize, NameEntry{});
  epoch = 1;
}

void Snapshot::end() {
  txn_.reset();
  active_.store(false, std::memory_order_release);
}

Snapshot::NameEntry& Snapshot::nameSlot(std::string_view name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return names_[h & (kNameCacheSize - 1)];
}

bool Snapshot::holds(const NameEntry& e, std::string_view name) const {
  return e.epoch == nameEpoch_ && e.size == name.size() &&
         std::memcmp(e.name, name.data(), e.size) == 0;
}

int32_t Snapshot::permissionBit(std::string_view name) {
  if (!catalogable(name)) return -1;
  NameEntry& e = nameSlot(name);
  if (holds(e, name)) {
    counters_->names.hits.add();
    return e.bit;
  }
  counters_->names.misses.add();
  auto bit = reader().permission(name);
  e.epoch = nameEpoch_;
  e.size = static_cast<uint8_t>(name.size());
  std::memcpy(e.name, name.data(), name.size());
  e.bit = bit ? static_cast<int32_t>(*bit) : -1;
  return e.bit;
}

bool Snapshot::effectiveRow(uint64_t key, std::string_view& row) {
  RowEntry& entry = rowSlot(key);
  if (holds(entry, key)) {
    counters_->rows.hits.add();
    row = std::string_view(entry.bits, entry.size);
    return true;
  }
  counters_->rows.misses.add();
  MDB_val k{sizeof key, &key};
  MDB_val v;
  int rc = mdb_get(txn_.get(), tables_.effective, &k, &v);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "mdb_get");
  row = fromVal(v);
  if (v.mv_size <= RowEntry::kInline) {
    entry.key = key;
    entry.epoch = rowEpoch_;
    entry.size = static_cast<uint32_t>(v.mv_size);
    std::memcpy(entry.bits, v.mv_data, v.mv_size);
  }
  return true;
}

namespace {

bool cacheable(PrincipalId p, CompanyId c) {
  return p != 0 && c != 0 && p <= kMaxEntityId && c <= kMaxEntityId;
}

// The live bits of an effective row; false when it is a time-boxed grant past its expiry (then
// nothing is granted, and the graph says why).
bool liveBits(std::string_view& row) {
  if (!hasExpiry(row)) [[likely]]
    return true;
  EffectiveRow live = decodeEffective(row);
  if (expiredAt(live.expiresAt, clockNow())) return false;
  row = live.bits;
  return true;
}

Decision decide(std::string_view bits, int32_t bit) {
  if (bit < 0) return Decision{false, DenyReason::unknownPermission};
  if (testBit(bits, static_cast<uint32_t>(bit))) return Decision{true, DenyReason::none};
  return Decision{false, DenyReason::notGranted};
}

}  // namespace

Decision Snapshot::authorize(PrincipalId p, CompanyId c, std::string_view permission) {
  std::string_view row;
  if (!cacheable(p, c) || !effectiveRow(grantKey(p, c), row) || !liveBits(row)) {
    return reader().decide(p, c, permission);
  }
  return decide(row, permissionBit(permission));
}

bool Snapshot::current() const { return revision_ != 0 && store_.committedTxn() == revision_; }

std::optional<Decision> Snapshot::authorizeCached(PrincipalId p, CompanyId c,
                                                  std::string_view permission) {
  if (!cacheable(p, c)) return std::nullopt;
  uint64_t key = grantKey(p, c);
  const RowEntry& entry = rowSlot(key);
  if (!holds(entry, key)) return std::nullopt;
  std::string_view row(entry.bits, entry.size);
  if (!liveBits(row)) return std::nullopt;
  int32_t bit = -1;
  if (catalogable(permission)) {
    const NameEntry& e = nameSlot(permission);
    if (!holds(e, permission)) return std::nullopt;
    bit = e.bit;
    counters_->names.hits.add();
  }
  counters_->rows.hits.add();
  return decide(row, bit);
}

}  // namespace gatehouse::store
