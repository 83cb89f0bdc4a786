// gatehouse-replication-bench: replication through NATS JetStream on this machine
// (docs/replication.md, docs/performance.md "Replication"). It starts a three-node JetStream
// cluster on loopback and gatehoused replicas on it (the test fixtures' NatsCluster and Daemon),
// seeds a graph through the log, then measures, in one run:
//   lag         a setGrant acknowledged on replica A until replica B answers a check at its
//               revision (Request.minRevision, so no polling): p50 and p99 over many samples
//   throughput  mutations/s through the log on A (group commit) and on replica D, configured
//               with writer.group_commit_max = 1 (one log message per mutation), with the same
//               pipelined load (4 connections x 64 in flight)
//   reads       pipelined authorize on B (1 connection x 64 in flight) idle, and while A commits
//               1,000 setGrant per second that B applies from the log
// Prints one JSON line with every figure and the ratios the targets are set on.
//
//   gatehouse-replication-bench [SECONDS]   each measurement's duration (default 3)
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "client.hpp"
#include "daemon_fixture.hpp"
#include "nats_cluster.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using client::Answer;
using client::Client;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kCompanies = 20, kPrincipals = 500, kPermissions = 16;

std::string replicaToml(const NatsCluster& nats, const std::string& name,
                        const std::string& extra) {
  std::string servers;
  for (const auto& url : nats.urls()) {
    servers += fmt::format("{}\"{}\"", servers.empty() ? "" : ", ", url);
  }
  return fmt::format(
      "{}\n[replication]\nmode = \"nats\"\nservers = [{}]\nreplicas = 3\nname = \"{}\"\n"
      "reconnect_wait_ms = 100\nmin_revision_wait_ms = 10000\n",
      extra, servers, name);
}

void check(const Answer& a) { client::checkOk(a); }

std::string permission(int i) { return fmt::format("router.p{}", i); }

void setGrantRequest(wire::Request::Builder r, uint64_t principal, uint64_t company, int perm) {
  auto g = r.initSetGrant();
  g.setPrincipal(principal);
  g.setCompany(company);
  g.initPermissions(1).set(0, permission(perm));
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// Waits until `d` follows the log.
void waitFollowing(const Daemon& d) {
  auto deadline = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    Client c = d.connect();
    Answer a = c.call([](wire::Request::Builder r) { r.setStats(); });
    check(a);
    for (auto m : a->getStats().getMetrics()) {
      if (std::string_view(m.getName().cStr()) == "gatehouse_replication_following" &&
          m.getSamples()[0].getValue() == 1) {
        return;
      }
    }
    if (Clock::now() > deadline) throw std::runtime_error("a replica did not follow the log");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Pipelined setGrant on `d` from `connections` connections x `depth` in flight for `seconds`;
// answers mutations per second.
double mutationThroughput(const Daemon& d, int connections, size_t depth, double seconds) {
  std::atomic<uint64_t> done{0};
  auto until = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::future<void>> workers;
  for (int w = 0; w < connections; ++w) {
    workers.push_back(std::async(std::launch::async, [&, w] {
      Client c = d.connect();
      uint64_t n = static_cast<uint64_t>(w) * 7919;
      while (Clock::now() < until) {
        auto answers = c.callMany(depth, [&](size_t, wire::Request::Builder r) {
          ++n;
          setGrantRequest(r, 1 + n % kPrincipals, 1 + (n / kPrincipals) % kCompanies,
                          static_cast<int>(n % kPermissions));
        });
        for (auto& a : answers) check(a);
        done += answers.size();
      }
    }));
  }
  auto start = Clock::now();
  for (auto& w : workers) w.get();
  return static_cast<double>(done) / std::chrono::duration<double>(Clock::now() - start).count();
}

// Pipelined authorize on `d`, 1 connection x 64 in flight, for `seconds`: checks per second.
double authorizeThroughput(const Daemon& d, double seconds) {
  Client c = d.connect();
  uint64_t n = 0, done = 0;
  auto start = Clock::now();
  auto until = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < until) {
    auto answers = c.callMany(64, [&](size_t, wire::Request::Builder r) {
      ++n;
      auto q = r.initAuthorize();
      q.setPrincipal(1 + n % kPrincipals);
      q.setCompany(1 + (n / 7) % kCompanies);
      q.setPermission(permission(static_cast<int>(n % kPermissions)));
    });
    for (auto& a : answers) check(a);
    done += answers.size();
  }
  return static_cast<double>(done) / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
  double seconds = argc > 1 ? std::stod(argv[1]) : 3.0;
  NatsCluster nats(3);
  TempDir shared;
  std::string pepperPath = (shared.path() / "pepper").string();
  {
    std::ofstream pepper(pepperPath, std::ios::binary);
    pepper << std::string(32, 'b');
  }
  std::filesystem::permissions(
      pepperPath, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string credentials = fmt::format("pepper_file = \"{}\"", pepperPath);
  Daemon a(replicaToml(nats, "a", ""), credentials);
  Daemon b(replicaToml(nats, "b", ""), credentials);
  Daemon d(replicaToml(nats, "d", "[writer]\ngroup_commit_max = 1"), credentials);
  for (const Daemon* r : {&a, &b, &d}) waitFollowing(*r);

  // The graph, through the log.
  Client ca = a.connect();
  for (int i = 0; i < kCompanies; ++i) {
    check(ca.call([&](wire::Request::Builder r) {
      r.initCreateCompany().setName(fmt::format("company-{}", i));
    }));
  }
  check(ca.call([&](wire::Request::Builder r) {
    auto list = r.initDefinePermissions(kPermissions);
    for (int i = 0; i < kPermissions; ++i) list.set(static_cast<unsigned>(i), permission(i));
  }));
  for (auto& answer : ca.callMany(kPrincipals, [&](size_t i, wire::Request::Builder r) {
         r.initCreateUser().setName(fmt::format("user-{}", i));
       })) {
    check(answer);
  }
  mutationThroughput(a, 2, 64, 1.0);  // grants everywhere, and a warm-up

  // Lag: acknowledged on A -> answered on B at that revision.
  Client cb = b.connect();
  std::vector<double> lagUs;
  auto lagUntil = Clock::now() + std::chrono::duration<double>(seconds);
  for (uint64_t n = 0; Clock::now() < lagUntil || lagUs.size() < 200; ++n) {
    Answer written = ca.call([&](wire::Request::Builder r) {
      setGrantRequest(r, 1 + n % kPrincipals, 1 + n % kCompanies, static_cast<int>(n % 3));
    });
    check(written);
    auto acknowledged = Clock::now();
    uint64_t revision = written->getMutation().getRevision();
    Answer seen = cb.call([&](wire::Request::Builder r) {
      auto q = r.initAuthorize();
      q.setPrincipal(1 + n % kPrincipals);
      q.setCompany(1 + n % kCompanies);
      q.setPermission(permission(static_cast<int>(n % 3)));
      r.setMinRevision(revision);
    });
    check(seen);
    if (!seen->getAuthorize().getAllowed()) throw std::runtime_error("B missed A's grant");
    lagUs.push_back(std::chrono::duration<double, std::micro>(Clock::now() - acknowledged).count());
  }

  // Group commit against one message per mutation, the same load on A and on D.
  double grouped = mutationThroughput(a, 4, 64, seconds);
  double single = mutationThroughput(d, 4, 64, seconds);

  // Reads on B, idle and while A commits 1,000 mutations per second that B applies.
  double idle = authorizeThroughput(b, seconds);
  std::atomic<bool> writing{true};
  std::atomic<uint64_t> written{0};
  // Four writers at 250 per second each: a commit through the log takes milliseconds, so one
  // connection waiting for each answer could not keep 1,000 per second.
  std::vector<std::future<void>> writers;
  for (int w = 0; w < 4; ++w) {
    writers.push_back(std::async(std::launch::async, [&, w] {
      Client c = a.connect();
      auto next = Clock::now();
      for (uint64_t n = static_cast<uint64_t>(w) * 100003; writing; ++n) {
        next += std::chrono::microseconds(4000);
        std::this_thread::sleep_until(next);
        check(c.call([&](wire::Request::Builder r) {
          setGrantRequest(r, 1 + n % kPrincipals, 1 + (n / 3) % kCompanies,
                          static_cast<int>(n % kPermissions));
        }));
        ++written;
      }
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto loadStart = Clock::now();
  uint64_t writtenBefore = written;
  double busy = authorizeThroughput(b, seconds);
  double achieved = static_cast<double>(written - writtenBefore) /
                    std::chrono::duration<double>(Clock::now() - loadStart).count();
  writing = false;
  for (auto& w : writers) w.get();

  std::printf(
      "{\"benchmark\":\"replication\",\"seconds\":%.1f,\"lag_samples\":%zu,\"lag_p50_us\":%.0f,"
      "\"lag_p99_us\":%.0f,\"mutations_per_second_grouped\":%.0f,"
      "\"mutations_per_second_one_per_message\":%.0f,\"group_commit_ratio\":%.2f,"
      "\"authorize_idle_per_second\":%.0f,\"authorize_applying_per_second\":%.0f,"
      "\"applied_mutations_per_second\":%.0f,\"authorize_applying_ratio\":%.2f}\n",
      seconds, lagUs.size(), percentile(lagUs, 0.5), percentile(lagUs, 0.99), grouped, single,
      grouped / single, idle, busy, achieved, busy / idle);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "gatehouse-replication-bench: %s\n", e.what());
  return 1;
}
