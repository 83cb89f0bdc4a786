// The checks and read-only queries answered inline on the IO thread from its snapshot, and the
// system-context mutations of the graph (applied by the writer).
//
// The hot path is `decideAuthorize`: one snapshot lookup (store/snapshot.cpp), counted; a plain
// authorize reaches it through Service::answerPlain without a message reader or builder.
#include <fmt/format.h>

#include <iterator>

#include "service/committer.hpp"
#include "service/io_state.hpp"
#include "service/requests.hpp"
#include "service/wire_convert.hpp"

namespace gatehouse::service {

using wire::ErrorCode;

void answerPing(ServiceParts&, IoState&, wire::Request::Reader, wire::Response::Builder response) {
  response.setPong();
}

void answerHello(ServiceParts& parts, IoState& io, wire::Request::Reader,
                 wire::Response::Builder response) {
  using std::chrono::duration_cast;
  auto hello = response.initHello();
  hello.setVersion(parts.options.version);
  hello.setRevision(io.snapshot().revision());
  hello.setUptimeSeconds(static_cast<uint64_t>(
      duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - parts.started)
          .count()));
  hello.setWriterBacklogMs(static_cast<uint64_t>(
      duration_cast<std::chrono::milliseconds>(parts.committer.backlogAge()).count()));
}

store::Decision decideAuthorize(IoState& io, uint64_t principal, uint64_t company,
                                std::string_view permission) {
  store::Decision d = io.authorize(principal, company, permission);
  io.counters().check(toWire(d.reason));
  return d;
}

void answerAuthorize(ServiceParts&, IoState& io, wire::Request::Reader request,
                     wire::Response::Builder response) {
  auto q = request.getAuthorize();
  store::Decision d =
      decideAuthorize(io, q.getPrincipal(), q.getCompany(), view(q.getPermission()));
  auto a = response.initAuthorize();
  a.setAllowed(d.allowed);
  a.setReason(toWire(d.reason));
  a.setRevision(io.revision());
}

void answerAuthorizeBatch(ServiceParts& parts, IoState& io, wire::Request::Reader request,
                          wire::Response::Builder response) {
  auto items = request.getAuthorizeBatch();
  if (items.size() > parts.options.maxBatch) {
    protocol::setError(response, ErrorCode::LIMIT_EXCEEDED,
                       fmt::format("authorizeBatch: {} items, the limit is {}", items.size(),
                                   parts.options.maxBatch));
    return;
  }
  store::Snapshot& snap = io.snapshot();
  auto batch = response.initAuthorizeBatch();
  batch.setRevision(snap.revision());
  auto answers = batch.initItems(items.size());
  for (unsigned i = 0; i < items.size(); ++i) {
    auto q = items[i];
    store::Decision d =
        decideAuthorize(io, q.getPrincipal(), q.getCompany(), view(q.getPermission()));
    answers[i].setAllowed(d.allowed);
    answers[i].setReason(toWire(d.reason));
  }
}

void answerListPermissions(ServiceParts&, IoState& io, wire::Request::Reader request,
                           wire::Response::Builder response) {
  auto q = request.getListPermissions();
  store::Snapshot& snap = io.snapshot();
  store::GraphReader g = snap.reader();
  auto list = response.initPermissions();
  list.setRevision(snap.revision());
  auto bits = g.effective(q.getPrincipal(), q.getCompany());
  if (!bits) {
    list.setFound(false);
    list.setReason(toWire(g.whyNoRow(q.getPrincipal(), q.getCompany())));
    return;
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
}

void answerLookup(ServiceParts&, IoState& io, wire::Request::Reader request,
                  wire::Response::Builder response) {
  auto q = request.getLookup();
  std::string_view name = view(q.getName());
  size_t limit = q.getKind() == wire::EntityKind::PERMISSION ? store::kMaxPermissionName
                                                             : store::kMaxEntityName;
  if (name.empty() || name.size() > limit) {
    protocol::setError(response, ErrorCode::INVALID_ARGUMENT,
                       fmt::format("name: {} bytes, must be 1 to {}", name.size(), limit));
    return;
  }
  store::Snapshot& snap = io.snapshot();
  store::GraphReader g = snap.reader();
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
  r.setRevision(snap.revision());
  r.setFound(id.has_value());
  r.setId(id.value_or(0));
}

void answerListCompanies(ServiceParts&, IoState& io, wire::Request::Reader request,
                         wire::Response::Builder response) {
  store::Snapshot& snap = io.snapshot();
  Page page = Page::of(request);
  auto companies = snap.reader().companiesFrom(page.token, page.size + 1);
  bool more = companies.size() > page.size;
  if (more) companies.pop_back();
  auto r = response.initCompanies();
  r.setRevision(snap.revision());
  r.setMore(more);
  r.setNextPageToken(more ? companies.back().first + 1 : 0);
  auto list = r.initCompanies(companies.size());
  for (unsigned i = 0; i < companies.size(); ++i) {
    list[i].setId(companies[i].first);
    copyText(list[i].initName(static_cast<unsigned>(companies[i].second.size())),
             companies[i].second);
  }
}

void answerListCatalog(ServiceParts&, IoState& io, wire::Request::Reader request,
                       wire::Response::Builder response) {
  store::Snapshot& snap = io.snapshot();
  Page page = Page::of(request);
  auto first = static_cast<store::PermissionBit>(std::min<uint64_t>(page.token, UINT32_MAX));
  auto permissions = snap.reader().permissionsFrom(first, page.size + 1);
  bool more = permissions.size() > page.size;
  if (more) permissions.pop_back();
  auto r = response.initCatalog();
  r.setRevision(snap.revision());
  r.setMore(more);
  r.setNextPageToken(more ? uint64_t{permissions.back().first} + 1 : 0);
  r.setFirstBit(permissions.empty() ? first : permissions.front().first);
  auto names = r.initNames(permissions.size());
  for (unsigned i = 0; i < permissions.size(); ++i) {
    copyText(names.init(i, static_cast<unsigned>(permissions[i].second.size())),
             permissions[i].second);
  }
}

void answerListRoles(ServiceParts&, IoState& io, wire::Request::Reader request,
                     wire::Response::Builder response) {
  store::Snapshot& snap = io.snapshot();
  store::GraphReader g = snap.reader();
  store::CompanyId company = request.getListRoles().getCompany();
  Page page = Page::of(request);
  // The system roles, then (for a company) the company's own: one more than a page, to know.
  std::vector<store::RoleRecord> roles;
  if (!page.secondPart()) roles = g.rolesFrom(0, page.from(), page.size + 1);
  if (company != 0 && roles.size() <= page.size) {
    auto own =
        g.rolesFrom(company, page.secondPart() ? page.from() : 0, page.size + 1 - roles.size());
    std::move(own.begin(), own.end(), std::back_inserter(roles));
  }
  bool more = roles.size() > page.size;
  if (more) roles.pop_back();
  auto r = response.initRoles();
  r.setRevision(snap.revision());
  r.setMore(more);
  if (more) {
    const store::RoleRecord& last = roles.back();
    r.setNextPageToken((last.company == 0 ? 0 : Page::kSecondPart) | (last.id + 1));
  }
  auto list = r.initRoles(roles.size());
  for (unsigned i = 0; i < roles.size(); ++i) {
    list[i].setId(roles[i].id);
    list[i].setCompany(roles[i].company);
    list[i].setName(roles[i].name);
    auto names = namesOf(g, roles[i].permissions.stored());
    setNames(list[i].initPermissions(names.size()), names);
  }
}

void answerGetPrincipal(ServiceParts&, IoState& io, wire::Request::Reader request,
                        wire::Response::Builder response) {
  store::Snapshot& snap = io.snapshot();
  store::GraphReader g = snap.reader();
  auto r = response.initPrincipal();
  r.setRevision(snap.revision());
  auto p = g.principal(request.getGetPrincipal());
  r.setFound(p.has_value());
  if (!p) return;
  r.setId(p->id);
  r.setKind(toWire(p->kind));
  r.setName(p->name);
  r.setState(toWire(p->state));
  r.setOwnerCompany(p->ownerCompany);
  r.setDescription(p->description);
  auto companies = g.companiesOf(p->id);
  auto list = r.initCompanies(companies.size());
  for (unsigned i = 0; i < companies.size(); ++i) list.set(i, companies[i]);
}

void answerGetGrant(ServiceParts&, IoState& io, wire::Request::Reader request,
                    wire::Response::Builder response) {
  auto q = request.getGetGrant();
  store::Snapshot& snap = io.snapshot();
  store::GraphReader g = snap.reader();
  auto r = response.initGrant();
  r.setRevision(snap.revision());
  auto grant = g.liveGrant(q.getPrincipal(), q.getCompany());
  r.setFound(grant.has_value());
  if (!grant) return;
  r.setExpiresAt(grant->expiresAt);
  auto names = namesOf(g, grant->direct.stored());
  setNames(r.initPermissions(names.size()), names);
  auto roles = r.initRoles(grant->roles.size());
  for (unsigned i = 0; i < grant->roles.size(); ++i) roles.set(i, grant->roles[i]);
}

bool applyGraphMutation(ServiceParts&, store::Writer& w, wire::Request::Reader req,
                        wire::Response::Builder response) {
  store::Result<uint64_t> result = uint64_t{0};
  uint32_t count = 0;
  bool creates = false;  // the answer carries the new entity's id
  switch (req.which()) {
    case wire::Request::CREATE_COMPANY:
      result = w.createCompany(view(req.getCreateCompany().getName()));
      creates = true;
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
      creates = true;
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
      creates = true;
      break;
    case wire::Request::CREATE_SERVICE_ACCOUNT: {
      auto r = req.getCreateServiceAccount();
      result =
          w.createServiceAccount(view(r.getName()), r.getOwnerCompany(), view(r.getDescription()));
      creates = true;
      break;
    }
    case wire::Request::SET_GRANT: {
      auto r = req.getSetGrant();
      if (auto bad = badExpiry(r.getExpiresAt(), unixNow())) {
        result = store::refuse(store::RefusalCode::invalidArgument, *bad);
        break;
      }
      result = w.setGrant(r.getPrincipal(), r.getCompany(), views(r.getPermissions()),
                          ids(r.getRoles()), r.getExpiresAt());
      break;
    }
    case wire::Request::REMOVE_GRANT: {
      auto r = req.getRemoveGrant();
      result = w.removeGrant(r.getPrincipal(), r.getCompany());
      break;
    }
    case wire::Request::SET_PRINCIPAL_STATE: {
      auto r = req.getSetPrincipalState();
      auto state = fromWire(r.getState());
      if (!state) {
        result = store::refuse(store::RefusalCode::invalidArgument, "state: unknown value");
        break;
      }
      result = w.setPrincipalState(r.getPrincipal(), *state);
      break;
    }
    case wire::Request::DELETE_PRINCIPAL:
      result = w.deletePrincipal(req.getDeletePrincipal());
      break;
    default:
      protocol::setError(response, ErrorCode::INVALID_ARGUMENT, "not a graph mutation");
      return false;
  }
  if (setRefusal(response, store::refusalOf(result))) return false;
  auto m = response.initMutation();
  m.setRevision(w.revision());
  if (creates) m.setId(std::get<uint64_t>(result));
  m.setCount(count);
  return true;
}

}  // namespace gatehouse::service
