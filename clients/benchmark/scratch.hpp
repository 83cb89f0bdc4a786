// gatehouse-benchmark --scratch DIR: a throwaway gatehoused to benchmark, never the operator's.
//
// create() makes DIR (mode 0700; an existing DIR must be an empty directory, anything else is
// refused and left alone), writes a 32-byte pepper (0600) and a configuration into it, starts
// gatehoused on a store and socket inside it (its stderr in DIR/gatehoused.log), and populates a
// synthetic graph through the socket: the permission catalog, system roles, companies, users and
// service accounts with their grants, and one API key per service account (kept in memory for the
// checkAccess test). These mutations are the only ones gatehouse-benchmark ever sends, and only to
// the daemon it started. The store is not durable (`store.durable = false`): only writes pay for
// durability, and the benchmark measures reads.
//
// finish() (or the destructor) stops the daemon by its pid (SIGTERM, then SIGKILL after 10 s) and
// removes DIR, unless `keep` is set: then DIR keeps the store, the configuration, the pepper, the
// log and the keys (DIR/keys, 0600), and `gatehoused --config DIR/gatehoused.toml` serves it again.
//
// A resource, held by one thread. The daemon is started with PR_SET_PDEATHSIG, so it does not
// outlive a crashed benchmark.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "key_file.hpp"

namespace gatehouse::benchmark {

struct ScratchOptions {
  std::filesystem::path dir;
  std::filesystem::path daemon;  // gatehoused
  bool keep = false;
  uint64_t companies = 100;
  uint64_t principals = 1000;
  uint64_t serviceAccounts = 100;  // of the principals (main's default: a tenth of them)
  uint64_t grants = 4;             // per principal, in distinct companies
  uint64_t permissions = 64;
  uint64_t roles = 16;
  unsigned ioThreads = 0;  // daemon.io_threads; 0: one per core
  uint64_t seed = 1;
  std::chrono::milliseconds timeout{10000};
};

class Scratch {
 public:
  // Throws BenchmarkError `usage` for a DIR that exists and is not an empty directory (or whose
  // socket path would be too long), `scratch` when the daemon does not start or refuses the graph;
  // what it made is removed again (unless `keep`).
  static std::unique_ptr<Scratch> create(const ScratchOptions& options);
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch();

  const std::string& socket() const { return socket_; }
  pid_t pid() const { return pid_; }
  const KeyRing& keys() const { return keys_; }
  const std::filesystem::path& dir() const { return options_.dir; }
  bool kept() const { return options_.keep; }

  // Stops the daemon and removes DIR (unless kept). Returns the daemon's exit status (-1 when it
  // had to be killed). Idempotent.
  int finish();

 private:
  explicit Scratch(const ScratchOptions& options);
  void makeDirectory();
  void writePepper() const;
  void writeConfig() const;
  void start();
  void populate();

  ScratchOptions options_;
  std::string socket_;
  pid_t pid_ = -1;
  bool made_ = false;  // DIR is ours to remove
  int status_ = 0;
  KeyRing keys_;
};

// Where gatehoused is when none is named: beside this program as installed (../sbin from the
// bindir), in the same directory, or in a build tree (../daemon). Throws BenchmarkError `usage`
// when none of them exists.
std::filesystem::path defaultDaemon();

}  // namespace gatehouse::benchmark
