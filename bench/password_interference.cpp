// Does password hashing delay authorize? Starts the real gatehoused (default Argon2id limits:
// interactive, 64 MiB), then measures ping-pong `authorize` latency over the socket on one
// connection, alternating runs without and with 8 connections that check a user's password in
// a loop. Prints p50/p99/p99.9 of each run and the ratio of the median p99s (target: <= 1.2).
//
//   build/bench/password_interference [requests-per-run] [runs]
//
// Bounded: every run sends a fixed number of requests; the password threads stop with the run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using Clock = std::chrono::steady_clock;

namespace {

struct Percentiles {
  double p50, p99, p999;
};

Percentiles percentiles(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, size_t(q * double(us.size())))]; };
  return {at(0.50), at(0.99), at(0.999)};
}

void provision(client::Client& c) {
  auto ok = [&](const client::Client::Fill& fill) { client::checkOk(c.call(fill)); };
  ok([](wire::Request::Builder r) { r.initDefinePermissions(1).set(0, "routers.read"); });
  ok([](wire::Request::Builder r) { r.initCreateCompany().setName("acme"); });
  ok([](wire::Request::Builder r) { r.initCreateUser().setName("alice"); });
  ok([](wire::Request::Builder r) {
    auto g = r.initSetGrant();
    g.setPrincipal(1);
    g.setCompany(1);
    g.initPermissions(1).set(0, "routers.read");
  });
  ok([](wire::Request::Builder r) {
    auto p = r.initSetPassword();
    p.setUser(1);
    p.setPassword("correct horse battery");
  });
}

Percentiles authorizeRun(client::Client& c, int requests) {
  std::vector<double> us;
  us.reserve(requests);
  for (int i = 0; i < requests; ++i) {
    auto start = Clock::now();
    auto a = c.call([](wire::Request::Builder r) {
      auto q = r.initAuthorize();
      q.setPrincipal(1);
      q.setCompany(1);
      q.setPermission("routers.read");
    });
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (!a->getAuthorize().getAllowed()) throw std::runtime_error("authorize denied");
  }
  return percentiles(std::move(us));
}

}  // namespace

int main(int argc, char** argv) {
  int requests = argc > 1 ? std::atoi(argv[1]) : 20000;
  int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  testing::Daemon daemon;  // default credentials settings: interactive Argon2id
  auto c = daemon.connect();
  provision(c);
  authorizeRun(c, 2000);  // warm-up

  std::vector<double> quietP99, busyP99;
  std::atomic<long> passwordChecks{0};
  for (int run = 0; run < runs; ++run) {
    Percentiles quiet = authorizeRun(c, requests);
    std::atomic<bool> stop{false};
    std::vector<std::thread> hashers;
    for (int t = 0; t < 8; ++t) {
      hashers.emplace_back([&] {
        auto h = daemon.connect();
        while (!stop.load()) {
          auto a = h.call([](wire::Request::Builder r) {
            auto q = r.initCheckCredential();
            q.setUser("alice");
            q.setCredential("correct horse battery");
            q.setChannel(wire::Channel::API);
          });
          if (!a->getCredential().getAccepted()) throw std::runtime_error("login refused");
          passwordChecks.fetch_add(1);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the pool is busy
    Percentiles busy = authorizeRun(c, requests);
    stop = true;
    for (auto& t : hashers) t.join();
    std::printf(
        "run %d: quiet p50 %.1f us p99 %.1f us p99.9 %.1f us | with 8 password checkers "
        "p50 %.1f us p99 %.1f us p99.9 %.1f us\n",
        run + 1, quiet.p50, quiet.p99, quiet.p999, busy.p50, busy.p99, busy.p999);
    quietP99.push_back(quiet.p99);
    busyP99.push_back(busy.p99);
  }
  std::sort(quietP99.begin(), quietP99.end());
  std::sort(busyP99.begin(), busyP99.end());
  double q = quietP99[quietP99.size() / 2], b = busyP99[busyP99.size() / 2];
  std::printf(
      "median p99: quiet %.1f us, with password checks %.1f us, ratio %.2f (target <= "
      "1.20); %ld password checks completed meanwhile\n",
      q, b, b / q, passwordChecks.load());
  return 0;
}
