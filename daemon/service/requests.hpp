// The table of requests: one row per `Request` kind, saying who may send it, how it is answered,
// which function answers it, and what the audit trail records of it. Adding a request is one row
// here plus its handler. The dispatcher (service.cpp) and the committer (committer.cpp) read the
// table; nothing else classifies requests.
//
// Routes:
//   snapshot  answered inline on the IO thread from its snapshot (`answer` fills the response)
//   writer    queued to the writer thread, applied in a nested transaction of a group commit and
//             answered once durable (`apply` fills the response and says whether to keep it)
//   pool      `start` decides: answer inline, or hand slow work (Argon2id) to the password pool,
//             which answers through the sink (directly, or by queueing to the writer)
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gatehouse.capnp.h"
#include "protocol/handler.hpp"
#include "service/options.hpp"
#include "store/store.hpp"

namespace gatehouse::service {

class Backups;
class Committer;
class Counting;
class CredentialChecker;
class IoState;

// What the handlers work with: the service's parts, by reference.
struct ServiceParts {
  const ServiceOptions& options;
  CredentialChecker& credentials;
  Committer& committer;
  Counting& counting;
  Backups& backups;
  store::Store& store;
  std::chrono::steady_clock::time_point started;
};

enum class Route : uint8_t { snapshot, writer, pool };

using AnswerFn = void (*)(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
using ApplyFn = bool (*)(ServiceParts&, store::Writer&, wire::Request::Reader,
                         wire::Response::Builder);
using StartFn = protocol::Disposition (*)(ServiceParts&, IoState&, const protocol::Peer&,
                                          wire::Request::Reader, std::string& out,
                                          protocol::AnswerSink&);
// What the audit trail names as the request's target, e.g. "serviceAccount 6".
using TargetFn = std::string (*)(wire::Request::Reader);
// Adds the companies (besides the acting one) whose audit lists show the request, as the graph
// stands before it is applied.
using ScopeFn = void (*)(const store::GraphReader&, wire::Request::Reader,
                         std::vector<store::CompanyId>&);

struct RequestRow {
  wire::Request::Which which;
  protocol::AccessClass access;  // the least class that may send it
  Route route;
  AnswerFn answer = nullptr;  // route snapshot
  ApplyFn apply = nullptr;    // route writer
  StartFn start = nullptr;    // route pool
  TargetFn target = nullptr;  // requests that change something (null: not audited)
  ScopeFn scope = nullptr;    // null: the acting company only
  bool preview = false;       // may be sent as a dry run (Request.dryRun): it can change
                              // effective permissions
};

namespace detail {
extern const RequestRow kRows[];
extern const int* const kRowIndex;  // kRows by `which`; -1 where there is none
extern const size_t kRowIndexSize;
}  // namespace detail

// The row of `which`, or null for a kind this build does not know. Inline: every request asks.
inline const RequestRow* requestRow(wire::Request::Which which) {
  auto slot = static_cast<size_t>(which);
  if (slot >= detail::kRowIndexSize || detail::kRowIndex[slot] < 0) return nullptr;
  return &detail::kRows[detail::kRowIndex[slot]];
}
// Every row, for tests.
std::span<const RequestRow> requestRows();

// The audit trail's name of the request's operation (its union member's name, e.g. "saGrant").
std::string operationName(wire::Request::Reader request);

// Why the request cannot be read in full (a text without its terminator, a pointer out of
// bounds...), or nullopt when every field of it can be. Run before a request is queued, so the
// writer never meets a field it cannot read.
std::optional<std::string> unreadable(wire::Request::Reader request);

// ---- Handlers, by file ----

// checks.cpp: the inline checks and read-only queries.
void answerPing(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerHello(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
// stats.cpp
void answerStats(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
// backup.cpp
protocol::Disposition startBackup(ServiceParts&, IoState&, const protocol::Peer&,
                                  wire::Request::Reader, std::string&, protocol::AnswerSink&);
protocol::Disposition startAcceptDescriptors(ServiceParts&, IoState&, const protocol::Peer&,
                                             wire::Request::Reader, std::string&,
                                             protocol::AnswerSink&);
// One check of authorize or authorizeBatch, from the IO thread's snapshot, counted.
store::Decision decideAuthorize(IoState&, uint64_t principal, uint64_t company,
                                std::string_view permission);
void answerAuthorize(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerAuthorizeBatch(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerListPermissions(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerLookup(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerListCompanies(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerListCatalog(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerListRoles(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerGetPrincipal(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerGetGrant(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
// checks.cpp: the system-context mutations of the graph.
bool applyGraphMutation(ServiceParts&, store::Writer&, wire::Request::Reader,
                        wire::Response::Builder);

// credential_requests.cpp
protocol::Disposition startCheckCredential(ServiceParts&, IoState&, const protocol::Peer&,
                                           wire::Request::Reader, std::string&,
                                           protocol::AnswerSink&);
void answerCheckAccess(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerListKeys(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
protocol::Disposition startSetPassword(ServiceParts&, IoState&, const protocol::Peer&,
                                       wire::Request::Reader, std::string&, protocol::AnswerSink&);
bool applyCredentialMutation(ServiceParts&, store::Writer&, wire::Request::Reader,
                             wire::Response::Builder);

// actor_rules.cpp: mutations by an actor in its active company.
bool applyActorMutation(ServiceParts&, store::Writer&, wire::Request::Reader,
                        wire::Response::Builder);

// company_view.cpp: reads by an actor in its active company.
void answerSaView(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerSaCompanies(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);
void answerAuditList(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder);

}  // namespace gatehouse::service
