#include "store/restore.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "store/lmdb.hpp"
#include "store/types.hpp"

namespace gatehouse::store {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

// Opens the copy read-only, without a lock file, and checks its schema version and that every
// table reads to its end.
Restored verify(const std::filesystem::path& copy) {
  MDB_env* raw = nullptr;
  check(mdb_env_create(&raw), "mdb_env_create");
  Env env(raw);
  check(mdb_env_set_maxdbs(raw, 64), "mdb_env_set_maxdbs");
  int rc = mdb_env_open(raw, copy.c_str(), MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0600);
  if (rc != MDB_SUCCESS) {
    fail(fmt::format("{} is not a gatehouse backup: {}", copy.string(), mdb_strerror(rc)));
  }
  Restored r;
  Txn txn = Txn::begin(raw, MDB_RDONLY);
  MDB_dbi main;
  check(mdb_dbi_open(txn.get(), nullptr, 0, &main), "mdb_dbi_open");
  MDB_dbi meta;
  if (mdb_dbi_open(txn.get(), "meta", 0, &meta) != MDB_SUCCESS) {
    fail(fmt::format("{} is not a gatehouse backup: it has no meta table", copy.string()));
  }
  auto version = txn.get(meta, "schema_version");
  if (!version || version->size() != sizeof r.schemaVersion) {
    fail(fmt::format("{} is not a gatehouse backup: it records no schema version", copy.string()));
  }
  std::memcpy(&r.schemaVersion, version->data(), sizeof r.schemaVersion);
  // An older version is migrated when the daemon opens the restored store (Store::open).
  if (r.schemaVersion < 1 || r.schemaVersion > kSchemaVersion) {
    fail(fmt::format("{} has schema version {}; this build reads 1 to {}", copy.string(),
                     r.schemaVersion, kSchemaVersion));
  }
  // Every table, read to its end: a truncated or damaged copy fails here, not in production.
  Cursor tables(txn, main);
  std::string_view name, value;
  for (bool more = tables.move(MDB_FIRST, name, value); more;
       more = tables.move(MDB_NEXT, name, value)) {
    MDB_dbi dbi;
    check(mdb_dbi_open(txn.get(), std::string(name).c_str(), 0, &dbi), "mdb_dbi_open");
    Cursor rows(txn, dbi);
    for (bool row = rows.move(MDB_FIRST); row; row = rows.move(MDB_NEXT)) ++r.entries;
  }
  return r;
}

// Throws when a process has the environment in `directory` open: LMDB holds a shared lock on
// its lock file's first byte for as long as it has it open.
void refuseInUse(const std::filesystem::path& directory) {
  auto lockFile = directory / "lock.mdb";
  int fd = ::open(lockFile.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;  // no lock file: nobody has it open
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 1;
  bool inUse = ::fcntl(fd, F_SETLK, &lock) != 0;
  ::close(fd);
  if (inUse) {
    fail(fmt::format("{} is in use (is gatehoused running?); stop it before restoring",
                     directory.string()));
  }
}

void syncPath(const std::filesystem::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    int error = errno;
    if (fd >= 0) ::close(fd);
    fail(fmt::format("fsync({}): {}", path.string(), std::strerror(error)));
  }
  ::close(fd);
}

}  // namespace

Restored restoreCopy(const std::filesystem::path& copy, const std::filesystem::path& directory) {
  Restored r = verify(copy);
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  ::chmod(directory.c_str(), 0700);
  refuseInUse(directory);

  auto data = directory / "data.mdb";
  auto incoming = directory / "data.mdb.restoring";
  std::filesystem::copy_file(copy, incoming, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) fail(fmt::format("copying {} to {}: {}", copy.string(), incoming.string(), ec.message()));
  ::chmod(incoming.c_str(), 0600);
  // Owned like the directory (restored by root for a daemon that runs as its own user).
  struct stat dir {};
  if (::stat(directory.c_str(), &dir) == 0 && ::geteuid() == 0 &&
      ::chown(incoming.c_str(), dir.st_uid, dir.st_gid) != 0) {
    fail(fmt::format("chown({}): {}", incoming.string(), std::strerror(errno)));
  }
  syncPath(incoming, O_RDONLY);
  if (std::filesystem::exists(data)) {
    auto stamp = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    r.previous = directory / fmt::format("data.mdb.before-restore-{}", stamp);
    std::filesystem::rename(data, r.previous, ec);
    if (ec) fail(fmt::format("moving {} aside: {}", data.string(), ec.message()));
  }
  std::filesystem::rename(incoming, data, ec);
  if (ec)
    fail(fmt::format("renaming {} to {}: {}", incoming.string(), data.string(), ec.message()));
  std::filesystem::remove(directory / "lock.mdb", ec);  // LMDB makes a new one
  syncPath(directory, O_RDONLY | O_DIRECTORY);
  return r;
}

}  // namespace gatehouse::store
