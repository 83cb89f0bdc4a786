// Crash consistency: clients write while the daemon is killed with SIGKILL at a random moment,
// again and again; after every restart each acknowledged mutation must be there. The number of
// cycles is GATEHOUSE_CRASH_CYCLES (default 20, what ./scripts/test runs; docs/security.md has
// the long run), the seed GATEHOUSE_CRASH_SEED (printed on failure).
#define BOOST_TEST_MODULE crash
#include <fmt/format.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using client::Client;

namespace {

unsigned envOr(const char* name, unsigned fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? static_cast<unsigned>(std::strtoul(v, nullptr, 10)) : fallback;
}

// Every company name in the store, following the pages.
std::set<std::string> companies(const Daemon& d) {
  std::set<std::string> names;
  Client c = d.connect();
  uint64_t token = 0;
  do {
    auto page = c.call([&](wire::Request::Builder r) {
      r.setListCompanies();
      r.setPageSize(10000);
      r.setPageToken(token);
    });
    for (auto company : page->getCompanies().getCompanies()) names.emplace(company.getName());
    token = page->getCompanies().getNextPageToken();
  } while (token != 0);
  return names;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_acknowledged_mutation_survives_sigkill) {
  unsigned cycles = envOr("GATEHOUSE_CRASH_CYCLES", 20);
  unsigned seed = envOr("GATEHOUSE_CRASH_SEED", std::random_device{}());
  BOOST_TEST_MESSAGE("cycles " << cycles << ", seed " << seed);
  std::mt19937 rng(seed);
  Daemon daemon;
  std::set<std::string> acknowledged;
  size_t total = 0;
  for (unsigned cycle = 0; cycle < cycles; ++cycle) {
    std::mutex mutex;
    std::atomic<bool> stop{false};
    auto writer = [&](int who) {
      try {
        Client c = daemon.connect();
        for (int round = 0; !stop; ++round) {
          auto answers = c.callMany(32, [&](size_t i, wire::Request::Builder r) {
            r.initCreateCompany().setName(fmt::format("c{}-{}-{}-{}", cycle, who, round, i));
          });
          std::lock_guard lock(mutex);
          for (size_t i = 0; i < answers.size(); ++i) {
            if (answers[i]->which() == wire::Response::MUTATION) {
              acknowledged.insert(fmt::format("c{}-{}-{}-{}", cycle, who, round, i));
            }
          }
        }
      } catch (const client::ClientError&) {
        // the daemon was killed: what was acknowledged before is recorded
      }
    };
    std::thread a(writer, 0), b(writer, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 190));
    daemon.kill();
    stop = true;
    a.join();
    b.join();
    daemon.start();
    // This cycle's acknowledged writes, each looked up; every 50 cycles (and at the end), every
    // write since the start, from a full listing.
    std::vector<std::string> mine(acknowledged.lower_bound(fmt::format("c{}-", cycle)),
                                  acknowledged.upper_bound(fmt::format("c{}.", cycle)));
    Client c = daemon.connect();
    auto found = c.callMany(mine.size(), [&](size_t i, wire::Request::Builder r) {
      auto q = r.initLookup();
      q.setKind(wire::EntityKind::COMPANY);
      q.setName(mine[i]);
    });
    size_t missing = 0;
    for (auto& answer : found) missing += answer->getLookup().getFound() ? 0 : 1;
    if (cycle % 50 == 49 || cycle + 1 == cycles) {
      auto present = companies(daemon);
      for (const auto& name : acknowledged) missing += present.count(name) == 0 ? 1 : 0;
    }
    BOOST_REQUIRE_MESSAGE(missing == 0, missing << " acknowledged mutations lost in cycle " << cycle
                                                << " (seed " << seed << ")");
    total = acknowledged.size();
  }
  BOOST_TEST_MESSAGE(total << " acknowledged mutations checked across " << cycles << " kills");
  BOOST_TEST(total > 0u);
}
