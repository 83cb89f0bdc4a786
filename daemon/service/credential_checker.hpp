// The credential checker (docs/credentials.md): API keys checked inline on the IO thread
// (checksum, one lookup, one keyed BLAKE2b, a constant-time compare, or a hit in the thread's
// verified-key cache), passwords and TOTP on the SCHED_IDLE pool (Argon2id), rate limits consulted
// before any hashing, key issuance for the writer, and the last-used times of keys and access.
//
// Threading: `checkKey` and the `start*` calls from IO threads; `issueKey` and `fillKey` from the
// writer; pool jobs answer through the request's sink exactly once — with `failed` if the job
// threw — and wipe the secrets they held. `stop` finishes the pool's queued jobs.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "credentials/pepper.hpp"
#include "credentials/rate_limiter.hpp"
#include "credentials/secret.hpp"
#include "credentials/work_pool.hpp"
#include "gatehouse.capnp.h"
#include "protocol/handler.hpp"
#include "service/committer.hpp"
#include "service/io_state.hpp"
#include "service/key_usage.hpp"
#include "service/options.hpp"
#include "service/pool_admission.hpp"
#include "service/stats.hpp"

namespace gatehouse::service {

struct RequestRow;

class CredentialChecker {
 public:
  CredentialChecker(const credentials::Pepper& pepper, const CredentialOptions& options,
                    Committer& committer);
  CredentialChecker(const CredentialChecker&) = delete;
  CredentialChecker& operator=(const CredentialChecker&) = delete;

  // The API-key part of checkCredential/checkAccess, on a snapshot.
  struct KeyCheck {
    wire::CredentialRefusal refusal = wire::CredentialRefusal::BAD_CREDENTIAL;
    store::PrincipalId principal = 0;
    uint64_t keyId = 0;
    uint32_t retryAfter = 0;
    uint64_t at = 0;  // Unix seconds the key's deadlines were checked at (0: not reached)
  };
  // With `verified` (a thread's cache), a key accepted at the snapshot's revision is accepted again
  // without the decoding and hashing; null verifies in full every time.
  KeyCheck checkKey(store::Snapshot& snapshot, VerifiedKeys* verified, KeyUsage::Filter& filter,
                    std::string_view text, std::string_view source);

  // A user's password (and TOTP code): rate limits now, Argon2id on the pool, answered there.
  protocol::Disposition checkPassword(IoState& io, wire::Request::Reader request, std::string& out,
                                      protocol::AnswerSink& sink);
  // Hashes a new password on the pool, then queues it to the writer (audited under `row`).
  protocol::Disposition setPassword(const protocol::Peer& peer, const RequestRow& row,
                                    wire::Request::Reader request, std::string& out,
                                    protocol::AnswerSink& sink);

  // Writer thread: issues a key; its id and text (wipe it), or nullopt with the refusal answered.
  std::optional<std::pair<uint64_t, std::string>> issueKey(store::Writer& w,
                                                           store::PrincipalId account,
                                                           uint64_t expiresAt,
                                                           wire::Response::Builder response);
  // Issues a key and answers `keyIssued`.
  bool issueKeyAnswer(store::Writer& w, store::PrincipalId account, uint64_t expiresAt,
                      uint32_t retired, wire::Response::Builder response);
  // A key as listed: its times and state at `now`, its last use including what is not flushed yet.
  void fillKey(const store::KeyRecord& key, uint64_t now, wire::KeyInfo::Builder info);

  const credentials::SecretBytes& totpKey() const { return totpKey_; }
  const credentials::SecretBytes& keyTagKey() const { return keyTagKey_; }
  void setRateLimits(const credentials::RateLimits& limits) { limiter_.setLimits(limits); }
  // The outcomes of password checks answered by the pool, by CredentialRefusal (for stats).
  const RefusalCounters& passwordOutcomes() const { return passwordOutcomes_; }
  const CredentialOptions& options() const { return options_; }
  KeyUsage& accessUsage() { return accessUsage_; }

  // The writer's housekeeping: the last-used times gathered since the last call, as one change.
  Committer::Apply drainUsage();

  void stop() { pool_.stop(); }

 private:
  // Claims a TOTP step for a user unless it (or a later one) was used; true when claimed.
  // Replicated mode: queues the acceptance of TOTP `step` for `user` as a change at the log's
  // head, answered on `sink` — accepted, or totpReplayed when another replica took the step.
  void acceptTotpThroughLog(uint64_t id, store::PrincipalId user, uint64_t step,
                            std::string principalKey,
                            const std::shared_ptr<protocol::AnswerSink>& sink);
  bool claimTotpStep(store::PrincipalId user, uint64_t storedLast, uint64_t step);
  // The hash an unknown user's password is checked against, so timing does not tell which logins
  // exist (made on first use: Argon2id is too slow for start-up).
  const std::string& dummyHash();

  const credentials::Pepper& pepper_;
  const CredentialOptions& options_;
  Committer& committer_;
  credentials::SecretBytes totpKey_;
  RefusalCounters passwordOutcomes_;
  credentials::SecretBytes keyTagKey_;  // random per process: the verified-key caches' tag key
  credentials::RateLimiter limiter_;
  KeyUsage keyUsage_;
  KeyUsage accessUsage_;  // keyed by grant key: last checkAccess per account and company
  std::mutex totpMutex_;
  std::unordered_map<store::PrincipalId, uint64_t> totpSteps_;  // last accepted step per user
  std::once_flag dummyOnce_;
  std::string dummyHash_;
  PoolAdmission admission_;
  credentials::WorkPool pool_;  // last: stopped (joined) first
};

}  // namespace gatehouse::service
