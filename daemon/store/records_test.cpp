// Each table's encoder and decoder: every record survives the round trip, and a damaged record is
// refused as corruption instead of being read as something else.
#include "store/records.hpp"

#include <boost/test/unit_test.hpp>

#include "store/effective_row.hpp"

using namespace gatehouse::store;
using namespace gatehouse::store::records;

BOOST_AUTO_TEST_SUITE(records_round_trip)

BOOST_AUTO_TEST_CASE(company) {
  BOOST_TEST(decodeCompanyName(encodeCompany("acme \xC3\xA9")) == "acme \xC3\xA9");
  BOOST_CHECK_THROW(decodeCompanyName(encodeCompany("acme") + "x"), CorruptRecord);
}

BOOST_AUTO_TEST_CASE(principal) {
  PrincipalRecord r{7,        PrincipalKind::serviceAccount, PrincipalState::disabled, 3, "robot",
                    "deploys"};
  PrincipalRecord back = decodePrincipal(7, encodePrincipal(r));
  BOOST_TEST(back.id == 7u);
  BOOST_TEST((back.kind == r.kind));
  BOOST_TEST((back.state == r.state));
  BOOST_TEST(back.ownerCompany == 3u);
  BOOST_TEST(back.name == "robot");
  BOOST_TEST(back.description == "deploys");
  BOOST_TEST((decodePrincipalState(encodePrincipal(r)) == PrincipalState::disabled));
  std::string bad = encodePrincipal(r);
  bad[1] = 9;  // no such state
  BOOST_CHECK_THROW(decodePrincipal(7, bad), CorruptRecord);
  BOOST_CHECK_THROW(decodePrincipalState(bad), CorruptRecord);
  bad = encodePrincipal(r);
  bad[0] = 5;  // no such kind
  BOOST_CHECK_THROW(decodePrincipal(7, bad), CorruptRecord);
  BOOST_CHECK_THROW(decodePrincipal(7, encodePrincipal(r).substr(0, 12)), CorruptRecord);
}

BOOST_AUTO_TEST_CASE(role) {
  RoleRecord r{4, 2, "operators", PermissionSet()};
  r.permissions.set(0);
  r.permissions.set(700);
  RoleRecord back = decodeRole(4, encodeRole(r));
  BOOST_TEST(back.id == 4u);
  BOOST_TEST(back.company == 2u);
  BOOST_TEST(back.name == "operators");
  BOOST_TEST((back.permissions == r.permissions));
  BOOST_CHECK_THROW(decodeRole(4, encodeRole(r) + "\x01"), CorruptRecord);
}

BOOST_AUTO_TEST_CASE(grant) {
  GrantRecord g;
  g.direct.set(3);
  g.roles = {1, 9, 4000000000ull};
  GrantRecord back = decodeGrant(encodeGrant(g));
  BOOST_TEST((back.direct == g.direct));
  BOOST_TEST(back.roles == g.roles);
  std::string bad = encodeGrant(g);
  bad.resize(bad.size() - 1);
  BOOST_CHECK_THROW(decodeGrant(bad), CorruptRecord);
  // A role count far beyond the record's size is refused before anything is reserved.
  std::string huge = Encoder().str("").u32(0xFFFFFFFFu).bytes();
  BOOST_CHECK_THROW(decodeGrant(huge), CorruptRecord);
  // A permanent grant's record is what schema 3 wrote; a time-boxed one appends its expiry.
  BOOST_TEST(decodeGrant(encodeGrant(g)).expiresAt == 0u);
  g.expiresAt = 1767225600;
  std::string timed = encodeGrant(g);
  BOOST_TEST(timed.size() == encodeGrant(GrantRecord{g.direct, g.roles, 0}).size() + 8);
  BOOST_TEST(decodeGrant(timed).expiresAt == g.expiresAt);
  BOOST_TEST(decodeGrant(timed).roles == g.roles);
  BOOST_CHECK_THROW(decodeGrant(timed.substr(0, timed.size() - 3)), CorruptRecord);
  BOOST_CHECK_THROW(decodeGrant(timed + "\x01"), CorruptRecord);
  std::string zero = encodeGrant(GrantRecord{g.direct, g.roles, 0}) + std::string(8, '\0');
  BOOST_CHECK_THROW(decodeGrant(zero), CorruptRecord);  // a stored expiry is never 0
}

BOOST_AUTO_TEST_CASE(effective_row) {
  PermissionSet bits;
  bits.set(2);
  bits.set(17);
  // Permanent: the stored set alone, no trailer.
  BOOST_TEST(encodeEffective(bits.stored(), 0) == bits.stored());
  BOOST_TEST(!hasExpiry(encodeEffective(bits.stored(), 0)));
  EffectiveRow plain = decodeEffective(bits.stored());
  BOOST_TEST(plain.bits == bits.stored());
  BOOST_TEST(plain.expiresAt == 0u);
  // Time-boxed, with bits and without: the set, then the expiry and a zero byte.
  for (std::string_view set : {bits.stored(), std::string_view()}) {
    std::string value = encodeEffective(set, 1767225600);
    BOOST_TEST(value.size() == set.size() + kExpiryTrailer);
    BOOST_TEST(hasExpiry(value));
    EffectiveRow row = decodeEffective(value);
    BOOST_TEST(row.bits == set);
    BOOST_TEST(row.expiresAt == 1767225600u);
  }
  BOOST_TEST(!hasExpiry(""));
  BOOST_CHECK_THROW(decodeEffective(std::string("\x01\0", 2)), CorruptRecord);  // too short
  BOOST_CHECK_THROW(decodeEffective(std::string(9, '\0')), CorruptRecord);      // expiry 0
  BOOST_TEST(expiredAt(100, 100));
  BOOST_TEST(!expiredAt(101, 100));
  BOOST_TEST(!expiredAt(0, 100));
}

BOOST_AUTO_TEST_CASE(key) {
  KeyRecord k;
  k.principal = 5;
  k.createdAt = 100;
  k.expiresAt = 200;
  k.revokedAt = 150;
  k.lastUsedAt = 120;
  for (size_t i = 0; i < k.hash.size(); ++i) k.hash[i] = static_cast<uint8_t>(i * 7);
  KeyRecord back = decodeKey(42, encodeKey(k));
  BOOST_TEST(back.id == 42u);
  BOOST_TEST(back.principal == 5u);
  BOOST_TEST(back.createdAt == 100u);
  BOOST_TEST(back.expiresAt == 200u);
  BOOST_TEST(back.revokedAt == 150u);
  BOOST_TEST(back.lastUsedAt == 120u);
  BOOST_TEST((back.hash == k.hash));
  std::string shortHash = Encoder().u64(5).u64(1).u64(0).u64(0).u64(0).str("abc").bytes();
  BOOST_CHECK_THROW(decodeKey(42, shortHash), CorruptRecord);
}

BOOST_AUTO_TEST_CASE(totp) {
  TotpRecord t{std::string("sealed\0bytes", 12), 987654};
  TotpRecord back = decodeTotp(encodeTotp(t));
  BOOST_TEST(back.sealedSecret == t.sealedSecret);
  BOOST_TEST(back.lastStep == 987654u);
  BOOST_CHECK_THROW(decodeTotp(encodeTotp(t).substr(0, 4)), CorruptRecord);
}

BOOST_AUTO_TEST_CASE(audit) {
  AuditRecord r;
  r.time = 1700000000;
  r.actor = 3;
  r.activeCompany = 2;
  r.peerUid = 1000;
  r.peerPid = -1;
  r.operation = "saGrant";
  r.target = "serviceAccount 6";
  r.outcome = "ok";
  r.companies = {1, 2};
  AuditRecord back = decodeAudit(11, encodeAudit(r));
  BOOST_TEST(back.sequence == 11u);
  BOOST_TEST(back.time == r.time);
  BOOST_TEST(back.actor == 3u);
  BOOST_TEST(back.activeCompany == 2u);
  BOOST_TEST(back.peerUid == 1000u);
  BOOST_TEST(back.peerPid == -1);
  BOOST_TEST(back.operation == "saGrant");
  BOOST_TEST(back.target == "serviceAccount 6");
  BOOST_TEST(back.outcome == "ok");
  BOOST_TEST(back.companies == r.companies);
  BOOST_CHECK_THROW(decodeAudit(11, encodeAudit(r) + "x"), CorruptRecord);
}

BOOST_AUTO_TEST_SUITE_END()
