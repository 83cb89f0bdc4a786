// Management by an actor in its active company (DESIGN §1): service accounts across companies,
// company roles, users, the Service Accounts view and the audit trail.
//
// Every actor-scoped request names no company: its scope is the envelope's `activeCompany`. The
// checks run in this order, and the first that fails answers: the actor and the company exist and
// the actor is active (`forbidden` / `notFound`); the actor holds the request's permission in the
// active company (`forbidden`); the target exists (`notFound`); the active company owns the target
// when the rule says "owner only" (`notOwner`); nothing granted exceeds what the actor holds there
// (`escalation`, listing the missing permissions).
#include <capnp/dynamic.h>
#include <capnp/serialize.h>
#include <fmt/format.h>
#include <sodium.h>

#include <ctime>

#include "service/service.hpp"
#include "service/wire_util.hpp"

namespace gatehouse::service {
namespace {

using wire::ErrorCode;
using wire::Request;

constexpr std::string_view kManageAccounts = "service_accounts.manage";
constexpr std::string_view kReadAccounts = "service_accounts.read";
constexpr std::string_view kManageRoles = "roles.manage";
constexpr std::string_view kManageUsers = "users.manage";
constexpr std::string_view kReadAudit = "audit.read";

void setMissing(wire::Response::Builder response, ErrorCode code, std::string_view message,
                const std::vector<std::string>& missing) {
  setError(response, code, message);
  auto list = response.getError().initMissing(static_cast<unsigned>(missing.size()));
  for (unsigned i = 0; i < missing.size(); ++i) list.set(i, missing[i]);
}

// The actor's standing in the active company: who it is and what it holds there.
class ActorScope {
 public:
  ActorScope(const store::GraphReader& g, Request::Reader request)
      : g_(g), actor_(request.getActor()), company_(request.getActiveCompany()) {}

  store::PrincipalId actor() const { return actor_; }
  store::CompanyId company() const { return company_; }

  // Answers an error and returns false unless the actor may act in the company and holds
  // `permission` there.
  bool require(std::string_view permission, wire::Response::Builder response) const {
    if (actor_ == 0 || company_ == 0) {
      setError(response, ErrorCode::INVALID_ARGUMENT,
               "actor and activeCompany must be set for this request");
      return false;
    }
    if (!g_.company(company_)) {
      setError(response, ErrorCode::NOT_FOUND,
               fmt::format("activeCompany: no company with id {}", company_));
      return false;
    }
    auto actor = g_.principal(actor_);
    if (!actor || actor->state != store::PrincipalState::active) {
      setError(response, ErrorCode::FORBIDDEN,
               fmt::format("actor {} is unknown or disabled", actor_));
      return false;
    }
    if (!holds(permission)) {
      setMissing(response, ErrorCode::FORBIDDEN,
                 fmt::format("actor {} lacks a permission this request needs in company {}", actor_,
                             company_),
                 {std::string(permission)});
      return false;
    }
    return true;
  }

  bool holds(std::string_view permission) const {
    auto bit = g_.permission(permission);
    auto bits = g_.effective(actor_, company_);
    return bit && bits && store::testBit(*bits, *bit);
  }

  // Answers `escalation` and returns false when the permissions and the roles' permissions are
  // not all held by the actor in the company. Unknown names and foreign roles are left to the
  // store, which names them.
  bool noEscalation(const std::vector<std::string_view>& permissions,
                    capnp::List<uint64_t>::Reader roles, wire::Response::Builder response) const {
    store::PermissionSet wanted;
    for (auto name : permissions) {
      if (auto bit = g_.permission(name)) wanted.set(*bit);
    }
    for (uint64_t id : roles) {
      if (auto role = g_.role(id)) wanted.unite(role->permissions.stored());
    }
    std::string_view held = g_.effective(actor_, company_).value_or(std::string_view());
    std::vector<std::string> missing;
    store::forEachBit(wanted.stored(), [&](uint32_t bit) {
      if (!store::testBit(held, bit)) {
        missing.emplace_back(g_.permissionName(bit).value_or(std::string_view("?")));
      }
    });
    if (missing.empty()) return true;
    setMissing(response, ErrorCode::ESCALATION,
               fmt::format("actor {} cannot grant permissions it does not hold in company {}",
                           actor_, company_),
               missing);
    return false;
  }

  // The service account, or an answered `notFound`.
  std::optional<store::PrincipalRecord> account(uint64_t id,
                                                wire::Response::Builder response) const {
    auto p = g_.principal(id);
    if (p && p->kind == store::PrincipalKind::serviceAccount) return p;
    setError(response, ErrorCode::NOT_FOUND,
             fmt::format("serviceAccount: no service account with id {}", id));
    return std::nullopt;
  }

  // The service account when the active company owns it; otherwise an answered error.
  std::optional<store::PrincipalRecord> owned(uint64_t id, wire::Response::Builder response) const {
    auto p = account(id, response);
    if (!p) return std::nullopt;
    if (p->ownerCompany == company_) return p;
    setError(response, ErrorCode::NOT_OWNER,
             fmt::format("service account {} is owned by company {}; only its owner may do this",
                         id, p->ownerCompany));
    return std::nullopt;
  }

  // The user, or an answered `notFound`.
  bool user(uint64_t id, wire::Response::Builder response) const {
    auto p = g_.principal(id);
    if (p && p->kind == store::PrincipalKind::user) return true;
    setError(response, ErrorCode::NOT_FOUND, fmt::format("user: no user with id {}", id));
    return false;
  }

  // A role of the active company; system roles and other companies' roles are answered.
  std::optional<store::RoleRecord> companyRole(uint64_t id,
                                               wire::Response::Builder response) const {
    auto role = g_.role(id);
    if (!role) {
      setError(response, ErrorCode::NOT_FOUND, fmt::format("role: no role with id {}", id));
      return std::nullopt;
    }
    if (role->company != company_) {
      setError(response, ErrorCode::FORBIDDEN,
               role->company == 0
                   ? fmt::format("role {} is a system role, managed by the platform", id)
                   : fmt::format("role {} belongs to company {}", id, role->company));
      return std::nullopt;
    }
    return role;
  }

 private:
  const store::GraphReader& g_;
  store::PrincipalId actor_;
  store::CompanyId company_;
};

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

bool Service::isActorRead(wire::Request::Which which) {
  return which == Request::SA_LIST || which == Request::SA_SHOW || which == Request::SA_COMPANIES ||
         which == Request::AUDIT_LIST;
}

bool Service::isActorMutation(wire::Request::Which which) {
  switch (which) {
    case Request::SA_CREATE:
    case Request::SA_DESCRIBE:
    case Request::SA_RESET_CREDENTIALS:
    case Request::SA_DELETE:
    case Request::SA_SET_STATE:
    case Request::SA_GRANT:
    case Request::SA_REVOKE:
    case Request::ROLE_CREATE:
    case Request::ROLE_EDIT:
    case Request::ROLE_DELETE:
    case Request::USER_CREATE:
    case Request::USER_GRANT:
    case Request::USER_REVOKE:
    case Request::SA_KEY_CREATE:
    case Request::SA_KEY_REVOKE:
    case Request::SA_KEY_ROTATE:
      return true;
    default:
      return false;
  }
}

bool Service::applyActorMutation(store::Writer& w, Request::Reader req,
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
      auto key = issueKey(w, id, 0, response);
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
      return issueKeyAnswer(w, id, 0, std::get<uint32_t>(retired), response);
    }
    case Request::SA_KEY_CREATE: {
      auto q = req.getSaKeyCreate();
      if (!scope.require(kManageAccounts, response) ||
          !scope.owned(q.getServiceAccount(), response)) {
        return false;
      }
      return applyCredentialMutation(w, req, response);
    }
    case Request::SA_KEY_ROTATE: {
      auto q = req.getSaKeyRotate();
      if (!scope.require(kManageAccounts, response) ||
          !scope.owned(q.getServiceAccount(), response)) {
        return false;
      }
      return applyCredentialMutation(w, req, response);
    }
    case Request::SA_KEY_REVOKE: {
      if (!scope.require(kManageAccounts, response)) return false;
      auto key = w.key(req.getSaKeyRevoke());
      if (!key) {
        setError(response, ErrorCode::NOT_FOUND,
                 fmt::format("key: no key with id {}", req.getSaKeyRevoke()));
        return false;
      }
      if (!scope.owned(key->principal, response)) return false;
      return applyCredentialMutation(w, req, response);
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
      auto state = q.getState() == wire::PrincipalState::DISABLED ? store::PrincipalState::disabled
                                                                  : store::PrincipalState::active;
      return mutationOk(w, response, w.setPrincipalState(q.getPrincipal(), state));
    }
    case Request::SA_GRANT:
    case Request::USER_GRANT: {
      bool sa = req.which() == Request::SA_GRANT;
      auto q = sa ? req.getSaGrant() : req.getUserGrant();
      auto permissions = views(q.getPermissions());
      if (!scope.require(sa ? kManageAccounts : kManageUsers, response)) return false;
      if (sa ? !scope.account(q.getPrincipal(), response)
             : !scope.user(q.getPrincipal(), response)) {
        return false;
      }
      if (!scope.noEscalation(permissions, q.getRoles(), response)) return false;
      return mutationOk(w, response,
                        w.setGrant(q.getPrincipal(), here, permissions, ids(q.getRoles())));
    }
    case Request::SA_REVOKE:
    case Request::USER_REVOKE: {
      bool sa = req.which() == Request::SA_REVOKE;
      uint64_t id = sa ? req.getSaRevoke() : req.getUserRevoke();
      if (!scope.require(sa ? kManageAccounts : kManageUsers, response)) return false;
      if (sa ? !scope.account(id, response) : !scope.user(id, response)) return false;
      return mutationOk(w, response, w.removeGrant(id, here));
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
      setError(response, ErrorCode::INVALID_ARGUMENT, "not a mutation");
      return false;
  }
}

// ------------------------------------------------------------------------------------------------
// Reads: the Service Accounts view, an account's companies, the audit trail.

void Service::answerActorRead(Reader& reader, Request::Reader request, std::string& out) {
  store::Snapshot& snap = reader.snapshot();
  store::GraphReader g = snap.reader();
  capnp::MallocMessageBuilder builder(reader.scratch());
  auto response = builder.initRoot<wire::Response>();
  response.setId(request.getId());
  ActorScope scope(g, request);
  switch (request.which()) {
    case Request::SA_LIST:
    case Request::SA_SHOW: {
      if (!scope.require(kReadAccounts, response)) break;
      std::vector<store::PrincipalRecord> rows;
      if (request.which() == Request::SA_SHOW) {
        auto account = scope.account(request.getSaShow(), response);
        if (!account) break;
        bool visible = account->ownerCompany == scope.company() ||
                       g.grant(account->id, scope.company()).has_value();
        if (!visible) {
          setError(response, ErrorCode::NOT_FOUND,
                   fmt::format("service account {} has no access to company {}", account->id,
                               scope.company()));
          break;
        }
        rows.push_back(*account);
      } else {
        for (auto id : g.ownedAccounts(scope.company())) rows.push_back(*g.principal(id));
        for (auto id : g.principalsIn(scope.company())) {
          auto p = g.principal(id);
          if (p->kind == store::PrincipalKind::serviceAccount &&
              p->ownerCompany != scope.company()) {
            rows.push_back(*p);
          }
        }
      }
      auto view = response.initSaView();
      view.setRevision(snap.revision());
      view.setCompany(scope.company());
      auto list = view.initRows(static_cast<unsigned>(rows.size()));
      bool manage = scope.holds(kManageAccounts);
      for (unsigned i = 0; i < rows.size(); ++i)
        fillRow(g, rows[i], scope.company(), manage, list[i]);
      break;
    }
    case Request::SA_COMPANIES: {
      if (!scope.require(kReadAccounts, response)) break;
      if (!scope.owned(request.getSaCompanies(), response)) break;
      auto companies = g.companiesOf(request.getSaCompanies());
      auto r = response.initSaCompanies();
      r.setRevision(snap.revision());
      auto list = r.initCompanies(static_cast<unsigned>(companies.size()));
      for (unsigned i = 0; i < companies.size(); ++i) {
        list[i].setId(companies[i]);
        std::string_view name = g.company(companies[i]).value_or(std::string_view());
        copyText(list[i].initName(static_cast<unsigned>(name.size())), name);
      }
      break;
    }
    case Request::AUDIT_LIST: {
      auto q = request.getAuditList();
      bool system = request.getActor() == 0 && request.getActiveCompany() == 0;
      if (!system && !scope.require(kReadAudit, response)) break;
      size_t limit = q.getLimit() == 0 ? 100 : std::min<size_t>(q.getLimit(), 1000);
      auto events = g.auditPage(system ? 0 : scope.company(), q.getBefore(), limit);
      auto page = response.initAudit();
      page.setRevision(snap.revision());
      auto list = page.initEvents(static_cast<unsigned>(events.size()));
      for (unsigned i = 0; i < events.size(); ++i) {
        const store::AuditRecord& e = events[i];
        auto item = list[i];
        item.setSequence(e.sequence);
        item.setTime(e.time);
        item.setActor(e.actor);
        item.setActiveCompany(e.activeCompany);
        item.setPeerUid(e.peerUid);
        item.setPeerPid(e.peerPid);
        item.setOperation(e.operation);
        item.setTarget(e.target);
        item.setOutcome(e.outcome);
      }
      break;
    }
    default:
      break;
  }
  appendFrame(builder, out);
}

void Service::fillRow(const store::GraphReader& g, const store::PrincipalRecord& account,
                      store::CompanyId company, bool manage, wire::SaRow::Builder row) {
  bool owned = account.ownerCompany == company;
  row.setId(account.id);
  row.setName(account.name);
  row.setDescription(account.description);
  row.setOwnerCompany(account.ownerCompany);
  std::string_view owner = g.company(account.ownerCompany).value_or(std::string_view());
  copyText(row.initOwnerCompanyName(static_cast<unsigned>(owner.size())), owner);
  row.setRelation(owned ? wire::Relation::OWNED : wire::Relation::EXTERNAL);
  row.setState(account.state == store::PrincipalState::active ? wire::PrincipalState::ACTIVE
                                                              : wire::PrincipalState::DISABLED);
  auto grant = g.grant(account.id, company);
  row.setHasAccess(grant.has_value());
  if (grant) {
    auto names = namesOf(g, grant->direct.stored());
    setNames(row.initPermissions(static_cast<unsigned>(names.size())), names);
    auto roles = row.initRoles(static_cast<unsigned>(grant->roles.size()));
    for (unsigned i = 0; i < grant->roles.size(); ++i) {
      auto role = g.role(grant->roles[i]);
      roles[i].setId(grant->roles[i]);
      if (!role) continue;
      roles[i].setCompany(role->company);
      roles[i].setName(role->name);
      auto rolePerms = namesOf(g, role->permissions.stored());
      setNames(roles[i].initPermissions(static_cast<unsigned>(rolePerms.size())), rolePerms);
    }
  }
  if (owned) {  // an external row never shows the account's keys
    auto keys = g.keysOf(account.id);
    auto list = row.initKeys(static_cast<unsigned>(keys.size()));
    uint64_t now = unixNow();
    for (unsigned i = 0; i < keys.size(); ++i) {
      fillKey(keys[i], now, list[i]);
      list[i].setLastUsedAt(std::max(keys[i].lastUsedAt, usage_.pending(keys[i].id)));
    }
  }
  row.setLastUsedAt(std::max(g.accessUsed(account.id, company),
                             accessUsage_.pending(store::grantKey(account.id, company))));
  auto actions = row.initActions();
  actions.setEditDescription(owned && manage);
  actions.setResetCredentials(owned && manage);
  actions.setDelete(owned && manage);
  actions.setEditPermissions(manage);
  actions.setRemoveAccess(manage && grant.has_value());
}

// ------------------------------------------------------------------------------------------------
// The audit trail: what each mutation is called, what it targets, and whose lists show it.

std::string Service::operationName(Request::Reader req) {
  KJ_IF_MAYBE (field, capnp::toDynamic(req).which()) {
    auto name = field->getProto().getName();
    return std::string(name.begin(), name.size());
  }
  return "unknown";
}

std::string Service::auditTarget(Request::Reader req) {
  switch (req.which()) {
    case Request::SA_CREATE:
      return fmt::format("serviceAccount '{}'", view(req.getSaCreate().getName()));
    case Request::SA_DESCRIBE:
      return fmt::format("serviceAccount {}", req.getSaDescribe().getServiceAccount());
    case Request::SA_KEY_CREATE:
      return fmt::format("serviceAccount {}", req.getSaKeyCreate().getServiceAccount());
    case Request::SA_KEY_ROTATE:
      return fmt::format("serviceAccount {}", req.getSaKeyRotate().getServiceAccount());
    case Request::SA_KEY_REVOKE:
      return fmt::format("key {}", req.getSaKeyRevoke());
    case Request::SA_RESET_CREDENTIALS:
      return fmt::format("serviceAccount {}", req.getSaResetCredentials());
    case Request::SA_DELETE:
      return fmt::format("serviceAccount {}", req.getSaDelete());
    case Request::SA_SET_STATE:
      return fmt::format("serviceAccount {}", req.getSaSetState().getPrincipal());
    case Request::SA_GRANT:
      return fmt::format("serviceAccount {}", req.getSaGrant().getPrincipal());
    case Request::SA_REVOKE:
      return fmt::format("serviceAccount {}", req.getSaRevoke());
    case Request::ROLE_CREATE:
      return fmt::format("role '{}'", view(req.getRoleCreate().getName()));
    case Request::ROLE_EDIT:
      return fmt::format("role {}", req.getRoleEdit().getRole());
    case Request::ROLE_DELETE:
      return fmt::format("role {}", req.getRoleDelete());
    case Request::USER_CREATE:
      return fmt::format("user '{}'", view(req.getUserCreate().getName()));
    case Request::USER_GRANT:
      return fmt::format("user {}", req.getUserGrant().getPrincipal());
    case Request::USER_REVOKE:
      return fmt::format("user {}", req.getUserRevoke());
    case Request::CREATE_COMPANY:
      return fmt::format("company '{}'", view(req.getCreateCompany().getName()));
    case Request::CREATE_ROLE:
      return fmt::format("role '{}'", view(req.getCreateRole().getName()));
    case Request::UPDATE_ROLE:
      return fmt::format("role {}", req.getUpdateRole().getRole());
    case Request::DELETE_ROLE:
      return fmt::format("role {}", req.getDeleteRole());
    case Request::CREATE_USER:
      return fmt::format("user '{}'", view(req.getCreateUser().getName()));
    case Request::CREATE_SERVICE_ACCOUNT:
      return fmt::format("serviceAccount '{}'", view(req.getCreateServiceAccount().getName()));
    case Request::SET_GRANT:
      return fmt::format("principal {} in company {}", req.getSetGrant().getPrincipal(),
                         req.getSetGrant().getCompany());
    case Request::REMOVE_GRANT:
      return fmt::format("principal {} in company {}", req.getRemoveGrant().getPrincipal(),
                         req.getRemoveGrant().getCompany());
    case Request::SET_PRINCIPAL_STATE:
      return fmt::format("principal {}", req.getSetPrincipalState().getPrincipal());
    case Request::DELETE_PRINCIPAL:
      return fmt::format("principal {}", req.getDeletePrincipal());
    case Request::CREATE_KEY:
      return fmt::format("serviceAccount {}", req.getCreateKey().getServiceAccount());
    case Request::REVOKE_KEY:
      return fmt::format("key {}", req.getRevokeKey());
    case Request::RESET_KEYS:
      return fmt::format("serviceAccount {}", req.getResetKeys().getServiceAccount());
    case Request::ROTATE_KEY:
      return fmt::format("serviceAccount {}", req.getRotateKey().getServiceAccount());
    case Request::SET_PASSWORD:
      return fmt::format("user {}", req.getSetPassword().getUser());
    case Request::ENROLL_TOTP:
      return fmt::format("user {}", req.getEnrollTotp());
    case Request::REMOVE_TOTP:
      return fmt::format("user {}", req.getRemoveTotp());
    default:
      return "";
  }
}

std::vector<store::CompanyId> Service::auditCompanies(const store::GraphReader& g,
                                                      Request::Reader req) {
  std::vector<store::CompanyId> out = {req.getActiveCompany()};
  auto everywhere = [&](store::PrincipalId p) {
    for (auto c : g.companiesOf(p)) out.push_back(c);
    if (auto principal = g.principal(p)) out.push_back(principal->ownerCompany);
  };
  switch (req.which()) {
    case Request::SA_DELETE:
      everywhere(req.getSaDelete());
      break;
    case Request::SA_SET_STATE:
      everywhere(req.getSaSetState().getPrincipal());
      break;
    case Request::DELETE_PRINCIPAL:
      everywhere(req.getDeletePrincipal());
      break;
    case Request::SET_PRINCIPAL_STATE:
      everywhere(req.getSetPrincipalState().getPrincipal());
      break;
    case Request::SET_GRANT:
      out.push_back(req.getSetGrant().getCompany());
      break;
    case Request::REMOVE_GRANT:
      out.push_back(req.getRemoveGrant().getCompany());
      break;
    case Request::CREATE_ROLE:
      out.push_back(req.getCreateRole().getCompany());
      break;
    case Request::CREATE_SERVICE_ACCOUNT:
      out.push_back(req.getCreateServiceAccount().getOwnerCompany());
      break;
    default:
      break;
  }
  return out;
}

}  // namespace gatehouse::service
