#include "service/requests.hpp"

#include <capnp/dynamic.h>
#include <fmt/format.h>

#include <array>

#include "service/wire_convert.hpp"

namespace gatehouse::service {
namespace {

using protocol::AccessClass;
using wire::Request;

// ---- Audit targets and scopes ----

std::string account(uint64_t id) { return fmt::format("serviceAccount {}", id); }
std::string named(std::string_view kind, capnp::Text::Reader name) {
  return fmt::format("{} '{}'", kind, view(name));
}

// Everywhere the principal is known: where it holds grants, and its owner company.
void everywhere(const store::GraphReader& g, store::PrincipalId p,
                std::vector<store::CompanyId>& out) {
  for (auto c : g.companiesOf(p)) out.push_back(c);
  if (auto principal = g.principal(p)) out.push_back(principal->ownerCompany);
}

// Sharing: the account with the company it is offered to (or withdrawn from).
std::string sharing(wire::SaShare::Reader q) {
  return fmt::format("serviceAccount {} with company {}", q.getServiceAccount(), q.getCompany());
}

// Transfers: the companies a transfer request concerns besides the acting one — the owner and
// the company the ownership is (or is being) offered to, as they stand before it is applied.
void transferParties(const store::GraphReader& g, store::PrincipalId account,
                     std::vector<store::CompanyId>& out) {
  if (auto p = g.principal(account); p && p->kind == store::PrincipalKind::serviceAccount) {
    out.push_back(p->ownerCompany);
  }
  if (auto t = g.transferOffer(account)) out.push_back(t->company);
}

// Ceilings: the companies whose grant of the account a new ceiling trims (none when it is
// cleared, or when a name is unknown and the request will be refused).
void trimmedBy(const store::GraphReader& g, wire::SaCeiling::Reader q,
               std::vector<store::CompanyId>& out) {
  if (q.getClear()) return;
  auto account = g.principal(q.getServiceAccount());
  if (!account || account->kind != store::PrincipalKind::serviceAccount) return;
  store::PermissionSet limit;
  for (auto name : q.getPermissions()) {
    auto bit = g.permission(view(name));
    if (!bit) return;
    limit.set(*bit);
  }
  for (auto c : g.grantsAbove(*account, limit.stored())) out.push_back(c);
}

constexpr AccessClass kCheck = AccessClass::check;
constexpr AccessClass kAdmin = AccessClass::admin;

}  // namespace

// The table. Check-class rows first, then system-context mutations, credentials, actor requests.
constexpr RequestRow detail::kRows[] = {
    {Request::PING, kCheck, Route::snapshot, answerPing},
    {Request::HELLO, kCheck, Route::snapshot, answerHello},
    {Request::STATS, kCheck, Route::snapshot, answerStats},
    {Request::BACKUP, kAdmin, Route::pool, nullptr, nullptr, startBackup},
    {Request::ACCEPT_DESCRIPTORS, kAdmin, Route::pool, nullptr, nullptr, startAcceptDescriptors},
    {Request::AUTHORIZE, kCheck, Route::snapshot, answerAuthorize},
    {Request::AUTHORIZE_BATCH, kCheck, Route::snapshot, answerAuthorizeBatch},
    {Request::LIST_PERMISSIONS, kCheck, Route::snapshot, answerListPermissions},
    {Request::LOOKUP, kCheck, Route::snapshot, answerLookup},
    {Request::LIST_COMPANIES, kCheck, Route::snapshot, answerListCompanies},
    {Request::LIST_CATALOG, kCheck, Route::snapshot, answerListCatalog},
    {Request::LIST_ROLES, kCheck, Route::snapshot, answerListRoles},
    {Request::GET_PRINCIPAL, kCheck, Route::snapshot, answerGetPrincipal},
    {Request::GET_GRANT, kCheck, Route::snapshot, answerGetGrant},
    {Request::CHECK_CREDENTIAL, kCheck, Route::pool, nullptr, nullptr, startCheckCredential},
    {Request::CHECK_ACCESS, kCheck, Route::snapshot, answerCheckAccess},

    // Key ids and states are for those who manage keys: a check-class peer has no use for them.
    {Request::LIST_KEYS, kAdmin, Route::snapshot, answerListKeys},

    {Request::CREATE_COMPANY, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) { return named("company", r.getCreateCompany().getName()); }},
    {Request::DEFINE_PERMISSIONS, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader) { return std::string(); }},
    {Request::CREATE_ROLE, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) { return named("role", r.getCreateRole().getName()); },
     [](const store::GraphReader&, Request::Reader r, std::vector<store::CompanyId>& out) {
       out.push_back(r.getCreateRole().getCompany());
     },
     true},
    {Request::UPDATE_ROLE, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) { return fmt::format("role {}", r.getUpdateRole().getRole()); }, nullptr,
     true},
    {Request::DELETE_ROLE, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) { return fmt::format("role {}", r.getDeleteRole()); }, nullptr, true},
    {Request::CREATE_USER, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) { return named("user", r.getCreateUser().getName()); }},
    {Request::CREATE_SERVICE_ACCOUNT, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) {
       return named("serviceAccount", r.getCreateServiceAccount().getName());
     },
     [](const store::GraphReader&, Request::Reader r, std::vector<store::CompanyId>& out) {
       out.push_back(r.getCreateServiceAccount().getOwnerCompany());
     }},
    {Request::SET_GRANT, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) {
       return fmt::format("principal {} in company {}", r.getSetGrant().getPrincipal(),
                          r.getSetGrant().getCompany());
     },
     [](const store::GraphReader&, Request::Reader r, std::vector<store::CompanyId>& out) {
       out.push_back(r.getSetGrant().getCompany());
     },
     true},
    {Request::REMOVE_GRANT, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) {
       return fmt::format("principal {} in company {}", r.getRemoveGrant().getPrincipal(),
                          r.getRemoveGrant().getCompany());
     },
     [](const store::GraphReader&, Request::Reader r, std::vector<store::CompanyId>& out) {
       out.push_back(r.getRemoveGrant().getCompany());
     },
     true},
    {Request::SET_PRINCIPAL_STATE, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) {
       return fmt::format("principal {}", r.getSetPrincipalState().getPrincipal());
     },
     [](const store::GraphReader& g, Request::Reader r, std::vector<store::CompanyId>& out) {
       everywhere(g, r.getSetPrincipalState().getPrincipal(), out);
     },
     true},
    {Request::DELETE_PRINCIPAL, kAdmin, Route::writer, nullptr, applyGraphMutation, nullptr,
     [](Request::Reader r) { return fmt::format("principal {}", r.getDeletePrincipal()); },
     [](const store::GraphReader& g, Request::Reader r, std::vector<store::CompanyId>& out) {
       everywhere(g, r.getDeletePrincipal(), out);
     },
     true},

    {Request::CREATE_KEY, kAdmin, Route::writer, nullptr, applyCredentialMutation, nullptr,
     [](Request::Reader r) { return account(r.getCreateKey().getServiceAccount()); }},
    {Request::REVOKE_KEY, kAdmin, Route::writer, nullptr, applyCredentialMutation, nullptr,
     [](Request::Reader r) { return fmt::format("key {}", r.getRevokeKey()); }},
    {Request::RESET_KEYS, kAdmin, Route::writer, nullptr, applyCredentialMutation, nullptr,
     [](Request::Reader r) { return account(r.getResetKeys().getServiceAccount()); }},
    {Request::ROTATE_KEY, kAdmin, Route::writer, nullptr, applyCredentialMutation, nullptr,
     [](Request::Reader r) { return account(r.getRotateKey().getServiceAccount()); }},
    {Request::SET_PASSWORD, kAdmin, Route::pool, nullptr, nullptr, startSetPassword,
     [](Request::Reader r) { return fmt::format("user {}", r.getSetPassword().getUser()); }},
    {Request::ENROLL_TOTP, kAdmin, Route::writer, nullptr, applyCredentialMutation, nullptr,
     [](Request::Reader r) { return fmt::format("user {}", r.getEnrollTotp()); }},
    {Request::REMOVE_TOTP, kAdmin, Route::writer, nullptr, applyCredentialMutation, nullptr,
     [](Request::Reader r) { return fmt::format("user {}", r.getRemoveTotp()); }},

    {Request::SA_CREATE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return named("serviceAccount", r.getSaCreate().getName()); }},
    {Request::SA_DESCRIBE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaDescribe().getServiceAccount()); }},
    {Request::SA_RESET_CREDENTIALS, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaResetCredentials()); }},
    {Request::SA_DELETE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaDelete()); },
     [](const store::GraphReader& g, Request::Reader r, std::vector<store::CompanyId>& out) {
       everywhere(g, r.getSaDelete(), out);
       for (auto c : g.offersOf(r.getSaDelete())) out.push_back(c);
     },
     true},
    {Request::SA_SET_STATE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaSetState().getPrincipal()); },
     [](const store::GraphReader& g, Request::Reader r, std::vector<store::CompanyId>& out) {
       everywhere(g, r.getSaSetState().getPrincipal(), out);
     },
     true},
    {Request::SA_GRANT, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaGrant().getPrincipal()); }, nullptr, true},
    {Request::SA_REVOKE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaRevoke()); }, nullptr, true},
    {Request::SA_SHARE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return sharing(r.getSaShare()); },
     [](const store::GraphReader&, Request::Reader r, std::vector<store::CompanyId>& out) {
       out.push_back(r.getSaShare().getCompany());
     }},
    {Request::SA_UNSHARE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return sharing(r.getSaUnshare()); },
     [](const store::GraphReader&, Request::Reader r, std::vector<store::CompanyId>& out) {
       out.push_back(r.getSaUnshare().getCompany());
     },
     true},
    {Request::SA_SET_CEILING, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaSetCeiling().getServiceAccount()); },
     [](const store::GraphReader& g, Request::Reader r, std::vector<store::CompanyId>& out) {
       trimmedBy(g, r.getSaSetCeiling(), out);
     },
     true},
    {Request::SA_OFFER_OWNERSHIP, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) {
       auto q = r.getSaOfferOwnership();
       return fmt::format("serviceAccount {} to company {}", q.getServiceAccount(), q.getCompany());
     },
     [](const store::GraphReader& g, Request::Reader r, std::vector<store::CompanyId>& out) {
       transferParties(g, r.getSaOfferOwnership().getServiceAccount(), out);
       out.push_back(r.getSaOfferOwnership().getCompany());
     }},
    {Request::SA_CANCEL_TRANSFER, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaCancelTransfer()); },
     [](const store::GraphReader& g, Request::Reader r, std::vector<store::CompanyId>& out) {
       transferParties(g, r.getSaCancelTransfer(), out);
     }},
    {Request::SA_ACCEPT_OWNERSHIP, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaAcceptOwnership()); },
     [](const store::GraphReader& g, Request::Reader r, std::vector<store::CompanyId>& out) {
       transferParties(g, r.getSaAcceptOwnership(), out);
     },
     true},
    {Request::SA_KEY_CREATE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaKeyCreate().getServiceAccount()); }},
    {Request::SA_KEY_REVOKE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return fmt::format("key {}", r.getSaKeyRevoke()); }},
    {Request::SA_KEY_ROTATE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return account(r.getSaKeyRotate().getServiceAccount()); }},
    {Request::ROLE_CREATE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return named("role", r.getRoleCreate().getName()); }, nullptr, true},
    {Request::ROLE_EDIT, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return fmt::format("role {}", r.getRoleEdit().getRole()); }, nullptr,
     true},
    {Request::ROLE_DELETE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return fmt::format("role {}", r.getRoleDelete()); }, nullptr, true},
    {Request::USER_CREATE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return named("user", r.getUserCreate().getName()); }},
    {Request::USER_GRANT, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return fmt::format("user {}", r.getUserGrant().getPrincipal()); },
     nullptr, true},
    {Request::USER_REVOKE, kAdmin, Route::writer, nullptr, applyActorMutation, nullptr,
     [](Request::Reader r) { return fmt::format("user {}", r.getUserRevoke()); }, nullptr, true},

    {Request::SA_LIST, kAdmin, Route::snapshot, answerSaView},
    {Request::SA_SHOW, kAdmin, Route::snapshot, answerSaView},
    {Request::SA_COMPANIES, kAdmin, Route::snapshot, answerSaCompanies},
    {Request::AUDIT_LIST, kAdmin, Route::snapshot, answerAuditList},
};

namespace {

using detail::kRows;

constexpr size_t kIndexSize = [] {
  size_t most = 0;
  for (const RequestRow& row : kRows) most = std::max(most, static_cast<size_t>(row.which));
  return most + 1;
}();

// kRows by `which`; -1 where there is no row. Checked at compile time: one row per kind (that each
// row has the handler its route calls is checked by service_test).
constexpr std::array<int, kIndexSize> kIndex = [] {
  std::array<int, kIndexSize> index{};
  index.fill(-1);
  for (size_t i = 0; i < std::size(kRows); ++i) {
    const RequestRow& row = kRows[i];
    auto slot = static_cast<size_t>(row.which);
    if (index[slot] != -1) throw "two rows for one request kind";
    index[slot] = static_cast<int>(i);
  }
  return index;
}();

}  // namespace

const int* const detail::kRowIndex = kIndex.data();
const size_t detail::kRowIndexSize = kIndexSize;

std::span<const RequestRow> requestRows() { return kRows; }

namespace {

// Reads every field, recursively; throws kj::Exception at the first one that cannot be read.
void readAll(const capnp::DynamicValue::Reader& value) {
  switch (value.getType()) {
    case capnp::DynamicValue::STRUCT: {
      auto s = value.as<capnp::DynamicStruct>();
      for (auto field : s.getSchema().getFields()) {
        if (s.has(field)) readAll(s.get(field));
      }
      break;
    }
    case capnp::DynamicValue::LIST:
      for (auto element : value.as<capnp::DynamicList>()) readAll(element);
      break;
    case capnp::DynamicValue::TEXT:
      value.as<capnp::Text>();  // checks the terminator
      break;
    default:
      break;
  }
}

}  // namespace

std::optional<std::string> unreadable(Request::Reader request) {
  try {
    readAll(capnp::toDynamic(request));
    return std::nullopt;
  } catch (const kj::Exception& e) {
    return std::string(e.getDescription().cStr());
  }
}

std::string operationName(Request::Reader request) {
  KJ_IF_MAYBE (field, capnp::toDynamic(request).which()) {
    auto name = field->getProto().getName();
    return std::string(name.begin(), name.size());
  }
  return "unknown";
}

}  // namespace gatehouse::service
