// Credential checks against the real daemon: every refusal reason, the UI/API channel rules,
// TOTP with replay protection, key expiry, revocation, reset and rotation, rate limits, the
// pepper file's mode, checkAccess, and bad input.
#define BOOST_TEST_MODULE credential_checks
#include <liboath/oath.h>
#include <sodium.h>
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <ctime>
#include <thread>

#include "credentials/api_key.hpp"
#include "credentials/totp.hpp"
#include "daemon_fixture.hpp"
#include "totp_support.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using client::Client;
using wire::CredentialRefusal;

namespace {

struct CryptoInit {
  CryptoInit() {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init");
    credentials::initTotp();
  }
};
BOOST_GLOBAL_FIXTURE(CryptoInit);

// Cheap Argon2id so that password tests run fast; a low rate limit with a short back-off.
const std::string kCredentials =
    "password_ops_limit = 1\npassword_mem_limit_mib = 8\nrate_limit_failures = 3\n"
    "rate_limit_backoff_seconds = 2\n";

struct World {
  Daemon daemon{"", kCredentials};
  Client c = daemon.connect();
  uint64_t acme = 0, other = 0, bot = 0, alice = 0;

  World() {
    mutate([](wire::Request::Builder r) {
      auto names = r.initDefinePermissions(2);
      names.set(0, "routers.read");
      names.set(1, "routers.reboot");
    });
    acme = mutate([](wire::Request::Builder r) { r.initCreateCompany().setName("acme"); });
    other = mutate([](wire::Request::Builder r) { r.initCreateCompany().setName("other"); });
    bot = mutate([&](wire::Request::Builder r) {
      auto sa = r.initCreateServiceAccount();
      sa.setName("bot");
      sa.setOwnerCompany(acme);
    });
    alice = mutate([](wire::Request::Builder r) { r.initCreateUser().setName("alice"); });
    mutate([&](wire::Request::Builder r) {
      auto g = r.initSetGrant();
      g.setPrincipal(bot);
      g.setCompany(acme);
      g.initPermissions(1).set(0, "routers.read");
    });
    mutate([&](wire::Request::Builder r) {
      auto p = r.initSetPassword();
      p.setUser(alice);
      p.setPassword("correct horse battery");
    });
  }

  // A provisioning request that must succeed; returns the created id.
  uint64_t mutate(const Client::Fill& fill) {
    auto a = c.call(fill);
    client::checkOk(a);
    return a->which() == wire::Response::MUTATION ? a->getMutation().getId() : 0;
  }

  std::string newKey(uint64_t expiresAt = 0) {
    auto a = c.call([&](wire::Request::Builder r) {
      auto k = r.initCreateKey();
      k.setServiceAccount(bot);
      k.setExpiresAt(expiresAt);
    });
    client::checkOk(a);
    return a->getKeyIssued().getSecret().cStr();
  }

  client::Answer credential(std::string_view secret, wire::Channel channel,
                            std::string_view user = "", std::string_view totp = "",
                            std::string_view source = "") {
    return c.call([&](wire::Request::Builder r) {
      auto q = r.initCheckCredential();
      q.setCredential(capnp::Text::Reader(secret.data(), secret.size()));
      q.setChannel(channel);
      q.setUser(std::string(user));
      q.setTotp(std::string(totp));
      q.setSource(std::string(source));
    });
  }

  CredentialRefusal refusal(std::string_view secret, wire::Channel channel = wire::Channel::API,
                            std::string_view user = "", std::string_view totp = "",
                            std::string_view source = "") {
    auto a = credential(secret, channel, user, totp, source);
    client::checkOk(a);
    return a->getCredential().getRefusal();
  }

  client::Answer access(std::string_view key, uint64_t company, std::string_view permission) {
    return c.call([&](wire::Request::Builder r) {
      auto q = r.initCheckAccess();
      q.setCredential(std::string(key));
      q.setCompany(company);
      q.setPermission(std::string(permission));
    });
  }
};

uint64_t unixNow() { return static_cast<uint64_t>(std::time(nullptr)); }

}  // namespace

BOOST_FIXTURE_TEST_CASE(service_account_key_api_yes_ui_never, World) {
  std::string key = newKey();
  auto a = credential(key, wire::Channel::API);
  BOOST_REQUIRE((a->which() == wire::Response::CREDENTIAL));
  BOOST_TEST(a->getCredential().getAccepted());
  BOOST_TEST(a->getCredential().getPrincipal() == bot);
  BOOST_TEST((a->getCredential().getKind() == wire::PrincipalKind::SERVICE_ACCOUNT));
  // No TOTP is asked of a service account on the API channel; on the UI channel it is refused
  // even though the key is correct.
  BOOST_TEST((refusal(key, wire::Channel::UI) == CredentialRefusal::SERVICE_ACCOUNT_NO_UI));
  // Its name as a user: on the UI channel its own reason, whatever the password (it has none);
  // on the API channel a name with a password is no credential of it at all.
  BOOST_TEST((refusal("any password at all", wire::Channel::UI, "bot") ==
              CredentialRefusal::SERVICE_ACCOUNT_NO_UI));
  BOOST_TEST((refusal("any password at all", wire::Channel::API, "bot") ==
              CredentialRefusal::BAD_CREDENTIAL));
}

BOOST_FIXTURE_TEST_CASE(mistyped_unknown_and_forged_keys_are_bad_credentials, World) {
  std::string key = newKey();
  std::string typo = key;
  typo[20] = typo[20] == 'x' ? 'y' : 'x';
  BOOST_TEST((refusal(typo) == CredentialRefusal::BAD_CREDENTIAL));
  BOOST_TEST((refusal("gatesk_not-a-key") == CredentialRefusal::BAD_CREDENTIAL));
  BOOST_TEST((refusal("correct horse battery") == CredentialRefusal::BAD_CREDENTIAL));
  BOOST_TEST((refusal(key) == CredentialRefusal::NONE));
}

BOOST_FIXTURE_TEST_CASE(revoked_expired_and_disabled, World) {
  std::string key = newKey();
  auto list = c.call([&](wire::Request::Builder r) { r.setListKeys(bot); });
  uint64_t keyId = list->getKeys().getKeys()[0].getId();
  mutate([&](wire::Request::Builder r) { r.setRevokeKey(keyId); });
  BOOST_TEST((refusal(key) == CredentialRefusal::KEY_REVOKED));

  std::string shortLived = newKey(unixNow() + 2);
  BOOST_TEST((refusal(shortLived) == CredentialRefusal::NONE));
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  BOOST_TEST((refusal(shortLived) == CredentialRefusal::KEY_EXPIRED));

  std::string live = newKey();
  mutate([&](wire::Request::Builder r) {
    auto s = r.initSetPrincipalState();
    s.setPrincipal(bot);
    s.setState(wire::PrincipalState::DISABLED);
  });
  BOOST_TEST((refusal(live) == CredentialRefusal::DISABLED));
}

BOOST_FIXTURE_TEST_CASE(reset_revokes_every_old_key_at_once, World) {
  std::vector<std::string> old = {newKey(), newKey(), newKey()};
  auto a = c.call([&](wire::Request::Builder r) { r.initResetKeys().setServiceAccount(bot); });
  client::checkOk(a);
  BOOST_TEST(a->getKeyIssued().getRetired() == 3u);
  for (const auto& k : old) BOOST_TEST((refusal(k) == CredentialRefusal::KEY_REVOKED));
  BOOST_TEST((refusal(a->getKeyIssued().getSecret().cStr()) == CredentialRefusal::NONE));
}

BOOST_FIXTURE_TEST_CASE(rotation_keeps_the_old_key_for_the_grace_period, World) {
  std::string old = newKey();
  auto a = c.call([&](wire::Request::Builder r) {
    auto q = r.initRotateKey();
    q.setServiceAccount(bot);
    q.setGraceSeconds(2);
  });
  client::checkOk(a);
  std::string fresh = a->getKeyIssued().getSecret().cStr();
  BOOST_TEST((refusal(old) == CredentialRefusal::NONE));
  BOOST_TEST((refusal(fresh) == CredentialRefusal::NONE));
  auto list = c.call([&](wire::Request::Builder r) { r.setListKeys(bot); });
  int retiring = 0;
  for (auto k : list->getKeys().getKeys()) retiring += k.getState() == wire::KeyState::RETIRING;
  BOOST_TEST(retiring == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  BOOST_TEST((refusal(old) == CredentialRefusal::KEY_REVOKED));
  BOOST_TEST((refusal(fresh) == CredentialRefusal::NONE));
}

BOOST_FIXTURE_TEST_CASE(at_most_ten_live_keys_and_listing_shows_no_secret, World) {
  for (int i = 0; i < 10; ++i) newKey();
  auto eleventh =
      c.call([&](wire::Request::Builder r) { r.initCreateKey().setServiceAccount(bot); });
  BOOST_REQUIRE((eleventh->which() == wire::Response::ERROR));
  BOOST_TEST((eleventh->getError().getCode() == wire::ErrorCode::LIMIT_EXCEEDED));
  auto list = c.call([&](wire::Request::Builder r) { r.setListKeys(bot); });
  BOOST_TEST(list->getKeys().getKeys().size() == 10u);
  for (auto k : list->getKeys().getKeys()) {
    BOOST_TEST(k.getCreatedAt() > 0u);
    BOOST_TEST((k.getState() == wire::KeyState::ACTIVE));
  }
  auto notSa = c.call([&](wire::Request::Builder r) { r.setListKeys(alice); });
  BOOST_TEST((notSa->which() == wire::Response::ERROR));
}

BOOST_FIXTURE_TEST_CASE(last_use_is_recorded_without_a_write_per_check, World) {
  std::string key = newKey();
  uint64_t before = unixNow();
  BOOST_TEST((refusal(key) == CredentialRefusal::NONE));
  auto list = c.call([&](wire::Request::Builder r) { r.setListKeys(bot); });
  BOOST_TEST(list->getKeys().getKeys()[0].getLastUsedAt() >= before);
  // The check itself did not commit anything.
  BOOST_TEST(list->getKeys().getRevision() ==
             credential(key, wire::Channel::API)->getCredential().getRevision());
}

BOOST_FIXTURE_TEST_CASE(user_password_and_totp_with_replay_protection, World) {
  BOOST_TEST(
      (refusal("correct horse battery", wire::Channel::UI, "alice") == CredentialRefusal::NONE));
  BOOST_TEST((refusal("wrong horse battery", wire::Channel::UI, "alice") ==
              CredentialRefusal::BAD_CREDENTIAL));
  BOOST_TEST((refusal("correct horse battery", wire::Channel::UI, "nobody") ==
              CredentialRefusal::BAD_CREDENTIAL));
  // A service account has no password: on the API channel its name is no login at all.
  BOOST_TEST((refusal("correct horse battery", wire::Channel::API, "bot") ==
              CredentialRefusal::BAD_CREDENTIAL));

  auto enrolled = c.call([&](wire::Request::Builder r) { r.setEnrollTotp(alice); });
  client::checkOk(enrolled);
  std::string uri = enrolled->getTotpEnrolled().getUri().cStr();
  BOOST_TEST(uri.rfind("otpauth://totp/gatehouse:alice?secret=", 0) == 0u);
  auto secret = secretFromUri(uri);

  // 2-FA is required on both channels.
  BOOST_TEST((refusal("correct horse battery", wire::Channel::UI, "alice") ==
              CredentialRefusal::TOTP_REQUIRED));
  BOOST_TEST((refusal("correct horse battery", wire::Channel::API, "alice") ==
              CredentialRefusal::TOTP_REQUIRED));
  std::string code = credentials::totpCode(secret, std::time(nullptr));
  std::string wrong = code == "000000" ? "111111" : "000000";
  BOOST_TEST((refusal("correct horse battery", wire::Channel::UI, "alice", wrong) ==
              CredentialRefusal::TOTP_INVALID));
  auto ok = credential("correct horse battery", wire::Channel::UI, "alice", code);
  BOOST_TEST(ok->getCredential().getAccepted());
  BOOST_TEST(ok->getCredential().getPrincipal() == alice);
  BOOST_TEST((ok->getCredential().getKind() == wire::PrincipalKind::USER));
  BOOST_TEST((refusal("correct horse battery", wire::Channel::UI, "alice", code) ==
              CredentialRefusal::TOTP_REPLAYED));

  // Replay protection survives a restart (the accepted step is stored).
  daemon.stop();
  daemon.start();
  c = daemon.connect();
  BOOST_TEST((refusal("correct horse battery", wire::Channel::UI, "alice", code) ==
              CredentialRefusal::TOTP_REPLAYED));

  mutate([&](wire::Request::Builder r) { r.setRemoveTotp(alice); });
  BOOST_TEST(
      (refusal("correct horse battery", wire::Channel::UI, "alice") == CredentialRefusal::NONE));
}

BOOST_FIXTURE_TEST_CASE(rate_limit_starts_and_ends_per_principal_and_per_source, World) {
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST((refusal("bad password!", wire::Channel::UI, "alice") ==
                CredentialRefusal::BAD_CREDENTIAL));
  }
  auto limited = credential("correct horse battery", wire::Channel::UI, "alice");
  BOOST_TEST((limited->getCredential().getRefusal() == CredentialRefusal::RATE_LIMITED));
  BOOST_TEST(limited->getCredential().getRetryAfterSeconds() >= 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  BOOST_TEST(
      (refusal("correct horse battery", wire::Channel::UI, "alice") == CredentialRefusal::NONE));

  // Per source address, as passed by the caller: one source is limited, another is not.
  std::string key = newKey();
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST((refusal("gatesk_guess", wire::Channel::API, "", "", "192.0.2.7") ==
                CredentialRefusal::BAD_CREDENTIAL));
  }
  BOOST_TEST(
      (refusal(key, wire::Channel::API, "", "", "192.0.2.7") == CredentialRefusal::RATE_LIMITED));
  BOOST_TEST((refusal(key, wire::Channel::API, "", "", "192.0.2.8") == CredentialRefusal::NONE));
}

BOOST_FIXTURE_TEST_CASE(check_access_allows_and_denies_in_one_round_trip, World) {
  std::string key = newKey();
  auto allow = access(key, acme, "routers.read");
  BOOST_REQUIRE((allow->which() == wire::Response::ACCESS));
  BOOST_TEST(allow->getAccess().getAllowed());
  BOOST_TEST(allow->getAccess().getPrincipal() == bot);
  BOOST_TEST((access(key, acme, "routers.reboot")->getAccess().getReason() ==
              wire::DenyReason::NOT_GRANTED));
  BOOST_TEST(
      (access(key, other, "routers.read")->getAccess().getReason() == wire::DenyReason::NO_ACCESS));
  BOOST_TEST((access(key, acme, "routers.fly")->getAccess().getReason() ==
              wire::DenyReason::UNKNOWN_PERMISSION));
  BOOST_TEST((access(key, 999, "routers.read")->getAccess().getReason() ==
              wire::DenyReason::UNKNOWN_COMPANY));
  auto bad = access("gatesk_nope", acme, "routers.read");
  BOOST_TEST(!bad->getAccess().getAllowed());
  BOOST_TEST((bad->getAccess().getCredential() == CredentialRefusal::BAD_CREDENTIAL));
}

BOOST_FIXTURE_TEST_CASE(bad_input_gets_a_clear_error, World) {
  auto code = [&](std::string_view secret, std::string_view totp = "") {
    auto a = credential(secret, wire::Channel::API, totp.empty() ? "" : "alice", totp);
    return a->which() == wire::Response::ERROR ? a->getError().getCode() : wire::ErrorCode::FAILED;
  };
  BOOST_TEST((code("") == wire::ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST((code(std::string(2000, 'k')) == wire::ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST((code("gatesk_\xff\xfe") == wire::ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST((code("correct horse battery", "12ab56") == wire::ErrorCode::INVALID_ARGUMENT));
  auto empty = access("", acme, "routers.read");
  BOOST_TEST((empty->getError().getCode() == wire::ErrorCode::INVALID_ARGUMENT));
  BOOST_TEST(std::string(empty->getError().getMessage().cStr()).find("credential") !=
             std::string::npos);
  auto shortPassword = c.call([&](wire::Request::Builder r) {
    auto p = r.initSetPassword();
    p.setUser(alice);
    p.setPassword("short");
  });
  BOOST_TEST((shortPassword->getError().getCode() == wire::ErrorCode::INVALID_ARGUMENT));
  // The old password still works: the refused request changed nothing.
  BOOST_TEST(
      (refusal("correct horse battery", wire::Channel::UI, "alice") == CredentialRefusal::NONE));
}

BOOST_AUTO_TEST_CASE(daemon_refuses_a_pepper_readable_by_others) {
  Daemon d;
  auto pepper = d.dir() / "pepper";
  struct stat st {};
  BOOST_REQUIRE(::stat(pepper.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  d.stop();
  ::chmod(pepper.c_str(), 0644);
  try {
    d.start();
    BOOST_ERROR("the daemon started with a world-readable pepper");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()).find("chmod 600") != std::string::npos, e.what());
  }
}

// Wrong secrets sent with an account's real key id limit the source that sent them, never the
// account: its valid key keeps working from every other source (a key cannot be guessed).
BOOST_FIXTURE_TEST_CASE(wrong_secrets_with_a_real_key_id_do_not_lock_out_the_account, World) {
  std::string key = newKey();
  credentials::ParsedKey parsed;
  BOOST_REQUIRE(credentials::parseApiKey(key, parsed));
  for (int i = 0; i < 20; ++i) {  // far past the threshold of 3
    uint8_t secret[credentials::kKeySecretBytes];
    randombytes_buf(secret, sizeof secret);
    std::string forged = credentials::formatApiKey(parsed.id, secret);
    auto refused = refusal(forged, wire::Channel::API, "", "", "203.0.113.9");
    BOOST_TEST((refused == CredentialRefusal::BAD_CREDENTIAL ||
                refused == CredentialRefusal::RATE_LIMITED));
  }
  BOOST_TEST((refusal(key, wire::Channel::API, "", "", "198.51.100.1") == CredentialRefusal::NONE));
  BOOST_TEST((refusal(key) == CredentialRefusal::NONE));  // no source given
  BOOST_TEST((access(key, acme, "routers.read")->getAccess().getAllowed()));
  // The forging source itself is in back-off, even with the valid key.
  BOOST_TEST(
      (refusal(key, wire::Channel::API, "", "", "203.0.113.9") == CredentialRefusal::RATE_LIMITED));
}
