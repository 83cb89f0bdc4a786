// libgatehouse_powerloss.so: the power-loss layer, loaded into gatehoused with LD_PRELOAD.
// Records in an undo log (undo_log.hpp; path from GATEHOUSE_POWERLOSS_LOG) what every write to an
// LMDB data file (a file named data.mdb) overwrites, so that after a SIGKILL the test can drop the
// writes that were not durable yet. Without GATEHOUSE_POWERLOSS_LOG it tracks nothing;
// GATEHOUSE_POWERLOSS_SYNC_DELAY_US (below) makes every sync of the data file slower.
//
// It interposes what LMDB 0.9 uses on Linux for its data file (`nm -D liblmdb.so.0`): open (a
// read-write descriptor and an O_DSYNC one for the meta pages), pwrite, lseek + write/writev
// (multi-page flushes), fdatasync/fsync, close; and pwritev, which LMDB uses when built with
// MDB_USE_PWRITEV. ftruncate on the data file (LMDB's MDB_WRITEMAP mode, which gatehouse does not
// use) would change what is durable in a way the log does not model: it aborts, rather than let
// a test pass on a file the layer did not follow.
//
// Threading: one mutex orders the log's records as the writes themselves are ordered, and is held
// across each tracked write and sync, so a sync never empties the log of a write it did not
// cover. Untracked descriptors (sockets, logs) pass straight through after a lock-free lookup.
// One data file per process: the log has no file name in it.
//
// The library is built without sanitizers (it runs before their runtimes in the library list);
// the functions it calls resolve to the sanitizer interceptors where there are some.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "undo_log.hpp"

namespace {

using gatehouse::powerloss::kDurableLengthOffset;
using gatehouse::powerloss::recordSize;
using gatehouse::powerloss::UndoRecordHeader;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "libgatehouse_powerloss: %s (%s)\n", what, std::strerror(errno));
  std::abort();
}

template <typename Fn>
Fn next(const char* name) {
  auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
  if (fn == nullptr) die(name);
  return fn;
}

// The functions this library replaces, as the next library in the search order defines them.
#define GATEHOUSE_REAL(name) static const auto real = next<decltype(&::name)>(#name)

// Tracked descriptors, lock-free because every write() in the process looks here. A slot holds
// (fd + 1) << 1 | synchronous, 0 when free (so that zero-initialisation means empty).
constexpr int kSlots = 16;
std::atomic<int> tracked[kSlots];

struct Tracked {
  bool yes = false;
  bool synchronous = false;
};

Tracked lookup(int fd) {
  for (auto& slot : tracked) {
    int v = slot.load(std::memory_order_acquire);
    if (v != 0 && (v >> 1) == fd + 1) return {true, (v & 1) != 0};
  }
  return {};
}

void untrack(int fd) {
  for (auto& slot : tracked) {
    int v = slot.load(std::memory_order_acquire);
    if (v != 0 && (v >> 1) == fd + 1) slot.store(0, std::memory_order_release);
  }
}

std::mutex logMutex;
int logFd = -1;        // guarded by logMutex
uint64_t logEnd = 0;   // guarded by logMutex
dev_t fileDevice = 0;  // guarded by logMutex: the data file being tracked
ino_t fileInode = 0;   // guarded by logMutex
int readFd = -1;       // guarded by logMutex: reads the data file (the O_DSYNC descriptor cannot)

void writeLog(const void* data, size_t length, uint64_t offset) {
  GATEHOUSE_REAL(pwrite);
  const char* p = static_cast<const char*>(data);
  while (length > 0) {
    ssize_t n = real(logFd, p, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("cannot write the undo log");
    p += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

bool isDataFile(const char* path) {
  if (path == nullptr) return false;
  std::string_view p(path);
  auto slash = p.rfind('/');
  return (slash == std::string_view::npos ? p : p.substr(slash + 1)) == "data.mdb";
}

void noteOpen(int fd, const char* path, int flags) {
  if (fd < 0 || (flags & O_ACCMODE) == O_RDONLY || !isDataFile(path)) return;
  const char* logPath = std::getenv("GATEHOUSE_POWERLOSS_LOG");
  if (logPath == nullptr) return;
  if ((flags & O_APPEND) != 0) die("O_APPEND on data.mdb is not modelled");
  std::lock_guard lock(logMutex);
  struct stat st;
  if (::fstat(fd, &st) != 0) die("fstat data.mdb");
  if (readFd >= 0 && (st.st_dev != fileDevice || st.st_ino != fileInode)) {
    die("a second data.mdb in one process is not supported");
  }
  GATEHOUSE_REAL(open);
  if (readFd < 0) {
    fileDevice = st.st_dev;
    fileInode = st.st_ino;
    std::string self = "/proc/self/fd/" + std::to_string(fd);
    readFd = real(self.c_str(), O_RDONLY | O_CLOEXEC);
    if (readFd < 0) die("cannot open data.mdb for reading");
  }
  if (logFd < 0) {
    // Opened at the first data file, not at load: a child that inherits LD_PRELOAD (a sanitizer's
    // symbolizer) must not empty the log of the process it reports on.
    logFd = real(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logFd < 0) die("cannot open GATEHOUSE_POWERLOSS_LOG");
    logEnd = 0;
  }
  untrack(fd);  // closed behind our back (close_range, a raw syscall): the number is reused
  int value = ((fd + 1) << 1) | ((flags & O_DSYNC) != 0 ? 1 : 0);  // O_SYNC includes O_DSYNC
  for (auto& slot : tracked) {
    int expected = 0;
    if (slot.compare_exchange_strong(expected, value, std::memory_order_acq_rel)) return;
  }
  die("too many data.mdb descriptors");
}

// Appends the record for a write of `iov` at `offset` (before it starts), performs it with
// `doWrite`, then, for a synchronous descriptor, records how much of it is durable.
template <typename DoWrite>
ssize_t loggedWrite(int fd, bool synchronous, off_t offset, const iovec* iov, int iovcnt,
                    DoWrite doWrite) {
  if (offset < 0) return doWrite();  // a failing lseek: the write fails the same way
  std::lock_guard lock(logMutex);
  struct stat st;
  if (::fstat(fd, &st) != 0) die("fstat data.mdb");
  UndoRecordHeader h;
  h.offset = static_cast<uint64_t>(offset);
  for (int i = 0; i < iovcnt; ++i) h.length += iov[i].iov_len;
  h.sizeBefore = static_cast<uint64_t>(st.st_size);
  h.oldLength = h.offset < h.sizeBefore ? std::min(h.length, h.sizeBefore - h.offset) : 0;
  h.newLength = synchronous ? h.length : 0;
  std::vector<char> record(recordSize(h), 0);
  std::memcpy(record.data(), &h, sizeof h);
  char* old = record.data() + sizeof h;
  for (uint64_t done = 0; done < h.oldLength;) {
    ssize_t n = ::pread(readFd, old + done, h.oldLength - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("cannot read the bytes a write replaces");
    done += static_cast<uint64_t>(n);
  }
  char* added = old + h.oldLength;
  for (int i = 0; synchronous && i < iovcnt; ++i) {
    std::memcpy(added, iov[i].iov_base, iov[i].iov_len);
    added += iov[i].iov_len;
  }
  uint64_t at = logEnd;
  writeLog(record.data(), record.size(), at);
  logEnd += record.size();
  ssize_t result = doWrite();
  if (synchronous && result > 0) {
    int saved = errno;
    auto durable = static_cast<uint64_t>(result);
    writeLog(&durable, sizeof durable, at + kDurableLengthOffset);
    errno = saved;
  }
  return result;
}

// GATEHOUSE_POWERLOSS_SYNC_DELAY_US: a slow disk. Each sync of the data file waits this long
// before it starts, with the writes it will make durable still undone, so that more kills land
// where a daemon that answered before its commit was durable would be caught. Without it, in
// the slower sanitizer builds, the writer is idle at most kills.
const timespec& syncDelay() {
  static const timespec delay = [] {
    const char* v = std::getenv("GATEHOUSE_POWERLOSS_SYNC_DELAY_US");
    long us = v != nullptr ? std::strtol(v, nullptr, 10) : 0;
    return timespec{us / 1000000, us % 1000000 * 1000};
  }();
  return delay;
}

// fdatasync/fsync: a successful sync of the data file makes every write so far durable, so the
// log starts over.
template <typename DoSync>
int loggedSync(int fd, DoSync doSync) {
  if (!lookup(fd).yes) return doSync();
  std::lock_guard lock(logMutex);
  const timespec& delay = syncDelay();
  if (delay.tv_sec > 0 || delay.tv_nsec > 0) ::nanosleep(&delay, nullptr);
  int result = doSync();
  if (result != 0) return result;
  if (::ftruncate(logFd, 0) != 0) die("cannot empty the undo log");
  logEnd = 0;
  return result;
}

mode_t modeArgument(int flags, va_list args) {
  bool needsMode = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
  return needsMode ? static_cast<mode_t>(va_arg(args, unsigned)) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = modeArgument(flags, args);
  va_end(args);
  GATEHOUSE_REAL(open);
  int fd = real(path, flags, mode);
  noteOpen(fd, path, flags);
  return fd;
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = modeArgument(flags, args);
  va_end(args);
  GATEHOUSE_REAL(open64);
  int fd = real(path, flags, mode);
  noteOpen(fd, path, flags);
  return fd;
}

int openat(int dir, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = modeArgument(flags, args);
  va_end(args);
  GATEHOUSE_REAL(openat);
  int fd = real(dir, path, flags, mode);
  noteOpen(fd, path, flags);
  return fd;
}

int close(int fd) {
  GATEHOUSE_REAL(close);
  untrack(fd);  // before: once closed, another thread may get the same number
  return real(fd);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  GATEHOUSE_REAL(pwrite);
  auto [yes, synchronous] = lookup(fd);
  if (!yes) return real(fd, buf, count, offset);
  iovec iov{const_cast<void*>(buf), count};
  return loggedWrite(fd, synchronous, offset, &iov, 1,
                     [&] { return real(fd, buf, count, offset); });
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  GATEHOUSE_REAL(pwrite64);
  auto [yes, synchronous] = lookup(fd);
  if (!yes) return real(fd, buf, count, offset);
  iovec iov{const_cast<void*>(buf), count};
  return loggedWrite(fd, synchronous, offset, &iov, 1,
                     [&] { return real(fd, buf, count, offset); });
}

ssize_t pwritev(int fd, const iovec* iov, int iovcnt, off_t offset) {
  GATEHOUSE_REAL(pwritev);
  auto [yes, synchronous] = lookup(fd);
  if (!yes) return real(fd, iov, iovcnt, offset);
  return loggedWrite(fd, synchronous, offset, iov, iovcnt,
                     [&] { return real(fd, iov, iovcnt, offset); });
}

ssize_t write(int fd, const void* buf, size_t count) {
  GATEHOUSE_REAL(write);
  auto [yes, synchronous] = lookup(fd);
  if (!yes) return real(fd, buf, count);
  iovec iov{const_cast<void*>(buf), count};
  return loggedWrite(fd, synchronous, ::lseek(fd, 0, SEEK_CUR), &iov, 1,
                     [&] { return real(fd, buf, count); });
}

ssize_t writev(int fd, const iovec* iov, int iovcnt) {
  GATEHOUSE_REAL(writev);
  auto [yes, synchronous] = lookup(fd);
  if (!yes) return real(fd, iov, iovcnt);
  return loggedWrite(fd, synchronous, ::lseek(fd, 0, SEEK_CUR), iov, iovcnt,
                     [&] { return real(fd, iov, iovcnt); });
}

int fdatasync(int fd) {
  GATEHOUSE_REAL(fdatasync);
  return loggedSync(fd, [&] { return real(fd); });
}

int fsync(int fd) {
  GATEHOUSE_REAL(fsync);
  return loggedSync(fd, [&] { return real(fd); });
}

int ftruncate(int fd, off_t length) noexcept {
  GATEHOUSE_REAL(ftruncate);
  if (lookup(fd).yes) die("ftruncate on data.mdb is not modelled");
  return real(fd, length);
}

}  // extern "C"
