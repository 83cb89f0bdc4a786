#include "service/committer.hpp"

#include <capnp/dynamic.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <thread>

#include "common/log.hpp"
#include "protocol/errors.hpp"
#include "protocol/framing.hpp"
#include "service/requests.hpp"
#include "service/wire_convert.hpp"

namespace gatehouse::service {
namespace {

using wire::ErrorCode;

std::unique_ptr<capnp::MallocMessageBuilder> failedResponse(uint64_t id, std::string_view message) {
  auto builder = std::make_unique<capnp::MallocMessageBuilder>(512);
  auto response = builder->initRoot<wire::Response>();
  response.setId(id);
  protocol::setError(response, ErrorCode::FAILED, message);
  return builder;
}

// Zeroes a message's segments: requests and answers may carry secrets.
void wipeMessage(capnp::MessageBuilder& message) {
  for (auto segment : message.getSegmentsForOutput()) {
    sodium_memzero(const_cast<capnp::word*>(segment.begin()), segment.size() * sizeof(capnp::word));
  }
}

// The outcome as the audit trail records it: "ok", or the error's code and message.
std::string outcomeOf(capnp::MallocMessageBuilder& response) {
  auto r = response.getRoot<wire::Response>().asReader();
  if (r.which() != wire::Response::ERROR) return "ok";
  auto error = r.getError();
  capnp::EnumSchema::Enumerant code =
      capnp::toDynamic(error).get("code").as<capnp::DynamicEnum>().getEnumerant().orDefault(
          capnp::Schema::from<ErrorCode>().getEnumerants()[0]);
  return fmt::format("{}: {}", code.getProto().getName().cStr(), error.getMessage().cStr());
}

}  // namespace

Committer::Committer(store::Store& store, const ServiceOptions& options, Housekeeping housekeeping,
                     replication::Replicator* replicator)
    : store_(store),
      options_(options),
      housekeeping_(std::move(housekeeping)),
      replicator_(replicator) {}

Committer::~Committer() { stop(); }

void Committer::start() {
  {
    std::lock_guard lock(mutex_);
    if (thread_.joinable() || stopping_) return;
  }
  // Unlocked: NATS may call wakeWriter() before start() returns.
  if (replicator_ != nullptr) replicator_->start([this] { wakeWriter(); });
  std::lock_guard lock(mutex_);
  thread_ = std::thread([this] { loop(); });
}

void Committer::wakeWriter() {
  std::lock_guard lock(mutex_);
  woken_ = true;
  wake_.notify_one();
}

bool Committer::queue(Pending&& pending) {
  std::lock_guard lock(mutex_);
  if (stopping_ && pending.sink) return false;  // internal bookkeeping is still taken
  pending.queued = std::chrono::steady_clock::now();
  queue_.push_back(std::move(pending));
  wake_.notify_one();
  return true;
}

std::chrono::steady_clock::duration Committer::backlogAge() const {
  std::lock_guard lock(mutex_);
  return backlogAgeLocked();
}

std::chrono::steady_clock::duration Committer::backlogAgeLocked() const {
  auto oldest = applyingSince_;
  if (!oldest && !queue_.empty()) oldest = queue_.front().queued;
  return oldest ? std::chrono::steady_clock::now() - *oldest
                : std::chrono::steady_clock::duration::zero();
}

Committer::WriterStats Committer::stats() const {
  std::lock_guard lock(mutex_);
  WriterStats s = stats_;
  s.queued = queue_.size();
  s.backlogAge = backlogAgeLocked();
  return s;
}

bool Committer::between(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  between_.push_back(std::move(job));
  wake_.notify_one();
  return true;
}

void Committer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  // NATS's threads call back into this committer (wakeWriter): closed while it still exists.
  if (replicator_ != nullptr) replicator_->stop();
}

uint64_t Committer::mutationsCommitted() const {
  std::lock_guard lock(mutex_);
  return stats_.committed;
}

void Committer::flush(bool prune) {
  Apply usage = housekeeping_ ? housekeeping_() : Apply();
  if (!usage && !prune) return;
  auto retention = static_cast<uint64_t>(options_.auditRetention.count());
  uint64_t now = unixNow();
  uint64_t expired = prune && now > retention ? now - retention : 0;
  Pending pending;
  pending.apply = [usage = std::move(usage), expired](store::Writer& w,
                                                      wire::Response::Builder response) {
    if (usage) usage(w, response);
    size_t pruned = expired > 0 ? w.pruneAudit(expired, 10000) : 0;
    if (pruned > 0) logLine(Level::info, "audit_pruned", {{"events", std::to_string(pruned)}});
    return true;
  };
  pending.queued = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(pending));
}

std::chrono::steady_clock::time_point Committer::expiryWake() const {
  using namespace std::chrono;
  auto now = steady_clock::now();
  if (!nextExpiry_) return steady_clock::time_point::max();
  // Far expiries are looked at again within the hour (and the wall clock may move meanwhile).
  uint64_t wallNow = unixNow();
  auto wake = now + hours(1);
  if (*nextExpiry_ <= wallNow + 3600) {
    auto at = system_clock::time_point(seconds(*nextExpiry_));
    wake = now + duration_cast<steady_clock::duration>(at - system_clock::now());
  }
  return std::max(wake, nextSweep_);
}

void Committer::expireDue() {
  nextSweep_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  Pending pending;
  pending.apply = [this](store::Writer& w, wire::Response::Builder) {
    uint64_t now = unixNow();
    auto expired = w.expireGrants(now, kExpireMax);
    if (expired.size() == kExpireMax) nextSweep_ = {};  // more are due: at once
    for (auto [p, c] : expired) {
      store::AuditRecord record;
      record.time = now;
      record.peerUid = static_cast<uint32_t>(::getuid());
      record.peerPid = static_cast<int32_t>(::getpid());
      record.activeCompany = c;
      record.operation = "grantExpired";
      record.target = fmt::format("principal {} in company {}", p, c);
      record.outcome = "ok";
      record.companies = {c};
      auto principal = w.principal(p);
      if (principal && principal->kind == store::PrincipalKind::serviceAccount) {
        record.companies.push_back(principal->ownerCompany);
      }
      w.appendAudit(std::move(record));
    }
    if (!expired.empty()) {
      logLine(Level::info, "grants_expired", {{"grants", std::to_string(expired.size())}});
    }
    return true;
  };
  pending.queued = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(pending));
}

// The writer's CPU time matters less than the readers': a commit that waits for a busy core
// gathers a larger group, while a check that waits stalls its caller. So the writer thread runs as
// SCHED_BATCH (waking, it does not preempt a running thread) at nice 10 (a tenth of a core it
// contends for with a busy IO thread — never none, so writes go on; nice 19 starved a load of
// 5,000 mutations/s into seconds of backlog). Measured in docs/performance.md ("Writes beside
// reads"). On a core nobody else wants, it changes nothing.
void Committer::yieldToReaders() {
  sched_param param{};
  int rc = ::pthread_setschedparam(::pthread_self(), SCHED_BATCH, &param);
  if (rc == 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) != 0) rc = errno;
  if (rc != 0) {
    logLine(Level::warning, "writer_priority_unchanged",
            {{"error", std::error_code(rc, std::generic_category()).message()}});
  }
}

void Committer::loop() {
  ::pthread_setname_np(::pthread_self(), "gh-writer");  // for top -H, ps -L and the tests
  if (options_.writerYields) yieldToReaders();
  std::deque<Pending> batch;
  std::deque<std::function<void()>> jobs;
  auto nextFlush = std::chrono::steady_clock::now() + options_.credentials.lastUsedFlush;
  bool finalFlush = false;
  nextExpiry_ = store_.nextGrantExpiry();
  std::optional<std::chrono::steady_clock::time_point> replicationWake, hookWake;
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      auto until = std::min(nextFlush, expiryWake());
      if (replicationWake) until = std::min(until, *replicationWake);
      if (hookWake) until = std::min(until, *hookWake);
      wake_.wait_until(lock, until, [&] {
        return stopping_ || woken_ || !queue_.empty() || !between_.empty() ||
               (replicator_ != nullptr && replicator_->pending());
      });
      woken_ = false;
      stopping = stopping_;
      jobs.swap(between_);
    }
    // The log's entries first: a group is validated on the newest state this replica has.
    if (replicator_ != nullptr) replicationWake = replicator_->poll();
    if (afterWork_) hookWake = afterWork_();
    for (auto& job : jobs) job();
    jobs.clear();
    if (nextExpiry_ && *nextExpiry_ <= unixNow() &&
        std::chrono::steady_clock::now() >= nextSweep_) {
      expireDue();
    }
    if (std::chrono::steady_clock::now() >= nextFlush) {
      flush(true);
      nextFlush = std::chrono::steady_clock::now() + options_.credentials.lastUsedFlush;
    } else if (stopping && !finalFlush) {
      flush(false);  // once, after every request has been taken
      finalFlush = true;
    }
    {
      std::unique_lock lock(mutex_);
      if (queue_.empty()) {
        // Everything answered, usage flushed, every job between commits run.
        if (stopping_ && finalFlush && between_.empty()) return;
        continue;
      }
      if (options_.commitDelay.count() > 0) {
        // writer.commit_delay_ms: the oldest request waits for others to share its commit, so
        // that a stream of mutations costs the IO threads' core fewer writes and syncs — unless
        // the group is full or the writer is stopping.
        wake_.wait_until(lock, queue_.front().queued + options_.commitDelay,
                         [&] { return stopping_ || queue_.size() >= options_.groupCommitMax; });
      }
      applyingSince_ = queue_.front().queued;
      while (!queue_.empty() && batch.size() < options_.groupCommitMax) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    applyBatch(batch);
    batch.clear();
    if (afterWork_) hookWake = afterWork_();
    nextExpiry_ = store_.nextGrantExpiry();
    std::lock_guard lock(mutex_);
    applyingSince_.reset();
  }
}

void Committer::applyBatch(std::deque<Pending>& batch) {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> responses(batch.size());
  std::vector<std::vector<store::CompanyId>> scopes(batch.size());
  std::vector<char> kept(batch.size(), 0);  // a kept change of a request (bookkeeping not counted)
  auto requestOf = [&](size_t i) { return batch[i].request->getRoot<wire::Request>().asReader(); };
  auto audit = [&](size_t i, store::Writer& w, bool keptChange) {
    if (!batch[i].request || batch[i].row == nullptr) return;  // bookkeeping is not audited
    auto req = requestOf(i);
    if (req.getDryRun()) return;  // a dry run changes nothing: a preview, not an event
    // A refusal changed nothing elsewhere: only the acting company (and the system) hears of it.
    if (!keptChange) scopes[i] = {req.getActiveCompany()};
    store::AuditRecord record;
    record.time = unixNow();
    record.actor = req.getActor();
    record.activeCompany = req.getActiveCompany();
    record.peerUid = batch[i].peer.uid;
    record.peerPid = batch[i].peer.pid;
    record.operation = operationName(req);
    record.outcome = outcomeOf(*responses[i]);
    try {  // requests are checked before they are queued; this keeps one from failing the batch
      record.target = batch[i].row->target(req);
    } catch (const kj::Exception&) {
      record.target = "(unreadable)";
    }
    record.companies = std::move(scopes[i]);
    w.appendAudit(std::move(record));
  };
  auto apply = [&](size_t i, store::Writer& w) {
    if (responses[i]) wipeMessage(*responses[i]);
    responses[i] = std::make_unique<capnp::MallocMessageBuilder>(512);
    auto response = responses[i]->initRoot<wire::Response>();
    response.setId(batch[i].id);
    try {
      if (batch[i].request && batch[i].row != nullptr) {
        auto req = requestOf(i);
        scopes[i] = {req.getActiveCompany()};
        if (batch[i].row->scope != nullptr) batch[i].row->scope(w, req, scopes[i]);
      }
      bool keep = batch[i].apply(w, response);
      kept[i] = keep && batch[i].sink ? 1 : 0;
      return keep;
    } catch (const store::MdbError& e) {
      if (e.code() == MDB_MAP_FULL) throw;
      logLine(Level::error, "mutation_failed", {{"error", e.what()}});
      responses[i] = failedResponse(batch[i].id, fmt::format("store failure: {}", e.what()));
      return false;
    } catch (const std::exception& e) {
      logLine(Level::error, "mutation_failed", {{"error", e.what()}});
      responses[i] = failedResponse(batch[i].id, fmt::format("internal failure: {}", e.what()));
      return false;
    } catch (const kj::Exception& e) {  // requests are checked before they are queued
      logLine(Level::error, "mutation_failed", {{"error", e.getDescription().cStr()}});
      responses[i] = failedResponse(batch[i].id, "internal failure: unreadable request");
      return false;
    }
  };
  // Reached when the request's nested transaction could not be begun or committed, or its audit
  // could not be written: the request left no trace; the rest of the batch goes on.
  auto failed = [&](size_t i, const std::exception& e) {
    kept[i] = 0;
    logLine(Level::error, "mutation_failed", {{"error", e.what()}});
    if (responses[i]) wipeMessage(*responses[i]);
    responses[i] = failedResponse(batch[i].id, fmt::format("store failure: {}", e.what()));
  };
  auto failAll = [&](ErrorCode code, const std::string& message) {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (responses[i]) wipeMessage(*responses[i]);
      auto builder = std::make_unique<capnp::MallocMessageBuilder>(512);
      auto response = builder->initRoot<wire::Response>();
      response.setId(batch[i].id);
      protocol::setError(response, code, message);
      responses[i] = std::move(builder);
    }
  };
  if (replicator_ != nullptr) {
    if (commitThroughLog(batch.size(), apply, audit, failed, failAll)) {
      countCommitted(batch.size(), kept);
    }
  } else {
    try {
      store_.commitBatch(batch.size(), apply, audit, failed);
      countCommitted(batch.size(), kept);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mutex_);
        ++stats_.failedGroups;
      }
      logLine(Level::error, "commit_failed",
              {{"error", e.what()}, {"batch", std::to_string(batch.size())}});
      failAll(ErrorCode::FAILED, fmt::format("commit failed, nothing was written: {}", e.what()));
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].sink) {
      std::string frame;
      protocol::appendFrame(*responses[i], frame);
      batch[i].sink->answer(std::move(frame));
    }
    wipeMessage(*responses[i]);
    if (batch[i].request) wipeMessage(*batch[i].request);
  }
}

void Committer::countCommitted(size_t items, const std::vector<char>& kept) {
  std::lock_guard lock(mutex_);
  stats_.committed += static_cast<uint64_t>(std::count(kept.begin(), kept.end(), 1));
  ++stats_.groups;
  stats_.groupItems += items;
  size_t bucket = 0;
  while (bucket + 1 < kGroupSizeBuckets && items > (size_t{1} << bucket)) ++bucket;
  ++stats_.groupSizes[bucket];
  stats_.lastCommit = std::chrono::steady_clock::now();
}

bool Committer::commitThroughLog(
    size_t count, const store::Store::ApplyItem& apply, const store::Store::AfterApply& audit,
    const store::Store::ItemFailed& failed,
    const std::function<void(ErrorCode, const std::string&)>& failAll) {
  using Fate = replication::Replicator::Fate;
  const auto outcomeWait = replicator_->options().outcomeWait;
  auto deadline = std::chrono::steady_clock::now() + outcomeWait;
  for (;;) {
    replicator_->poll();
    if (std::string why; !replicator_->writable(&why)) {
      // Joining the log again (after a reconnect, through a leader election) takes a moment:
      // wait for it within the deadline. Cut off from NATS, or stopped: refuse at once.
      if (!replicator_->joining() || std::chrono::steady_clock::now() >= deadline) {
        failAll(ErrorCode::UNAVAILABLE, why);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    uint64_t head = store_.appliedSequence();
    replication::Replicator::Outcome published;
    bool stored = false;
    try {
      auto outcome =
          store_.commitReplicated(head + 1, count, apply, audit, failed, [&](std::string_view b) {
            published = replicator_->publish(head, b);
            stored = published.fate == Fate::stored;
            return stored;
          });
      if (outcome != store::Store::Outcome::refused) return true;
    } catch (const std::exception& e) {
      if (stored) {
        // The log holds the group: it is committed. This replica applies it from the log once it
        // can write again.
        logLine(Level::error, "replicated_commit_failed",
                {{"sequence", std::to_string(head + 1)},
                 {"error", e.what()},
                 {"effect", "the log holds the batch; this replica applies it from there"}});
        return true;
      }
      {
        std::lock_guard lock(mutex_);
        ++stats_.failedGroups;
      }
      logLine(Level::error, "commit_failed",
              {{"error", e.what()}, {"batch", std::to_string(count)}});
      failAll(ErrorCode::FAILED, fmt::format("commit failed, nothing was written: {}", e.what()));
      return false;
    }
    switch (published.fate) {
      case Fate::conflict:
        // Another replica wrote first: apply what it wrote, then validate the group again.
        if (replicator_->catchUp(std::max(published.head, head + 1), deadline)) continue;
        failAll(ErrorCode::UNAVAILABLE,
                fmt::format("this replica could not catch up with the log within {} ms; nothing "
                            "was written",
                            outcomeWait.count()));
        return false;
      case Fate::unknown:
        failAll(ErrorCode::OUTCOME_UNKNOWN, published.why);
        return false;
      default:
        // Not taken. A connection lost a moment ago may come back within the deadline.
        if (replicator_->joining() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        failAll(ErrorCode::UNAVAILABLE, fmt::format("{}; nothing was written", published.why));
        return false;
    }
  }
}

}  // namespace gatehouse::service
