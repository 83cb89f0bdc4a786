// The actor rules (docs/service-accounts.md): what an actor may do in its active company. Every
// actor-scoped request names no company: its scope is the envelope's `activeCompany`. The checks
// run in this order, and the first that fails answers: the actor and the company exist and the
// actor is active
// (`forbidden` / `notFound`); the actor holds the request's permission in the active company
// (`forbidden`); the target exists (`notFound`) — for a service account, exists and is related
// to the active company (owned, granted access there, offered to it, or its ownership offered
// to it), an unrelated account
// being answered exactly as an id that names nothing; the active company owns the target when
// the rule says "owner only" (`notOwner`); nothing granted exceeds what the actor holds there
// (`escalation`, listing the missing permissions).
//
// `ActorScope` answers the refusal into the response and returns false (or nullopt); the callers
// (actor_rules.cpp for mutations, company_view.cpp for reads) stop at the first refusal.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse.capnp.h"
#include "protocol/errors.hpp"
#include "store/store.hpp"

namespace gatehouse::service {

constexpr std::string_view kManageAccounts = "service_accounts.manage";
constexpr std::string_view kReadAccounts = "service_accounts.read";
constexpr std::string_view kManageRoles = "roles.manage";
constexpr std::string_view kManageUsers = "users.manage";
constexpr std::string_view kReadAudit = "audit.read";

// The actor's standing in the active company: who it is and what it holds there.
class ActorScope {
 public:
  using ErrorCode = wire::ErrorCode;

  ActorScope(const store::GraphReader& g, wire::Request::Reader request)
      : g_(g), actor_(request.getActor()), company_(request.getActiveCompany()) {}

  store::PrincipalId actor() const { return actor_; }
  store::CompanyId company() const { return company_; }

  // Answers an error and returns false unless the actor may act in the company and holds
  // `permission` there.
  bool require(std::string_view permission, wire::Response::Builder response) const {
    if (actor_ == 0 || company_ == 0) {
      protocol::setError(response, ErrorCode::INVALID_ARGUMENT,
                         "actor and activeCompany must be set for this request");
      return false;
    }
    if (!g_.company(company_)) {
      protocol::setError(response, ErrorCode::NOT_FOUND,
                         fmt::format("activeCompany: no company with id {}", company_));
      return false;
    }
    auto actor = g_.principal(actor_);
    if (!actor || actor->state != store::PrincipalState::active) {
      protocol::setError(response, ErrorCode::FORBIDDEN,
                         fmt::format("actor {} is unknown or disabled", actor_));
      return false;
    }
    if (!holds(permission)) {
      protocol::setError(response, ErrorCode::FORBIDDEN,
                         fmt::format("actor {} lacks a permission this request needs in company {}",
                                     actor_, company_),
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
    protocol::setError(
        response, ErrorCode::ESCALATION,
        fmt::format("actor {} cannot grant permissions it does not hold in company {}", actor_,
                    company_),
        missing);
    return false;
  }

  // The service account, or an answered `notFound`. Only for `sharing = "open"`, where any
  // company may attach any account by its id; everything else asks `related`.
  std::optional<store::PrincipalRecord> account(uint64_t id,
                                                wire::Response::Builder response) const {
    auto p = g_.principal(id);
    if (p && p->kind == store::PrincipalKind::serviceAccount) return p;
    answerNoAccount(id, response);
    return std::nullopt;
  }

  // The service account when it has a relation to the active company: owned by it, granted
  // access to it, offered to it, or its ownership offered to it. Otherwise nullopt. The same
  // lookups run whether or not the id names an account, so that neither the answer nor its timing
  // tells an unrelated company that the account exists (docs/service-accounts.md, "No existence
  // leaks").
  std::optional<store::PrincipalRecord> relatedAccount(uint64_t id) const {
    Relation r = relationTo(id);
    if (!r.principal || r.principal->kind != store::PrincipalKind::serviceAccount) {
      return std::nullopt;
    }
    if (r.owns || r.granted || r.offered || r.ownershipOffered) return r.principal;
    return std::nullopt;
  }

  // Whether the active company owns the account, holds a grant of it or an offer of it: what a
  // grant (saGrant) needs under consent. An offer of its ownership alone is not enough.
  bool shared(uint64_t id) const {
    Relation r = relationTo(id);
    return r.owns || r.granted || r.offered;
  }

  // `relatedAccount`, or an answered `notFound` in the words used for an id that names nothing.
  std::optional<store::PrincipalRecord> related(uint64_t id,
                                                wire::Response::Builder response) const {
    auto p = relatedAccount(id);
    if (!p) answerNoAccount(id, response);
    return p;
  }

  // The related service account when the active company owns it; otherwise an answered
  // `notFound` (no relation) or `notOwner` (granted or offered here, owned elsewhere).
  std::optional<store::PrincipalRecord> owned(uint64_t id, wire::Response::Builder response) const {
    auto p = related(id, response);
    if (!p) return std::nullopt;
    if (p->ownerCompany == company_) return p;
    answerNotOwner(*p, response);
    return std::nullopt;
  }

  static void answerNoAccount(uint64_t id, wire::Response::Builder response) {
    protocol::setError(response, ErrorCode::NOT_FOUND,
                       fmt::format("serviceAccount: no service account with id {}", id));
  }

  static void answerNotOwner(const store::PrincipalRecord& account,
                             wire::Response::Builder response) {
    protocol::setError(
        response, ErrorCode::NOT_OWNER,
        fmt::format("service account {} is owned by company {}; only its owner may do this",
                    account.id, account.ownerCompany));
  }

  // The user, or an answered `notFound`.
  bool user(uint64_t id, wire::Response::Builder response) const {
    auto p = g_.principal(id);
    if (p && p->kind == store::PrincipalKind::user) return true;
    protocol::setError(response, ErrorCode::NOT_FOUND, fmt::format("user: no user with id {}", id));
    return false;
  }

  // A role of the active company; system roles and other companies' roles are answered.
  std::optional<store::RoleRecord> companyRole(uint64_t id,
                                               wire::Response::Builder response) const {
    auto role = g_.role(id);
    if (!role) {
      protocol::setError(response, ErrorCode::NOT_FOUND,
                         fmt::format("role: no role with id {}", id));
      return std::nullopt;
    }
    if (role->company != company_) {
      protocol::setError(response, ErrorCode::FORBIDDEN,
                         role->company == 0
                             ? fmt::format("role {} is a system role, managed by the platform", id)
                             : fmt::format("role {} belongs to company {}", id, role->company));
      return std::nullopt;
    }
    return role;
  }

 private:
  // What ties principal `id` to the active company, each looked up whatever the others are.
  struct Relation {
    std::optional<store::PrincipalRecord> principal;
    bool owns = false;              // the active company owns it
    bool granted = false;           // it holds a grant in the active company
    bool offered = false;           // its owner offered it to the active company
    bool ownershipOffered = false;  // its ownership is offered to the active company
  };
  Relation relationTo(uint64_t id) const {
    Relation r;
    r.principal = g_.principal(id);
    r.owns = r.principal && r.principal->ownerCompany == company_;
    r.granted = g_.grant(id, company_).has_value();
    r.offered = g_.offered(id, company_);
    auto transfer = g_.transferOffer(id);
    r.ownershipOffered = transfer && transfer->company == company_;
    return r;
  }

  const store::GraphReader& g_;
  store::PrincipalId actor_;
  store::CompanyId company_;
};

}  // namespace gatehouse::service
