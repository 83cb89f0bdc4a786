// Request handling: the rules of the permission graph, without any I/O.
//
// The server hands the service one decoded `Request` and the identity of the peer that sent it;
// the service answers with one framed `Response`. Check requests (authorize, batches, queries)
// are answered inline on the calling IO thread from that thread's `Reader`; mutations are queued
// to the single writer thread, group-committed, and answered through a completion once durable.
//
// Threading: `handle` may be called from any number of IO threads, each with its own `Reader`.
// Completions run on the writer thread; they must not block.
#pragma once

#include <capnp/message.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "credentials/password.hpp"
#include "credentials/pepper.hpp"
#include "credentials/rate_limiter.hpp"
#include "credentials/work_pool.hpp"
#include "gatehouse.capnp.h"
#include "service/handler.hpp"
#include "service/verified_keys.hpp"
#include "store/store.hpp"

namespace gatehouse::service {

struct CredentialOptions {
  credentials::PasswordLimits password;  // Argon2id cost for new hashes (old ones are rehashed).
  credentials::RateLimits rate;
  uint32_t maxKeysPerAccount = 10;  // Live keys of one service account.
  unsigned passwordThreads = 1;     // The SCHED_IDLE pool that runs Argon2id.
  std::string totpIssuer = "gatehouse";
  std::chrono::seconds lastUsedFlush{60};  // How often key last-used times reach the store.
  size_t verifiedKeyCache = 4096;  // Entries per IO thread (service/verified_keys.hpp); 0: off.
};

struct ServiceOptions {
  uint32_t maxBatch = 1024;       // Items in one authorizeBatch.
  uint32_t groupCommitMax = 256;  // Mutations in one write transaction.
  CredentialOptions credentials;
  std::chrono::seconds auditRetention{std::chrono::hours(24 * 365)};
};

// Key last-used times, kept in memory by the checks and flushed by the writer. Times are coarse
// (seconds): each thread remembers what it last delivered in a small direct-mapped filter, so
// repeated uses within the same second take no lock.
class KeyUsage {
 public:
  KeyUsage();
  void touch(uint64_t keyId, uint64_t at);
  // Takes every pending time (clearing them).
  std::vector<std::pair<uint64_t, uint64_t>> drain();
  uint64_t pending(uint64_t keyId);

 private:
  const uint64_t instance_;  // distinguishes this object in the threads' filters
  std::mutex mutex_;
  std::unordered_map<uint64_t, uint64_t> times_;
};

class Service : public RequestHandler {
 public:
  // Per-IO-thread state: a reused store snapshot and a scratch segment for responses. Taken
  // lazily by `handle`; the server calls `release()` once it has handled what it had buffered,
  // before it waits for more input, so that no snapshot is held across a wait.
  class Reader : public RequestHandler::ThreadState {
   public:
    Reader(store::Store& store, const credentials::SecretBytes& keyTagKey, size_t verifiedKeys);
    void release() override;

   private:
    friend class Service;
    store::Snapshot& snapshot();
    VerifiedKeys& verifiedKeys() { return verifiedKeys_; }
    kj::ArrayPtr<capnp::word> scratch() { return kj::arrayPtr(scratch_.get(), kScratchWords); }

    static constexpr size_t kScratchWords = 16384;  // 128 KiB: an authorizeBatch answer fits.
    store::Snapshot snapshot_;
    bool open_ = false;
    std::unique_ptr<capnp::word[]> scratch_;
    VerifiedKeys verifiedKeys_;
  };

  Service(store::Store& store, const credentials::Pepper& pepper, const ServiceOptions& options);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  std::unique_ptr<Reader> newReader() {
    return std::make_unique<Reader>(store_, keyTagKey_, options_.credentials.verifiedKeyCache);
  }
  std::unique_ptr<ThreadState> newThreadState() override { return newReader(); }

  // Answers a check request by appending its framed response to `out` and returns true, or queues
  // a mutation and returns false; `sink` then receives the response once it is durable (or
  // refused). Answering a check allocates nothing once `out` has grown to its working size.
  bool handle(ThreadState& state, const Peer& peer, wire::Request::Reader request, std::string& out,
              AnswerSink& sink) override;

  // Answers every queued request (password checks, then mutations), flushes key usage, then
  // stops the pool and the writer thread. Later requests are refused as `overloaded`.
  void stop();

  uint64_t mutationsCommitted() const;

  // The API-key part of checkCredential/checkAccess, on a snapshot (exposed for benchmarks).
  struct KeyCheck {
    wire::CredentialRefusal refusal = wire::CredentialRefusal::BAD_CREDENTIAL;
    store::PrincipalId principal = 0;
    uint64_t keyId = 0;
    uint32_t retryAfter = 0;
    uint64_t at = 0;  // Unix seconds the key's deadlines were checked at (0: not reached)
  };
  // With `verified` (a thread's cache), a key accepted at the snapshot's revision is accepted again
  // without the decoding and hashing; null verifies in full every time.
  KeyCheck checkKey(store::Snapshot& snapshot, VerifiedKeys* verified, std::string_view text,
                    std::string_view source);

 private:
  // A change for the writer: fills the response and says whether to keep it. Answered through
  // `sink` after the commit; internal bookkeeping (last-used times, TOTP steps) has no sink.
  using Apply = std::function<bool(store::Writer&, wire::Response::Builder)>;
  struct Pending {
    uint64_t id = 0;
    Apply apply;
    std::shared_ptr<AnswerSink> sink;
    std::shared_ptr<capnp::MallocMessageBuilder> request;  // audited; wiped once answered
    Peer peer;
  };

  void answerCheck(Reader& reader, wire::Request::Reader request, std::string& out);
  bool queue(Pending&& pending);
  bool queueMutation(const Peer& peer, wire::Request::Reader request, AnswerSink& sink);
  bool applyMutation(store::Writer& w, wire::Request::Reader req, wire::Response::Builder response);
  void writerLoop();
  void applyBatch(std::deque<Pending>& batch);
  // Queues the pending last-used times (and, with `prune`, the audit retention) for the writer.
  void flushKeyUsage(bool prune);

  // Credentials (credential_requests.cpp).
  bool answerCredential(Reader& reader, wire::Request::Reader request, std::string& out,
                        AnswerSink& sink);
  void answerAccess(Reader& reader, wire::Request::Reader request, std::string& out);
  void answerKeys(Reader& reader, wire::Request::Reader request, std::string& out);
  bool checkPassword(Reader& reader, wire::Request::Reader request, std::string& out,
                     AnswerSink& sink);
  bool setPassword(const Peer& peer, wire::Request::Reader request, std::string& out,
                   AnswerSink& sink);
  bool applyCredentialMutation(store::Writer& w, wire::Request::Reader req,
                               wire::Response::Builder response);
  // Issues a key: its id and text (wipe it), or nullopt with the refusal answered.
  std::optional<std::pair<uint64_t, std::string>> issueKey(store::Writer& w,
                                                           store::PrincipalId account,
                                                           uint64_t expiresAt,
                                                           wire::Response::Builder response);
  // Issues a key and answers `keyIssued`.
  bool issueKeyAnswer(store::Writer& w, store::PrincipalId account, uint64_t expiresAt,
                      uint32_t retired, wire::Response::Builder response);
  static void fillKey(const store::KeyRecord& key, uint64_t now, wire::KeyInfo::Builder info);

  // Actor-scoped management (actor_requests.cpp).
  static bool isActorRead(wire::Request::Which which);
  static bool isActorMutation(wire::Request::Which which);
  bool applyActorMutation(store::Writer& w, wire::Request::Reader req,
                          wire::Response::Builder response);
  void answerActorRead(Reader& reader, wire::Request::Reader request, std::string& out);
  void fillRow(const store::GraphReader& g, const store::PrincipalRecord& account,
               store::CompanyId company, bool manage, wire::SaRow::Builder row);
  static std::string operationName(wire::Request::Reader req);
  static std::string auditTarget(wire::Request::Reader req);
  static std::vector<store::CompanyId> auditCompanies(const store::GraphReader& g,
                                                      wire::Request::Reader req);
  // Claims a TOTP step for a user unless it (or a later one) was used; true when claimed.
  bool claimTotpStep(store::PrincipalId user, uint64_t storedLast, uint64_t step);

  store::Store& store_;
  const credentials::Pepper& pepper_;
  ServiceOptions options_;
  credentials::SecretBytes totpKey_;
  credentials::SecretBytes keyTagKey_;  // random per process: the verified-key caches' tag key
  credentials::RateLimiter limiter_;
  KeyUsage usage_;
  KeyUsage accessUsage_;  // keyed by grant key: last checkAccess per account and company
  std::mutex totpMutex_;
  std::unordered_map<store::PrincipalId, uint64_t> totpSteps_;  // last accepted step per user
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  uint64_t committed_ = 0;
  std::thread writer_;
  credentials::WorkPool pool_;  // last: stopped (joined) first
};

}  // namespace gatehouse::service
