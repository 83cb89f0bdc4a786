// gatehoused as systemd runs it, tested without systemd as PID 1: the notifications go to a
// datagram socket the test listens on (NOTIFY_SOCKET), the watchdog interval comes from
// WATCHDOG_USEC, and socket activation comes from systemd-socket-activate (package systemd).
#define BOOST_TEST_MODULE systemd
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using client::Client;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr const char* kSocketActivate = "/usr/bin/systemd-socket-activate";

// The service manager's end of NOTIFY_SOCKET.
class NotifySocket {
 public:
  NotifySocket() {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string path = (dir_.path() / "notify").string();
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("cannot bind the notify socket");
    }
    path_ = path;
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  std::string variable() const { return "NOTIFY_SOCKET=" + path_; }

  // The messages that arrive within `window`.
  std::vector<std::string> collect(Clock::duration window) {
    std::vector<std::string> messages;
    auto end = Clock::now() + window;
    while (auto m = receive(end)) messages.push_back(*m);
    return messages;
  }

  // The first message containing `text` that arrives within `timeout`.
  std::optional<std::string> await(const std::string& text, Clock::duration timeout) {
    auto end = Clock::now() + timeout;
    while (auto m = receive(end)) {
      if (m->find(text) != std::string::npos) return m;
    }
    return std::nullopt;
  }

 private:
  std::optional<std::string> receive(Clock::time_point end) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(end - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      timeval tv{static_cast<time_t>(left.count() / 1000000),
                 static_cast<suseconds_t>(left.count() % 1000000)};
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char buffer[4096];
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n >= 0) return std::string(buffer, static_cast<size_t>(n));
    }
  }

  TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

// Whether the daemon's log shows `text` within a few seconds (a connection may be accepted before
// the "ready" line is written).
bool logShows(const Daemon& daemon, const std::string& text) {
  auto end = Clock::now() + std::chrono::seconds(5);
  while (daemon.log().find(text) == std::string::npos) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

size_t count(const std::vector<std::string>& messages, const std::string& text) {
  size_t n = 0;
  for (const auto& m : messages) n += m.find(text) != std::string::npos ? 1 : 0;
  return n;
}

// The sanitizer settings of this test, for a child that gets only the variables it is given
// (systemd-socket-activate passes on only those named with -E).
std::vector<std::string> sanitizerVariables() {
  std::vector<std::string> vars;
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') vars.push_back(std::string(name) + "=" + value);
  }
  return vars;
}

std::vector<std::string> activationLauncher(const std::string& socket,
                                            const std::vector<std::string>& extraListen = {}) {
  std::vector<std::string> argv = {kSocketActivate, "-l", socket};
  for (const auto& l : extraListen) argv.insert(argv.end(), {"-l", l});
  for (const auto& v : sanitizerVariables()) argv.insert(argv.end(), {"-E", v});
  return argv;
}

}  // namespace

BOOST_AUTO_TEST_CASE(notifies_ready_with_status_then_stopping) {
  NotifySocket manager;
  Daemon daemon("", "", {manager.variable()});
  auto ready = manager.await("READY=1", std::chrono::seconds(10));
  BOOST_REQUIRE_MESSAGE(ready, "no READY=1");
  BOOST_TEST(ready->find("STATUS=serving ") != std::string::npos, *ready);
  BOOST_TEST(ready->find(" at revision ") != std::string::npos, *ready);
  BOOST_TEST(daemon.stop() == 0);
  BOOST_TEST(manager.await("STOPPING=1", std::chrono::seconds(5)).has_value());
  // No watchdog was asked for: no pings.
  BOOST_TEST(count(manager.collect(milliseconds(0)), "WATCHDOG=1") == 0u);
}

BOOST_AUTO_TEST_CASE(status_counts_connections) {
  NotifySocket manager;
  Daemon daemon("", "", {manager.variable(), "WATCHDOG_USEC=1000000"});
  std::vector<Client> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(daemon.connect());
  for (auto& c : clients) c.call([](wire::Request::Builder r) { r.setPing(); });
  BOOST_TEST(manager.await("STATUS=serving 3 connections", std::chrono::seconds(5)).has_value());
}

// The watchdog pings stop while the writer cannot commit (a sync that does not return, injected
// by libgatehouse_stall.so), and resume once it can.
BOOST_AUTO_TEST_CASE(watchdog_pings_stop_while_the_writer_is_stalled) {
  NotifySocket manager;
  TempDir scratch;
  std::string stall = (scratch.path() / "stall").string();
  std::vector<std::string> env = stallEnvironment(stall);
  env.insert(env.end(), {manager.variable(), "WATCHDOG_USEC=1000000"});
  Daemon daemon("", "", env);
  BOOST_REQUIRE(manager.await("READY=1", std::chrono::seconds(10)).has_value());
  // Healthy: a ping every half interval.
  BOOST_TEST(count(manager.collect(milliseconds(2000)), "WATCHDOG=1") >= 2u);

  std::ofstream(stall).put('x');
  Client writer = daemon.connect();
  bool applied = false;  // read after join: Boost.Test's assertions are for the main thread
  std::thread mutation([&] {
    auto answer = writer.call(
        [](wire::Request::Builder r) { r.initCreateCompany().setName("during-the-stall"); });
    applied = answer->which() == wire::Response::MUTATION;
  });
  // Within a second and a tick the mutation has waited past the threshold (1 s) ...
  BOOST_TEST(
      manager.await("STATUS=stalled: a mutation has waited", std::chrono::seconds(4)).has_value());
  // ... and from then on no ping, while checks are still answered.
  auto stalled = manager.collect(milliseconds(2000));
  BOOST_TEST(count(stalled, "WATCHDOG=1") == 0u);
  Client reader = daemon.connect();
  BOOST_TEST((reader.call([](wire::Request::Builder r) { r.setPing(); })->which() ==
              wire::Response::PONG));

  std::filesystem::remove(stall);
  mutation.join();
  BOOST_TEST(applied);
  BOOST_TEST(manager.await("WATCHDOG=1", std::chrono::seconds(3)).has_value());
  std::string log = daemon.log();
  BOOST_TEST(
      log.find("event=watchdog_withheld reason=\"a mutation has waited") != std::string::npos, log);
  BOOST_TEST(log.find("event=watchdog_resumed") != std::string::npos);
}

// Socket activation: the daemon serves on the socket it is given. Connections made before it has
// started — while a slow start-up (a second's sleep) runs — are queued by the kernel and answered.
BOOST_AUTO_TEST_CASE(socket_activation_answers_connections_made_before_the_daemon_started) {
  Daemon daemon("", "", {}, [](const std::string& socket) {
    auto launcher = activationLauncher(socket);
    launcher.insert(launcher.end(), {"/bin/sh", "-c", "sleep 1; exec \"$0\" \"$@\""});
    return launcher;
  });
  auto sent = Clock::now();
  std::vector<Client> early;
  for (int i = 0; i < 4; ++i) {
    early.push_back(daemon.connect());
    capnp::MallocMessageBuilder ping;
    ping.initRoot<wire::Request>().setPing();
    early.back().send(ping);
  }
  for (auto& c : early) BOOST_TEST((c.receive()->which() == wire::Response::PONG));
  bool waited = Clock::now() - sent > milliseconds(500);
  BOOST_TEST(waited, "answered before the daemon started?");
  BOOST_TEST(logShows(daemon, "socket_activated=true"), daemon.log());
  BOOST_TEST(daemon.stop() == 0);
  // The socket's path belongs to whoever made the socket: the daemon leaves it.
  BOOST_TEST(std::filesystem::exists(daemon.socket()));
}

// Anything but one listening Unix stream socket is refused, with a message that says what.
BOOST_AUTO_TEST_CASE(socket_activation_refuses_two_sockets_and_datagram_sockets) {
  TempDir scratch;
  std::string config = (scratch.path() / "gatehoused.toml").string();
  std::ofstream(config) << "[daemon]\nsocket = \"" << (scratch.path() / "gh.sock").string()
                        << "\"\ndata_dir = \"" << (scratch.path() / "data").string()
                        << "\"\n[credentials]\npepper_file = \""
                        << (scratch.path() / "pepper").string() << "\"\n";
  auto attempt = [&](std::vector<std::string> argv, const std::string& trigger, bool datagram) {
    argv.insert(argv.end(), {GATEHOUSE_DAEMON_PATH, "--config", config});
    Run run;
    std::thread launcher([&] { run = runProcess(argv); });
    // systemd-socket-activate starts the daemon on the first connection (or datagram).
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!std::filesystem::exists(trigger) && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    int fd = ::socket(AF_UNIX, (datagram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    trigger.copy(address.sun_path, sizeof address.sun_path - 1);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    if (datagram) (void)::send(fd, "x", 1, 0);
    launcher.join();
    ::close(fd);
    return run;
  };
  std::string a = (scratch.path() / "a.sock").string(), b = (scratch.path() / "b.sock").string(),
              d = (scratch.path() / "d.sock").string();
  Run two = attempt(activationLauncher(a, {b}), a, false);
  BOOST_TEST(two.status == 1);
  BOOST_TEST(
      two.err.find("2 sockets were passed; gatehoused serves exactly one") != std::string::npos,
      two.err);
  auto datagram = activationLauncher(d);
  datagram.insert(datagram.begin() + 1, "--datagram");
  Run dgram = attempt(datagram, d, true);
  BOOST_TEST(dgram.status == 1);
  BOOST_TEST(dgram.err.find("not a listening Unix stream socket") != std::string::npos, dgram.err);
}

// The shipped units: `systemd-analyze verify` is clean, and the offline security analysis rates
// the service "OK" or better (an exposure of at most 1.0). ExecStart points at the built daemon:
// verify checks that the program exists.
BOOST_AUTO_TEST_CASE(units_verify_clean_and_the_service_rates_ok) {
  TempDir units;
  std::ifstream in(std::filesystem::path(GATEHOUSE_SOURCE_DIR) / "systemd/gatehoused.service");
  std::stringstream text;
  text << in.rdbuf();
  std::string service = text.str();
  const std::string installed = "/usr/sbin/gatehoused";
  BOOST_REQUIRE(service.find(installed) != std::string::npos);
  service.replace(service.find(installed), installed.size(), GATEHOUSE_DAEMON_PATH);
  std::ofstream(units.path() / "gatehoused.service") << service;
  std::filesystem::copy_file(
      std::filesystem::path(GATEHOUSE_SOURCE_DIR) / "systemd/gatehoused.socket",
      units.path() / "gatehoused.socket");
  std::string dir = units.path().string();
  Run verify = runProcess({"/usr/bin/systemd-analyze", "verify", dir + "/gatehoused.service",
                           dir + "/gatehoused.socket"});
  BOOST_TEST(verify.status == 0, verify.err);
  BOOST_TEST(verify.out + verify.err == "");

  Run security = runProcess({"/usr/bin/systemd-analyze", "security", "--offline=true", "--no-pager",
                             dir + "/gatehoused.service"});
  const std::string label = "Overall exposure level for gatehoused.service: ";
  auto at = security.out.find(label);
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, security.out + security.err);
  double exposure = std::stod(security.out.substr(at + label.size()));
  BOOST_TEST_MESSAGE("exposure " << exposure);
  BOOST_TEST(exposure <= 1.0, security.out);
}

// LoadCredential=pepper:...: the pepper in $CREDENTIALS_DIRECTORY is used, and
// credentials.pepper_file is then neither read nor created.
BOOST_AUTO_TEST_CASE(the_pepper_comes_from_the_credentials_directory_when_there) {
  TempDir credentials;
  std::string pepper = (credentials.path() / "pepper").string();
  std::ofstream(pepper) << std::string(32, 'c');
  std::filesystem::permissions(pepper, std::filesystem::perms::owner_read);
  Daemon daemon("", "", {"CREDENTIALS_DIRECTORY=" + credentials.path().string()});
  BOOST_TEST(logShows(daemon, "pepper=" + pepper), daemon.log());
  BOOST_TEST(!std::filesystem::exists(daemon.dir() / "pepper"));
  daemon.stop();

  // Without the credential, the configured file (created on first start).
  Daemon plain;
  BOOST_TEST(std::filesystem::exists(plain.dir() / "pepper"));
}

// `gatehouse health`, the probe for monitoring (and ExecStartPost=): exit 0 while the writer keeps
// up, 1 once a mutation has waited longer than --max-backlog (here: a stalled sync), 0 again after.
// `gatehouse ping` names the daemon's version.
BOOST_AUTO_TEST_CASE(health_follows_the_writer_and_ping_names_the_version) {
  TempDir scratch;
  std::string stall = (scratch.path() / "stall").string();
  Daemon daemon("", "", stallEnvironment(stall));
  Run ping = daemon.cli({"ping"});
  BOOST_TEST(ping.status == 0, ping.err);
  BOOST_TEST(ping.out.starts_with("pong from gatehoused " GATEHOUSE_VERSION " at revision "),
             ping.out);
  Run healthy = daemon.cli({"health"});
  BOOST_TEST(healthy.status == 0, healthy.err);
  BOOST_TEST(healthy.out.starts_with("healthy: gatehoused " GATEHOUSE_VERSION ", revision "),
             healthy.out);

  std::ofstream(stall).put('x');
  Client writer = daemon.connect();
  std::thread mutation([&] {
    writer.call([](wire::Request::Builder r) { r.initCreateCompany().setName("stalled"); });
  });
  std::this_thread::sleep_for(milliseconds(700));
  Run stuck = daemon.cli({"--json", "health", "--max-backlog", "0.5"});
  BOOST_TEST(stuck.status == 1, stuck.out + stuck.err);
  BOOST_TEST(stuck.out.starts_with("{\"healthy\":false,"), stuck.out);
  Run patient = daemon.cli({"health", "--max-backlog", "60"});
  BOOST_TEST(patient.status == 0, patient.out + patient.err);

  std::filesystem::remove(stall);
  mutation.join();
  BOOST_TEST(daemon.cli({"health", "--max-backlog", "0.5"}).status == 0);
  daemon.stop();
  BOOST_TEST(daemon.cli({"health"}).status == 2);  // no answer at all
}
