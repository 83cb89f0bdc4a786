#include "store/store.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <bit>
#include <cerrno>
#include <system_error>
#include <thread>

#include "store/codec.hpp"

static_assert(std::endian::native == std::endian::little, "records are stored little-endian");

namespace gatehouse::store {
namespace {

constexpr std::string_view kSchemaKey = "schema_version";
// Replica-local (never journaled): the last sequence of the replicated log applied here, and the
// names given to replicationMeta, under a prefix of their own.
constexpr std::string_view kAppliedKey = "replication_sequence";
constexpr std::string_view kReplicationPrefix = "replication.";

// Creates the data directory (and its parents) when absent; the directory itself mode 0700,
// whatever the umask.
void createPrivateDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) return;
  if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
  if (!ec && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    ec = std::error_code(errno, std::generic_category());
  }
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot create data directory {}: {}", dir.string(), ec.message()));
  }
}

// Refuses a data directory or database file that others may write: anyone who can write it can
// grant themselves anything.
void refuseShared(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // not there yet: created 0700 / 0600
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return;
  throw std::runtime_error(
      fmt::format("{} is group- or world-writable (mode {:04o}); refusing to use it (chmod go-w)",
                  path.string(), st.st_mode & 07777));
}

// Schema 1 -> 2: before offers, any company could grant itself an account owned elsewhere. So that
// every such grant keeps working as it did and shows as shared, each external grant (a service
// account's grant in a company other than its owner) becomes an offer plus that grant. Runs in
// the transaction that opens the store and records the new version, so it runs exactly once.
void migrateToOffers(Txn& txn, const Tables& t, const StoreOptions& options) {
  Writer w(txn, t, options);
  std::vector<std::pair<PrincipalId, CompanyId>> external;
  {
    Cursor cur(txn, t.grants);
    std::string_view k, v;
    for (bool ok = cur.move(MDB_FIRST, k, v); ok; ok = cur.move(MDB_NEXT, k, v)) {
      uint64_t key = readU64(k);
      external.emplace_back(key >> 32, key & kMaxEntityId);
    }
  }
  for (auto [p, c] : external) {
    auto principal = w.principal(p);
    if (!principal) throw CorruptRecord("grants");
    if (principal->kind != PrincipalKind::serviceAccount || principal->ownerCompany == c) continue;
    auto offered = w.offer(p, c);
    if (auto refusal = refusalOf(offered)) throw CorruptRecord("grants: " + refusal->message);
  }
}

}  // namespace

std::unique_ptr<Store> Store::open(const StoreOptions& options) {
  createPrivateDirectory(options.directory);
  refuseShared(options.directory);
  refuseShared(options.directory / "data.mdb");
  refuseShared(options.directory / "lock.mdb");
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
  for (const TableSpec& spec : kTableSpecs) t.*spec.member = openDb(spec.name, spec.flags);

  auto version = txn.get(t.meta, kSchemaKey);
  uint32_t v = kSchemaVersion;
  if (version) {
    if (version->size() != sizeof v) throw CorruptRecord("meta");
    std::memcpy(&v, version->data(), sizeof v);
  }
  bool changed = !version;
  if (v == 1) {  // explicit migrations, one version at a time
    migrateToOffers(txn, t, store->options_);
    v = 2;
    changed = true;
  }
  if (v == 2) {  // 2 -> 3: the `ceilings` table, created empty above; no account has a ceiling
    v = 3;
    changed = true;
  }
  if (v == 3) {  // 3 -> 4: `grant_expiries`, created empty above; every grant is permanent
    v = 4;
    changed = true;
  }
  if (v == 4) {  // 4 -> 5: `transfers`, `company_transfers`, created empty: no pending transfer
    v = 5;
    changed = true;
  }
  if (v != kSchemaVersion) {
    throw std::runtime_error(
        fmt::format("{}: on-disk schema version {} is not supported by this build (expects {})",
                    options.directory.string(), v, kSchemaVersion));
  }
  if (changed) {
    txn.put(t.meta, kSchemaKey, std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
  }
  if (options.replicated) {
    store->journal_.emplace(t);
    if (auto applied = txn.get(t.meta, kAppliedKey)) {
      if (applied->size() != sizeof(uint64_t)) throw CorruptRecord("meta");
      store->applied_ = readU64(*applied);
    }
  }
  store->commitTxn(txn);
  return store;
}

Store::~Store() = default;

uint64_t Store::revision() const {
  if (options_.replicated) return appliedSequence();
  return committedTxn();
}

Store::Usage Store::usage() const {
  MDB_envinfo info;
  check(mdb_env_info(env_.get(), &info), "mdb_env_info");
  MDB_stat stat;
  check(mdb_env_stat(env_.get(), &stat), "mdb_env_stat");
  Usage u;
  u.revision = revision();
  u.mapSize = mapSize_.load();
  u.pageSize = stat.ms_psize;
  u.usedPages = info.me_last_pgno + 1;
  return u;
}

void Store::addReader(std::atomic<bool>& active) {
  std::lock_guard lock(readersMutex_);
  readers_.push_back(&active);
}

void Store::removeReader(std::atomic<bool>& active) {
  std::lock_guard lock(readersMutex_);
  std::erase(readers_, &active);
}

void Store::enter(std::atomic<bool>& active) {
  for (;;) {
    active.store(true, std::memory_order_seq_cst);
    if (!resizing_.load(std::memory_order_seq_cst)) return;
    active.store(false, std::memory_order_seq_cst);
    while (resizing_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
}

void Store::asReader(const std::function<void()>& read) {
  std::atomic<bool> active{false};
  addReader(active);
  enter(active);
  struct Leave {
    Store& store;
    std::atomic<bool>& active;
    ~Leave() {
      active.store(false, std::memory_order_release);
      store.removeReader(active);
    }
  } leave{*this, active};
  read();
}

void Store::copyCompacted(int fd) {
  int rc = MDB_SUCCESS;
  asReader([&] { rc = mdb_env_copyfd2(env_.get(), fd, MDB_CP_COMPACT); });
  check(rc, "mdb_env_copyfd2");
}

std::optional<uint64_t> Store::nextGrantExpiry() {
  std::optional<uint64_t> at;
  asReader([&] {
    Txn txn = Txn::begin(env_.get(), MDB_RDONLY);
    at = GraphReader(txn, tables_).nextGrantExpiry();
  });
  return at;
}

void Store::grow() {
  size_t current = mapSize_.load();
  if (current >= options_.maxMapSize) {
    throw MdbError("mdb_env_set_mapsize (map is at its configured maximum)", MDB_MAP_FULL);
  }
  size_t next = std::min(current * 2, options_.maxMapSize);
  resizing_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard lock(readersMutex_);
    for (std::atomic<bool>* active : readers_) {
      while (active->load(std::memory_order_seq_cst)) std::this_thread::yield();
    }
    int rc = mdb_env_set_mapsize(env_.get(), next);
    if (rc == MDB_SUCCESS) mapSize_ = next;
    resizing_.store(false, std::memory_order_seq_cst);
    check(rc, "mdb_env_set_mapsize");
  }
}

template <typename Attempt>
auto Store::withGrowth(Attempt&& attempt) {
  for (;;) {
    try {
      return attempt();
    } catch (const MdbError& e) {
      explainDiskFull(e);
      if (e.code() != MDB_MAP_FULL) throw;
    }
    grow();
  }
}

uint64_t Store::commitBatch(size_t count, const ApplyItem& apply, const AfterApply& after,
                            const ItemFailed& failed) {
  return withGrowth([&] {
    Txn txn = Txn::begin(env_.get(), 0);
    applyItems(txn, count, apply, after, failed, 0);
    uint64_t revision = txn.id();
    // Before the commit: a reader that sees the revision finds what it changed.
    changes_.publish(revision, batchChanges_);
    commitTxn(txn);
    return revision;
  });
}

Store::Outcome Store::commitReplicated(uint64_t sequence, size_t count, const ApplyItem& apply,
                                       const AfterApply& after, const ItemFailed& failed,
                                       const Publish& publish) {
  if (!journal_) throw std::logic_error("commitReplicated on a store that is not replicated");
  if (sequence != appliedSequence() + 1) {
    throw std::logic_error(
        fmt::format("commitReplicated as {} after {}", sequence, appliedSequence()));
  }
  return withGrowth([&] {
    Txn txn = Txn::begin(env_.get(), 0);
    journal_->clear();
    txn.journal(&*journal_);
    applyItems(txn, count, apply, after, failed, sequence);
    txn.journal(nullptr);
    if (journal_->empty()) return Outcome::empty;
    if (!publish(encodeBatch(kSchemaVersion, batchChanges_, journal_->ops()))) {
      return Outcome::refused;
    }
    // The log holds the batch now. A failure from here on must not make withGrowth apply and
    // publish it again (MDB_MAP_FULL): it is the caller's "stored, not committed here", and the
    // replica applies the batch from the log.
    try {
      recordApplied(txn, sequence);
      changes_.publish(txn.id(), batchChanges_);
      commitTxn(txn);
    } catch (const MdbError& e) {
      explainDiskFull(e);
      throw std::runtime_error(
          fmt::format("{} (after the log stored the batch as {})", e.what(), sequence));
    }
    applied_.store(sequence, std::memory_order_release);
    return Outcome::committed;
  });
}

void Store::applyReplicated(uint64_t sequence, std::string_view batch) {
  if (!journal_) throw std::logic_error("applyReplicated on a store that is not replicated");
  if (sequence != appliedSequence() + 1) {
    throw std::logic_error(
        fmt::format("log entry {} cannot follow entry {}", sequence, appliedSequence()));
  }
  withGrowth([&] {
    Txn txn = Txn::begin(env_.get(), 0);
    ChangeSet changes = applyBatch(txn, tables_, kSchemaVersion, batch);
    recordApplied(txn, sequence);
    changes_.publish(txn.id(), changes);
    commitTxn(txn);
    applied_.store(sequence, std::memory_order_release);
  });
}

void Store::recordApplied(Txn& txn, uint64_t sequence) {
  txn.put(tables_.meta, kAppliedKey, u64Bytes(sequence));
}

void Store::commitTxn(Txn& txn) {
  txn.commit();
  // LMDB's own id of the last commit: one that wrote nothing does not advance it. Read on the
  // thread that writes, so no map growth runs meanwhile; mdb_env_info fails only on null arguments.
  MDB_envinfo info;
  if (mdb_env_info(env_.get(), &info) == MDB_SUCCESS) {
    committedTxn_.store(info.me_last_txnid, std::memory_order_release);
  }
}

bool Store::holdsNoGraph() {
  bool none = false;
  asReader([&] {
    Txn txn = Txn::begin(env_.get(), MDB_RDONLY);
    MDB_stat companies, principals;
    check(mdb_stat(txn.get(), tables_.companies, &companies), "mdb_stat");
    check(mdb_stat(txn.get(), tables_.principals, &principals), "mdb_stat");
    none = companies.ms_entries == 0 && principals.ms_entries == 0;
  });
  return none;
}

uint64_t Store::sequenceIn(const Txn& txn) const {
  auto v = txn.get(tables_.meta, kAppliedKey);
  if (!v) return 0;
  if (v->size() != sizeof(uint64_t)) throw CorruptRecord("meta");
  return readU64(*v);
}

std::string Store::replicationMeta(std::string_view name) {
  std::string value;
  asReader([&] {
    Txn txn = Txn::begin(env_.get(), MDB_RDONLY);
    if (auto v = txn.get(tables_.meta, fmt::format("{}{}", kReplicationPrefix, name))) {
      value = std::string(*v);
    }
  });
  return value;
}

void Store::setReplicationMeta(std::string_view name, std::string_view value) {
  withGrowth([&] {
    Txn txn = Txn::begin(env_.get(), 0);
    txn.put(tables_.meta, fmt::format("{}{}", kReplicationPrefix, name), value);
    changes_.publish(txn.id(), ChangeSet{});
    commitTxn(txn);
  });
}

void Store::applyItems(Txn& txn, size_t count, const ApplyItem& apply, const AfterApply& after,
                       const ItemFailed& failed, uint64_t revision) {
  batchChanges_.clear();
  for (size_t i = 0; i < count; ++i) {
    try {
      applyItem(txn, i, apply, after, revision);
    } catch (const MdbError& e) {
      if (e.code() == MDB_MAP_FULL || !failed) throw;
      failed(i, e);
    } catch (const std::exception& e) {
      if (!failed) throw;
      failed(i, e);
    }
  }
}

void Store::applyItem(Txn& batch, size_t i, const ApplyItem& apply, const AfterApply& after,
                      uint64_t revision) {
  size_t mark = journal_ ? journal_->mark() : 0;
  struct Rollback {  // the item's writes leave the journal with its transaction
    std::optional<Journal>& journal;
    size_t mark;
    bool done = false;
    ~Rollback() {
      if (!done && journal) journal->truncate(mark);
    }
  } rollback{journal_, mark};
  Txn item = Txn::begin(env_.get(), 0, batch.get());
  if (journal_) item.journal(&*journal_);
  bool kept = false;
  {
    Writer writer(item, tables_, options_, &batchChanges_, revision);
    kept = apply(i, writer);
  }
  if (!kept) {
    item.abort();
    if (journal_) journal_->truncate(mark);
    if (!after) {
      rollback.done = true;
      return;
    }
    item = Txn::begin(env_.get(), 0, batch.get());
    if (journal_) item.journal(&*journal_);
  }
  if (after) {
    Writer writer(item, tables_, options_, &batchChanges_, revision);
    after(i, writer, kept);
  }
  item.commit();
  rollback.done = true;
}

void Store::explainDiskFull(const MdbError& e) const {
  if (e.code() != ENOSPC && e.code() != EIO) return;
  struct statvfs fs {};
  if (::statvfs(options_.directory.c_str(), &fs) != 0) return;
  uint64_t free = uint64_t{fs.f_bavail} * fs.f_frsize;
  // A device error says "Input/output error" whatever its cause; when the disk is (nearly) full,
  // say that instead, since it is what the operator can act on.
  constexpr uint64_t kNearlyFull = uint64_t{16} << 20;
  if (e.code() != ENOSPC && free >= kNearlyFull) return;
  throw std::runtime_error(fmt::format(
      "{}: the disk holding {} is full ({} bytes free); writes resume when space is freed",
      e.what(), options_.directory.string(), free));
}

}  // namespace gatehouse::store
