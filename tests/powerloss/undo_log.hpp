// The undo log of the power-loss layer: its record format, shared by the LD_PRELOAD library that
// writes it (powerloss_shim.cpp) and the tests that recover from it (`recoverFromUndoLog`).
//
// A power loss keeps what was durable and may drop everything else. The layer cannot hold writes
// back (LMDB reads its own writes through the map), so it records, before every write to the LMDB
// data file, what the write is about to overwrite; recovery then takes the file back to what a
// disk could hold after a power loss at the kill: its state at the last successful
// fdatasync/fsync, plus the writes that were durable when they returned (those through an
// O_DSYNC/O_SYNC descriptor: LMDB's meta page writes). The layer models one outcome, the harshest
// of the orderly ones: every write not yet durable is dropped whole. It does not model torn pages
// or a disk that keeps some unsynced writes and drops others.
//
// Format: records, appended in the order of the writes they describe, each a `UndoRecordHeader`,
// then `oldLength` bytes (the old contents of the range that existed), then `newLength` bytes (the
// written bytes, only for a write through a synchronous descriptor), zero-padded to 8 bytes. The
// log is emptied after every successful sync of the data file, so it holds only what a power loss
// could drop. Native byte order: the log never leaves the machine that wrote it.
//
// Threading: recovery runs when no process has the data file open (after the kill).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace gatehouse::powerloss {

// "GHUNDO01" as a little-endian u64: a record that does not start with it is not a record.
inline constexpr uint64_t kUndoRecordMagic = 0x31304f444e554847ull;

struct UndoRecordHeader {
  uint64_t magic = kUndoRecordMagic;
  uint64_t offset = 0;      // where the write went in the data file
  uint64_t length = 0;      // how many bytes it asked to write
  uint64_t sizeBefore = 0;  // the data file's size before it
  uint64_t oldLength = 0;   // old bytes that follow: the part of the range below sizeBefore
  uint64_t newLength = 0;   // new bytes after them: `length` for a synchronous write, else 0
  // Filled in after the write returned: how many of the new bytes it wrote, which were durable
  // from then on. Zero until then, so a write the kill interrupted counts as not durable. The
  // field is 8-aligned (records are), so rewriting it never tears across a page.
  uint64_t durableLength = 0;
};
static_assert(sizeof(UndoRecordHeader) == 56 && alignof(UndoRecordHeader) == 8);

inline constexpr size_t kDurableLengthOffset = offsetof(UndoRecordHeader, durableLength);

// Size of a record with this header, padding included.
inline constexpr uint64_t recordSize(const UndoRecordHeader& h) {
  return (sizeof(UndoRecordHeader) + h.oldLength + h.newLength + 7) & ~uint64_t{7};
}

struct RecoveryStats {
  size_t records = 0;          // complete records in the log
  size_t droppedWrites = 0;    // writes reverted and not re-applied
  uint64_t droppedBytes = 0;   // bytes of writes that were not durable
  size_t reappliedWrites = 0;  // durable writes re-applied after the revert
  bool tornTail = false;       // the log ended in an incomplete record (ignored)
};

namespace detail {

[[noreturn]] inline void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

inline std::string readWholeFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    fail("open " + path.string());
  }
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      fail("read " + path.string());
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

inline void writeAllAt(int fd, const char* data, uint64_t length, uint64_t offset,
                       const std::string& what) {
  while (length > 0) {
    ssize_t n = ::pwrite(fd, data, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("pwrite " + what);
    data += n;
    length -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

struct Record {
  UndoRecordHeader header;
  const char* oldBytes;
  const char* newBytes;
};

// The complete records `bytes` starts with. Stops at an incomplete one (sets `tornTail`) or at
// bytes that are not a record (sets `invalidAt` to their position; it stays npos otherwise).
inline std::vector<Record> parseRecords(std::string_view bytes, bool& tornTail, size_t& invalidAt) {
  std::vector<Record> records;
  for (size_t pos = 0; pos < bytes.size();) {
    size_t left = bytes.size() - pos;
    UndoRecordHeader h;
    if (left < sizeof h) {
      tornTail = true;
      break;
    }
    std::memcpy(&h, bytes.data() + pos, sizeof h);
    if (h.magic != kUndoRecordMagic || h.oldLength > h.length ||
        (h.newLength != 0 && h.newLength != h.length) || h.durableLength > h.newLength) {
      invalidAt = pos;
      break;
    }
    if (left < recordSize(h)) {
      tornTail = true;
      break;
    }
    const char* payload = bytes.data() + pos + sizeof h;
    records.push_back({h, payload, payload + h.oldLength});
    pos += recordSize(h);
  }
  return records;
}

}  // namespace detail

// Whether `log` holds a write that is not durable: a power loss now would drop it. For a harness
// that wants its kill to land between a write and the sync that makes it durable. The log
// changes under the caller, so the answer may be stale by the time it acts on it.
inline bool holdsWriteNotYetDurable(const std::filesystem::path& log) {
  std::string bytes = detail::readWholeFile(log);
  bool torn = false;
  size_t invalidAt = std::string::npos;  // read while being emptied: what came before still counts
  for (const auto& r : detail::parseRecords(bytes, torn, invalidAt)) {
    if (r.header.durableLength < r.header.length) return true;
  }
  return false;
}

// Takes `dataFile` to what a power loss at the end of `log` would have left (see the top of this
// file): reverts every record, newest first, truncates the file to its size before the first one,
// then re-applies the durable writes in order. Empties the log afterwards, so running it twice
// does nothing the second time. A missing or empty log leaves the file alone. An incomplete
// record at the end is ignored: the log is appended before the write it describes starts, so that
// write never happened. Throws std::system_error on I/O errors and std::runtime_error on a record
// that is not one.
inline RecoveryStats recoverFromUndoLog(const std::filesystem::path& dataFile,
                                        const std::filesystem::path& log) {
  std::string bytes = detail::readWholeFile(log);
  RecoveryStats stats;
  size_t invalidAt = std::string::npos;
  auto records = detail::parseRecords(bytes, stats.tornTail, invalidAt);
  if (invalidAt != std::string::npos) {
    throw std::runtime_error("undo log " + log.string() + ": no valid record at byte " +
                             std::to_string(invalidAt));
  }
  stats.records = records.size();
  if (records.empty()) return stats;

  int fd = ::open(dataFile.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) detail::fail("open " + dataFile.string());
  try {
    for (auto r = records.rbegin(); r != records.rend(); ++r) {
      detail::writeAllAt(fd, r->oldBytes, r->header.oldLength, r->header.offset, dataFile.string());
    }
    if (::ftruncate(fd, static_cast<off_t>(records.front().header.sizeBefore)) != 0) {
      detail::fail("ftruncate " + dataFile.string());
    }
    for (const auto& r : records) {
      stats.droppedBytes += r.header.length - r.header.durableLength;
      if (r.header.durableLength == 0) {
        ++stats.droppedWrites;
        continue;
      }
      ++stats.reappliedWrites;
      detail::writeAllAt(fd, r.newBytes, r.header.durableLength, r.header.offset,
                         dataFile.string());
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (::truncate(log.c_str(), 0) != 0) detail::fail("truncate " + log.string());
  return stats;
}

}  // namespace gatehouse::powerloss
