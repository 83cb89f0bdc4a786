// Mutations by an actor in its active company: service accounts across companies, company
// roles and users (the rules: service/actor_rules.hpp).
#include "service/actor_rules.hpp"

#include <fmt/format.h>

#include "service/credential_checker.hpp"
#include "service/requests.hpp"
#include "service/wire_convert.hpp"

namespace gatehouse::service {
namespace {

using wire::ErrorCode;
using wire::Request;

bool mutationOk(store::Writer& w, wire::Response::Builder response, const store::Refusal* refusal,
                uint64_t id = 0) {
  if (setRefusal(response, refusal)) return false;
  auto m = response.initMutation();
  m.setRevision(w.revision());
  m.setId(id);
  return true;
}

template <typename T>
bool mutationOk(store::Writer& w, wire::Response::Builder response, const store::Result<T>& r,
                bool withId = false) {
  const store::Refusal* refusal = store::refusalOf(r);
  return mutationOk(w, response, refusal, refusal == nullptr && withId ? std::get<T>(r) : 0);
}

}  // namespace

bool applyActorMutation(ServiceParts& parts, store::Writer& w, Request::Reader req,
                        wire::Response::Builder response) {
  ActorScope scope(w, req);
  store::CompanyId here = scope.company();
  switch (req.which()) {
    case Request::SA_CREATE: {
      auto q = req.getSaCreate();
      auto permissions = views(q.getPermissions());
      if (!scope.require(kManageAccounts, response) ||
          !scope.noEscalation(permissions, q.getRoles(), response)) {
        return false;
      }
      auto created = w.createServiceAccount(view(q.getName()), here, view(q.getDescription()));
      if (setRefusal(response, store::refusalOf(created))) return false;
      store::PrincipalId id = std::get<store::PrincipalId>(created);
      if (permissions.size() > 0 || q.getRoles().size() > 0) {
        if (setRefusal(response,
                       store::refusalOf(w.setGrant(id, here, permissions, ids(q.getRoles()))))) {
          return false;
        }
      }
      auto key = parts.credentials.issueKey(w, id, 0, response);
      if (!key) return false;
      auto out = response.initSaCreated();
      out.setRevision(w.revision());
      out.setId(id);
      out.setKeyId(key->first);
      copyText(out.initSecret(static_cast<unsigned>(key->second.size())), key->second);
      credentials::wipe(key->second);
      return true;
    }
    case Request::SA_DESCRIBE: {
      auto q = req.getSaDescribe();
      if (!scope.require(kManageAccounts, response) ||
          !scope.owned(q.getServiceAccount(), response)) {
        return false;
      }
      return mutationOk(w, response,
                        w.setDescription(q.getServiceAccount(), view(q.getDescription())));
    }
    case Request::SA_RESET_CREDENTIALS: {
      uint64_t id = req.getSaResetCredentials();
      if (!scope.require(kManageAccounts, response) || !scope.owned(id, response)) return false;
      uint64_t now = unixNow();
      auto retired = w.retireKeys(id, now, now);
      if (setRefusal(response, store::refusalOf(retired))) return false;
      return parts.credentials.issueKeyAnswer(w, id, 0, std::get<uint32_t>(retired), response);
    }
    case Request::SA_KEY_CREATE: {
      auto q = req.getSaKeyCreate();
      if (!scope.require(kManageAccounts, response) ||
          !scope.owned(q.getServiceAccount(), response)) {
        return false;
      }
      return applyCredentialMutation(parts, w, req, response);
    }
    case Request::SA_KEY_ROTATE: {
      auto q = req.getSaKeyRotate();
      if (!scope.require(kManageAccounts, response) ||
          !scope.owned(q.getServiceAccount(), response)) {
        return false;
      }
      return applyCredentialMutation(parts, w, req, response);
    }
    case Request::SA_KEY_REVOKE: {
      if (!scope.require(kManageAccounts, response)) return false;
      auto key = w.key(req.getSaKeyRevoke());
      // A key of an account unrelated to the company is answered as a key that does not exist.
      auto account = scope.relatedAccount(key ? key->principal : 0);
      if (!key || !account) {
        protocol::setError(response, ErrorCode::NOT_FOUND,
                           fmt::format("key: no key with id {}", req.getSaKeyRevoke()));
        return false;
      }
      if (account->ownerCompany != here) {
        ActorScope::answerNotOwner(*account, response);
        return false;
      }
      return applyCredentialMutation(parts, w, req, response);
    }
    case Request::SA_DELETE: {
      uint64_t id = req.getSaDelete();
      if (!scope.require(kManageAccounts, response) || !scope.owned(id, response)) return false;
      return mutationOk(w, response, w.deletePrincipal(id));
    }
    case Request::SA_SET_STATE: {
      auto q = req.getSaSetState();
      if (!scope.require(kManageAccounts, response) || !scope.owned(q.getPrincipal(), response)) {
        return false;
      }
      auto state = fromWire(q.getState());
      if (!state) {
        protocol::setError(response, ErrorCode::INVALID_ARGUMENT, "state: unknown value");
        return false;
      }
      return mutationOk(w, response, w.setPrincipalState(q.getPrincipal(), *state));
    }
    case Request::SA_GRANT:
    case Request::USER_GRANT: {
      bool sa = req.which() == Request::SA_GRANT;
      auto q = sa ? req.getSaGrant() : req.getUserGrant();
      auto permissions = views(q.getPermissions());
      if (!scope.require(sa ? kManageAccounts : kManageUsers, response)) return false;
      // Under consent, only a company the account is related to (owner, offered, already
      // granted) may grant it; any other is answered as for an id that names nothing.
      bool open = parts.options.sharing == Sharing::open;
      if (sa ? !(open ? scope.account(q.getPrincipal(), response)
                      : scope.related(q.getPrincipal(), response))
             : !scope.user(q.getPrincipal(), response)) {
        return false;
      }
      // An offer of the ownership lets the company see the account and accept it, not grant it
      // access before it owns it.
      if (sa && !open && !scope.shared(q.getPrincipal())) {
        protocol::setError(response, ErrorCode::NOT_FOUND,
                           fmt::format("service account {} is not shared with company {}; its "
                                       "ownership is offered to it: accept that first",
                                       q.getPrincipal(), here));
        return false;
      }
      if (!scope.noEscalation(permissions, q.getRoles(), response)) return false;
      if (auto bad = badExpiry(q.getExpiresAt(), unixNow())) {
        protocol::setError(response, ErrorCode::INVALID_ARGUMENT, *bad);
        return false;
      }
      return mutationOk(
          w, response,
          w.setGrant(q.getPrincipal(), here, permissions, ids(q.getRoles()), q.getExpiresAt()));
    }
    case Request::SA_REVOKE:
    case Request::USER_REVOKE: {
      bool sa = req.which() == Request::SA_REVOKE;
      uint64_t id = sa ? req.getSaRevoke() : req.getUserRevoke();
      if (!scope.require(sa ? kManageAccounts : kManageUsers, response)) return false;
      if (sa ? !scope.related(id, response) : !scope.user(id, response)) return false;
      return mutationOk(w, response, w.removeGrant(id, here));
    }
    case Request::SA_SHARE:
    case Request::SA_UNSHARE: {
      bool share = req.which() == Request::SA_SHARE;
      auto q = share ? req.getSaShare() : req.getSaUnshare();
      if (!scope.require(kManageAccounts, response) ||
          !scope.owned(q.getServiceAccount(), response)) {
        return false;
      }
      return mutationOk(w, response,
                        share ? w.offer(q.getServiceAccount(), q.getCompany())
                              : w.withdrawOffer(q.getServiceAccount(), q.getCompany()));
    }
    case Request::SA_SET_CEILING: {
      auto q = req.getSaSetCeiling();
      if (!scope.require(kManageAccounts, response) ||
          !scope.owned(q.getServiceAccount(), response)) {
        return false;
      }
      if (q.getClear() && q.getPermissions().size() > 0) {
        protocol::setError(response, ErrorCode::INVALID_ARGUMENT,
                           "permissions: must be empty when clear is set");
        return false;
      }
      auto changed = q.getClear() ? w.clearCeiling(q.getServiceAccount())
                                  : w.setCeiling(q.getServiceAccount(), views(q.getPermissions()));
      return mutationOk(w, response, store::refusalOf(changed));
    }
    case Request::SA_OFFER_OWNERSHIP: {
      auto q = req.getSaOfferOwnership();
      if (!scope.require(kManageAccounts, response) ||
          !scope.owned(q.getServiceAccount(), response)) {
        return false;
      }
      return mutationOk(
          w, response,
          w.offerOwnership(q.getServiceAccount(), q.getCompany(), !q.getDropAccess(), unixNow()));
    }
    case Request::SA_CANCEL_TRANSFER: {
      uint64_t id = req.getSaCancelTransfer();
      if (!scope.require(kManageAccounts, response)) return false;
      auto account = scope.related(id, response);
      if (!account) return false;
      // The owner withdraws; the company offered declines; any other related company may not.
      auto transfer = w.transferOffer(id);
      if (account->ownerCompany != here && transfer && transfer->company != here) {
        ActorScope::answerNotOwner(*account, response);
        return false;
      }
      return mutationOk(w, response, store::refusalOf(w.cancelOwnershipOffer(id)));
    }
    case Request::SA_ACCEPT_OWNERSHIP: {
      uint64_t id = req.getSaAcceptOwnership();
      if (!scope.require(kManageAccounts, response) || !scope.related(id, response)) return false;
      auto done = w.acceptOwnership(id, here, unixNow());
      if (!mutationOk(w, response, store::refusalOf(done))) return false;
      response.getMutation().setCount(std::get<store::TransferDone>(done).keysRevoked);
      return true;
    }
    case Request::ROLE_CREATE: {
      auto q = req.getRoleCreate();
      auto permissions = views(q.getPermissions());
      if (!scope.require(kManageRoles, response) ||
          !scope.noEscalation(permissions, {}, response)) {
        return false;
      }
      return mutationOk(w, response, w.createRole(here, view(q.getName()), permissions), true);
    }
    case Request::ROLE_EDIT: {
      auto q = req.getRoleEdit();
      auto permissions = views(q.getPermissions());
      if (!scope.require(kManageRoles, response) || !scope.companyRole(q.getRole(), response) ||
          !scope.noEscalation(permissions, {}, response)) {
        return false;
      }
      return mutationOk(w, response, w.updateRole(q.getRole(), permissions, view(q.getRename())));
    }
    case Request::ROLE_DELETE: {
      uint64_t id = req.getRoleDelete();
      if (!scope.require(kManageRoles, response) || !scope.companyRole(id, response)) return false;
      return mutationOk(w, response, w.deleteRole(id));
    }
    case Request::USER_CREATE: {
      if (!scope.require(kManageUsers, response)) return false;
      return mutationOk(w, response, w.createUser(view(req.getUserCreate().getName())), true);
    }
    default:
      protocol::setError(response, ErrorCode::INVALID_ARGUMENT, "not a mutation");
      return false;
  }
}

}  // namespace gatehouse::service
