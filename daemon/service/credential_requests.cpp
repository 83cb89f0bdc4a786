// Credential checks and credential management (DESIGN §2 "Credential checks").
//
// API keys are checked inline on the IO thread (parse with checksum, one lookup, one keyed BLAKE2b,
// a constant-time compare), or answered from the thread's verified-key cache when the same key was
// accepted at the current store revision (service/verified_keys.hpp). Passwords are checked on the
// SCHED_IDLE pool (Argon2id) and answered through the connection's AnswerSink. Rate limits are
// consulted before any hashing.
#include <capnp/serialize.h>
#include <fmt/format.h>
#include <sodium.h>

#include <ctime>
#include <mutex>

#include "common/log.hpp"
#include "credentials/api_key.hpp"
#include "credentials/totp.hpp"
#include "service/service.hpp"
#include "service/wire_util.hpp"

namespace gatehouse::service {
namespace {

using wire::CredentialRefusal;

constexpr size_t kMaxCredential = 1024;
constexpr size_t kMaxSource = 256;
constexpr size_t kMaxLogin = store::kMaxEntityName;

std::string principalSubject(store::PrincipalId p) { return fmt::format("p:{}", p); }
std::string sourceSubject(std::string_view source) {
  return source.empty() ? std::string() : fmt::format("s:{}", source);
}

// Why a credential request's input is unusable, naming the field; nullopt when it is fine.
std::optional<std::string> badInput(std::string_view credential, std::string_view source,
                                    std::string_view totp = {}, std::string_view user = {}) {
  if (credential.empty()) return "credential: empty";
  if (credential.size() > kMaxCredential) {
    return fmt::format("credential: {} bytes, the limit is {}", credential.size(), kMaxCredential);
  }
  if (!store::isValidUtf8(credential)) return "credential: not valid UTF-8";
  if (source.size() > kMaxSource) {
    return fmt::format("source: {} bytes, the limit is {}", source.size(), kMaxSource);
  }
  if (user.size() > kMaxLogin) {
    return fmt::format("user: {} bytes, the limit is {}", user.size(), kMaxLogin);
  }
  if (!totp.empty()) {
    bool digits = totp.size() == credentials::kTotpDigits &&
                  totp.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits) return fmt::format("totp: must be {} digits", credentials::kTotpDigits);
  }
  return std::nullopt;
}

std::string frameOf(capnp::MessageBuilder& message) {
  std::string frame;
  appendFrame(message, frame);
  return frame;
}

}  // namespace

Service::KeyCheck Service::checkKey(store::Snapshot& snapshot, VerifiedKeys* verified,
                                    std::string_view text, std::string_view source) {
  KeyCheck out;
  using Clock = credentials::RateLimiter::Clock;
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
  auto withinDeadlines = [&](uint64_t keyId, const store::KeyRecord& record, uint64_t unix) {
    out.keyId = keyId;
    out.principal = record.principal;
    out.at = unix;
    out.refusal = record.revoked(unix)   ? CredentialRefusal::KEY_REVOKED
                  : record.expired(unix) ? CredentialRefusal::KEY_EXPIRED
                                         : CredentialRefusal::NONE;
    return out.refusal == CredentialRefusal::NONE;
  };
  if (limits && limited(sourceSubject(source))) return out;

  std::optional<VerifiedKeys::Tag> tag;
  if (verified != nullptr && verified->enabled() && text.size() == credentials::kKeyTextSize) {
    tag = verified->tag(text);
    if (auto* hit = verified->find(*tag, snapshot.revision())) {
      if (limits && limited(principalSubject(hit->principal))) return out;
      store::KeyRecord record;
      record.principal = hit->principal;
      record.expiresAt = hit->expiresAt;
      record.revokedAt = hit->revokedAt;
      uint64_t unix = unixNow();
      // Once a second per entry: times are coarse, and the entry's line is already at hand where
      // KeyUsage's own filter would cost another (measured: 0.2 µs at the ping-pong p50).
      if (withinDeadlines(hit->keyId, record, unix) && hit->touchedAt != uint32_t(unix)) {
        usage_.touch(hit->keyId, unix);
        hit->touchedAt = static_cast<uint32_t>(unix);
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
  if (limits && limited(principalSubject(record->principal))) return out;
  credentials::Digest digest = pepper_.keyedHash(key.secret.data(), key.secret.size());
  bool match = crypto_verify_32(digest.data(), record->hash.data()) == 0;
  sodium_memzero(digest.data(), digest.size());
  if (!match) {
    limiter_.recordFailure({sourceSubject(source), principalSubject(record->principal)},
                           Clock::now());
    return out;
  }
  uint64_t unix = unixNow();
  if (!withinDeadlines(key.id, *record, unix)) return out;
  if (snapshot.reader().principalState(record->principal) != store::PrincipalState::active) {
    out.refusal = CredentialRefusal::DISABLED;
    return out;
  }
  usage_.touch(key.id, unix);
  if (tag) {
    verified->remember({*tag, snapshot.revision(), key.id, record->principal, record->expiresAt,
                        record->revokedAt, static_cast<uint32_t>(unix)});
  }
  return out;
}

bool Service::answerCredential(Reader& reader, wire::Request::Reader request, std::string& out,
                               AnswerSink& sink) {
  auto q = request.getCheckCredential();
  if (auto bad = badInput(view(q.getCredential()), view(q.getSource()), view(q.getTotp()),
                          view(q.getUser()))) {
    appendError(request.getId(), wire::ErrorCode::INVALID_ARGUMENT, *bad, out);
    return true;
  }
  if (q.getUser().size() > 0) return checkPassword(reader, request, out, sink);
  if (q.getChannel() != wire::Channel::API && q.getChannel() != wire::Channel::UI) {
    appendError(request.getId(), wire::ErrorCode::INVALID_ARGUMENT, "channel: unknown value", out);
    return true;
  }
  store::Snapshot& snap = reader.snapshot();
  KeyCheck k = checkKey(snap, &reader.verifiedKeys(), view(q.getCredential()), view(q.getSource()));
  // A service account is for programmatic access only, whatever the key's validity elsewhere.
  if (k.refusal == CredentialRefusal::NONE && q.getChannel() == wire::Channel::UI) {
    k.refusal = CredentialRefusal::SERVICE_ACCOUNT_NO_UI;
  }
  capnp::MallocMessageBuilder builder(reader.scratch());
  auto response = builder.initRoot<wire::Response>();
  response.setId(request.getId());
  auto r = response.initCredential();
  r.setAccepted(k.refusal == CredentialRefusal::NONE);
  r.setRefusal(k.refusal);
  r.setRetryAfterSeconds(k.retryAfter);
  r.setRevision(snap.revision());
  if (k.refusal == CredentialRefusal::NONE) {
    r.setPrincipal(k.principal);
    r.setKind(wire::PrincipalKind::SERVICE_ACCOUNT);
    r.setKeyId(k.keyId);
  }
  appendFrame(builder, out);
  return true;
}

void Service::answerAccess(Reader& reader, wire::Request::Reader request, std::string& out) {
  auto q = request.getCheckAccess();
  std::string_view credential = view(q.getCredential()), source = view(q.getSource());
  if (auto bad = badInput(credential, source)) {
    appendError(request.getId(), wire::ErrorCode::INVALID_ARGUMENT, *bad, out);
    return;
  }
  store::Snapshot& snap = reader.snapshot();
  KeyCheck k = checkKey(snap, &reader.verifiedKeys(), credential, source);
  capnp::MallocMessageBuilder builder(reader.scratch());
  auto response = builder.initRoot<wire::Response>();
  response.setId(request.getId());
  auto r = response.initAccess();
  r.setCredential(k.refusal);
  r.setRetryAfterSeconds(k.retryAfter);
  r.setRevision(snap.revision());
  if (k.refusal == CredentialRefusal::NONE) {
    store::Decision d = snap.authorize(k.principal, q.getCompany(), view(q.getPermission()));
    if (d.allowed) accessUsage_.touch(store::grantKey(k.principal, q.getCompany()), k.at);
    r.setAllowed(d.allowed);
    r.setReason(toWire(d.reason));
    r.setPrincipal(k.principal);
  }
  appendFrame(builder, out);
}

void Service::answerKeys(Reader& reader, wire::Request::Reader request, std::string& out) {
  store::Snapshot& snap = reader.snapshot();
  auto g = snap.reader();
  uint64_t account = request.getListKeys();
  auto principal = g.principal(account);
  if (!principal || principal->kind != store::PrincipalKind::serviceAccount) {
    appendError(request.getId(), wire::ErrorCode::NOT_FOUND,
                fmt::format("serviceAccount: no service account with id {}", account), out);
    return;
  }
  auto keys = g.keysOf(account);
  uint64_t now = unixNow();
  capnp::MallocMessageBuilder builder(reader.scratch());
  auto response = builder.initRoot<wire::Response>();
  response.setId(request.getId());
  auto r = response.initKeys();
  r.setRevision(snap.revision());
  auto list = r.initKeys(static_cast<unsigned>(keys.size()));
  for (unsigned i = 0; i < keys.size(); ++i) {
    fillKey(keys[i], now, list[i]);
    list[i].setLastUsedAt(std::max(keys[i].lastUsedAt, usage_.pending(keys[i].id)));
  }
  appendFrame(builder, out);
}

// ------------------------------------------------------------------------------------------------
// Passwords and TOTP

bool Service::checkPassword(Reader& reader, wire::Request::Reader request, std::string& out,
                            AnswerSink& sink) {
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
    std::shared_ptr<AnswerSink> sink;
    ~Job() {
      credentials::wipe(password);
      credentials::wipe(code);
    }
  };
  auto job = std::make_shared<Job>();
  job->id = request.getId();
  store::Snapshot& snap = reader.snapshot();
  auto g = snap.reader();
  job->revision = snap.revision();
  if (auto id = g.principalByName(view(q.getUser()))) {
    auto p = g.principal(*id);
    if (p && p->kind == store::PrincipalKind::user) {
      job->user = std::move(p);
      job->hash = std::string(g.passwordHash(*id).value_or(std::string_view()));
      job->totp = g.totp(*id);
      job->principalKey = principalSubject(*id);
    }
  }
  job->sourceKey = sourceSubject(view(q.getSource()));
  auto now = credentials::RateLimiter::Clock::now();
  if (uint32_t wait = limiter_.retryAfter({job->sourceKey, job->principalKey}, now)) {
    capnp::MallocMessageBuilder builder(reader.scratch());
    auto response = builder.initRoot<wire::Response>();
    response.setId(job->id);
    auto r = response.initCredential();
    r.setRefusal(CredentialRefusal::RATE_LIMITED);
    r.setRetryAfterSeconds(wait);
    r.setRevision(job->revision);
    appendFrame(builder, out);
    return true;
  }
  job->password = std::string(view(q.getCredential()));
  job->code = std::string(view(q.getTotp()));
  job->sink = sink.retain();

  bool submitted = pool_.submit([this, job] {
    const credentials::PasswordLimits& limits = options_.credentials.password;
    bool known = job->user.has_value() && !job->hash.empty();
    bool ok = false;
    if (known) {
      ok = credentials::verifyPassword(job->hash, job->password);
    } else {
      // The same work for an unknown user, so that timing does not tell which logins exist.
      static const std::string dummy = credentials::hashPassword("not a password", limits);
      credentials::verifyPassword(dummy, job->password);
    }
    auto now = credentials::RateLimiter::Clock::now();
    CredentialRefusal refusal = CredentialRefusal::NONE;
    if (!ok) {
      limiter_.recordFailure({job->sourceKey, job->principalKey}, now);
      refusal = CredentialRefusal::BAD_CREDENTIAL;
    } else if (job->user->state != store::PrincipalState::active) {
      refusal = CredentialRefusal::DISABLED;
    } else if (job->totp) {
      if (job->code.empty()) {
        refusal = CredentialRefusal::TOTP_REQUIRED;
      } else {
        auto secret = credentials::openTotpSecret(totpKey_, job->totp->sealedSecret);
        if (!secret) {
          logLine(Level::error, "totp_secret_unreadable",
                  {{"user", std::to_string(job->user->id)}});
        }
        uint64_t step = 0;
        bool valid = false;
        if (secret) {
          if (auto s = credentials::verifyTotp(*secret, job->code, std::time(nullptr))) {
            step = *s;
            valid = true;
          }
        }
        if (!valid) {
          limiter_.recordFailure({job->sourceKey, job->principalKey}, now);
          refusal = CredentialRefusal::TOTP_INVALID;
        } else if (!claimTotpStep(job->user->id, job->totp->lastStep, step)) {
          refusal = CredentialRefusal::TOTP_REPLAYED;
        } else {
          store::PrincipalId user = job->user->id;
          uint64_t accepted = step;
          queue(Pending{0,
                        [user, accepted](store::Writer& w, wire::Response::Builder) {
                          w.recordTotpStep(user, accepted);
                          return true;
                        },
                        nullptr,
                        nullptr,
                        {}});
        }
      }
    }
    if (refusal == CredentialRefusal::NONE) {
      limiter_.clear(job->principalKey);
      if (credentials::needsRehash(job->hash, limits)) {
        std::string rehashed = credentials::hashPassword(job->password, limits);
        store::PrincipalId user = job->user->id;
        queue(Pending{0,
                      [user, rehashed](store::Writer& w, wire::Response::Builder) {
                        return store::refusalOf(w.setPasswordHash(user, rehashed)) == nullptr;
                      },
                      nullptr,
                      nullptr,
                      {}});
      }
    }
    capnp::MallocMessageBuilder builder(256);
    auto response = builder.initRoot<wire::Response>();
    response.setId(job->id);
    auto r = response.initCredential();
    r.setAccepted(refusal == CredentialRefusal::NONE);
    r.setRefusal(refusal);
    r.setRevision(job->revision);
    if (refusal == CredentialRefusal::NONE) {
      r.setPrincipal(job->user->id);
      r.setKind(wire::PrincipalKind::USER);
    }
    job->sink->answer(frameOf(builder));
  });
  if (!submitted) {
    job->sink.reset();
    appendError(job->id, wire::ErrorCode::OVERLOADED, "the daemon is shutting down", out);
    return true;
  }
  return false;
}

bool Service::claimTotpStep(store::PrincipalId user, uint64_t storedLast, uint64_t step) {
  std::lock_guard lock(totpMutex_);
  uint64_t& last = totpSteps_[user];
  last = std::max(last, storedLast);
  if (step <= last) return false;
  last = step;
  return true;
}

bool Service::setPassword(const Peer& peer, wire::Request::Reader request, std::string& out,
                          AnswerSink& sink) {
  auto q = request.getSetPassword();
  std::string_view password = view(q.getPassword());
  uint64_t id = request.getId();
  if (password.size() < credentials::kMinPassword || password.size() > credentials::kMaxPassword) {
    appendError(id, wire::ErrorCode::INVALID_ARGUMENT,
                fmt::format("password: {} bytes, must be {} to {}", password.size(),
                            credentials::kMinPassword, credentials::kMaxPassword),
                out);
    return false;
  }
  if (!store::isValidUtf8(password)) {
    appendError(id, wire::ErrorCode::INVALID_ARGUMENT, "password: not valid UTF-8", out);
    return false;
  }
  auto secret = std::make_shared<std::string>(password);
  store::PrincipalId user = q.getUser();
  std::shared_ptr<AnswerSink> answer = sink.retain();
  // What the audit trail records: the request without the password.
  auto audited = std::make_shared<capnp::MallocMessageBuilder>(64);
  auto copy = audited->initRoot<wire::Request>();
  copy.setId(id);
  copy.setActor(request.getActor());
  copy.setActiveCompany(request.getActiveCompany());
  copy.initSetPassword().setUser(user);
  bool submitted = pool_.submit([this, secret, user, id, answer, audited, peer] {
    std::string hash = credentials::hashPassword(*secret, options_.credentials.password);
    credentials::wipe(*secret);
    Pending pending{id,
                    [user, hash](store::Writer& w, wire::Response::Builder response) {
                      if (setRefusal(response, store::refusalOf(w.setPasswordHash(user, hash)))) {
                        return false;
                      }
                      response.initMutation().setRevision(w.revision());
                      return true;
                    },
                    answer, audited, peer};
    if (!queue(std::move(pending))) {
      capnp::MallocMessageBuilder builder(256);
      auto response = builder.initRoot<wire::Response>();
      response.setId(id);
      setError(response, wire::ErrorCode::OVERLOADED, "the daemon is shutting down");
      answer->answer(frameOf(builder));
    }
  });
  if (!submitted) credentials::wipe(*secret);
  return submitted;
}

// ------------------------------------------------------------------------------------------------
// Key and TOTP management, on the writer thread.

std::optional<std::pair<uint64_t, std::string>> Service::issueKey(
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
  auto added = w.addKey(key, options_.credentials.maxKeysPerAccount, key.createdAt);
  if (setRefusal(response, store::refusalOf(added))) {
    sodium_memzero(secret, sizeof secret);
    return std::nullopt;
  }
  std::string text = credentials::formatApiKey(key.id, secret);
  sodium_memzero(secret, sizeof secret);
  return std::make_pair(key.id, std::move(text));
}

bool Service::issueKeyAnswer(store::Writer& w, store::PrincipalId account, uint64_t expiresAt,
                             uint32_t retired, wire::Response::Builder response) {
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

void Service::fillKey(const store::KeyRecord& k, uint64_t now, wire::KeyInfo::Builder info) {
  info.setId(k.id);
  info.setCreatedAt(k.createdAt);
  info.setExpiresAt(k.expiresAt);
  info.setRevokedAt(k.revokedAt);
  info.setLastUsedAt(k.lastUsedAt);
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

bool Service::applyCredentialMutation(store::Writer& w, wire::Request::Reader req,
                                      wire::Response::Builder response) {
  uint64_t now = unixNow();
  auto expiryRefused = [&](uint64_t expiresAt) {
    if (expiresAt == 0 || expiresAt > now) return false;
    setError(response, wire::ErrorCode::INVALID_ARGUMENT,
             fmt::format("expiresAt: {} is not in the future (now {})", expiresAt, now));
    return true;
  };
  auto issue = [&](store::PrincipalId account, uint64_t expiresAt, uint64_t retireAt) {
    if (expiryRefused(expiresAt)) return false;
    auto retired = w.retireKeys(account, retireAt, now);
    if (setRefusal(response, store::refusalOf(retired))) return false;
    return issueKeyAnswer(w, account, expiresAt, std::get<uint32_t>(retired), response);
  };
  switch (req.which()) {
    case wire::Request::CREATE_KEY:
    case wire::Request::SA_KEY_CREATE: {
      auto q = req.which() == wire::Request::CREATE_KEY ? req.getCreateKey() : req.getSaKeyCreate();
      if (expiryRefused(q.getExpiresAt())) return false;
      return issueKeyAnswer(w, q.getServiceAccount(), q.getExpiresAt(), 0, response);
    }
    case wire::Request::RESET_KEYS: {
      auto q = req.getResetKeys();
      return issue(q.getServiceAccount(), q.getExpiresAt(), now);
    }
    case wire::Request::ROTATE_KEY:
    case wire::Request::SA_KEY_ROTATE: {
      auto q = req.which() == wire::Request::ROTATE_KEY ? req.getRotateKey() : req.getSaKeyRotate();
      return issue(q.getServiceAccount(), q.getExpiresAt(), now + q.getGraceSeconds());
    }
    case wire::Request::REVOKE_KEY:
    case wire::Request::SA_KEY_REVOKE: {
      uint64_t keyId =
          req.which() == wire::Request::REVOKE_KEY ? req.getRevokeKey() : req.getSaKeyRevoke();
      if (setRefusal(response, store::refusalOf(w.revokeKey(keyId, now)))) {
        return false;
      }
      response.initMutation().setRevision(w.revision());
      return true;
    }
    case wire::Request::ENROLL_TOTP: {
      store::PrincipalId user = req.getEnrollTotp();
      auto secret = credentials::newTotpSecret();
      std::string sealed = credentials::sealTotpSecret(totpKey_, secret);
      if (setRefusal(response, store::refusalOf(w.setTotp(user, sealed)))) return false;
      std::string uri =
          credentials::otpauthUri(options_.credentials.totpIssuer, w.principal(user)->name, secret);
      auto enrolled = response.initTotpEnrolled();
      enrolled.setRevision(w.revision());
      copyText(enrolled.initUri(static_cast<unsigned>(uri.size())), uri);
      credentials::wipe(uri);
      return true;
    }
    case wire::Request::REMOVE_TOTP: {
      if (setRefusal(response, store::refusalOf(w.removeTotp(req.getRemoveTotp())))) return false;
      response.initMutation().setRevision(w.revision());
      return true;
    }
    default:
      setError(response, wire::ErrorCode::INVALID_ARGUMENT, "not a mutation");
      return false;
  }
}

}  // namespace gatehouse::service
