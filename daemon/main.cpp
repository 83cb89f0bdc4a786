// gatehoused: wires configuration -> store -> service -> server, and nothing else.
// Exit status: 0 after a clean stop (and for --help, --version, --print-config), 1 when start-up
// fails, 2 for a bad command line or configuration.
#include <fmt/format.h>
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
#include "server/server.hpp"
#include "service/service.hpp"
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

int run(int argc, char** argv) {
  CLI::App app{"gatehoused: the gatehouse authorization daemon"};
  std::string configPath;
  bool printConfig = false;
  app.add_option("-c,--config", configPath, "TOML configuration file (default: embedded defaults)")
      ->check(CLI::ExistingFile);
  app.add_flag("--print-config", printConfig, "Print the effective configuration and exit");
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
  cfg.service.version = GATEHOUSE_VERSION;
  setLogLevel(cfg.logLevel);
  detectJournal();
  if (!cfg.coreDumps) keepMemoryPrivate();
  if (sodium_init() < 0) {
    logLine(Level::error, "startup_failed", {{"error", "sodium_init failed"}});
    return kExitStartupFailed;
  }

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
    service::Service service(*store, pepper, cfg.service);
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
        [] { systemd::notify("STOPPING=1"); });
    supervisor.reset();
    // Shutting down: a second SIGTERM/SIGINT must not cut the final commit and close short.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGTERM);
    sigaddset(&stopSignals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
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
