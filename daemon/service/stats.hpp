// What the `stats` request reports (docs/operations.md#metrics), and where it is counted.
//
// Every IO thread counts into its own `IoCounters` (the checks it answered by decision and deny
// reason, credential outcomes by reason, requests by kind, its caches' hits and misses) with
// single-writer counters (common/counter.hpp), so counting costs the hot path no locked
// instruction and no shared cache line. `Counting` keeps every thread's block — past the
// thread's end, so totals never go backwards — and sums them when asked; the writer, the
// password pool, the store and the server (through protocol::TransportStats) report their own.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include "common/counter.hpp"
#include "gatehouse.capnp.h"
#include "protocol/handler.hpp"
#include "store/snapshot.hpp"

namespace gatehouse::service {

// Slots per enum: one per enumerant the daemon knows, with room to grow; a value past the end
// is counted in the last slot.
constexpr size_t kDenyReasonSlots = 8;    // wire::DenyReason
constexpr size_t kRefusalSlots = 16;      // wire::CredentialRefusal
constexpr size_t kRequestKindSlots = 64;  // wire::Request's union members

template <size_t N, typename Enum>
constexpr size_t slotOf(Enum value) {
  auto i = static_cast<size_t>(value);
  return i < N ? i : N - 1;
}

// One credential outcome per slot: `none` is an accepted credential.
using RefusalCounters = std::array<SharedCounter, kRefusalSlots>;

struct alignas(64) IoCounters {
  void request(wire::Request::Which which) { requests[slotOf<kRequestKindSlots>(which)].add(); }
  void check(wire::DenyReason reason) { checks[slotOf<kDenyReasonSlots>(reason)].add(); }
  void credential(wire::CredentialRefusal refusal) {
    credentials[slotOf<kRefusalSlots>(refusal)].add();
  }

  std::array<Counter, kDenyReasonSlots> checks;     // by DenyReason; `none`: allowed
  std::array<Counter, kRefusalSlots> credentials;   // by CredentialRefusal; `none`: accepted
  std::array<Counter, kRequestKindSlots> requests;  // by Request::Which
  CacheCounters verifiedKeys;
  std::shared_ptr<const store::Snapshot::Counters> caches;  // the thread's snapshot's
};

class Counting {
 public:
  // A new IO thread's counters, kept until the service ends.
  std::shared_ptr<IoCounters> add(std::shared_ptr<const store::Snapshot::Counters> caches);
  // Every thread's counters summed.
  struct Totals {
    std::array<uint64_t, kDenyReasonSlots> checks{};
    std::array<uint64_t, kRefusalSlots> credentials{};
    std::array<uint64_t, kRequestKindSlots> requests{};
    std::array<uint64_t, 2> verifiedKeys{}, rows{}, names{};  // hits, misses
    uint64_t flushes = 0;  // revision changes that dropped a thread's whole row cache
  };
  Totals sum() const;

  // The server's counters, through the interface it registers (protocol/handler.hpp).
  void attachTransport(const protocol::TransportStatsSource* source) { transport_.store(source); }
  protocol::TransportStats transport() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<IoCounters>> threads_;
  std::atomic<const protocol::TransportStatsSource*> transport_{nullptr};
};

}  // namespace gatehouse::service
