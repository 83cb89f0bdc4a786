#define BOOST_TEST_MODULE credentials
#include <sodium.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <fstream>

#include "credentials/api_key.hpp"
#include "credentials/password.hpp"
#include "credentials/pepper.hpp"
#include "credentials/rate_limiter.hpp"
#include "credentials/totp.hpp"
#include "credentials/work_pool.hpp"
#include "temp_dir.hpp"

using namespace gatehouse::credentials;
using gatehouse::testing::TempDir;

namespace {

struct SodiumInit {
  SodiumInit() {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init");
    initTotp();
  }
};
BOOST_GLOBAL_FIXTURE(SodiumInit);

std::string sampleKey(uint64_t id = 0x0123456789abcdefull) {
  uint8_t secret[kKeySecretBytes];
  for (size_t i = 0; i < sizeof secret; ++i) secret[i] = static_cast<uint8_t>(i * 7 + 1);
  return formatApiKey(id, secret);
}

}  // namespace

BOOST_AUTO_TEST_CASE(key_round_trips_with_prefix_and_fixed_length) {
  std::string text = sampleKey();
  BOOST_TEST(text.size() == kKeyTextSize);
  BOOST_TEST(text.rfind("gatesk_", 0) == 0u);
  BOOST_TEST(
      text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
      std::string::npos);
  ParsedKey parsed;
  BOOST_REQUIRE(parseApiKey(text, parsed));
  BOOST_TEST(parsed.id == 0x0123456789abcdefull);
  BOOST_TEST(parsed.secret[1] == 8);
}

BOOST_AUTO_TEST_CASE(every_single_character_typo_fails_the_checksum) {
  std::string text = sampleKey();
  int refused = 0, total = 0;
  for (size_t i = kKeyPrefix.size(); i < text.size(); ++i) {
    std::string typo = text;
    typo[i] = typo[i] == 'A' ? 'B' : 'A';
    ParsedKey parsed;
    ++total;
    refused += parseApiKey(typo, parsed) ? 0 : 1;
  }
  // The last character carries only 4 meaningful bits of the 44 bytes; a change there can land
  // in the padding bits, which strict decoding refuses too.
  BOOST_TEST(refused == total);
}

BOOST_AUTO_TEST_CASE(random_keys_round_trip_exactly) {
  for (int n = 0; n < 1000; ++n) {
    uint64_t id = 0;
    uint8_t secret[kKeySecretBytes];
    randombytes_buf(&id, sizeof id);
    randombytes_buf(secret, sizeof secret);
    ParsedKey parsed;
    BOOST_REQUIRE(parseApiKey(formatApiKey(id, secret), parsed));
    BOOST_TEST(parsed.id == id);
    BOOST_TEST(std::memcmp(parsed.secret.data(), secret, sizeof secret) == 0);
  }
}

// Every byte value at every position of the body: only the original character is accepted (a
// non-alphabet byte, a different character, or non-zero bits past the data in the last one are
// all refused).
BOOST_AUTO_TEST_CASE(every_byte_at_every_position_but_the_original_is_refused) {
  std::string text = sampleKey();
  int wrong = 0;
  for (size_t i = kKeyPrefix.size(); i < text.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      std::string changed = text;
      changed[i] = static_cast<char>(b);
      ParsedKey parsed;
      if (parseApiKey(changed, parsed) != (changed == text)) ++wrong;
    }
  }
  BOOST_TEST(wrong == 0);
}

BOOST_AUTO_TEST_CASE(malformed_keys_are_refused) {
  std::string text = sampleKey();
  ParsedKey parsed;
  BOOST_TEST(!parseApiKey("", parsed));
  BOOST_TEST(!parseApiKey(text.substr(0, text.size() - 1), parsed));
  BOOST_TEST(!parseApiKey(text + "A", parsed));
  BOOST_TEST(!parseApiKey("xxxxsk_" + text.substr(7), parsed));
  std::string bad = text;
  bad[20] = '*';
  BOOST_TEST(!parseApiKey(bad, parsed));
  std::string nonUtf8 = text;
  nonUtf8[30] = '\xff';
  BOOST_TEST(!parseApiKey(nonUtf8, parsed));
}

BOOST_AUTO_TEST_CASE(pepper_is_created_private_and_refused_when_readable_by_others) {
  TempDir dir;
  auto path = dir.path() / "secrets" / "pepper";
  Pepper first = Pepper::loadOrCreate(path);
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_TEST(st.st_size == 32);

  // The same file gives the same hashes.
  Pepper again = Pepper::loadOrCreate(path);
  uint8_t secret[4] = {1, 2, 3, 4};
  BOOST_TEST((first.keyedHash(secret, 4) == again.keyedHash(secret, 4)));

  ::chmod(path.c_str(), 0640);
  try {
    Pepper::loadOrCreate(path);
    BOOST_ERROR("a group-readable pepper was accepted");
  } catch (const PepperError& e) {
    BOOST_TEST(std::string(e.what()).find("0640") != std::string::npos);
  }
  ::chmod(path.c_str(), 0604);
  BOOST_CHECK_THROW(Pepper::loadOrCreate(path), PepperError);

  ::chmod(path.c_str(), 0600);
  std::ofstream(path, std::ios::app) << "x";
  BOOST_CHECK_THROW(Pepper::loadOrCreate(path), PepperError);  // 33 bytes
}

BOOST_AUTO_TEST_CASE(keyed_hash_depends_on_the_pepper) {
  Pepper a = Pepper::fromBytes(std::string(32, 'a'));
  Pepper b = Pepper::fromBytes(std::string(32, 'b'));
  uint8_t secret[32] = {9};
  BOOST_TEST((a.keyedHash(secret, 32) != b.keyedHash(secret, 32)));
}

BOOST_AUTO_TEST_CASE(totp_accepts_one_step_either_side_and_names_the_step) {
  SecretBytes secret = newTotpSecret();
  std::time_t now = 1'800'000'000;
  std::string code = totpCode(secret, now);
  BOOST_TEST(code.size() == 6u);
  auto step = verifyTotp(secret, code, now);
  BOOST_REQUIRE(step.has_value());
  BOOST_TEST(*step == uint64_t(now / 30));
  BOOST_TEST(verifyTotp(secret, totpCode(secret, now - 30), now).has_value());
  BOOST_TEST(verifyTotp(secret, totpCode(secret, now + 30), now).has_value());
  BOOST_TEST(*verifyTotp(secret, totpCode(secret, now - 30), now) == *step - 1);
  BOOST_TEST(!verifyTotp(secret, totpCode(secret, now - 90), now).has_value());
  BOOST_TEST(!verifyTotp(secret, "12345", now).has_value());
  BOOST_TEST(!verifyTotp(secret, "abcdef", now).has_value());
}

BOOST_AUTO_TEST_CASE(rfc6238_sha1_vector) {
  // RFC 6238 appendix B, SHA-1, T = 59: 94287082 (8 digits) -> the last 6 digits.
  SecretBytes secret(20);
  std::memcpy(secret.data(), "12345678901234567890", 20);
  BOOST_TEST(totpCode(secret, 59) == "287082");
}

BOOST_AUTO_TEST_CASE(totp_secret_is_sealed_under_the_pepper_key) {
  Pepper pepper = Pepper::fromBytes(std::string(32, 'p'));
  SecretBytes key = pepper.subkey(1, "gh-totp_");
  SecretBytes secret = newTotpSecret();
  std::string sealed = sealTotpSecret(key, secret);
  auto opened = openTotpSecret(key, sealed);
  BOOST_REQUIRE(opened.has_value());
  BOOST_TEST(std::memcmp(opened->data(), secret.data(), secret.size()) == 0);
  SecretBytes other = Pepper::fromBytes(std::string(32, 'q')).subkey(1, "gh-totp_");
  BOOST_TEST(!openTotpSecret(other, sealed).has_value());
  sealed[30] ^= 1;
  BOOST_TEST(!openTotpSecret(key, sealed).has_value());
}

BOOST_AUTO_TEST_CASE(otpauth_uri_is_well_formed) {
  SecretBytes secret(20);
  std::memcpy(secret.data(), "12345678901234567890", 20);
  std::string uri = otpauthUri("gatehouse", "alice smith", secret);
  BOOST_TEST(uri ==
             "otpauth://totp/gatehouse:alice%20smith?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
             "&issuer=gatehouse&algorithm=SHA1&digits=6&period=30");
}

BOOST_AUTO_TEST_CASE(passwords_verify_and_rehash_when_limits_change) {
  PasswordLimits cheap{1, size_t{8} << 20};
  std::string hash = hashPassword("correct horse", cheap);
  BOOST_TEST(hash.rfind("$argon2id$", 0) == 0u);
  BOOST_TEST(verifyPassword(hash, "correct horse"));
  BOOST_TEST(!verifyPassword(hash, "correct horsf"));
  BOOST_TEST(!verifyPassword(hash, ""));
  BOOST_TEST(!needsRehash(hash, cheap));
  BOOST_TEST(needsRehash(hash, PasswordLimits{2, size_t{8} << 20}));
}

BOOST_AUTO_TEST_CASE(rate_limit_starts_at_the_threshold_and_ends_after_the_backoff) {
  RateLimits limits;
  limits.threshold = 3;
  limits.window = std::chrono::seconds(60);
  limits.backoff = std::chrono::seconds(10);
  RateLimiter limiter(limits);
  auto t0 = RateLimiter::Clock::now();
  limiter.recordFailure({"p:1", "s:10.0.0.1"}, t0);
  limiter.recordFailure({"p:1"}, t0);
  BOOST_TEST(limiter.retryAfter({"p:1"}, t0) == 0u);
  limiter.recordFailure({"p:1"}, t0);
  BOOST_TEST(limiter.retryAfter({"p:1"}, t0) == 10u);
  BOOST_TEST(limiter.retryAfter({"s:10.0.0.1"}, t0) == 0u);  // the source failed only once
  BOOST_TEST(limiter.retryAfter({"p:2"}, t0) == 0u);
  BOOST_TEST(limiter.retryAfter({"", "p:1"}, t0 + std::chrono::seconds(4)) == 6u);
  BOOST_TEST(limiter.retryAfter({"p:1"}, t0 + std::chrono::seconds(10)) == 0u);
}

BOOST_AUTO_TEST_CASE(any_limited_is_true_exactly_while_some_subject_is_limited) {
  RateLimits limits;
  limits.threshold = 2;
  limits.backoff = std::chrono::seconds(10);
  RateLimiter limiter(limits);
  auto t0 = RateLimiter::Clock::now();
  BOOST_TEST(!limiter.anyLimited());  // never limited: not even the clock is read
  BOOST_TEST(!limiter.anyLimited(t0));
  limiter.recordFailure({"p:1"}, t0);
  BOOST_TEST(!limiter.anyLimited(t0));  // a failure alone limits nobody
  limiter.recordFailure({"p:1"}, t0);
  BOOST_TEST(limiter.anyLimited(t0));
  BOOST_TEST(limiter.anyLimited());  // now, within the 10 s backoff
  BOOST_TEST(limiter.anyLimited(t0 + std::chrono::seconds(9)));
  BOOST_TEST(!limiter.anyLimited(t0 + std::chrono::seconds(10)));
  BOOST_TEST(limiter.retryAfter({"p:1"}, t0 + std::chrono::seconds(10)) == 0u);
}

BOOST_AUTO_TEST_CASE(failures_outside_the_window_do_not_add_up) {
  RateLimits limits;
  limits.threshold = 2;
  limits.window = std::chrono::seconds(5);
  RateLimiter limiter(limits);
  auto t0 = RateLimiter::Clock::now();
  limiter.recordFailure({"s:x"}, t0);
  limiter.recordFailure({"s:x"}, t0 + std::chrono::seconds(6));
  BOOST_TEST(limiter.retryAfter({"s:x"}, t0 + std::chrono::seconds(6)) == 0u);
}

BOOST_AUTO_TEST_CASE(tracked_subjects_stay_bounded) {
  RateLimits limits;
  limits.maxSubjects = 100;
  limits.window = std::chrono::seconds(1);
  RateLimiter limiter(limits);
  auto t = RateLimiter::Clock::now();
  for (int i = 0; i < 1000; ++i) {
    limiter.recordFailure({"s:" + std::to_string(i)}, t + std::chrono::seconds(2 * i));
  }
  BOOST_TEST(limiter.trackedSubjects() <= 101u);
}

BOOST_AUTO_TEST_CASE(work_pool_reports_a_job_that_throws_and_keeps_running) {
  WorkPool pool(1);
  std::atomic<int> failures{0}, ran{0};
  std::string reason;
  BOOST_TEST(pool.submit([] { throw std::runtime_error("no memory for Argon2id"); },
                         [&](std::string_view why) {
                           reason = why;
                           ++failures;
                         }));
  BOOST_TEST(pool.submit([&] { ++ran; }, [&](std::string_view) { ++failures; }));
  pool.stop();  // runs what was queued, then joins
  BOOST_TEST(failures.load() == 1);
  BOOST_TEST(ran.load() == 1);
  BOOST_TEST(reason == "no memory for Argon2id");
  BOOST_TEST(!pool.submit([] {}, nullptr));  // stopped: not queued
}

// A flood of failures from many sources cannot push a user's count out of the table and so reset
// it: principals and sources are counted apart, and eviction takes the least recent subject.
BOOST_AUTO_TEST_CASE(a_flood_of_sources_does_not_reset_a_victims_count) {
  RateLimits limits;
  limits.threshold = 10;
  limits.maxSubjects = 1000;
  RateLimiter limiter(limits);
  auto t = RateLimiter::Clock::now();
  for (int i = 0; i < 9; ++i) limiter.recordFailure({"p:42", "s:attacker"}, t);
  for (int i = 0; i < 100000; ++i) {  // unknown users from 100,000 addresses
    limiter.recordFailure({"s:" + std::to_string(i)}, t);
  }
  BOOST_TEST(limiter.trackedSubjects() <= 2000u);
  limiter.recordFailure({"p:42", "s:another"}, t);
  BOOST_TEST(limiter.retryAfter({"p:42"}, t) > 0u);  // the tenth failure counts
}

// Within one table, the subject under attack (failed most recently) stays; a full table of
// stale subjects makes room from the least recent end.
BOOST_AUTO_TEST_CASE(eviction_takes_the_least_recently_failed_subject) {
  RateLimits limits;
  limits.threshold = 3;
  limits.maxSubjects = 3;
  RateLimiter limiter(limits);
  auto t = RateLimiter::Clock::now();
  limiter.recordFailure({"p:1"}, t);
  limiter.recordFailure({"p:2"}, t);
  limiter.recordFailure({"p:1"}, t);  // p:1 is now the most recent, p:2 the least
  limiter.recordFailure({"p:3"}, t);
  limiter.recordFailure({"p:4"}, t);  // full: p:2 goes
  limiter.recordFailure({"p:1"}, t);  // third failure of p:1: limited
  BOOST_TEST(limiter.retryAfter({"p:1"}, t) > 0u);
  limiter.recordFailure({"p:2"}, t);
  limiter.recordFailure({"p:2"}, t);
  BOOST_TEST(limiter.retryAfter({"p:2"}, t) == 0u);  // its first failure was forgotten
  BOOST_TEST(limiter.trackedSubjects() <= 3u);
}
