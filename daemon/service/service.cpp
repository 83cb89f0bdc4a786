#include "service/service.hpp"

#include <capnp/message.h>
#include <fmt/format.h>

#include <algorithm>

#include "protocol/errors.hpp"
#include "protocol/framing.hpp"
#include "replication/replicator.hpp"
#include "service/wire_convert.hpp"

namespace gatehouse::service {

using protocol::Disposition;
using wire::ErrorCode;

Service::Service(store::Store& store, const credentials::Pepper& pepper,
                 const ServiceOptions& options, replication::Replicator* replicator)
    : store_(store),
      options_(options),
      committer_(
          store, options_, [this] { return credentials_.drainUsage(); }, replicator),
      backups_(store, committer_),
      credentials_(pepper, options_.credentials, committer_),
      parts_{options_,
             credentials_,
             committer_,
             counting_,
             backups_,
             store_,
             std::chrono::steady_clock::now()},
      replicator_(replicator),
      authorizeAccess_(requestRow(wire::Request::AUTHORIZE)->access),
      writerIo_(newIoState()) {
  committer_.setAfterWork([this] { return resumeWaits(); });
  committer_.start();  // every member is constructed: the writer may call back into them
}

Service::~Service() { stop(); }

Disposition Service::handle(ThreadState& state, const protocol::Peer& peer,
                            wire::Request::Reader request, std::string& out,
                            protocol::AnswerSink& sink) {
  auto& io = static_cast<IoState&>(state);
  io.counters().request(request.which());
  const RequestRow* row = requestRow(request.which());
  if (row == nullptr) {
    protocol::appendError(request.getId(), ErrorCode::UNKNOWN_REQUEST,
                          fmt::format("unknown request type {} (is the client newer than the "
                                      "daemon?)",
                                      static_cast<unsigned>(request.which())),
                          out);
    return Disposition::answered;
  }
  if (peer.access < row->access) {
    protocol::appendError(
        request.getId(), ErrorCode::ACCESS_DENIED,
        fmt::format("uid {} is in access class 'check'; provisioning needs 'admin'", peer.uid),
        out);
    return Disposition::answered;
  }
  if (request.getMinRevision() != 0) {
    if (auto done = awaitRevision(io, peer, request, out, sink)) return *done;
  }
  return route(*row, io, peer, request, out, sink);
}

bool Service::answerPlain(ThreadState& state, const protocol::Peer& peer,
                          kj::ArrayPtr<const capnp::word> frame, std::string& out) {
  if (peer.access < authorizeAccess_) return false;  // handle() answers the refusal
  auto q = plainAuthorize_.decode(frame);
  if (!q) return false;
  auto& io = static_cast<IoState&>(state);
  io.counters().request(wire::Request::AUTHORIZE);
  store::Decision d = decideAuthorize(io, q->principal, q->company, q->permission);
  plainAuthorize_.appendDecision(q->id, d.allowed, toWire(d.reason), io.revision(), out);
  return true;
}

Disposition Service::route(const RequestRow& row, IoState& io, const protocol::Peer& peer,
                           wire::Request::Reader request, std::string& out,
                           protocol::AnswerSink& sink) {
  switch (row.route) {
    case Route::snapshot:
      return answerInline(row, io, request, out);
    case Route::writer:
      return queueMutation(row, peer, request, out, sink);
    case Route::pool:
      return row.start(parts_, io, peer, request, out, sink);
  }
  return Disposition::answered;
}

namespace {

bool takesMinRevision(wire::Request::Which which) {
  using W = wire::Request::Which;
  return which == W::AUTHORIZE || which == W::AUTHORIZE_BATCH || which == W::CHECK_ACCESS ||
         which == W::LIST_PERMISSIONS || which == W::LOOKUP;
}

std::string behindMessage(uint64_t applied, uint64_t wanted, std::chrono::milliseconds waited) {
  return fmt::format(
      "this replica has applied revision {}, {} short of minRevision {} (waited {} ms); retry, "
      "or ask another replica",
      applied, wanted - applied, wanted, waited.count());
}

}  // namespace

std::optional<Disposition> Service::awaitRevision(IoState& io, const protocol::Peer& peer,
                                                  wire::Request::Reader request, std::string& out,
                                                  protocol::AnswerSink& sink) {
  uint64_t wanted = request.getMinRevision();
  if (!takesMinRevision(request.which())) {
    protocol::appendError(request.getId(), ErrorCode::INVALID_ARGUMENT,
                          fmt::format("minRevision: {} does not take one (authorize, "
                                      "authorizeBatch, checkAccess, listPermissions and lookup "
                                      "do)",
                                      operationName(request)),
                          out);
    return Disposition::answered;
  }
  if (io.snapshot().revision() >= wanted) return std::nullopt;
  io.release();  // this thread's snapshot may be older than the store: take the newest
  uint64_t applied = io.snapshot().revision();
  if (applied >= wanted) return std::nullopt;
  if (replicator_ == nullptr || replicator_->options().minRevisionWait.count() == 0) {
    // Alone, the revision only grows by this daemon's own commits: waiting would not bring it.
    protocol::appendError(request.getId(), ErrorCode::BEHIND,
                          behindMessage(applied, wanted, std::chrono::milliseconds(0)), out);
    return Disposition::answered;
  }
  RevisionWaits::Waiter waiter;
  waiter.minRevision = wanted;
  waiter.since = RevisionWaits::Clock::now();
  waiter.deadline = waiter.since + replicator_->options().minRevisionWait;
  waiter.request = std::make_shared<capnp::MallocMessageBuilder>();
  waiter.request->setRoot(request);
  waiter.peer = peer;
  waiter.sink = sink.retain();
  if (!waits_.park(std::move(waiter))) {
    protocol::appendError(request.getId(), ErrorCode::OVERLOADED, "the daemon is shutting down",
                          out);
    return Disposition::answered;
  }
  committer_.wake();  // the revision may have arrived meanwhile
  return Disposition::queued;
}

std::optional<std::chrono::steady_clock::time_point> Service::resumeWaits() {
  uint64_t applied = store_.revision();
  for (auto& waiter : waits_.due(applied)) {
    auto request = waiter.request->getRoot<wire::Request>().asReader();
    std::string out;
    writerIo_->release();  // the newest revision, which has the one waited for
    const RequestRow* row = requestRow(request.which());
    if (route(*row, *writerIo_, waiter.peer, request, out, *waiter.sink) == Disposition::answered) {
      waiter.sink->answer(std::move(out));
    }
    writerIo_->release();
  }
  auto now = RevisionWaits::Clock::now();
  for (auto& waiter : waits_.expired(now)) {
    auto request = waiter.request->getRoot<wire::Request>().asReader();
    std::string out;
    protocol::appendError(
        request.getId(), ErrorCode::BEHIND,
        behindMessage(applied, waiter.minRevision,
                      std::chrono::duration_cast<std::chrono::milliseconds>(now - waiter.since)),
        out);
    waiter.sink->answer(std::move(out));
  }
  return waits_.nextDeadline();
}

void Service::answerImpact(const store::Writer& w, const std::vector<store::EffectChange>& changes,
                           wire::Response::Builder response) {
  auto impact = response.initImpact();
  impact.setRevision(w.revision());
  impact.setTotal(static_cast<uint32_t>(changes.size()));
  size_t shown = std::min(changes.size(), kMaxImpactChanges);
  auto list = impact.initChanges(static_cast<unsigned>(shown));
  for (unsigned i = 0; i < shown; ++i) {
    list[i].setPrincipal(changes[i].principal);
    list[i].setCompany(changes[i].company);
    auto gained = namesOf(w, changes[i].gained.stored());
    setNames(list[i].initGained(static_cast<unsigned>(gained.size())), gained);
    auto lost = namesOf(w, changes[i].lost.stored());
    setNames(list[i].initLost(static_cast<unsigned>(lost.size())), lost);
  }
}

Disposition Service::answerInline(const RequestRow& row, IoState& io, wire::Request::Reader request,
                                  std::string& out) {
  capnp::MallocMessageBuilder builder(io.scratch());
  auto response = builder.initRoot<wire::Response>();
  response.setId(request.getId());
  row.answer(parts_, io, request, response);
  protocol::appendFrame(builder, out);
  return Disposition::answered;
}

Disposition Service::queueMutation(const RequestRow& row, const protocol::Peer& peer,
                                   wire::Request::Reader request, std::string& out,
                                   protocol::AnswerSink& sink) {
  // Refused here, alone, rather than by the writer in the middle of others' group commit.
  if (auto why = unreadable(request)) {
    protocol::appendError(request.getId(), ErrorCode::MALFORMED,
                          fmt::format("undecodable request: {}", *why), out);
    return Disposition::answered;
  }
  if (request.getDryRun() && !row.preview) {
    protocol::appendError(request.getId(), ErrorCode::INVALID_ARGUMENT,
                          fmt::format("dryRun: {} cannot be previewed (it changes no effective "
                                      "permissions)",
                                      operationName(request)),
                          out);
    return Disposition::answered;
  }
  auto copy = std::make_shared<capnp::MallocMessageBuilder>();
  copy->setRoot(request);
  Committer::Pending pending;
  pending.id = request.getId();
  pending.request = copy;
  pending.row = &row;
  pending.sink = sink.retain();
  pending.peer = peer;
  pending.apply = [this, &row, copy](store::Writer& w, wire::Response::Builder response) {
    auto req = copy->getRoot<wire::Request>().asReader();
    if (!req.getDryRun()) return row.apply(parts_, w, req, response);
    // A dry run: applied in its nested transaction like any request, answered with what changed
    // there, and rolled back. A refusal is answered as it would be.
    w.startRecording();
    bool applied = row.apply(parts_, w, req, response);
    auto changes = w.changes(unixNow());
    if (applied) answerImpact(w, changes, response);
    return false;
  };
  if (committer_.queue(std::move(pending))) return Disposition::queued;
  protocol::appendError(request.getId(), ErrorCode::OVERLOADED, "the daemon is shutting down", out);
  return Disposition::answered;
}

void Service::stop() {
  backups_.stop();      // a backup in progress finishes (its copy begins between commits)
  credentials_.stop();  // password checks in progress finish (and may queue bookkeeping)
  committer_.stop();
  for (auto& waiter : waits_.drain()) {
    std::string out;
    protocol::appendError(waiter.request->getRoot<wire::Request>().getId(), ErrorCode::OVERLOADED,
                          "the daemon is shutting down", out);
    waiter.sink->answer(std::move(out));
  }
}

}  // namespace gatehouse::service
