// gatehoused: wires configuration -> store -> service -> server, and nothing else.
// Exit status: 0 after a clean stop (and for --help, --version, --print-config), 1 when start-up
// fails, 2 for a bad command line or configuration.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>

#include "common/log.hpp"
#include "config/config.hpp"
#include "credentials/pepper.hpp"
#include "credentials/totp.hpp"
#include "replication/replicator.hpp"
#include "server/server.hpp"
#include "service/service.hpp"
#include "store/restore.hpp"
#include "store/store.hpp"
#include "supervisor.hpp"
#include "systemd/systemd.hpp"

#ifndef GATEHOUSE_VERSION
#define GATEHOUSE_VERSION "0.0.0"
#endif

using namespace gatehouse;

namespace {

constexpr int kExitStartupFailed = 1;
constexpr int kExitBadConfiguration = 2;  // The command line or the configuration file.

// The pepper's file: under systemd, `LoadCredential=pepper:...` hands it to the service as
// $CREDENTIALS_DIRECTORY/pepper (kept outside the state directory, so that a backup of it does not
// carry the pepper); that file is used when present, credentials.pepper_file otherwise.
std::filesystem::path pepperPath(const config::Config& cfg) {
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY")) {
    std::filesystem::path credential = std::filesystem::path(dir) / "pepper";
    std::error_code ec;
    if (std::filesystem::exists(credential, ec)) return credential;
  }
  return cfg.pepperFile;
}

// No core file, and no ptrace or /proc/PID/mem access by processes of the same uid: the memory
// holds the pepper, the TOTP sealing key and, for an instant, every secret issued.
void keepMemoryPrivate() {
  rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0 || ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    logLine(Level::warning, "core_dumps_not_disabled", {{"error", std::strerror(errno)}});
  }
}

// SIGHUP: reads the configuration file again and applies what can change while serving (see
// config::appliesLive); a file that does not parse changes nothing. Runs on the server's control
// thread.
void reload(const std::string& configPath, config::Config& running, server::Server& server,
            service::Service& service) {
  systemd::notify("RELOADING=1");
  config::Config next;
  try {
    next = config::load(configPath.empty() ? std::nullopt
                                           : std::optional<std::filesystem::path>(configPath));
  } catch (const std::exception& e) {
    logLine(Level::error, "reload_refused",
            {{"error", e.what()}, {"effect", "nothing changed; the running configuration stays"}});
    systemd::notify("READY=1");
    return;
  }
  std::vector<std::string> live, later;
  for (const auto& key : config::changedKeys(running, next)) {
    (config::appliesLive(key) ? live : later).push_back(key);
  }
  Level before = running.logLevel;
  config::copyLive(running, next);
  server.reload(running.server, running.access);
  service.reload(running.service);
  // The outcome is logged at the more verbose of the two log levels, so that a reload to a
  // quieter level still says that it happened.
  if (running.logLevel < before) setLogLevel(running.logLevel);
  logLine(Level::info, "reloaded",
          {{"changed", live.empty() ? "none" : fmt::format("{}", fmt::join(live, ","))}});
  if (!later.empty()) {
    logLine(Level::warning, "reload_needs_restart",
            {{"keys", fmt::format("{}", fmt::join(later, ","))},
             {"effect", "these take effect at the next start"}});
  }
  setLogLevel(running.logLevel);
  systemd::notify("READY=1");
}

// gatehoused --restore FILE: exit 0 once the copy is in place, 1 when it is refused.
int restore(const std::filesystem::path& copy, const std::filesystem::path& directory) {
  try {
    auto r = store::restoreCopy(copy, directory);
    std::cout << fmt::format("restored {} into {} (schema {}, {} entries)\n", copy.string(),
                             directory.string(), r.schemaVersion, r.entries);
    if (!r.previous.empty()) {
      std::cout << fmt::format("the data file that was there is kept as {}\n", r.previous.string());
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gatehoused: restore refused: " << e.what() << "\n";
    return kExitStartupFailed;
  }
}

int run(int argc, char** argv) {
  CLI::App app{"gatehoused: the gatehouse authorization daemon"};
  std::string configPath;
  bool printConfig = false;
  app.add_option("-c,--config", configPath, "TOML configuration file (default: embedded defaults)")
      ->check(CLI::ExistingFile);
  app.add_flag("--print-config", printConfig, "Print the effective configuration and exit");
  std::string restoreFrom;
  app.add_option("--restore", restoreFrom,
                 "With the daemon stopped: put the backup FILE (from `gatehouse backup`) in place "
                 "as the configuration's data directory's store, keeping the data file that was "
                 "there beside it, and exit")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  app.set_version_flag("--version", GATEHOUSE_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message and gives its own code per error (105, 109...); --help and
    // --version are successes.
    return app.exit(e) == 0 ? 0 : kExitBadConfiguration;
  }

  config::Config cfg;
  try {
    cfg = config::load(configPath.empty() ? std::nullopt
                                          : std::optional<std::filesystem::path>(configPath));
  } catch (const std::exception& e) {
    std::cerr << "gatehoused: configuration: " << e.what() << "\n";
    return kExitBadConfiguration;
  }
  if (printConfig) {
    std::cout << config::render(cfg);
    return 0;
  }
  if (!restoreFrom.empty()) return restore(restoreFrom, cfg.store.directory);
  cfg.service.version = GATEHOUSE_VERSION;
  setLogLevel(cfg.logLevel);
  detectJournal();
  if (!cfg.coreDumps) keepMemoryPrivate();
  if (sodium_init() < 0) {
    logLine(Level::error, "startup_failed", {{"error", "sodium_init failed"}});
    return kExitStartupFailed;
  }

  // SIGHUP's default action ends the process: until the server serves (and takes SIGHUP for a
  // reload), a reload has nothing to apply, so it is ignored rather than fatal.
  ::signal(SIGHUP, SIG_IGN);
  // The signals that stop and reload the daemon are taken by the server's control thread alone
  // (Server::run unblocks them there): every thread started before it inherits them blocked. A
  // SIGTERM or SIGINT sent during start-up is held until then, and stops the daemon once it
  // serves.
  server::blockControlSignals();
  auto started = std::chrono::steady_clock::now();
  try {
    credentials::initTotp();
    auto pepperFile = pepperPath(cfg);
    auto pepper = credentials::Pepper::loadOrCreate(pepperFile);
    auto store = store::Store::open(cfg.store);
    if (store->staleReadersCleared() > 0) {
      logLine(Level::warning, "stale_readers_cleared",
              {{"count", std::to_string(store->staleReadersCleared())}});
    }
    // A replica (docs/replication.md) shares the pepper with every other; the log's genesis
    // holds a keyed hash of a fixed text under it, never the pepper, to check that it does.
    std::unique_ptr<replication::Replicator> replicator;
    if (cfg.replication.enabled) {
      constexpr std::string_view kGenesisText = "gatehouse replicated log genesis v1";
      auto digest = pepper.keyedHash(reinterpret_cast<const uint8_t*>(kGenesisText.data()),
                                     kGenesisText.size());
      replicator = std::make_unique<replication::Replicator>(
          *store, cfg.replication, fmt::format("{:02x}", fmt::join(digest, "")));
    }
    service::Service service(*store, pepper, cfg.service, replicator.get());
    cfg.server.listenFd = systemd::listeningSocket();
    auto server = server::Server::create(cfg.server, service, cfg.access);
    Supervisor::Readings readings{
        [&] { return server->connections(); }, [&] { return store->revision(); },
        [&](Supervisor::Duration within) { return server->responsive(within); },
        [&] { return service.writerBacklogAge(); }};
    std::optional<Supervisor> supervisor;
    server->run(
        [&] {
          auto ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
          logLine(Level::info, "ready",
                  {{"socket", cfg.server.listenFd >= 0 ? systemd::socketPath(cfg.server.listenFd)
                                                       : cfg.server.socketPath.string()},
                   {"socket_activated", cfg.server.listenFd >= 0 ? "true" : "false"},
                   {"data_dir", cfg.store.directory.string()},
                   {"pepper", pepperFile.string()},
                   {"map_size_mib", std::to_string(store->mapSize() >> 20)},
                   {"startup_ms", fmt::format("{:.2f}", ms.count())}});
          if (systemd::managed()) {
            supervisor.emplace(readings, systemd::watchdogInterval());
            systemd::notify("READY=1\nSTATUS=" + supervisor->status());
          }
        },
        [] { systemd::notify("STOPPING=1"); }, [&] { reload(configPath, cfg, *server, service); });
    supervisor.reset();
    // Shutting down: a second SIGTERM/SIGINT must not cut the final commit and close short, nor
    // SIGHUP once the server no longer catches it.
    server::blockControlSignals();
    service.stop();
    logLine(Level::info, "stopped",
            {{"mutations_committed", std::to_string(service.mutationsCommitted())}});
  } catch (const std::exception& e) {
    logLine(Level::error, "startup_failed", {{"error", e.what()}});
    return kExitStartupFailed;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (...) {  // run() reports its own failures; this is the last line of defence
    std::fputs("gatehoused: unexpected failure\n", stderr);
    return kExitStartupFailed;
  }
}
