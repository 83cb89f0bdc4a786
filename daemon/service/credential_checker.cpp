#include "service/credential_checker.hpp"

#include <capnp/message.h>
#include <fmt/format.h>
#include <sodium.h>

#include <ctime>

#include "common/log.hpp"
#include "credentials/api_key.hpp"
#include "credentials/password.hpp"
#include "credentials/totp.hpp"
#include "protocol/errors.hpp"
#include "protocol/framing.hpp"
#include "service/wire_convert.hpp"

namespace gatehouse::service {
namespace {

using protocol::Disposition;
using wire::CredentialRefusal;
using Clock = credentials::RateLimiter::Clock;

std::string principalSubject(store::PrincipalId p) { return fmt::format("p:{}", p); }
std::string sourceSubject(std::string_view source) {
  return source.empty() ? std::string() : fmt::format("s:{}", source);
}

std::string frameOf(capnp::MessageBuilder& message) {
  std::string frame;
  protocol::appendFrame(message, frame);
  return frame;
}

// A secret copied for a pool job: wiped when the job is done, however it ends.
struct WipedString {
  std::string text;
  explicit WipedString(std::string_view s) : text(s) {}
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString() { credentials::wipe(text); }
};

// Answers a pool job's request once: the first answer wins, later ones are dropped.
class OnceSink {
 public:
  OnceSink(uint64_t id, std::shared_ptr<protocol::AnswerSink> sink)
      : id_(id), sink_(std::move(sink)) {}
  void answer(std::string frame) {
    if (std::exchange(answered_, true)) return;
    sink_->answer(std::move(frame));
  }
  void fail(std::string_view reason) {
    answer(protocol::errorFrame(id_, wire::ErrorCode::FAILED,
                                fmt::format("internal failure: {}", reason)));
  }
  // Hands the answer to someone else (the writer); this sink answers nothing any more.
  std::shared_ptr<protocol::AnswerSink> handOver() {
    answered_ = true;
    return sink_;
  }

 private:
  uint64_t id_;
  std::shared_ptr<protocol::AnswerSink> sink_;
  bool answered_ = false;
};

}  // namespace

CredentialChecker::CredentialChecker(const credentials::Pepper& pepper,
                                     const CredentialOptions& options, Committer& committer)
    : pepper_(pepper),
      options_(options),
      committer_(committer),
      totpKey_(pepper.subkey(1, "gh-totp_")),
      keyTagKey_(crypto_shorthash_siphashx24_KEYBYTES),
      limiter_(options.rate),
      admission_(options.passwordQueue),
      pool_(options.passwordThreads) {
  randombytes_buf(keyTagKey_.data(), keyTagKey_.size());
}

CredentialChecker::KeyCheck CredentialChecker::checkKey(store::Snapshot& snapshot,
                                                        VerifiedKeys* verified,
                                                        KeyUsage::Filter& filter,
                                                        std::string_view text,
                                                        std::string_view source) {
  KeyCheck out;
  // Subject strings are built (and the steady clock read) only when a limit is in force or a
  // failure is recorded: a valid key while nobody is limited takes no lock and formats nothing.
  bool limits = limiter_.anyLimited();
  auto limited = [&](const std::string& subject) {
    out.retryAfter = limiter_.retryAfter({subject}, Clock::now());
    if (out.retryAfter > 0) out.refusal = CredentialRefusal::RATE_LIMITED;
    return out.retryAfter > 0;
  };
  // Names the key and its account; false when a deadline has passed (revocation at the end of a
  // rotation's grace, expiry).
  auto withinDeadlines = [&](uint64_t keyId, const store::KeyRecord& record, uint64_t at) {
    out.keyId = keyId;
    out.principal = record.principal;
    out.at = at;
    out.refusal = record.revoked(at)   ? CredentialRefusal::KEY_REVOKED
                  : record.expired(at) ? CredentialRefusal::KEY_EXPIRED
                                       : CredentialRefusal::NONE;
    return out.refusal == CredentialRefusal::NONE;
  };
  if (limits && limited(sourceSubject(source))) return out;

  std::optional<VerifiedKeys::Tag> tag;
  if (verified != nullptr && verified->enabled() && text.size() == credentials::kKeyTextSize) {
    tag = verified->tag(text);
    if (auto* hit = verified->find(*tag)) {
      store::KeyRecord record;
      record.principal = hit->principal;
      record.expiresAt = hit->expiresAt;
      record.revokedAt = hit->revokedAt;
      uint64_t nowUnix = unixNow();
      // Once a second per entry: times are coarse, and the entry's line is already at hand where
      // KeyUsage's own filter would cost another (measured: 0.2 µs at the ping-pong p50).
      if (withinDeadlines(hit->keyId, record, nowUnix) && hit->touchedAt != uint32_t(nowUnix)) {
        keyUsage_.touch(filter, hit->keyId, nowUnix);
        hit->touchedAt = static_cast<uint32_t>(nowUnix);
      }
      return out;
    }
  }

  credentials::ParsedKey key;
  if (!credentials::parseApiKey(text, key)) {  // a typo: refused without touching the store
    limiter_.recordFailure({sourceSubject(source)}, Clock::now());
    return out;
  }
  auto record = snapshot.reader().key(key.id);
  if (!record) {
    limiter_.recordFailure({sourceSubject(source)}, Clock::now());
    return out;
  }
  credentials::Digest digest = pepper_.keyedHash(key.secret.data(), key.secret.size());
  bool match = crypto_verify_32(digest.data(), record->hash.data()) == 0;
  sodium_memzero(digest.data(), digest.size());
  if (!match) {
    // 256 random bits cannot be guessed: a wrong secret limits the source that sent it, never
    // the account, whose valid keys would otherwise be refused at an attacker's wish.
    limiter_.recordFailure({sourceSubject(source)}, Clock::now());
    return out;
  }
  uint64_t nowUnix = unixNow();
  if (!withinDeadlines(key.id, *record, nowUnix)) return out;
  if (snapshot.reader().principalState(record->principal) != store::PrincipalState::active) {
    out.refusal = CredentialRefusal::DISABLED;
    return out;
  }
  keyUsage_.touch(filter, key.id, nowUnix);
  if (tag) {
    verified->remember({*tag, 0, key.id, record->principal, record->expiresAt, record->revokedAt,
                        static_cast<uint32_t>(nowUnix)});
  }
  return out;
}

const std::string& CredentialChecker::dummyHash() {
  std::call_once(dummyOnce_, [&] {
    dummyHash_ = credentials::hashPassword("not a password", options_.password);
  });
  return dummyHash_;
}

Disposition CredentialChecker::checkPassword(IoState& io, wire::Request::Reader request,
                                             std::string& out, protocol::AnswerSink& sink) {
  auto q = request.getCheckCredential();
  // Everything the pool needs, copied out of the snapshot and the request.
  struct Job {
    uint64_t id = 0;
    uint64_t revision = 0;
    std::optional<store::PrincipalRecord> user;
    std::string hash;
    std::optional<store::TotpRecord> totp;
    std::string password;
    std::string code;
    std::string sourceKey;
    std::string principalKey;
    OnceSink answer{0, nullptr};
    PoolAdmission::Ticket ticket;  // its place in the pool, given back when the job is done
    ~Job() {
      credentials::wipe(password);
      credentials::wipe(code);
    }
  };
  store::Snapshot& snap = io.snapshot();
  auto g = snap.reader();
  auto job = std::make_shared<Job>();
  job->id = request.getId();
  job->revision = snap.revision();
  job->sourceKey = sourceSubject(view(q.getSource()));
  bool serviceAccountOnUi = false;
  if (auto id = g.principalByName(view(q.getUser()))) {
    auto p = g.principal(*id);
    // A service account has no password and never signs in to the UI: its name there is answered
    // with its own reason, without hashing (the name is no secret: `lookup` tells its kind).
    serviceAccountOnUi =
        p && p->kind == store::PrincipalKind::serviceAccount && q.getChannel() == wire::Channel::UI;
    if (p && p->kind == store::PrincipalKind::user) {
      job->user = std::move(p);
      job->hash = std::string(g.passwordHash(*id).value_or(std::string_view()));
      job->totp = g.totp(*id);
      job->principalKey = principalSubject(*id);
    }
  }
  auto refuseInline = [&](CredentialRefusal refusal, uint32_t wait) {
    capnp::MallocMessageBuilder builder(io.scratch());
    auto response = builder.initRoot<wire::Response>();
    response.setId(job->id);
    auto r = response.initCredential();
    r.setRefusal(refusal);
    io.counters().credential(refusal);
    r.setRetryAfterSeconds(wait);
    r.setRevision(job->revision);
    protocol::appendFrame(builder, out);
    return Disposition::answered;
  };
  if (uint32_t wait = limiter_.retryAfter({job->sourceKey, job->principalKey}, Clock::now())) {
    return refuseInline(CredentialRefusal::RATE_LIMITED, wait);
  }
  if (serviceAccountOnUi) return refuseInline(CredentialRefusal::SERVICE_ACCOUNT_NO_UI, 0);
  std::string why;
  auto ticket = admission_.admit(&sink, job->principalKey, why);
  if (!ticket) {
    protocol::appendError(job->id, wire::ErrorCode::OVERLOADED, why, out);
    return Disposition::answered;
  }
  job->ticket = std::move(*ticket);
  job->password = std::string(view(q.getCredential()));
  job->code = std::string(view(q.getTotp()));
  job->answer = OnceSink(job->id, sink.retain());

  auto work = [this, job] {
    const credentials::PasswordLimits& limits = options_.password;
    bool known = job->user.has_value() && !job->hash.empty();
    bool ok = known ? credentials::verifyPassword(job->hash, job->password)
                    : (credentials::verifyPassword(dummyHash(), job->password), false);
    auto now = Clock::now();
    CredentialRefusal refusal = CredentialRefusal::NONE;
    if (!ok) {
      limiter_.recordFailure({job->sourceKey, job->principalKey}, now);
      refusal = CredentialRefusal::BAD_CREDENTIAL;
    } else if (job->user->state != store::PrincipalState::active) {
      refusal = CredentialRefusal::DISABLED;
    } else if (job->totp) {
      refusal = CredentialRefusal::TOTP_REQUIRED;
      if (!job->code.empty()) {
        auto secret = credentials::openTotpSecret(totpKey_, job->totp->sealedSecret);
        if (!secret) {
          logLine(Level::error, "totp_secret_unreadable",
                  {{"user", std::to_string(job->user->id)}});
        }
        std::optional<uint64_t> step;
        if (secret) step = credentials::verifyTotp(*secret, job->code, std::time(nullptr));
        if (!step) {
          limiter_.recordFailure({job->sourceKey, job->principalKey}, now);
          refusal = CredentialRefusal::TOTP_INVALID;
        } else if (committer_.replicated()) {
          // A code accepted on one replica must be refused as replayed on every other: the
          // acceptance is a change decided by the writer at the log's head, answered from there.
          acceptTotpThroughLog(job->id, job->user->id, *step, job->principalKey,
                               job->answer.handOver());
          return;
        } else if (!claimTotpStep(job->user->id, job->totp->lastStep, *step)) {
          refusal = CredentialRefusal::TOTP_REPLAYED;
        } else {
          refusal = CredentialRefusal::NONE;
          store::PrincipalId user = job->user->id;
          uint64_t accepted = *step;
          Committer::Pending record;
          record.apply = [user, accepted](store::Writer& w, wire::Response::Builder) {
            w.recordTotpStep(user, accepted);
            return true;
          };
          committer_.queue(std::move(record));
        }
      }
    }
    if (refusal == CredentialRefusal::NONE) {
      limiter_.clear(job->principalKey);
      if (credentials::needsRehash(job->hash, limits)) {
        std::string rehashed = credentials::hashPassword(job->password, limits);
        store::PrincipalId user = job->user->id;
        Committer::Pending rehash;
        rehash.apply = [user, rehashed](store::Writer& w, wire::Response::Builder) {
          return store::refusalOf(w.setPasswordHash(user, rehashed)) == nullptr;
        };
        committer_.queue(std::move(rehash));
      }
    }
    capnp::MallocMessageBuilder builder(256);
    auto response = builder.initRoot<wire::Response>();
    response.setId(job->id);
    auto r = response.initCredential();
    r.setAccepted(refusal == CredentialRefusal::NONE);
    r.setRefusal(refusal);
    passwordOutcomes_[slotOf<kRefusalSlots>(refusal)].add();
    r.setRevision(job->revision);
    if (refusal == CredentialRefusal::NONE) {
      r.setPrincipal(job->user->id);
      r.setKind(wire::PrincipalKind::USER);
    }
    job->answer.answer(frameOf(builder));
  };
  if (!pool_.submit(std::move(work), [job](std::string_view why) { job->answer.fail(why); })) {
    protocol::appendError(job->id, wire::ErrorCode::OVERLOADED, "the daemon is shutting down", out);
    return Disposition::answered;
  }
  return Disposition::queued;
}

void CredentialChecker::acceptTotpThroughLog(uint64_t id, store::PrincipalId user, uint64_t step,
                                             std::string principalKey,
                                             const std::shared_ptr<protocol::AnswerSink>& sink) {
  Committer::Pending accept;
  accept.id = id;
  accept.sink = sink;
  accept.apply = [this, user, step, principalKey = std::move(principalKey)](
                     store::Writer& w, wire::Response::Builder response) {
    auto totp = w.totp(user);
    bool fresh = totp && step > totp->lastStep;
    if (fresh) w.recordTotpStep(user, step);
    auto r = response.initCredential();
    auto refusal = fresh ? CredentialRefusal::NONE : CredentialRefusal::TOTP_REPLAYED;
    r.setAccepted(fresh);
    r.setRefusal(refusal);
    r.setRevision(w.revision());
    passwordOutcomes_[slotOf<kRefusalSlots>(refusal)].add();
    if (fresh) {
      limiter_.clear(principalKey);
      r.setPrincipal(user);
      r.setKind(wire::PrincipalKind::USER);
    }
    return fresh;
  };
  if (!committer_.queue(std::move(accept))) {
    sink->answer(
        protocol::errorFrame(id, wire::ErrorCode::OVERLOADED, "the daemon is shutting down"));
  }
}

bool CredentialChecker::claimTotpStep(store::PrincipalId user, uint64_t storedLast, uint64_t step) {
  std::lock_guard lock(totpMutex_);
  uint64_t& last = totpSteps_[user];
  last = std::max(last, storedLast);
  if (step <= last) return false;
  last = step;
  return true;
}

Disposition CredentialChecker::setPassword(const protocol::Peer& peer, const RequestRow& row,
                                           wire::Request::Reader request, std::string& out,
                                           protocol::AnswerSink& sink) {
  auto q = request.getSetPassword();
  std::string_view password = view(q.getPassword());
  uint64_t id = request.getId();
  if (password.size() < credentials::kMinPassword || password.size() > credentials::kMaxPassword) {
    protocol::appendError(id, wire::ErrorCode::INVALID_ARGUMENT,
                          fmt::format("password: {} bytes, must be {} to {}", password.size(),
                                      credentials::kMinPassword, credentials::kMaxPassword),
                          out);
    return Disposition::answered;
  }
  if (!store::isValidUtf8(password)) {
    protocol::appendError(id, wire::ErrorCode::INVALID_ARGUMENT, "password: not valid UTF-8", out);
    return Disposition::answered;
  }
  std::string why;
  auto admitted = admission_.admit(&sink, std::string(), why);
  if (!admitted) {
    protocol::appendError(id, wire::ErrorCode::OVERLOADED, why, out);
    return Disposition::answered;
  }
  auto ticket = std::make_shared<PoolAdmission::Ticket>(std::move(*admitted));
  auto secret = std::make_shared<WipedString>(password);
  store::PrincipalId user = q.getUser();
  auto answer = std::make_shared<OnceSink>(id, sink.retain());
  // What the audit trail records: the request without the password.
  auto audited = std::make_shared<capnp::MallocMessageBuilder>(64);
  auto copy = audited->initRoot<wire::Request>();
  copy.setId(id);
  copy.setActor(request.getActor());
  copy.setActiveCompany(request.getActiveCompany());
  copy.initSetPassword().setUser(user);
  auto retained = sink.retain();
  auto work = [this, secret, user, id, answer, retained, audited, peer, &row, ticket] {
    std::string hash = credentials::hashPassword(secret->text, options_.password);
    credentials::wipe(secret->text);
    Committer::Pending pending;
    pending.id = id;
    pending.apply = [user, hash](store::Writer& w, wire::Response::Builder response) {
      if (setRefusal(response, store::refusalOf(w.setPasswordHash(user, hash)))) return false;
      response.initMutation().setRevision(w.revision());
      return true;
    };
    pending.sink = retained;
    pending.request = audited;
    pending.row = &row;
    pending.peer = peer;
    if (!committer_.queue(std::move(pending))) {
      answer->answer(
          protocol::errorFrame(id, wire::ErrorCode::OVERLOADED, "the daemon is shutting down"));
    }
  };
  if (!pool_.submit(std::move(work), [answer](std::string_view why) { answer->fail(why); })) {
    protocol::appendError(id, wire::ErrorCode::OVERLOADED, "the daemon is shutting down", out);
    return Disposition::answered;
  }
  return Disposition::queued;
}

std::optional<std::pair<uint64_t, std::string>> CredentialChecker::issueKey(
    store::Writer& w, store::PrincipalId account, uint64_t expiresAt,
    wire::Response::Builder response) {
  uint8_t secret[credentials::kKeySecretBytes];
  randombytes_buf(secret, sizeof secret);
  store::KeyRecord key;
  do {
    randombytes_buf(&key.id, sizeof key.id);
  } while (key.id == 0 || w.key(key.id));
  key.principal = account;
  key.createdAt = unixNow();
  key.expiresAt = expiresAt;
  key.hash = pepper_.keyedHash(secret, sizeof secret);
  auto added = w.addKey(key, options_.maxKeysPerAccount, key.createdAt);
  if (setRefusal(response, store::refusalOf(added))) {
    sodium_memzero(secret, sizeof secret);
    return std::nullopt;
  }
  std::string text = credentials::formatApiKey(key.id, secret);
  sodium_memzero(secret, sizeof secret);
  return std::make_pair(key.id, std::move(text));
}

bool CredentialChecker::issueKeyAnswer(store::Writer& w, store::PrincipalId account,
                                       uint64_t expiresAt, uint32_t retired,
                                       wire::Response::Builder response) {
  auto key = issueKey(w, account, expiresAt, response);
  if (!key) return false;
  auto issued = response.initKeyIssued();
  issued.setRevision(w.revision());
  issued.setKeyId(key->first);
  copyText(issued.initSecret(static_cast<unsigned>(key->second.size())), key->second);
  issued.setExpiresAt(expiresAt);
  issued.setRetired(retired);
  credentials::wipe(key->second);
  return true;
}

void CredentialChecker::fillKey(const store::KeyRecord& k, uint64_t now,
                                wire::KeyInfo::Builder info) {
  info.setId(k.id);
  info.setCreatedAt(k.createdAt);
  info.setExpiresAt(k.expiresAt);
  info.setRevokedAt(k.revokedAt);
  info.setLastUsedAt(std::max(k.lastUsedAt, keyUsage_.pending(k.id)));
  wire::KeyState state = wire::KeyState::ACTIVE;
  if (k.revoked(now)) {
    state = wire::KeyState::REVOKED;
  } else if (k.expired(now)) {
    state = wire::KeyState::EXPIRED;
  } else if (k.revokedAt != 0) {
    state = wire::KeyState::RETIRING;
  }
  info.setState(state);
}

Committer::Apply CredentialChecker::drainUsage() {
  auto times = keyUsage_.drain();
  auto access = accessUsage_.drain();
  if (times.empty() && access.empty()) return {};
  return [times = std::move(times), access = std::move(access)](store::Writer& w,
                                                                wire::Response::Builder) {
    for (auto [keyId, at] : times) w.touchKey(keyId, at);
    for (auto [grant, at] : access) w.touchAccess(grant >> 32, grant & store::kMaxEntityId, at);
    return true;
  };
}

}  // namespace gatehouse::service
