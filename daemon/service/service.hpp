// The service: request handling by the rules of the permission graph, without any I/O.
//
// `Service` is the dispatcher the server talks to (protocol/handler.hpp). It looks the request up
// in the table (service/requests.hpp), checks the peer's access class, and routes it: answered
// inline from the IO thread's snapshot, queued to the group committer (service/committer.hpp), or
// started on the credential checker's pool (service/credential_checker.hpp). The actor rules are
// in service/actor_rules.hpp, the company view in company_view.cpp.
//
// Threading: `handle` may be called from any number of IO threads, each with its own IoState.
// The writer thread starts when the service is constructed and stops in `stop()`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "credentials/pepper.hpp"
#include "protocol/handler.hpp"
#include "protocol/plain_authorize.hpp"
#include "service/backup.hpp"
#include "service/committer.hpp"
#include "service/credential_checker.hpp"
#include "service/io_state.hpp"
#include "service/options.hpp"
#include "service/requests.hpp"
#include "service/revision_waits.hpp"
#include "service/stats.hpp"
#include "store/store.hpp"

namespace gatehouse::service {

class Service : public protocol::RequestHandler {
 public:
  // `replicator`, when given, makes this a replica of a replicated log (committer.hpp); it must
  // outlive the service.
  Service(store::Store& store, const credentials::Pepper& pepper, const ServiceOptions& options,
          replication::Replicator* replicator = nullptr);
  ~Service() override;
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  std::unique_ptr<IoState> newIoState() {
    return std::make_unique<IoState>(store_, credentials_.keyTagKey(),
                                     options_.credentials.verifiedKeyCache, counting_);
  }
  std::unique_ptr<ThreadState> newThreadState() override { return newIoState(); }
  void attachTransport(const protocol::TransportStatsSource* source) override {
    counting_.attachTransport(source);
  }

  // Answers a check inline (appending its framed answer to `out`), or queues a mutation or a
  // password check; `sink` then receives the answer exactly once. Answering a check allocates
  // nothing once `out` has grown to its working size.
  protocol::Disposition handle(ThreadState& state, const protocol::Peer& peer,
                               wire::Request::Reader request, std::string& out,
                               protocol::AnswerSink& sink) override;
  // A plain authorize (protocol/plain_authorize.hpp), answered as handle() would answer it.
  bool answerPlain(ThreadState& state, const protocol::Peer& peer,
                   kj::ArrayPtr<const capnp::word> frame, std::string& out) override;

  // Answers every queued request (password checks, then mutations), flushes key usage, then
  // stops the pool and the writer thread. Later requests are refused as `overloaded`.
  void stop();

  // A reload (SIGHUP): what of `options` may change while serving — the credential rate limits.
  void reload(const ServiceOptions& options) {
    credentials_.setRateLimits(options.credentials.rate);
  }

  uint64_t mutationsCommitted() const { return committer_.mutationsCommitted(); }
  // See Committer::backlogAge: how long the oldest unanswered mutation has waited.
  std::chrono::steady_clock::duration writerBacklogAge() const { return committer_.backlogAge(); }
  CredentialChecker& credentials() { return credentials_; }

 private:
  protocol::Disposition answerInline(const RequestRow& row, IoState& io,
                                     wire::Request::Reader request, std::string& out);
  protocol::Disposition queueMutation(const RequestRow& row, const protocol::Peer& peer,
                                      wire::Request::Reader request, std::string& out,
                                      protocol::AnswerSink& sink);
  // A dry run's answer: the changes (at most kMaxImpactChanges of them) and their total.
  static void answerImpact(const store::Writer& w, const std::vector<store::EffectChange>& changes,
                           wire::Response::Builder response);
  static constexpr size_t kMaxImpactChanges = 1000;
  // Request.minRevision: nullopt when the request may be answered now; else it was answered
  // (an error) or parked until the revision is applied.
  std::optional<protocol::Disposition> awaitRevision(IoState& io, const protocol::Peer& peer,
                                                     wire::Request::Reader request,
                                                     std::string& out, protocol::AnswerSink& sink);
  // The writer thread's turn (Committer::setAfterWork): answers the parked requests whose
  // revision is applied, and `behind` those whose wait ran out.
  std::optional<std::chrono::steady_clock::time_point> resumeWaits();
  // Routes a request (a check or a credential check) once its revision is there.
  protocol::Disposition route(const RequestRow& row, IoState& io, const protocol::Peer& peer,
                              wire::Request::Reader request, std::string& out,
                              protocol::AnswerSink& sink);

  store::Store& store_;
  ServiceOptions options_;
  Counting counting_;
  Committer committer_;
  Backups backups_;
  CredentialChecker credentials_;
  ServiceParts parts_;
  replication::Replicator* replicator_;  // null: standalone
  RevisionWaits waits_;
  protocol::PlainAuthorizeCodec plainAuthorize_;
  protocol::AccessClass authorizeAccess_;  // the least class that may send authorize
  std::unique_ptr<IoState> writerIo_;      // the writer thread's, for parked requests
};

}  // namespace gatehouse::service
