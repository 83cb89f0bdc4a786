// Reads by an actor in its active company (rules: service/actor_rules.hpp): the Service Accounts
// view (docs/service-accounts.md), an owned account's companies, and the company's audit trail.
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "service/actor_rules.hpp"
#include "service/credential_checker.hpp"
#include "service/io_state.hpp"
#include "service/requests.hpp"
#include "service/wire_convert.hpp"

namespace gatehouse::service {
namespace {

using wire::Request;

// One row of the view: the account as the company sees it, and the actions it may take.
void fillRow(ServiceParts& parts, const store::GraphReader& g,
             const store::PrincipalRecord& account, store::CompanyId company, bool manage,
             wire::SaRow::Builder row) {
  bool owned = account.ownerCompany == company;
  row.setId(account.id);
  row.setName(account.name);
  row.setDescription(account.description);
  row.setOwnerCompany(account.ownerCompany);
  std::string_view owner = g.company(account.ownerCompany).value_or(std::string_view());
  copyText(row.initOwnerCompanyName(static_cast<unsigned>(owner.size())), owner);
  row.setRelation(owned ? wire::Relation::OWNED : wire::Relation::EXTERNAL);
  if (owned) {
    auto offers = g.offersOf(account.id);
    auto list = row.initOfferedTo(static_cast<unsigned>(offers.size()));
    for (unsigned i = 0; i < offers.size(); ++i) {
      list[i].setId(offers[i]);
      std::string_view name = g.company(offers[i]).value_or(std::string_view());
      copyText(list[i].initName(static_cast<unsigned>(name.size())), name);
    }
    if (auto transfer = g.transferOffer(account.id)) {
      auto to = row.initOwnershipOfferedTo();
      to.setId(transfer->company);
      std::string_view name = g.company(transfer->company).value_or(std::string_view());
      copyText(to.initName(static_cast<unsigned>(name.size())), name);
    }
  } else {
    row.setOffered(g.offered(account.id, company));
    auto transfer = g.transferOffer(account.id);
    row.setOwnershipOffered(transfer && transfer->company == company);
  }
  if (auto ceiling = g.ceiling(account.id)) {
    row.setHasCeiling(true);
    auto names = namesOf(g, ceiling->stored());
    setNames(row.initCeiling(static_cast<unsigned>(names.size())), names);
  }
  row.setState(toWire(account.state));
  auto grant = g.liveGrant(account.id, company);
  row.setHasAccess(grant.has_value());
  if (grant) {
    row.setExpiresAt(grant->expiresAt);
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
    for (unsigned i = 0; i < keys.size(); ++i) parts.credentials.fillKey(keys[i], now, list[i]);
  }
  uint64_t grantKey = store::grantKey(account.id, company);
  row.setLastUsedAt(std::max(g.accessUsed(account.id, company),
                             parts.credentials.accessUsage().pending(grantKey)));
  auto actions = row.initActions();
  actions.setEditDescription(owned && manage);
  actions.setResetCredentials(owned && manage);
  actions.setDelete(owned && manage);
  // Not on a row only offered for its ownership: that company may accept it, not grant it.
  actions.setEditPermissions(manage && (owned || grant.has_value() || row.getOffered()));
  actions.setRemoveAccess(manage && grant.has_value());
  actions.setShare(owned && manage);
  actions.setTransfer(owned && manage);
  actions.setAcceptOwnership(manage && row.getOwnershipOffered());
}

// A page of the accounts the company sees: those it owns, then the external ones granted access
// to it or offered to it, each part by ascending id; one more than the page when there is more.
std::vector<store::PrincipalRecord> accountsIn(const store::GraphReader& g,
                                               store::CompanyId company, const Page& page) {
  std::vector<store::PrincipalRecord> rows;
  auto add = [&](store::PrincipalId id, const char* index) {
    auto p = g.principal(id);
    if (!p) throw store::CorruptRecord(index);
    rows.push_back(std::move(*p));
  };
  if (!page.secondPart()) {
    for (auto id : g.ownedAccounts(company)) {
      if (id < page.from()) continue;
      if (rows.size() > page.size) return rows;
      add(id, "owned_accounts");
    }
  }
  uint64_t from = page.secondPart() ? page.from() : 0;
  std::vector<store::PrincipalId> granted = g.principalsIn(company);
  std::vector<store::PrincipalId> offered = g.offeredTo(company);
  std::vector<store::PrincipalId> transfers = g.transfersTo(company);
  std::vector<store::PrincipalId> related;
  related.reserve(granted.size() + offered.size());
  std::set_union(granted.begin(), granted.end(), offered.begin(), offered.end(),
                 std::back_inserter(related));
  std::vector<store::PrincipalId> external;
  external.reserve(related.size() + transfers.size());
  std::set_union(related.begin(), related.end(), transfers.begin(), transfers.end(),
                 std::back_inserter(external));
  for (auto id : external) {
    if (rows.size() > page.size) break;
    if (id < from) continue;
    auto p = g.principal(id);
    if (!p) throw store::CorruptRecord("company_grants, company_offers or company_transfers");
    if (p->kind == store::PrincipalKind::serviceAccount && p->ownerCompany != company) {
      rows.push_back(std::move(*p));
    }
  }
  return rows;
}

}  // namespace

void answerSaView(ServiceParts& parts, IoState& io, Request::Reader request,
                  wire::Response::Builder response) {
  store::Snapshot& snap = io.snapshot();
  store::GraphReader g = snap.reader();
  ActorScope scope(g, request);
  if (!scope.require(kReadAccounts, response)) return;
  std::vector<store::PrincipalRecord> rows;
  bool more = false;
  uint64_t next = 0;
  if (request.which() == Request::SA_SHOW) {
    auto account = scope.related(request.getSaShow(), response);
    if (!account) return;
    rows.push_back(std::move(*account));
  } else {
    Page page = Page::of(request);
    rows = accountsIn(g, scope.company(), page);
    more = rows.size() > page.size;
    if (more) {
      rows.pop_back();
      bool owned = rows.back().ownerCompany == scope.company();
      next = (owned ? 0 : Page::kSecondPart) | (rows.back().id + 1);
    }
  }
  auto view = response.initSaView();
  view.setRevision(snap.revision());
  view.setCompany(scope.company());
  view.setMore(more);
  view.setNextPageToken(next);
  auto list = view.initRows(static_cast<unsigned>(rows.size()));
  bool manage = scope.holds(kManageAccounts);
  for (unsigned i = 0; i < rows.size(); ++i) {
    fillRow(parts, g, rows[i], scope.company(), manage, list[i]);
  }
}

void answerSaCompanies(ServiceParts&, IoState& io, Request::Reader request,
                       wire::Response::Builder response) {
  store::Snapshot& snap = io.snapshot();
  store::GraphReader g = snap.reader();
  ActorScope scope(g, request);
  if (!scope.require(kReadAccounts, response)) return;
  if (!scope.owned(request.getSaCompanies(), response)) return;
  auto companies = g.companiesOf(request.getSaCompanies());
  auto r = response.initSaCompanies();
  r.setRevision(snap.revision());
  auto list = r.initCompanies(static_cast<unsigned>(companies.size()));
  for (unsigned i = 0; i < companies.size(); ++i) {
    list[i].setId(companies[i]);
    std::string_view name = g.company(companies[i]).value_or(std::string_view());
    copyText(list[i].initName(static_cast<unsigned>(name.size())), name);
  }
}

void answerAuditList(ServiceParts&, IoState& io, Request::Reader request,
                     wire::Response::Builder response) {
  store::Snapshot& snap = io.snapshot();
  store::GraphReader g = snap.reader();
  ActorScope scope(g, request);
  auto q = request.getAuditList();
  bool system = request.getActor() == 0 && request.getActiveCompany() == 0;
  if (!system && !scope.require(kReadAudit, response)) return;
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
}

}  // namespace gatehouse::service
