// Everything one IO thread keeps between requests, in one object the server holds and passes to
// every `handle` call: a reused store snapshot, a scratch segment for answers, the verified-key
// cache and the last-used filters. Nothing here is shared between threads (no thread_local
// statics, no function statics).
//
// The snapshot is taken lazily by the first request that reads; the server calls `release()` once
// it has handled what it had buffered, before it waits for more input, so that no snapshot is held
// across a wait. An authorize whose answer the snapshot's caches hold, while nothing has been
// committed since the snapshot was last taken, is answered without taking it (`authorize`).
#pragma once

#include <capnp/common.h>
#include <kj/common.h>

#include <memory>
#include <string_view>

#include "credentials/secret.hpp"
#include "protocol/handler.hpp"
#include "service/key_usage.hpp"
#include "service/stats.hpp"
#include "service/verified_keys.hpp"
#include "store/snapshot.hpp"

namespace gatehouse::service {

class IoState : public protocol::RequestHandler::ThreadState {
 public:
  // Registers the thread's counters with `counting`.
  IoState(store::Store& store, const credentials::SecretBytes& keyTagKey, size_t verifiedKeys,
          Counting& counting);
  void release() override;

  // The snapshot, begun at the newest revision if this thread holds none; the verified-key
  // cache drops the accounts whose credentials changed since the previous one.
  store::Snapshot& snapshot() {
    if (!open_) {
      if (snapshot_.begin()) {
        const auto& changed = snapshot_.credentialChanges();
        verifiedKeys_.forget(changed.all, changed.principals);
      }
      open_ = true;
    }
    return snapshot_;
  }
  // The hot path: from the snapshot's caches alone when it is not taken and nothing has been
  // committed since it last was (no transaction renewed, Snapshot::authorizeCached); otherwise
  // from the snapshot, taken.
  store::Decision authorize(store::PrincipalId p, store::CompanyId c, std::string_view permission) {
    if (!open_ && snapshot_.current()) {
      if (auto d = snapshot_.authorizeCached(p, c, permission)) return *d;
    }
    return snapshot().authorize(p, c, permission);
  }
  // The revision of the state the last read saw (taken or current).
  uint64_t revision() const { return snapshot_.revision(); }
  VerifiedKeys& verifiedKeys() { return verifiedKeys_; }
  IoCounters& counters() { return *counters_; }
  KeyUsage::Filter& keyUseFilter() { return keyUse_; }
  KeyUsage::Filter& accessUseFilter() { return accessUse_; }
  // Where an inline answer is built: no allocation unless it outgrows it.
  kj::ArrayPtr<capnp::word> scratch() { return kj::arrayPtr(scratch_.get(), kScratchWords); }

 private:
  static constexpr size_t kScratchWords = 16384;  // 128 KiB: an authorizeBatch answer fits.
  store::Snapshot snapshot_;
  std::shared_ptr<IoCounters> counters_;
  bool open_ = false;
  std::unique_ptr<capnp::word[]> scratch_;
  VerifiedKeys verifiedKeys_;
  KeyUsage::Filter keyUse_;
  KeyUsage::Filter accessUse_;
};

}  // namespace gatehouse::service
