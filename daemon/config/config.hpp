// The daemon's configuration: a TOML file given with --config, over embedded defaults that are a
// production host's paths (socket /run/gatehouse, data /var/lib/gatehouse, pepper /etc/gatehouse;
// scripts/run passes its own file for ./var). Every key has a default; an unknown key,
// a value of the wrong type or out of range is refused with the key's full name. See
// docs/configuration.md for every key.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "protocol/access.hpp"
#include "replication/options.hpp"
#include "server/server.hpp"
#include "service/service.hpp"
#include "store/store.hpp"

namespace gatehouse::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Config {
  server::ServerOptions server;
  store::StoreOptions store;
  service::ServiceOptions service;
  protocol::AccessPolicy access;
  std::filesystem::path pepperFile;
  replication::ReplicationOptions replication;  // enabled by a [replication] section
  Level logLevel = Level::info;
  // false: the process is made non-dumpable (no core file, no ptrace or /proc/PID/mem by the same
  // uid), since its memory holds the pepper and, briefly, issued secrets.
  bool coreDumps = false;
};

// The embedded defaults.
Config defaults();

// Parses TOML text over the defaults. `origin` names the source in error messages.
Config parse(std::string_view toml, std::string_view origin);

// Reads and parses a file; with no file, returns the defaults.
Config load(const std::optional<std::filesystem::path>& file);

// The effective configuration as TOML (for --print-config), which parse() reads back to the same
// configuration. toml++ prints the sections, and the keys in each, in alphabetical order.
std::string render(const Config& config);

// The keys ("section.key") whose values differ between two configurations.
std::vector<std::string> changedKeys(const Config& before, const Config& after);
// Whether a reload (SIGHUP) applies `key` while serving: [access], daemon.log_level, the rate
// limits and the connection limits and timeouts. Every other key takes effect at the next start.
bool appliesLive(std::string_view key);
// Copies into `running` the values of `next` that a reload applies (those of appliesLive keys).
void copyLive(Config& running, const Config& next);

}  // namespace gatehouse::config
