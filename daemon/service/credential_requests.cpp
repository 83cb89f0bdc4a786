// The credential requests of the table (service/requests.hpp): checks answered on the IO thread,
// passwords handed to the credential checker's pool, and key and TOTP management on the writer.
#include <fmt/format.h>

#include "credentials/password.hpp"
#include "credentials/totp.hpp"
#include "protocol/framing.hpp"
#include "service/credential_checker.hpp"
#include "service/io_state.hpp"
#include "service/requests.hpp"
#include "service/wire_convert.hpp"

namespace gatehouse::service {
namespace {

using protocol::Disposition;
using wire::CredentialRefusal;

constexpr size_t kMaxCredential = 1024;
constexpr size_t kMaxSource = 256;
constexpr size_t kMaxLogin = store::kMaxEntityName;

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

CredentialChecker::KeyCheck checkKey(ServiceParts& parts, IoState& io, std::string_view text,
                                     std::string_view source) {
  return parts.credentials.checkKey(io.snapshot(), &io.verifiedKeys(), io.keyUseFilter(), text,
                                    source);
}

// An API key on the API or UI channel, answered inline.
void answerKeyCredential(ServiceParts& parts, IoState& io, wire::Request::Reader request,
                         wire::Response::Builder response) {
  auto q = request.getCheckCredential();
  if (q.getChannel() != wire::Channel::API && q.getChannel() != wire::Channel::UI) {
    protocol::setError(response, wire::ErrorCode::INVALID_ARGUMENT, "channel: unknown value");
    return;
  }
  auto k = checkKey(parts, io, view(q.getCredential()), view(q.getSource()));
  // A service account is for programmatic access only, whatever the key's validity elsewhere.
  if (k.refusal == CredentialRefusal::NONE && q.getChannel() == wire::Channel::UI) {
    k.refusal = CredentialRefusal::SERVICE_ACCOUNT_NO_UI;
  }
  io.counters().credential(k.refusal);
  auto r = response.initCredential();
  r.setAccepted(k.refusal == CredentialRefusal::NONE);
  r.setRefusal(k.refusal);
  r.setRetryAfterSeconds(k.retryAfter);
  r.setRevision(io.snapshot().revision());
  if (k.refusal == CredentialRefusal::NONE) {
    r.setPrincipal(k.principal);
    r.setKind(wire::PrincipalKind::SERVICE_ACCOUNT);
    r.setKeyId(k.keyId);
  }
}

}  // namespace

Disposition startCheckCredential(ServiceParts& parts, IoState& io, const protocol::Peer&,
                                 wire::Request::Reader request, std::string& out,
                                 protocol::AnswerSink& sink) {
  auto q = request.getCheckCredential();
  if (auto bad = badInput(view(q.getCredential()), view(q.getSource()), view(q.getTotp()),
                          view(q.getUser()))) {
    protocol::appendError(request.getId(), wire::ErrorCode::INVALID_ARGUMENT, *bad, out);
    return Disposition::answered;
  }
  if (q.getUser().size() > 0) return parts.credentials.checkPassword(io, request, out, sink);
  capnp::MallocMessageBuilder builder(io.scratch());
  auto response = builder.initRoot<wire::Response>();
  response.setId(request.getId());
  answerKeyCredential(parts, io, request, response);
  protocol::appendFrame(builder, out);
  return Disposition::answered;
}

void answerCheckAccess(ServiceParts& parts, IoState& io, wire::Request::Reader request,
                       wire::Response::Builder response) {
  auto q = request.getCheckAccess();
  std::string_view credential = view(q.getCredential()), source = view(q.getSource());
  if (auto bad = badInput(credential, source)) {
    protocol::setError(response, wire::ErrorCode::INVALID_ARGUMENT, *bad);
    return;
  }
  store::Snapshot& snap = io.snapshot();
  auto k = checkKey(parts, io, credential, source);
  io.counters().credential(k.refusal);
  auto r = response.initAccess();
  r.setCredential(k.refusal);
  r.setRetryAfterSeconds(k.retryAfter);
  r.setRevision(snap.revision());
  if (k.refusal != CredentialRefusal::NONE) return;
  store::Decision d = snap.authorize(k.principal, q.getCompany(), view(q.getPermission()));
  io.counters().check(toWire(d.reason));
  if (d.allowed) {
    parts.credentials.accessUsage().touch(io.accessUseFilter(),
                                          store::grantKey(k.principal, q.getCompany()), k.at);
  }
  r.setAllowed(d.allowed);
  r.setReason(toWire(d.reason));
  r.setPrincipal(k.principal);
}

void answerListKeys(ServiceParts& parts, IoState& io, wire::Request::Reader request,
                    wire::Response::Builder response) {
  store::Snapshot& snap = io.snapshot();
  auto g = snap.reader();
  uint64_t account = request.getListKeys();
  auto principal = g.principal(account);
  if (!principal || principal->kind != store::PrincipalKind::serviceAccount) {
    protocol::setError(response, wire::ErrorCode::NOT_FOUND,
                       fmt::format("serviceAccount: no service account with id {}", account));
    return;
  }
  auto keys = g.keysOf(account);
  uint64_t now = unixNow();
  auto r = response.initKeys();
  r.setRevision(snap.revision());
  auto list = r.initKeys(static_cast<unsigned>(keys.size()));
  for (unsigned i = 0; i < keys.size(); ++i) parts.credentials.fillKey(keys[i], now, list[i]);
}

Disposition startSetPassword(ServiceParts& parts, IoState&, const protocol::Peer& peer,
                             wire::Request::Reader request, std::string& out,
                             protocol::AnswerSink& sink) {
  const RequestRow* row = requestRow(request.which());
  return parts.credentials.setPassword(peer, *row, request, out, sink);
}

bool applyCredentialMutation(ServiceParts& parts, store::Writer& w, wire::Request::Reader req,
                             wire::Response::Builder response) {
  CredentialChecker& checker = parts.credentials;
  uint64_t now = unixNow();
  auto expiryRefused = [&](uint64_t expiresAt) {
    if (expiresAt == 0 || expiresAt > now) return false;
    protocol::setError(response, wire::ErrorCode::INVALID_ARGUMENT,
                       fmt::format("expiresAt: {} is not in the future (now {})", expiresAt, now));
    return true;
  };
  auto issue = [&](store::PrincipalId account, uint64_t expiresAt, uint64_t retireAt) {
    if (expiryRefused(expiresAt)) return false;
    auto retired = w.retireKeys(account, retireAt, now);
    if (setRefusal(response, store::refusalOf(retired))) return false;
    return checker.issueKeyAnswer(w, account, expiresAt, std::get<uint32_t>(retired), response);
  };
  switch (req.which()) {
    case wire::Request::CREATE_KEY:
    case wire::Request::SA_KEY_CREATE: {
      auto q = req.which() == wire::Request::CREATE_KEY ? req.getCreateKey() : req.getSaKeyCreate();
      if (expiryRefused(q.getExpiresAt())) return false;
      return checker.issueKeyAnswer(w, q.getServiceAccount(), q.getExpiresAt(), 0, response);
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
      if (setRefusal(response, store::refusalOf(w.revokeKey(keyId, now)))) return false;
      response.initMutation().setRevision(w.revision());
      return true;
    }
    case wire::Request::ENROLL_TOTP: {
      store::PrincipalId user = req.getEnrollTotp();
      auto secret = credentials::newTotpSecret();
      std::string sealed = credentials::sealTotpSecret(checker.totpKey(), secret);
      if (setRefusal(response, store::refusalOf(w.setTotp(user, sealed)))) return false;
      auto principal = w.principal(user);
      if (!principal) throw store::CorruptRecord("principals");
      std::string uri =
          credentials::otpauthUri(checker.options().totpIssuer, principal->name, secret);
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
      protocol::setError(response, wire::ErrorCode::INVALID_ARGUMENT, "not a credential mutation");
      return false;
  }
}

}  // namespace gatehouse::service
