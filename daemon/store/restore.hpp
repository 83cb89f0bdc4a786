// Restoring a backup (`gatehouse backup`'s file) into a data directory, with the daemon stopped:
// `gatehoused --restore FILE`. The copy is checked first (an LMDB environment of this schema
// version, readable in full), the directory must not be in use by any process (LMDB's lock), and
// the data file in place is kept beside the new one, never overwritten.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace gatehouse::store {

struct Restored {
  uint32_t schemaVersion = 0;
  uint64_t entries = 0;            // key/value pairs in the copy, over every table
  std::filesystem::path previous;  // where the data file that was in place went; empty: none
};

// Throws std::runtime_error naming the file and the reason; nothing in `directory` has changed
// then.
Restored restoreCopy(const std::filesystem::path& copy, const std::filesystem::path& directory);

}  // namespace gatehouse::store
