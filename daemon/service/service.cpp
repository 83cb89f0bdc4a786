#include "service/service.hpp"

#include <capnp/message.h>
#include <fmt/format.h>

#include <algorithm>

#include "protocol/errors.hpp"
#include "protocol/framing.hpp"
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
             std::chrono::steady_clock::now()} {
  committer_.start();  // every member is constructed: the writer may call back into them
}

Service::~Service() { stop(); }

Disposition Service::handle(ThreadState& state, const protocol::Peer& peer,
                            wire::Request::Reader request, std::string& out,
                            protocol::AnswerSink& sink) {
  auto& io = static_cast<IoState&>(state);
  io.counters().requests[slotOf<kRequestKindSlots>(request.which())].add();
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
  switch (row->route) {
    case Route::snapshot:
      return answerInline(*row, io, request, out);
    case Route::writer:
      return queueMutation(*row, peer, request, out, sink);
    case Route::pool:
      return row->start(parts_, io, peer, request, out, sink);
  }
  return Disposition::answered;
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
}

}  // namespace gatehouse::service
