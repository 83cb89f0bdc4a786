#include "service/service.hpp"

#include <capnp/dynamic.h>
#include <capnp/serialize.h>
#include <fmt/format.h>
#include <sodium.h>

#include <array>
#include <atomic>
#include <cstring>
#include <ctime>

#include "common/log.hpp"
#include "service/wire_util.hpp"

namespace gatehouse::service {
namespace {

using store::DenyReason;
using wire::ErrorCode;

static_assert(static_cast<int>(wire::DenyReason::NOT_GRANTED) ==
              static_cast<int>(DenyReason::notGranted));
static_assert(static_cast<int>(wire::DenyReason::UNKNOWN_PERMISSION) ==
              static_cast<int>(DenyReason::unknownPermission));
static_assert(static_cast<int>(wire::DenyReason::NO_ACCESS) ==
              static_cast<int>(DenyReason::noAccess));
static_assert(static_cast<int>(wire::DenyReason::PRINCIPAL_DISABLED) ==
              static_cast<int>(DenyReason::principalDisabled));
static_assert(static_cast<int>(wire::DenyReason::UNKNOWN_COMPANY) ==
              static_cast<int>(DenyReason::unknownCompany));
static_assert(static_cast<int>(wire::DenyReason::UNKNOWN_PRINCIPAL) ==
              static_cast<int>(DenyReason::unknownPrincipal));

bool isCheckRequest(wire::Request::Which which) {
  switch (which) {
    case wire::Request::PING:
    case wire::Request::AUTHORIZE:
    case wire::Request::AUTHORIZE_BATCH:
    case wire::Request::LIST_PERMISSIONS:
    case wire::Request::LOOKUP:
    case wire::Request::LIST_COMPANIES:
    case wire::Request::LIST_CATALOG:
    case wire::Request::LIST_ROLES:
    case wire::Request::GET_PRINCIPAL:
    case wire::Request::GET_GRANT:
      return true;
    default:
      return false;
  }
}

bool isMutation(wire::Request::Which which) {
  switch (which) {
    case wire::Request::CREATE_COMPANY:
    case wire::Request::DEFINE_PERMISSIONS:
    case wire::Request::CREATE_ROLE:
    case wire::Request::UPDATE_ROLE:
    case wire::Request::DELETE_ROLE:
    case wire::Request::CREATE_USER:
    case wire::Request::CREATE_SERVICE_ACCOUNT:
    case wire::Request::SET_GRANT:
    case wire::Request::REMOVE_GRANT:
    case wire::Request::SET_PRINCIPAL_STATE:
    case wire::Request::DELETE_PRINCIPAL:
    case wire::Request::CREATE_KEY:
    case wire::Request::REVOKE_KEY:
    case wire::Request::RESET_KEYS:
    case wire::Request::ROTATE_KEY:
    case wire::Request::ENROLL_TOTP:
    case wire::Request::REMOVE_TOTP:
      return true;
    default:
      return false;
  }
}

}  // namespace

void appendFrame(capnp::MessageBuilder& message, std::string& out) {
  auto segments = message.getSegmentsForOutput();
  size_t tableWords = (segments.size() + 2) / 2;  // count + sizes, padded to a word
  size_t start = out.size();
  size_t total = tableWords * 8;
  for (auto s : segments) total += s.size() * 8;
  out.resize(start + total);
  char* p = out.data() + start;
  std::memset(p, 0, tableWords * 8);
  uint32_t count = static_cast<uint32_t>(segments.size() - 1);
  std::memcpy(p, &count, 4);
  for (size_t i = 0; i < segments.size(); ++i) {
    uint32_t size = static_cast<uint32_t>(segments[i].size());
    std::memcpy(p + 4 + 4 * i, &size, 4);
  }
  p += tableWords * 8;
  for (auto s : segments) {
    std::memcpy(p, s.begin(), s.size() * 8);
    p += s.size() * 8;
  }
}

void appendError(uint64_t id, ErrorCode code, std::string_view message, std::string& out) {
  capnp::MallocMessageBuilder builder(256);
  auto response = builder.initRoot<wire::Response>();
  response.setId(id);
  setError(response, code, message);
  appendFrame(builder, out);
}

Service::Reader::Reader(store::Store& store, const credentials::SecretBytes& keyTagKey,
                        size_t verifiedKeys)
    : snapshot_(store),
      scratch_(new capnp::word[kScratchWords]()),
      verifiedKeys_(keyTagKey, verifiedKeys) {}

store::Snapshot& Service::Reader::snapshot() {
  if (!open_) {
    snapshot_.begin();
    open_ = true;
  }
  return snapshot_;
}

void Service::Reader::release() {
  if (!open_) return;
  snapshot_.end();
  open_ = false;
}

Service::Service(store::Store& store, const credentials::Pepper& pepper,
                 const ServiceOptions& options)
    : store_(store),
      pepper_(pepper),
      options_(options),
      totpKey_(pepper.subkey(1, "gh-totp_")),
      keyTagKey_(crypto_shorthash_siphashx24_KEYBYTES),
      limiter_(options.credentials.rate),
      writer_([this] { writerLoop(); }),
      pool_(options.credentials.passwordThreads) {
  randombytes_buf(keyTagKey_.data(), keyTagKey_.size());
}

Service::~Service() { stop(); }

bool Service::handle(ThreadState& state, const Peer& peer, wire::Request::Reader request,
                     std::string& out, AnswerSink& sink) {
  Reader& reader = static_cast<Reader&>(state);
  auto which = request.which();
  if (isCheckRequest(which)) {
    answerCheck(reader, request, out);
    return true;
  }
  switch (which) {
    case wire::Request::CHECK_CREDENTIAL:
      return answerCredential(reader, request, out, sink);
    case wire::Request::CHECK_ACCESS:
      answerAccess(reader, request, out);
      return true;
    case wire::Request::LIST_KEYS:
      answerKeys(reader, request, out);
      return true;
    default:
      break;
  }
  bool actorRead = isActorRead(which);
  bool admin = isMutation(which) || isActorMutation(which) || actorRead ||
               which == wire::Request::SET_PASSWORD;
  if (!admin) {
    appendError(request.getId(), ErrorCode::UNKNOWN_REQUEST,
                fmt::format("unknown request type {} (is the client newer than the daemon?)",
                            static_cast<unsigned>(which)),
                out);
    return true;
  }
  if (peer.access != AccessClass::admin) {
    appendError(
        request.getId(), ErrorCode::ACCESS_DENIED,
        fmt::format("uid {} is in access class 'check'; provisioning needs 'admin'", peer.uid),
        out);
    return true;
  }
  if (actorRead) {
    answerActorRead(reader, request, out);
    return true;
  }
  size_t before = out.size();
  bool queued = which == wire::Request::SET_PASSWORD ? setPassword(peer, request, out, sink)
                                                     : queueMutation(peer, request, sink);
  if (!queued && out.size() == before) {
    appendError(request.getId(), ErrorCode::OVERLOADED, "the daemon is shutting down", out);
  }
  return !queued;
}

bool Service::queueMutation(const Peer& peer, wire::Request::Reader request, AnswerSink& sink) {
  auto copy = std::make_shared<capnp::MallocMessageBuilder>();
  copy->setRoot(request);
  Pending pending;
  pending.id = request.getId();
  pending.request = copy;
  pending.sink = sink.retain();
  pending.peer = peer;
  pending.apply = [this, copy](store::Writer& w, wire::Response::Builder response) {
    return applyMutation(w, copy->getRoot<wire::Request>().asReader(), response);
  };
  return queue(std::move(pending));
}

bool Service::queue(Pending&& pending) {
  std::lock_guard lock(mutex_);
  if (stopping_ && pending.sink) return false;  // internal bookkeeping is still taken
  queue_.push_back(std::move(pending));
  wake_.notify_one();
  return true;
}

// Applies one mutation; fills `response` with the result. Returns whether to keep the changes.
bool Service::applyMutation(store::Writer& w, wire::Request::Reader req,
                            wire::Response::Builder response) {
  store::Result<uint64_t> result = uint64_t{0};
  uint32_t count = 0;
  switch (req.which()) {
    case wire::Request::CREATE_COMPANY:
      result = w.createCompany(view(req.getCreateCompany().getName()));
      break;
    case wire::Request::DEFINE_PERMISSIONS: {
      auto r = w.definePermissions(views(req.getDefinePermissions()));
      if (auto refusal = store::refusalOf(r)) {
        result = *refusal;
      } else {
        count = std::get<uint32_t>(r);
      }
      break;
    }
    case wire::Request::CREATE_ROLE: {
      auto r = req.getCreateRole();
      result = w.createRole(r.getCompany(), view(r.getName()), views(r.getPermissions()));
      break;
    }
    case wire::Request::UPDATE_ROLE: {
      auto r = req.getUpdateRole();
      result = w.updateRole(r.getRole(), views(r.getPermissions()), view(r.getRename()));
      break;
    }
    case wire::Request::DELETE_ROLE:
      result = w.deleteRole(req.getDeleteRole());
      break;
    case wire::Request::CREATE_USER:
      result = w.createUser(view(req.getCreateUser().getName()));
      break;
    case wire::Request::CREATE_SERVICE_ACCOUNT: {
      auto r = req.getCreateServiceAccount();
      result =
          w.createServiceAccount(view(r.getName()), r.getOwnerCompany(), view(r.getDescription()));
      break;
    }
    case wire::Request::SET_GRANT: {
      auto r = req.getSetGrant();
      result = w.setGrant(r.getPrincipal(), r.getCompany(), views(r.getPermissions()),
                          ids(r.getRoles()));
      break;
    }
    case wire::Request::REMOVE_GRANT: {
      auto r = req.getRemoveGrant();
      result = w.removeGrant(r.getPrincipal(), r.getCompany());
      break;
    }
    case wire::Request::SET_PRINCIPAL_STATE: {
      auto r = req.getSetPrincipalState();
      auto state = r.getState() == wire::PrincipalState::DISABLED ? store::PrincipalState::disabled
                                                                  : store::PrincipalState::active;
      if (r.getState() != wire::PrincipalState::DISABLED &&
          r.getState() != wire::PrincipalState::ACTIVE) {
        result = store::Refusal{store::RefusalCode::invalidArgument, "state: unknown value"};
        break;
      }
      result = w.setPrincipalState(r.getPrincipal(), state);
      break;
    }
    case wire::Request::DELETE_PRINCIPAL:
      result = w.deletePrincipal(req.getDeletePrincipal());
      break;
    default:
      // Actor-scoped requests are checked there first (some then reuse the credential code).
      if (isActorMutation(req.which())) return applyActorMutation(w, req, response);
      return applyCredentialMutation(w, req, response);
  }
  if (setRefusal(response, store::refusalOf(result))) return false;
  auto m = response.initMutation();
  m.setRevision(w.revision());
  bool creates = req.which() == wire::Request::CREATE_COMPANY ||
                 req.which() == wire::Request::CREATE_ROLE ||
                 req.which() == wire::Request::CREATE_USER ||
                 req.which() == wire::Request::CREATE_SERVICE_ACCOUNT;
  if (creates) m.setId(std::get<uint64_t>(result));
  m.setCount(count);
  return true;
}

void Service::answerCheck(Reader& reader, wire::Request::Reader request, std::string& out) {
  capnp::MallocMessageBuilder builder(reader.scratch());
  auto response = builder.initRoot<wire::Response>();
  response.setId(request.getId());
  store::Snapshot& snap = reader.snapshot();
  store::GraphReader g = snap.reader();
  uint64_t revision = snap.revision();

  switch (request.which()) {
    case wire::Request::PING:
      response.setPong();
      break;
    case wire::Request::AUTHORIZE: {
      auto q = request.getAuthorize();
      store::Decision d = snap.authorize(q.getPrincipal(), q.getCompany(), view(q.getPermission()));
      auto a = response.initAuthorize();
      a.setAllowed(d.allowed);
      a.setReason(toWire(d.reason));
      a.setRevision(revision);
      break;
    }
    case wire::Request::AUTHORIZE_BATCH: {
      auto items = request.getAuthorizeBatch();
      if (items.size() > options_.maxBatch) {
        auto error = response.initError();
        error.setCode(ErrorCode::LIMIT_EXCEEDED);
        error.setMessage(fmt::format("authorizeBatch: {} items, the limit is {}", items.size(),
                                     options_.maxBatch));
        break;
      }
      auto batch = response.initAuthorizeBatch();
      batch.setRevision(revision);
      auto answers = batch.initItems(items.size());
      for (unsigned i = 0; i < items.size(); ++i) {
        auto q = items[i];
        store::Decision d =
            snap.authorize(q.getPrincipal(), q.getCompany(), view(q.getPermission()));
        answers[i].setAllowed(d.allowed);
        answers[i].setReason(toWire(d.reason));
      }
      break;
    }
    case wire::Request::LIST_PERMISSIONS: {
      auto q = request.getListPermissions();
      auto list = response.initPermissions();
      list.setRevision(revision);
      auto bits = g.effective(q.getPrincipal(), q.getCompany());
      if (!bits) {
        list.setFound(false);
        list.setReason(toWire(g.whyNoRow(q.getPrincipal(), q.getCompany())));
        break;
      }
      list.setFound(true);
      unsigned count = 0;
      store::forEachBit(*bits, [&](uint32_t) { ++count; });
      auto names = list.initNames(count);
      unsigned i = 0;
      store::forEachBit(*bits, [&](uint32_t bit) {
        std::string_view name = g.permissionName(bit).value_or(std::string_view());
        copyText(names.init(i++, static_cast<unsigned>(name.size())), name);
      });
      break;
    }
    case wire::Request::LOOKUP: {
      auto q = request.getLookup();
      std::string_view name = view(q.getName());
      std::optional<uint64_t> id;
      switch (q.getKind()) {
        case wire::EntityKind::COMPANY:
          id = g.companyByName(name);
          break;
        case wire::EntityKind::PRINCIPAL:
          id = g.principalByName(name);
          break;
        case wire::EntityKind::ROLE:
          id = g.roleByName(q.getCompany(), name);
          break;
        case wire::EntityKind::PERMISSION:
          id = g.permission(name);
          break;
      }
      auto r = response.initLookup();
      r.setRevision(revision);
      r.setFound(id.has_value());
      r.setId(id.value_or(0));
      break;
    }
    case wire::Request::LIST_COMPANIES: {
      std::vector<std::pair<uint64_t, std::string_view>> all;
      g.forEachCompany([&](uint64_t id, std::string_view name) { all.emplace_back(id, name); });
      auto r = response.initCompanies();
      r.setRevision(revision);
      auto list = r.initCompanies(all.size());
      for (unsigned i = 0; i < all.size(); ++i) {
        list[i].setId(all[i].first);
        copyText(list[i].initName(static_cast<unsigned>(all[i].second.size())), all[i].second);
      }
      break;
    }
    case wire::Request::LIST_CATALOG: {
      std::vector<std::string_view> names;
      g.forEachPermission([&](uint32_t, std::string_view name) { names.push_back(name); });
      auto r = response.initCatalog();
      r.setRevision(revision);
      setNames(r.initNames(names.size()), names);
      break;
    }
    case wire::Request::LIST_ROLES: {
      std::vector<store::RoleRecord> roles;
      g.forEachRole(request.getListRoles().getCompany(),
                    [&](const store::RoleRecord& r) { roles.push_back(r); });
      auto r = response.initRoles();
      r.setRevision(revision);
      auto list = r.initRoles(roles.size());
      for (unsigned i = 0; i < roles.size(); ++i) {
        list[i].setId(roles[i].id);
        list[i].setCompany(roles[i].company);
        list[i].setName(roles[i].name);
        auto names = namesOf(g, roles[i].permissions.stored());
        setNames(list[i].initPermissions(names.size()), names);
      }
      break;
    }
    case wire::Request::GET_PRINCIPAL: {
      auto r = response.initPrincipal();
      r.setRevision(revision);
      auto p = g.principal(request.getGetPrincipal());
      r.setFound(p.has_value());
      if (!p) break;
      r.setId(p->id);
      r.setKind(p->kind == store::PrincipalKind::user ? wire::PrincipalKind::USER
                                                      : wire::PrincipalKind::SERVICE_ACCOUNT);
      r.setName(p->name);
      r.setState(p->state == store::PrincipalState::active ? wire::PrincipalState::ACTIVE
                                                           : wire::PrincipalState::DISABLED);
      r.setOwnerCompany(p->ownerCompany);
      r.setDescription(p->description);
      auto companies = g.companiesOf(p->id);
      auto list = r.initCompanies(companies.size());
      for (unsigned i = 0; i < companies.size(); ++i) list.set(i, companies[i]);
      break;
    }
    case wire::Request::GET_GRANT: {
      auto q = request.getGetGrant();
      auto r = response.initGrant();
      r.setRevision(revision);
      auto grant = g.grant(q.getPrincipal(), q.getCompany());
      r.setFound(grant.has_value());
      if (!grant) break;
      auto names = namesOf(g, grant->direct.stored());
      setNames(r.initPermissions(names.size()), names);
      auto roles = r.initRoles(grant->roles.size());
      for (unsigned i = 0; i < grant->roles.size(); ++i) roles.set(i, grant->roles[i]);
      break;
    }
    default:
      break;
  }
  appendFrame(builder, out);
}

void Service::stop() {
  pool_.stop();  // password checks in progress finish (and may queue bookkeeping)
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
}

uint64_t Service::mutationsCommitted() const {
  std::lock_guard lock(const_cast<std::mutex&>(mutex_));
  return committed_;
}

void Service::flushKeyUsage(bool prune) {
  auto times = usage_.drain();
  auto access = accessUsage_.drain();
  if (times.empty() && access.empty() && !prune) return;
  auto retention = static_cast<uint64_t>(options_.auditRetention.count());
  uint64_t now = unixNow();
  uint64_t expired = prune && now > retention ? now - retention : 0;
  Pending pending;
  pending.apply = [times = std::move(times), access = std::move(access), expired](
                      store::Writer& w, wire::Response::Builder) {
    for (auto [keyId, at] : times) w.touchKey(keyId, at);
    for (auto [grant, at] : access) w.touchAccess(grant >> 32, grant & store::kMaxEntityId, at);
    size_t pruned = expired > 0 ? w.pruneAudit(expired, 10000) : 0;
    if (pruned > 0) logLine(Level::info, "audit_pruned", {{"events", std::to_string(pruned)}});
    return true;
  };
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(pending));
}

void Service::writerLoop() {
  std::deque<Pending> batch;
  auto nextFlush = std::chrono::steady_clock::now() + options_.credentials.lastUsedFlush;
  bool finalFlush = false;
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, nextFlush, [&] { return stopping_ || !queue_.empty(); });
      stopping = stopping_;
    }
    if (std::chrono::steady_clock::now() >= nextFlush) {
      flushKeyUsage(true);
      nextFlush = std::chrono::steady_clock::now() + options_.credentials.lastUsedFlush;
    } else if (stopping && !finalFlush) {
      flushKeyUsage(false);  // once, after every request has been taken
      finalFlush = true;
    }
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) {
        if (stopping_ && finalFlush) return;  // everything answered, usage flushed
        continue;
      }
      while (!queue_.empty() && batch.size() < options_.groupCommitMax) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    applyBatch(batch);
    batch.clear();
  }
}

static std::unique_ptr<capnp::MallocMessageBuilder> failedResponse(uint64_t id,
                                                                   std::string message) {
  auto builder = std::make_unique<capnp::MallocMessageBuilder>(512);
  auto error = builder->initRoot<wire::Response>();
  error.setId(id);
  error.initError().setCode(ErrorCode::FAILED);
  error.getError().setMessage(message);
  return builder;
}

// Zeroes a message's segments: requests and answers may carry secrets.
static void wipeMessage(capnp::MessageBuilder& message) {
  for (auto segment : message.getSegmentsForOutput()) {
    sodium_memzero(const_cast<capnp::word*>(segment.begin()), segment.size() * sizeof(capnp::word));
  }
}

// The outcome as the audit trail records it: "ok", or the error's code and message.
static std::string outcomeOf(capnp::MallocMessageBuilder& response) {
  auto r = response.getRoot<wire::Response>().asReader();
  if (r.which() != wire::Response::ERROR) return "ok";
  auto error = r.getError();
  capnp::EnumSchema::Enumerant code =
      capnp::toDynamic(error).get("code").as<capnp::DynamicEnum>().getEnumerant().orDefault(
          capnp::Schema::from<ErrorCode>().getEnumerants()[0]);
  return fmt::format("{}: {}", code.getProto().getName().cStr(), error.getMessage().cStr());
}

void Service::applyBatch(std::deque<Pending>& batch) {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> responses(batch.size());
  std::vector<std::vector<store::CompanyId>> scopes(batch.size());
  uint64_t kept = 0;
  auto audit = [&](size_t i, store::Writer& w, bool kept) {
    if (!batch[i].request) return;  // internal bookkeeping is not audited
    auto req = batch[i].request->getRoot<wire::Request>().asReader();
    // A refusal changed nothing elsewhere: only the acting company (and the system) hears of it.
    if (!kept) scopes[i] = {req.getActiveCompany()};
    store::AuditRecord record;
    record.time = unixNow();
    record.actor = req.getActor();
    record.activeCompany = req.getActiveCompany();
    record.peerUid = batch[i].peer.uid;
    record.peerPid = batch[i].peer.pid;
    record.operation = operationName(req);
    record.target = auditTarget(req);
    record.outcome = outcomeOf(*responses[i]);
    record.companies = std::move(scopes[i]);
    w.appendAudit(std::move(record));
  };
  try {
    store_.commitBatch(
        batch.size(),
        [&](size_t i, store::Writer& w) {
          if (i == 0) kept = 0;  // the batch may be applied again after the map grew
          if (responses[i]) wipeMessage(*responses[i]);
          responses[i] = std::make_unique<capnp::MallocMessageBuilder>(512);
          auto response = responses[i]->initRoot<wire::Response>();
          response.setId(batch[i].id);
          if (batch[i].request) {
            scopes[i] = auditCompanies(w, batch[i].request->getRoot<wire::Request>().asReader());
          }
          try {
            bool keep = batch[i].apply(w, response);
            kept += keep && batch[i].sink ? 1 : 0;
            return keep;
          } catch (const store::MdbError& e) {
            if (e.code() == MDB_MAP_FULL) throw;
            logLine(Level::error, "mutation_failed", {{"error", e.what()}});
            responses[i] = failedResponse(batch[i].id, fmt::format("store failure: {}", e.what()));
            return false;
          } catch (const std::exception& e) {
            logLine(Level::error, "mutation_failed", {{"error", e.what()}});
            responses[i] =
                failedResponse(batch[i].id, fmt::format("internal failure: {}", e.what()));
            return false;
          }
        },
        audit);
    std::lock_guard lock(mutex_);
    committed_ += kept;
  } catch (const std::exception& e) {
    logLine(Level::error, "commit_failed",
            {{"error", e.what()}, {"batch", std::to_string(batch.size())}});
    for (size_t i = 0; i < batch.size(); ++i) {
      if (responses[i]) wipeMessage(*responses[i]);
      responses[i] = failedResponse(
          batch[i].id, fmt::format("commit failed, nothing was written: {}", e.what()));
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].sink) {
      std::string frame;
      appendFrame(*responses[i], frame);
      batch[i].sink->answer(std::move(frame));
    }
    wipeMessage(*responses[i]);
    if (batch[i].request) wipeMessage(*batch[i].request);
  }
}

// ------------------------------------------------------------------------------------------------
// KeyUsage

namespace {
std::atomic<uint64_t> keyUsageInstances{0};
}

KeyUsage::KeyUsage() : instance_(++keyUsageInstances) {}

void KeyUsage::touch(uint64_t keyId, uint64_t at) {
  // What this thread last handed over for a key: a later use in the same second changes nothing
  // (the shared time, or the store's after a flush, is already at least `at`).
  struct Delivered {
    uint64_t instance = 0;
    uint64_t keyId = 0;
    uint64_t at = 0;
  };
  static thread_local std::array<Delivered, 4096> filter{};  // 96 KiB per IO thread
  Delivered& d = filter[(keyId * 0x9E3779B97F4A7C15ull) >> 52];
  if (d.instance == instance_ && d.keyId == keyId && d.at >= at) return;
  {
    std::lock_guard lock(mutex_);
    uint64_t& t = times_[keyId];
    if (t < at) t = at;
  }
  d = {instance_, keyId, at};
}

std::vector<std::pair<uint64_t, uint64_t>> KeyUsage::drain() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<uint64_t, uint64_t>> out(times_.begin(), times_.end());
  times_.clear();
  return out;
}

uint64_t KeyUsage::pending(uint64_t keyId) {
  std::lock_guard lock(mutex_);
  auto it = times_.find(keyId);
  return it == times_.end() ? 0 : it->second;
}

}  // namespace gatehouse::service
