// The rules of service accounts across companies (docs/service-accounts.md), against the real
// daemon: for every rule the allowed case and each refusal, from the owner company and from an
// external one, with the state checked afterwards; the Service Accounts view for both kinds of
// viewer; escalation through direct grants and roles; the audit trail and its company scopes.
#define BOOST_TEST_MODULE service_accounts
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <ctime>
#include <thread>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using client::Answer;
using client::Client;
using wire::ErrorCode;

namespace {

const char* kCatalog[] = {
    "routers.read",          "routers.write", "routers.reboot", "service_accounts.manage",
    "service_accounts.read", "roles.manage",  "users.manage",   "audit.read"};

struct World {
  Daemon daemon{"", "password_ops_limit = 1\npassword_mem_limit_mib = 8\n"};
  Client c = daemon.connect();
  uint64_t msp = 0, north = 0, south = 0;
  uint64_t adminRole = 0, operatorRole = 0;
  uint64_t mspAdmin = 0, northAdmin = 0, southAdmin = 0, limited = 0, reader = 0;

  World() {
    system([](wire::Request::Builder r) {
      auto names = r.initDefinePermissions(8);
      for (unsigned i = 0; i < 8; ++i) names.set(i, kCatalog[i]);
    });
    msp = company("msp");
    north = company("north");
    south = company("south");
    adminRole = system([](wire::Request::Builder r) {
      auto role = r.initCreateRole();
      role.setName("admin");
      auto perms = role.initPermissions(8);
      for (unsigned i = 0; i < 8; ++i) perms.set(i, kCatalog[i]);
    });
    operatorRole = system([](wire::Request::Builder r) {
      auto role = r.initCreateRole();
      role.setName("operator");
      auto perms = role.initPermissions(3);
      for (unsigned i = 0; i < 3; ++i) perms.set(i, kCatalog[i]);
    });
    mspAdmin = user("msp-admin", msp, {}, {adminRole});
    northAdmin = user("north-admin", north, {}, {adminRole});
    southAdmin = user("south-admin", south, {}, {adminRole});
    limited = user("north-limited", north, {"service_accounts.manage", "routers.read"}, {});
    reader = user("north-reader", north, {"service_accounts.read"}, {});
  }

  uint64_t system(const Client::Fill& fill) {
    Answer a = c.call(fill);
    client::checkOk(a);
    return a->which() == wire::Response::MUTATION ? a->getMutation().getId() : 0;
  }
  uint64_t company(const char* name) {
    return system([&](wire::Request::Builder r) { r.initCreateCompany().setName(name); });
  }
  uint64_t user(const char* name, uint64_t where, std::vector<std::string> perms,
                std::vector<uint64_t> roles) {
    uint64_t id = system([&](wire::Request::Builder r) { r.initCreateUser().setName(name); });
    system([&](wire::Request::Builder r) {
      auto g = r.initSetGrant();
      g.setPrincipal(id);
      g.setCompany(where);
      auto p = g.initPermissions(static_cast<unsigned>(perms.size()));
      for (unsigned i = 0; i < perms.size(); ++i) p.set(i, perms[i]);
      auto rl = g.initRoles(static_cast<unsigned>(roles.size()));
      for (unsigned i = 0; i < roles.size(); ++i) rl.set(i, roles[i]);
    });
    return id;
  }

  // A request by `actor` acting in `company`.
  Answer as(uint64_t actor, uint64_t company, const Client::Fill& fill) {
    return c.call([&](wire::Request::Builder r) {
      fill(r);
      r.setActor(actor);
      r.setActiveCompany(company);
    });
  }

  static ErrorCode code(const Answer& a) {
    BOOST_REQUIRE_MESSAGE(a->which() == wire::Response::ERROR,
                          "expected an error answer, got answer kind " << int(a->which()));
    return a->getError().getCode();
  }

  // The MSP's script account: created by the MSP admin, granted by each client company.
  struct Created {
    uint64_t id;
    std::string key;
  };
  Created createBot(const char* name = "fleet-bot") {
    Answer a = as(mspAdmin, msp, [&](wire::Request::Builder r) {
      auto q = r.initSaCreate();
      q.setName(name);
      q.setDescription("MSP automation");
      q.initPermissions(1).set(0, "routers.read");
    });
    client::checkOk(a);
    return {a->getSaCreated().getId(), a->getSaCreated().getSecret().cStr()};
  }
  // The owner (msp) offers the account to `with` (saShare) or withdraws the offer (saUnshare).
  Answer share(uint64_t account, uint64_t with, bool offer = true, uint64_t actor = 0,
               uint64_t where = 0) {
    return as(actor == 0 ? mspAdmin : actor, where == 0 ? msp : where,
              [&](wire::Request::Builder r) {
                auto q = offer ? r.initSaShare() : r.initSaUnshare();
                q.setServiceAccount(account);
                q.setCompany(with);
              });
  }
  void offer(uint64_t account, uint64_t with) { client::checkOk(share(account, with)); }
  // A grant that must succeed: outside msp, the owner offers the account first.
  void grantHere(uint64_t actor, uint64_t where, uint64_t account, std::vector<std::string> perms,
                 std::vector<uint64_t> roles = {}) {
    if (where != msp) offer(account, where);
    client::checkOk(grant(actor, where, account, perms, roles));
  }
  Answer grant(uint64_t actor, uint64_t where, uint64_t account, std::vector<std::string> perms,
               std::vector<uint64_t> roles = {}) {
    return as(actor, where, [&](wire::Request::Builder r) {
      auto g = r.initSaGrant();
      g.setPrincipal(account);
      auto p = g.initPermissions(static_cast<unsigned>(perms.size()));
      for (unsigned i = 0; i < perms.size(); ++i) p.set(i, perms[i]);
      auto rl = g.initRoles(static_cast<unsigned>(roles.size()));
      for (unsigned i = 0; i < roles.size(); ++i) rl.set(i, roles[i]);
    });
  }
  bool allowed(const std::string& key, uint64_t where, const char* permission) {
    Answer a = c.call([&](wire::Request::Builder r) {
      auto q = r.initCheckAccess();
      q.setCredential(key);
      q.setCompany(where);
      q.setPermission(permission);
    });
    client::checkOk(a);
    return a->getAccess().getAllowed();
  }
  std::vector<std::string> auditOps(uint64_t actor, uint64_t where) {
    Answer a = as(actor, where, [](wire::Request::Builder r) { r.initAuditList(); });
    client::checkOk(a);
    std::vector<std::string> out;
    for (auto e : a->getAudit().getEvents()) {
      out.push_back(std::string(e.getOperation().cStr()) + " " + e.getTarget().cStr() + " -> " +
                    e.getOutcome().cStr());
    }
    return out;
  }
};

bool anyContains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(owner_creates_with_initial_permissions_and_a_first_key, World) {
  Created bot = createBot();
  BOOST_TEST(bot.key.rfind("gatesk_", 0) == 0u);
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));
  BOOST_TEST(!allowed(bot.key, msp, "routers.reboot"));
  // A duplicate name is refused and creates nothing.
  Answer dup =
      as(mspAdmin, msp, [](wire::Request::Builder r) { r.initSaCreate().setName("fleet-bot"); });
  BOOST_TEST((code(dup) == ErrorCode::ALREADY_EXISTS));
}

BOOST_FIXTURE_TEST_CASE(only_the_owner_may_describe_reset_or_delete, World) {
  Created bot = createBot();
  grantHere(northAdmin, north, bot.id, {"routers.read"});

  Answer describe = as(northAdmin, north, [&](wire::Request::Builder r) {
    auto q = r.initSaDescribe();
    q.setServiceAccount(bot.id);
    q.setDescription("hijacked");
  });
  BOOST_TEST((code(describe) == ErrorCode::NOT_OWNER));
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                r.setSaResetCredentials(bot.id);
              })) == ErrorCode::NOT_OWNER));
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                r.setSaDelete(bot.id);
              })) == ErrorCode::NOT_OWNER));
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                auto s = r.initSaSetState();
                s.setPrincipal(bot.id);
                s.setState(wire::PrincipalState::DISABLED);
              })) == ErrorCode::NOT_OWNER));

  // Nothing changed: the key works in both companies, the description is the owner's.
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));
  BOOST_TEST(allowed(bot.key, north, "routers.read"));
  Answer row = as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
  client::checkOk(row);
  BOOST_TEST(std::string(row->getSaView().getRows()[0].getDescription().cStr()) ==
             "MSP automation");

  // The owner may.
  client::checkOk(as(mspAdmin, msp, [&](wire::Request::Builder r) {
    auto q = r.initSaDescribe();
    q.setServiceAccount(bot.id);
    q.setDescription("fleet automation v2");
  }));
  Answer reset =
      as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaResetCredentials(bot.id); });
  client::checkOk(reset);
  BOOST_TEST(!allowed(bot.key, msp, "routers.read"));  // the old key is revoked
  BOOST_TEST(allowed(reset->getKeyIssued().getSecret().cStr(), north, "routers.read"));
}

BOOST_FIXTURE_TEST_CASE(external_company_edits_only_its_own_scope, World) {
  Created bot = createBot();
  grantHere(northAdmin, north, bot.id, {"routers.read"}, {operatorRole});
  grantHere(southAdmin, south, bot.id, {"routers.read"});
  BOOST_TEST(allowed(bot.key, north, "routers.reboot"));

  // North narrows its grant: only north changes.
  grantHere(northAdmin, north, bot.id, {"routers.read"});
  BOOST_TEST(!allowed(bot.key, north, "routers.reboot"));
  BOOST_TEST(allowed(bot.key, south, "routers.read"));
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));

  // North removes its access: the owner and south are untouched.
  client::checkOk(as(northAdmin, north, [&](wire::Request::Builder r) { r.setSaRevoke(bot.id); }));
  BOOST_TEST(!allowed(bot.key, north, "routers.read"));
  BOOST_TEST(allowed(bot.key, south, "routers.read"));
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));
  // Removing access it no longer has is a clear error.
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                r.setSaRevoke(bot.id);
              })) == ErrorCode::NOT_FOUND));
}

BOOST_FIXTURE_TEST_CASE(deleting_removes_access_everywhere_and_tells_every_company, World) {
  Created bot = createBot();
  grantHere(northAdmin, north, bot.id, {"routers.read"});
  grantHere(southAdmin, south, bot.id, {"routers.read"});
  client::checkOk(as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaDelete(bot.id); }));
  for (uint64_t where : {msp, north, south}) BOOST_TEST(!allowed(bot.key, where, "routers.read"));
  auto denied = c.call([&](wire::Request::Builder r) {
    auto q = r.initAuthorize();
    q.setPrincipal(bot.id);
    q.setCompany(north);
    q.setPermission("routers.read");
  });
  BOOST_TEST((denied->getAuthorize().getReason() == wire::DenyReason::UNKNOWN_PRINCIPAL));
  std::string event = "saDelete serviceAccount " + std::to_string(bot.id) + " -> ok";
  BOOST_TEST(anyContains(auditOps(northAdmin, north), event));
  BOOST_TEST(anyContains(auditOps(southAdmin, south), event));
  BOOST_TEST(anyContains(auditOps(mspAdmin, msp), event));
}

BOOST_FIXTURE_TEST_CASE(disabling_is_heard_where_the_account_had_access, World) {
  Created bot = createBot();
  grantHere(northAdmin, north, bot.id, {"routers.read"});
  client::checkOk(as(mspAdmin, msp, [&](wire::Request::Builder r) {
    auto s = r.initSaSetState();
    s.setPrincipal(bot.id);
    s.setState(wire::PrincipalState::DISABLED);
  }));
  BOOST_TEST(!allowed(bot.key, north, "routers.read"));
  BOOST_TEST(anyContains(auditOps(northAdmin, north), "saSetState serviceAccount"));
}

BOOST_FIXTURE_TEST_CASE(the_view_for_an_owner_and_for_an_external_viewer, World) {
  Created bot = createBot();
  Created local = [&] {
    Answer a = as(northAdmin, north,
                  [](wire::Request::Builder r) { r.initSaCreate().setName("north-backup"); });
    client::checkOk(a);
    return Created{a->getSaCreated().getId(), a->getSaCreated().getSecret().cStr()};
  }();
  grantHere(northAdmin, north, bot.id, {"routers.read"}, {operatorRole});
  BOOST_TEST(allowed(bot.key, north, "routers.read"));  // recorded as last use in north

  Answer mine = as(mspAdmin, msp, [](wire::Request::Builder r) { r.setSaList(); });
  client::checkOk(mine);
  BOOST_REQUIRE(mine->getSaView().getRows().size() == 1u);
  auto owned = mine->getSaView().getRows()[0];
  BOOST_TEST((owned.getRelation() == wire::Relation::OWNED));
  BOOST_TEST(owned.getKeys().size() == 1u);
  BOOST_TEST(owned.getActions().getDelete());
  BOOST_TEST(owned.getActions().getResetCredentials());
  BOOST_TEST(owned.getActions().getEditDescription());
  BOOST_TEST(owned.getPermissions().size() == 1u);  // routers.read in msp only

  Answer theirs = as(northAdmin, north, [](wire::Request::Builder r) { r.setSaList(); });
  client::checkOk(theirs);
  auto rows = theirs->getSaView().getRows();
  BOOST_REQUIRE(rows.size() == 2u);
  auto external = rows[0].getId() == bot.id ? rows[0] : rows[1];
  auto own = rows[0].getId() == bot.id ? rows[1] : rows[0];
  BOOST_TEST(own.getId() == local.id);
  BOOST_TEST((own.getRelation() == wire::Relation::OWNED));
  BOOST_TEST((external.getRelation() == wire::Relation::EXTERNAL));
  BOOST_TEST(std::string(external.getOwnerCompanyName().cStr()) == "msp");
  BOOST_TEST(external.getKeys().size() == 0u);  // never the keys of an external account
  BOOST_TEST(!external.getActions().getDelete());
  BOOST_TEST(!external.getActions().getResetCredentials());
  BOOST_TEST(!external.getActions().getEditDescription());
  BOOST_TEST(external.getActions().getEditPermissions());
  BOOST_TEST(external.getActions().getRemoveAccess());
  BOOST_TEST(external.getRoles().size() == 1u);
  BOOST_TEST(std::string(external.getRoles()[0].getName().cStr()) == "operator");
  BOOST_TEST(external.getLastUsedAt() > 0u);

  // A reader sees the rows but may take no action.
  Answer readOnly = as(reader, north, [](wire::Request::Builder r) { r.setSaList(); });
  client::checkOk(readOnly);
  for (auto row : readOnly->getSaView().getRows()) {
    BOOST_TEST(!row.getActions().getEditPermissions());
    BOOST_TEST(!row.getActions().getRemoveAccess());
  }
  // The other companies it reaches: the owner may ask; an external company may not.
  Answer where = as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaCompanies(bot.id); });
  client::checkOk(where);
  BOOST_TEST(where->getSaCompanies().getCompanies().size() == 2u);  // msp, north
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                r.setSaCompanies(bot.id);
              })) == ErrorCode::NOT_OWNER));
  // South, where it has no access, cannot see it at all.
  BOOST_TEST((code(as(southAdmin, south, [&](wire::Request::Builder r) { r.setSaShow(bot.id); })) ==
              ErrorCode::NOT_FOUND));
}

BOOST_FIXTURE_TEST_CASE(no_escalation_through_direct_grants_or_roles, World) {
  Created bot = createBot();
  offer(bot.id, north);
  Answer direct = grant(limited, north, bot.id, {"routers.read", "routers.reboot"});
  BOOST_TEST((code(direct) == ErrorCode::ESCALATION));
  BOOST_REQUIRE(direct->getError().getMissing().size() == 1u);
  BOOST_TEST(std::string(direct->getError().getMissing()[0].cStr()) == "routers.reboot");

  Answer viaRole = grant(limited, north, bot.id, {}, {operatorRole});
  BOOST_TEST((code(viaRole) == ErrorCode::ESCALATION));
  BOOST_TEST(viaRole->getError().getMissing().size() == 2u);  // routers.write, routers.reboot
  BOOST_TEST(!allowed(bot.key, north, "routers.read"));       // nothing was granted

  grantHere(limited, north, bot.id, {"routers.read"});  // within what it holds: fine
  BOOST_TEST(allowed(bot.key, north, "routers.read"));

  // A company role is no way around it either.
  Answer role =
      as(limited, north, [](wire::Request::Builder r) { r.initRoleCreate().setName("sneaky"); });
  BOOST_TEST((code(role) == ErrorCode::FORBIDDEN));  // and roles.manage it lacks
}

BOOST_FIXTURE_TEST_CASE(each_request_needs_its_permission_in_the_active_company, World) {
  Created bot = createBot();
  BOOST_TEST((code(grant(reader, north, bot.id, {"routers.read"})) == ErrorCode::FORBIDDEN));
  BOOST_TEST((code(as(reader, north, [](wire::Request::Builder r) {
                r.initUserCreate().setName("x");
              })) == ErrorCode::FORBIDDEN));
  // The MSP admin is an admin in msp only: in north it holds nothing.
  BOOST_TEST((code(grant(mspAdmin, north, bot.id, {"routers.read"})) == ErrorCode::FORBIDDEN));
  BOOST_TEST((code(as(limited, north, [](wire::Request::Builder r) { r.initAuditList(); })) ==
              ErrorCode::FORBIDDEN));
  Answer noActor = c.call([&](wire::Request::Builder r) { r.setSaList(); });
  BOOST_TEST((code(noActor) == ErrorCode::INVALID_ARGUMENT));
}

BOOST_FIXTURE_TEST_CASE(company_roles_and_users_in_the_active_company, World) {
  Created bot = createBot();
  Answer created = as(northAdmin, north, [](wire::Request::Builder r) {
    auto q = r.initRoleCreate();
    q.setName("rebooter");
    q.initPermissions(1).set(0, "routers.reboot");
  });
  client::checkOk(created);
  uint64_t rebooter = created->getMutation().getId();
  grantHere(northAdmin, north, bot.id, {}, {rebooter});
  BOOST_TEST(allowed(bot.key, north, "routers.reboot"));

  // Editing the role re-materialises its holder at once.
  client::checkOk(as(northAdmin, north, [&](wire::Request::Builder r) {
    auto q = r.initRoleEdit();
    q.setRole(rebooter);
    q.initPermissions(1).set(0, "routers.write");
  }));
  BOOST_TEST(!allowed(bot.key, north, "routers.reboot"));
  BOOST_TEST(allowed(bot.key, north, "routers.write"));

  // Another company's role and a system role are not north's to edit or use.
  BOOST_TEST((code(as(southAdmin, south, [&](wire::Request::Builder r) {
                r.setRoleDelete(rebooter);
              })) == ErrorCode::FORBIDDEN));
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                auto q = r.initRoleEdit();
                q.setRole(operatorRole);
              })) == ErrorCode::FORBIDDEN));
  offer(bot.id, south);
  BOOST_TEST((code(grant(southAdmin, south, bot.id, {}, {rebooter})) == ErrorCode::CONFLICT));

  // Users: create, grant, revoke in the active company.
  Answer user =
      as(northAdmin, north, [](wire::Request::Builder r) { r.initUserCreate().setName("nora"); });
  client::checkOk(user);
  uint64_t nora = user->getMutation().getId();
  client::checkOk(as(northAdmin, north, [&](wire::Request::Builder r) {
    auto g = r.initUserGrant();
    g.setPrincipal(nora);
    g.initPermissions(1).set(0, "routers.read");
  }));
  client::checkOk(as(northAdmin, north, [&](wire::Request::Builder r) { r.setUserRevoke(nora); }));
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                r.setUserRevoke(bot.id);
              })) == ErrorCode::NOT_FOUND));  // a service account is not a user
}

BOOST_FIXTURE_TEST_CASE(refusals_are_audited_and_each_company_sees_only_its_own, World) {
  Created bot = createBot();
  grantHere(northAdmin, north, bot.id, {"routers.read"});
  as(northAdmin, north, [&](wire::Request::Builder r) { r.setSaDelete(bot.id); });  // refused
  grant(limited, north, bot.id, {"routers.reboot"});                                // refused

  auto northEvents = auditOps(northAdmin, north);
  BOOST_TEST(anyContains(northEvents,
                         "saDelete serviceAccount " + std::to_string(bot.id) + " -> notOwner"));
  BOOST_TEST(anyContains(northEvents, "-> escalation"));
  BOOST_TEST(
      anyContains(northEvents, "saGrant serviceAccount " + std::to_string(bot.id) + " -> ok"));

  // South, where the account also has access, does not hear of north's refused attempts.
  grantHere(southAdmin, south, bot.id, {"routers.read"});
  as(northAdmin, north, [&](wire::Request::Builder r) { r.setSaDelete(bot.id); });  // refused
  auto southEvents = auditOps(southAdmin, south);
  BOOST_TEST(!anyContains(southEvents, "notOwner"));
  BOOST_TEST(std::count_if(southEvents.begin(), southEvents.end(), [](const std::string& e) {
               return e.find("saGrant") != std::string::npos;
             }) == 1);  // its own grant only
  BOOST_TEST(!anyContains(southEvents, "saDelete"));
  BOOST_TEST(!anyContains(southEvents, "saCreate"));
  BOOST_TEST(!anyContains(southEvents, "escalation"));

  // The system context sees everything, with the peer's uid and pid.
  Answer all = c.call([](wire::Request::Builder r) { r.initAuditList().setLimit(1000); });
  client::checkOk(all);
  bool sawPeer = false;
  for (auto e : all->getAudit().getEvents()) sawPeer = sawPeer || e.getPeerPid() > 0;
  BOOST_TEST(sawPeer);
  BOOST_TEST(all->getAudit().getEvents().size() > northEvents.size());
}

BOOST_FIXTURE_TEST_CASE(only_the_owner_manages_keys, World) {
  Created bot = createBot();
  grantHere(northAdmin, north, bot.id, {"routers.read"});
  auto keyFor = [&](uint64_t actor, uint64_t where) {
    return as(actor, where,
              [&](wire::Request::Builder r) { r.initSaKeyCreate().setServiceAccount(bot.id); });
  };
  BOOST_TEST((code(keyFor(northAdmin, north)) == ErrorCode::NOT_OWNER));
  Answer second = keyFor(mspAdmin, msp);
  client::checkOk(second);
  std::string secondKey = second->getKeyIssued().getSecret().cStr();
  BOOST_TEST(allowed(secondKey, north, "routers.read"));

  uint64_t firstId = 0;
  Answer row = as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
  for (auto k : row->getSaView().getRows()[0].getKeys()) {
    if (k.getId() != second->getKeyIssued().getKeyId()) firstId = k.getId();
  }
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                r.setSaKeyRevoke(firstId);
              })) == ErrorCode::NOT_OWNER));
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));  // untouched
  client::checkOk(as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaKeyRevoke(firstId); }));
  BOOST_TEST(!allowed(bot.key, msp, "routers.read"));

  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                auto q = r.initSaKeyRotate();
                q.setServiceAccount(bot.id);
                q.setGraceSeconds(60);
              })) == ErrorCode::NOT_OWNER));
  Answer rotated = as(mspAdmin, msp, [&](wire::Request::Builder r) {
    auto q = r.initSaKeyRotate();
    q.setServiceAccount(bot.id);
    q.setGraceSeconds(60);
  });
  client::checkOk(rotated);
  BOOST_TEST(allowed(secondKey, north, "routers.read"));  // still in its grace period
  BOOST_TEST(allowed(rotated->getKeyIssued().getSecret().cStr(), north, "routers.read"));
}

// Sharing (docs/service-accounts.md): a company may grant an account owned elsewhere only once the
// owner offers it; withdrawing the offer ends that company's access, audited in both companies.
BOOST_FIXTURE_TEST_CASE(sharing_needs_the_owners_offer_and_withdrawing_ends_access, World) {
  Created bot = createBot();
  // No offer: refused as for an id that names nothing.
  Answer early = grant(northAdmin, north, bot.id, {"routers.read"});
  BOOST_TEST((code(early) == ErrorCode::NOT_FOUND));
  BOOST_TEST(std::string(early->getError().getMessage().cStr()) ==
             "serviceAccount: no service account with id " + std::to_string(bot.id));
  BOOST_TEST(!allowed(bot.key, north, "routers.read"));

  // Refusals of the offer itself: not the owner, the owner itself, no such company.
  offer(bot.id, north);
  BOOST_TEST((code(share(bot.id, south, true, northAdmin, north)) == ErrorCode::NOT_OWNER));
  BOOST_TEST((code(share(bot.id, north, true, southAdmin, south)) == ErrorCode::NOT_FOUND));
  BOOST_TEST((code(share(bot.id, msp)) == ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST((code(share(bot.id, 999)) == ErrorCode::NOT_FOUND));
  BOOST_TEST((code(share(bot.id, south, true, reader, north)) == ErrorCode::FORBIDDEN));

  // Offered, not granted: north sees it so; south sees nothing.
  Answer offered = as(northAdmin, north, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
  client::checkOk(offered);
  auto row = offered->getSaView().getRows()[0];
  BOOST_TEST((row.getRelation() == wire::Relation::EXTERNAL));
  BOOST_TEST(row.getOffered());
  BOOST_TEST(!row.getHasAccess());
  Answer southList = as(southAdmin, south, [](wire::Request::Builder r) { r.setSaList(); });
  BOOST_TEST(southList->getSaView().getRows().size() == 0u);

  grantHere(northAdmin, north, bot.id, {"routers.read"});
  BOOST_TEST(allowed(bot.key, north, "routers.read"));
  Answer mine = as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
  BOOST_REQUIRE(mine->getSaView().getRows()[0].getOfferedTo().size() == 1u);
  BOOST_TEST(mine->getSaView().getRows()[0].getOfferedTo()[0].getId() == north);

  // The owner ends the contract: the offer and north's access go in one transaction.
  client::checkOk(share(bot.id, north, false));
  BOOST_TEST(!allowed(bot.key, north, "routers.read"));
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));
  BOOST_TEST((code(share(bot.id, north, false)) == ErrorCode::NOT_FOUND));
  BOOST_TEST((code(grant(northAdmin, north, bot.id, {"routers.read"})) == ErrorCode::NOT_FOUND));
  std::string event = "saUnshare serviceAccount " + std::to_string(bot.id) + " with company " +
                      std::to_string(north) + " -> ok";
  BOOST_TEST(anyContains(auditOps(mspAdmin, msp), event));
  BOOST_TEST(anyContains(auditOps(northAdmin, north), event));
  BOOST_TEST(!anyContains(auditOps(southAdmin, south), "saUnshare"));
  // A refused offer is audited only where it was tried.
  BOOST_TEST(anyContains(auditOps(northAdmin, north),
                         "saShare serviceAccount " + std::to_string(bot.id) + " with company " +
                             std::to_string(south) + " -> notOwner"));
  BOOST_TEST(!anyContains(auditOps(southAdmin, south), "notOwner"));
}

// No existence leaks: to a company with no relation to the account, each request about it answers
// exactly as for an id that names nothing.
BOOST_FIXTURE_TEST_CASE(an_unrelated_company_learns_nothing_about_an_account, World) {
  Created bot = createBot();
  grantHere(northAdmin, north, bot.id, {"routers.read"});
  uint64_t missing = bot.id + 1000;
  auto shape = [&](uint64_t id, const Client::Fill& fill) {
    Answer a = as(southAdmin, south, fill);
    std::string message = a->getError().getMessage().cStr();
    std::string needle = std::to_string(id);
    if (auto at = message.find(needle); at != std::string::npos)
      message.replace(at, needle.size(), "ID");
    return std::pair{code(a), message};
  };
  using Fill = std::function<void(wire::Request::Builder, uint64_t)>;
  std::vector<Fill> requests = {
      [](wire::Request::Builder r, uint64_t id) { r.setSaShow(id); },
      [](wire::Request::Builder r, uint64_t id) { r.setSaDelete(id); },
      [](wire::Request::Builder r, uint64_t id) { r.setSaCompanies(id); },
      [](wire::Request::Builder r, uint64_t id) { r.setSaRevoke(id); },
      [](wire::Request::Builder r, uint64_t id) { r.setSaResetCredentials(id); },
      [](wire::Request::Builder r, uint64_t id) {
        auto q = r.initSaDescribe();
        q.setServiceAccount(id);
        q.setDescription("mine now");
      },
      [](wire::Request::Builder r, uint64_t id) { r.initSaGrant().setPrincipal(id); },
      [](wire::Request::Builder r, uint64_t id) { r.initSaKeyCreate().setServiceAccount(id); },
      [&](wire::Request::Builder r, uint64_t id) {
        auto q = r.initSaShare();
        q.setServiceAccount(id);
        q.setCompany(south);
      },
  };
  for (size_t i = 0; i < requests.size(); ++i) {
    auto real = shape(bot.id, [&](wire::Request::Builder r) { requests[i](r, bot.id); });
    auto none = shape(missing, [&](wire::Request::Builder r) { requests[i](r, missing); });
    BOOST_TEST_CONTEXT("request " << i) {
      BOOST_TEST((real.first == ErrorCode::NOT_FOUND));
      BOOST_TEST(real.second == none.second);
    }
  }
  // North, which holds access, is told it is not the owner, as before.
  BOOST_TEST((code(as(northAdmin, north, [&](wire::Request::Builder r) {
                r.setSaDelete(bot.id);
              })) == ErrorCode::NOT_OWNER));
  BOOST_TEST(allowed(bot.key, north, "routers.read"));  // nothing changed
}

// `[service_accounts] sharing = "open"`: any company may attach any account by its id, as before
// offers existed.
BOOST_AUTO_TEST_CASE(open_sharing_lets_any_company_attach_an_account_by_id) {
  Daemon open("[service_accounts]\nsharing = \"open\"\n");
  Client c = open.connect();
  auto call = [&](uint64_t actor, uint64_t company, const Client::Fill& fill) {
    return c.call([&](wire::Request::Builder r) {
      fill(r);
      r.setActor(actor);
      r.setActiveCompany(company);
    });
  };
  auto system = [&](const Client::Fill& fill) {
    Answer a = c.call(fill);
    client::checkOk(a);
    return a->which() == wire::Response::MUTATION ? a->getMutation().getId() : 0;
  };
  system([](wire::Request::Builder r) {
    auto names = r.initDefinePermissions(2);
    names.set(0, "routers.read");
    names.set(1, "service_accounts.manage");
  });
  uint64_t owner = system([](wire::Request::Builder r) { r.initCreateCompany().setName("o"); });
  uint64_t other = system([](wire::Request::Builder r) { r.initCreateCompany().setName("x"); });
  uint64_t admin = system([](wire::Request::Builder r) { r.initCreateUser().setName("admin"); });
  system([&](wire::Request::Builder r) {
    auto g = r.initSetGrant();
    g.setPrincipal(admin);
    g.setCompany(other);
    auto p = g.initPermissions(2);
    p.set(0, "routers.read");
    p.set(1, "service_accounts.manage");
  });
  uint64_t bot = system([&](wire::Request::Builder r) {
    auto q = r.initCreateServiceAccount();
    q.setName("bot");
    q.setOwnerCompany(owner);
  });
  client::checkOk(call(admin, other, [&](wire::Request::Builder r) {
    auto g = r.initSaGrant();
    g.setPrincipal(bot);
    g.initPermissions(1).set(0, "routers.read");
  }));
  Answer check = c.call([&](wire::Request::Builder r) {
    auto q = r.initAuthorize();
    q.setPrincipal(bot);
    q.setCompany(other);
    q.setPermission("routers.read");
  });
  BOOST_TEST(check->getAuthorize().getAllowed());
  // A missing id is still notFound.
  Answer missing = call(admin, other,
                        [&](wire::Request::Builder r) { r.initSaGrant().setPrincipal(bot + 100); });
  BOOST_TEST((World::code(missing) == ErrorCode::NOT_FOUND));
}

// Ceilings end to end: the owner bounds what another company may grant its account; setting it
// trims that company's grant at once (the account's key is denied there from the commit on); a
// grant above it is refused with what is over it; only the owner may set it (a company holding the
// account is told it is not the owner, an unrelated one learns nothing); clearing lifts it.
BOOST_FIXTURE_TEST_CASE(a_ceiling_bounds_and_trims_what_another_company_grants, World) {
  Created bot = createBot();
  offer(bot.id, north);
  grantHere(northAdmin, north, bot.id, {"routers.read", "routers.reboot"});
  BOOST_TEST(allowed(bot.key, north, "routers.reboot"));
  auto ceiling = [&](uint64_t actor, uint64_t where, std::vector<std::string> perms, bool clear) {
    return as(actor, where, [&](wire::Request::Builder r) {
      auto q = r.initSaSetCeiling();
      q.setServiceAccount(bot.id);
      auto list = q.initPermissions(static_cast<unsigned>(perms.size()));
      for (unsigned i = 0; i < perms.size(); ++i) list.set(i, perms[i]);
      q.setClear(clear);
    });
  };
  client::checkOk(ceiling(mspAdmin, msp, {"routers.read"}, false));
  BOOST_TEST(allowed(bot.key, north, "routers.read"));
  BOOST_TEST(!allowed(bot.key, north, "routers.reboot"));  // trimmed in the same commit
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));       // the owner's own grant is not bound

  Answer above = grant(northAdmin, north, bot.id, {"routers.read", "routers.reboot"});
  BOOST_REQUIRE((code(above) == ErrorCode::ABOVE_CEILING));
  BOOST_REQUIRE(above->getError().getMissing().size() == 1u);
  BOOST_TEST(std::string(above->getError().getMissing()[0].cStr()) == "routers.reboot");
  BOOST_TEST(!allowed(bot.key, north, "routers.reboot"));  // nothing changed

  BOOST_TEST((code(ceiling(northAdmin, north, {}, true)) == ErrorCode::NOT_OWNER));
  BOOST_TEST((code(ceiling(southAdmin, south, {}, true)) == ErrorCode::NOT_FOUND));

  client::checkOk(ceiling(mspAdmin, msp, {}, true));
  grantHere(northAdmin, north, bot.id, {"routers.read", "routers.reboot"});
  BOOST_TEST(allowed(bot.key, north, "routers.reboot"));
}

// Time-boxed grants: any grant (saGrant, userGrant, the system's setGrant) may carry an expiry;
// the view and getGrant show it; an expiry not in the future (or past 9999) is refused and changes
// nothing; from the expiry on the checks refuse, before and after the writer removes the grant,
// which it audits as the system in the company (and the account's owner) within a second or so.
BOOST_FIXTURE_TEST_CASE(a_time_boxed_grant_ends_by_itself, World) {
  Created bot = createBot();
  offer(bot.id, north);
  auto now = [] { return static_cast<uint64_t>(std::time(nullptr)); };
  auto timedGrant = [&](wire::Request::Builder r, uint64_t account, uint64_t until) {
    auto g = r.initSaGrant();
    g.setPrincipal(account);
    g.initPermissions(1).set(0, "routers.read");
    g.setExpiresAt(until);
  };
  // Refused: now, the past, beyond 9999 — for an actor and for the system; nothing changes.
  for (uint64_t bad : {now() - 10, uint64_t{1}, uint64_t{253402300800}}) {
    Answer a = as(northAdmin, north, [&](wire::Request::Builder r) { timedGrant(r, bot.id, bad); });
    BOOST_TEST((code(a) == ErrorCode::INVALID_ARGUMENT));
    BOOST_TEST(std::string(a->getError().getMessage().cStr()).find("expiresAt") == 0u);
    Answer u = as(northAdmin, north, [&](wire::Request::Builder r) {
      auto g = r.initUserGrant();
      g.setPrincipal(reader);
      g.setExpiresAt(bad);
    });
    BOOST_TEST((code(u) == ErrorCode::INVALID_ARGUMENT));
    Answer s = c.call([&](wire::Request::Builder r) {
      auto g = r.initSetGrant();
      g.setPrincipal(reader);
      g.setCompany(north);
      g.setExpiresAt(bad);
    });
    BOOST_TEST((code(s) == ErrorCode::INVALID_ARGUMENT));
  }
  BOOST_TEST(!allowed(bot.key, north, "routers.read"));
  Answer readerGrant = c.call([&](wire::Request::Builder r) {
    auto q = r.initGetGrant();
    q.setPrincipal(reader);
    q.setCompany(north);
  });
  BOOST_TEST(readerGrant->getGrant().getPermissions().size() == 1u);  // untouched
  BOOST_TEST(readerGrant->getGrant().getExpiresAt() == 0u);

  // Granted for two seconds (a user too, through the system's setGrant).
  uint64_t until = now() + 2;
  client::checkOk(
      as(northAdmin, north, [&](wire::Request::Builder r) { timedGrant(r, bot.id, until); }));
  client::checkOk(c.call([&](wire::Request::Builder r) {
    auto g = r.initSetGrant();
    g.setPrincipal(reader);
    g.setCompany(south);
    g.initPermissions(1).set(0, "routers.read");
    g.setExpiresAt(until);
  }));
  BOOST_TEST(allowed(bot.key, north, "routers.read"));
  Answer shown = as(northAdmin, north, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
  BOOST_TEST(shown->getSaView().getRows()[0].getExpiresAt() == until);
  Answer owners = as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
  BOOST_TEST(owners->getSaView().getRows()[0].getExpiresAt() == 0u);  // its own grant is permanent
  Answer southGrant = c.call([&](wire::Request::Builder r) {
    auto q = r.initGetGrant();
    q.setPrincipal(reader);
    q.setCompany(south);
  });
  BOOST_TEST(southGrant->getGrant().getExpiresAt() == until);
  auto authorize = [&](uint64_t p, uint64_t where) {
    Answer a = c.call([&](wire::Request::Builder r) {
      auto q = r.initAuthorize();
      q.setPrincipal(p);
      q.setCompany(where);
      q.setPermission("routers.read");
    });
    client::checkOk(a);
    return std::make_pair(a->getAuthorize().getAllowed(), a->getAuthorize().getReason());
  };
  BOOST_TEST(authorize(reader, south).first);

  // From the expiry on: refused at once (the writer may not have removed it yet).
  while (now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  BOOST_TEST(!allowed(bot.key, north, "routers.read"));
  BOOST_TEST((authorize(reader, south).second == wire::DenyReason::NO_ACCESS));
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));

  // Removed by the writer, audited as the system where the grant was and in the owner company.
  std::string event = "grantExpired principal " + std::to_string(bot.id) + " in company " +
                      std::to_string(north) + " -> ok";
  for (int i = 0; i < 300 && !anyContains(auditOps(northAdmin, north), event); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_TEST(anyContains(auditOps(northAdmin, north), event));
  BOOST_TEST(anyContains(auditOps(mspAdmin, msp), event));
  BOOST_TEST(!anyContains(auditOps(southAdmin, south), event));
  Answer audit = as(northAdmin, north, [](wire::Request::Builder r) { r.initAuditList(); });
  BOOST_TEST(audit->getAudit().getEvents()[0].getActor() == 0u);
  Answer after = as(northAdmin, north, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
  auto row = after->getSaView().getRows()[0];
  BOOST_TEST(!row.getHasAccess());
  BOOST_TEST(row.getOffered());  // the offer stays: north may grant it again
  BOOST_TEST(row.getExpiresAt() == 0u);
  Answer companies = as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaCompanies(bot.id); });
  BOOST_TEST(companies->getSaCompanies().getCompanies().size() == 1u);  // msp alone

  // A new grant without an expiry is permanent.
  client::checkOk(
      as(northAdmin, north, [&](wire::Request::Builder r) { timedGrant(r, bot.id, 0); }));
  BOOST_TEST(allowed(bot.key, north, "routers.read"));
}

// Ownership transfer: the owner offers, the company offered accepts (or declines), either side
// cancels; at acceptance the owner changes, every key is revoked, the ceiling goes, and the former
// owner keeps its grant as an external company unless the offer said otherwise. Each refusal.
BOOST_FIXTURE_TEST_CASE(ownership_moves_only_when_offered_and_accepted, World) {
  Created bot = createBot();
  offer(bot.id, north);
  grantHere(northAdmin, north, bot.id, {"routers.read"});
  auto ceiling = as(mspAdmin, msp, [&](wire::Request::Builder r) {
    auto q = r.initSaSetCeiling();
    q.setServiceAccount(bot.id);
    q.initPermissions(1).set(0, "routers.read");
  });
  client::checkOk(ceiling);
  auto transfer = [&](uint64_t actor, uint64_t where, uint64_t to, bool drop = false) {
    return as(actor, where, [&](wire::Request::Builder r) {
      auto q = r.initSaOfferOwnership();
      q.setServiceAccount(bot.id);
      q.setCompany(to);
      q.setDropAccess(drop);
    });
  };
  auto accept = [&](uint64_t actor, uint64_t where) {
    return as(actor, where, [&](wire::Request::Builder r) { r.setSaAcceptOwnership(bot.id); });
  };
  auto cancel = [&](uint64_t actor, uint64_t where) {
    return as(actor, where, [&](wire::Request::Builder r) { r.setSaCancelTransfer(bot.id); });
  };
  auto row = [&](uint64_t actor, uint64_t where) {
    Answer a = as(actor, where, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
    client::checkOk(a);
    return a;
  };

  // Refused: not the owner, unrelated, the owner itself, no such company, no permission; nothing
  // to accept or cancel yet.
  BOOST_TEST((code(transfer(northAdmin, north, south)) == ErrorCode::NOT_OWNER));
  BOOST_TEST((code(transfer(southAdmin, south, south)) == ErrorCode::NOT_FOUND));
  BOOST_TEST((code(transfer(mspAdmin, msp, msp)) == ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST((code(transfer(mspAdmin, msp, 999)) == ErrorCode::NOT_FOUND));
  BOOST_TEST((code(transfer(reader, north, north)) == ErrorCode::FORBIDDEN));
  Answer early = accept(northAdmin, north);
  BOOST_TEST((code(early) == ErrorCode::NOT_FOUND));
  BOOST_TEST(std::string(early->getError().getMessage().cStr()) ==
             "service account " + std::to_string(bot.id) + " is not offered to company " +
                 std::to_string(north) + " for ownership");
  BOOST_TEST((code(cancel(mspAdmin, msp)) == ErrorCode::NOT_FOUND));

  // Offered to south (unrelated until now): south sees it, may decline; offered again to north.
  client::checkOk(transfer(mspAdmin, msp, south));
  Answer southRowAnswer = row(southAdmin, south);
  auto southRow = southRowAnswer->getSaView().getRows()[0];
  BOOST_TEST(southRow.getOwnershipOffered());
  BOOST_TEST(southRow.getActions().getAcceptOwnership());
  BOOST_TEST(!southRow.getHasAccess());
  BOOST_TEST(!southRow.getActions().getEditPermissions());  // it may accept, not grant itself
  Answer selfGrant = grant(southAdmin, south, bot.id, {"routers.read"});
  BOOST_TEST((code(selfGrant) == ErrorCode::NOT_FOUND));
  BOOST_TEST(std::string(selfGrant->getError().getMessage().cStr()).find("accept that first") !=
             std::string::npos);
  BOOST_TEST((code(cancel(northAdmin, north)) == ErrorCode::NOT_OWNER));  // a third party
  client::checkOk(cancel(southAdmin, south));                             // declined
  BOOST_TEST((code(accept(southAdmin, south)) == ErrorCode::NOT_FOUND));
  client::checkOk(transfer(mspAdmin, msp, north));
  Answer mineAnswer = row(mspAdmin, msp);
  auto mine = mineAnswer->getSaView().getRows()[0];
  BOOST_TEST(mine.getOwnershipOfferedTo().getId() == north);
  BOOST_TEST(mine.getActions().getTransfer());
  BOOST_TEST(!mine.getActions().getAcceptOwnership());
  BOOST_TEST((code(accept(southAdmin, south)) == ErrorCode::NOT_FOUND));  // unrelated again
  BOOST_TEST((code(accept(reader, north)) == ErrorCode::FORBIDDEN));

  // Accepted: north owns it; the key is revoked; msp keeps its grant, as an offered external.
  Answer accepted = accept(northAdmin, north);
  client::checkOk(accepted);
  BOOST_TEST(accepted->getMutation().getCount() == 1u);
  BOOST_TEST(!allowed(bot.key, msp, "routers.read"));
  Answer ownedAnswer = row(northAdmin, north);
  auto owned = ownedAnswer->getSaView().getRows()[0];
  BOOST_TEST((owned.getRelation() == wire::Relation::OWNED));
  BOOST_TEST(owned.getOwnerCompany() == north);
  BOOST_TEST(!owned.getHasCeiling());
  BOOST_TEST(owned.getOfferedTo().size() == 1u);  // msp, for the grant it kept
  Answer formerAnswer = row(mspAdmin, msp);
  auto former = formerAnswer->getSaView().getRows()[0];
  BOOST_TEST((former.getRelation() == wire::Relation::EXTERNAL));
  BOOST_TEST(former.getHasAccess());
  BOOST_TEST(former.getOffered());
  BOOST_TEST((code(as(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaDelete(bot.id); })) ==
              ErrorCode::NOT_OWNER));
  Answer reset =
      as(northAdmin, north, [&](wire::Request::Builder r) { r.setSaResetCredentials(bot.id); });
  client::checkOk(reset);
  std::string fresh = reset->getKeyIssued().getSecret().cStr();
  BOOST_TEST(allowed(fresh, msp, "routers.read"));
  BOOST_TEST(allowed(fresh, north, "routers.read"));
  std::string event = "saAcceptOwnership serviceAccount " + std::to_string(bot.id) + " -> ok";
  BOOST_TEST(anyContains(auditOps(mspAdmin, msp), event));
  BOOST_TEST(anyContains(auditOps(northAdmin, north), event));
  BOOST_TEST(anyContains(auditOps(northAdmin, north), "saOfferOwnership serviceAccount " +
                                                          std::to_string(bot.id) + " to company " +
                                                          std::to_string(north) + " -> ok"));
  BOOST_TEST(!anyContains(auditOps(southAdmin, south), event));  // its own refusals only

  // Back to msp with dropAccess: north's own grant goes at acceptance.
  client::checkOk(transfer(northAdmin, north, msp, true));
  client::checkOk(accept(mspAdmin, msp));
  Answer gone = as(northAdmin, north, [&](wire::Request::Builder r) { r.setSaShow(bot.id); });
  BOOST_TEST((code(gone) == ErrorCode::NOT_FOUND));  // no grant, no offer: unrelated now
  BOOST_TEST(row(mspAdmin, msp)->getSaView().getRows()[0].getOwnerCompany() == msp);
}

// Impact preview through the wire: the actor's own requests as dry runs — a grant, a deletion, a
// ceiling, an acceptance with dropAccess — answer who would gain or lose what, and change nothing
// (the checks and the audit trail say so).
BOOST_FIXTURE_TEST_CASE(a_dry_run_previews_what_a_change_would_do, World) {
  Created bot = createBot();
  offer(bot.id, north);
  grantHere(northAdmin, north, bot.id, {"routers.read", "routers.reboot"});
  auto dry = [&](uint64_t actor, uint64_t where, const Client::Fill& fill) {
    Answer a = as(actor, where, [&](wire::Request::Builder r) {
      fill(r);
      r.setDryRun(true);
    });
    client::checkOk(a);
    BOOST_REQUIRE((a->which() == wire::Response::IMPACT));
    return a;
  };
  auto names = [](capnp::List<capnp::Text>::Reader list) {
    std::vector<std::string> out;
    for (auto n : list) out.emplace_back(n.cStr());
    return out;
  };
  // A grant: north's edit gains routers.write, loses routers.reboot.
  Answer g = dry(northAdmin, north, [&](wire::Request::Builder r) {
    auto q = r.initSaGrant();
    q.setPrincipal(bot.id);
    auto p = q.initPermissions(2);
    p.set(0, "routers.read");
    p.set(1, "routers.write");
  });
  BOOST_REQUIRE(g->getImpact().getChanges().size() == 1u);
  auto change = g->getImpact().getChanges()[0];
  BOOST_TEST(change.getPrincipal() == bot.id);
  BOOST_TEST(change.getCompany() == north);
  BOOST_TEST((names(change.getGained()) == std::vector<std::string>{"routers.write"}));
  BOOST_TEST((names(change.getLost()) == std::vector<std::string>{"routers.reboot"}));
  BOOST_TEST(!allowed(bot.key, north, "routers.write"));  // nothing changed
  // Deleting: everything, in both companies.
  Answer del = dry(mspAdmin, msp, [&](wire::Request::Builder r) { r.setSaDelete(bot.id); });
  BOOST_TEST(del->getImpact().getTotal() == 2u);
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));
  // A ceiling: north's grant is trimmed.
  Answer ceiling = dry(mspAdmin, msp, [&](wire::Request::Builder r) {
    auto q = r.initSaSetCeiling();
    q.setServiceAccount(bot.id);
    q.initPermissions(1).set(0, "routers.read");
  });
  BOOST_REQUIRE(ceiling->getImpact().getTotal() == 1u);
  BOOST_TEST((names(ceiling->getImpact().getChanges()[0].getLost()) ==
              std::vector<std::string>{"routers.reboot"}));
  // A transfer accepted with dropAccess: msp loses its access.
  client::checkOk(as(mspAdmin, msp, [&](wire::Request::Builder r) {
    auto q = r.initSaOfferOwnership();
    q.setServiceAccount(bot.id);
    q.setCompany(north);
    q.setDropAccess(true);
  }));
  Answer accept =
      dry(northAdmin, north, [&](wire::Request::Builder r) { r.setSaAcceptOwnership(bot.id); });
  BOOST_REQUIRE(accept->getImpact().getTotal() == 1u);
  BOOST_TEST(accept->getImpact().getChanges()[0].getCompany() == msp);
  BOOST_TEST(allowed(bot.key, msp, "routers.read"));
  // A refused dry run is the refusal; none of these is in the audit trail.
  Answer escalation = as(limited, north, [&](wire::Request::Builder r) {
    auto q = r.initSaGrant();
    q.setPrincipal(bot.id);
    q.initPermissions(1).set(0, "routers.write");
    r.setDryRun(true);
  });
  BOOST_TEST((code(escalation) == ErrorCode::ESCALATION));
  BOOST_TEST(!anyContains(auditOps(mspAdmin, msp), "saDelete"));
  BOOST_TEST(!anyContains(auditOps(northAdmin, north), "saAcceptOwnership"));
  BOOST_TEST(!anyContains(auditOps(northAdmin, north), "escalation"));
}
