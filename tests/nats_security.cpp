#include "nats_security.hpp"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "daemon_fixture.hpp"

namespace gatehouse::testing {
namespace {

namespace fs = std::filesystem;

void openssl(std::vector<std::string> args, const std::string& step) {
  args.insert(args.begin(), GATEHOUSE_OPENSSL_PATH);
  Run run = runProcess(args);
  if (run.status != 0) {
    throw std::runtime_error("openssl (" + step + ") failed: " + run.err + run.out);
  }
}

// A P-256 key and a certificate for `subject` signed by the CA (`ca`, `caKey`), with `extensions`
// (openssl x509v3 lines).
void issue(const fs::path& dir, const std::string& name, const std::string& subject,
           const std::string& extensions, const fs::path& ca, const fs::path& caKey,
           uint64_t serial) {
  fs::path key = dir / (name + ".key");
  fs::path request = dir / (name + ".csr");
  fs::path ext = dir / (name + ".ext");
  writePrivateFile(ext, extensions);
  openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", key.string(), "-out", request.string(), "-subj", "/CN=" + subject},
          name + " request");
  openssl({"x509", "-req", "-in", request.string(), "-CA", ca.string(), "-CAkey", caKey.string(),
           "-set_serial", std::to_string(serial), "-days", "1", "-sha256", "-extfile", ext.string(),
           "-out", (dir / (name + ".pem")).string()},
          name + " certificate");
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
}

// --- nkeys: ed25519 keys named by a prefix byte, with a CRC-16 (XMODEM), in base32 -----------

enum class KeyKind : uint8_t { account = 0, operator_ = 14 << 3, user = 20 << 3 };
constexpr uint8_t kSeedPrefix = 18 << 3;

uint16_t crc16(const std::vector<uint8_t>& data) {
  uint16_t crc = 0;
  for (uint8_t byte : data) {
    crc ^= static_cast<uint16_t>(byte) << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

// RFC 4648 base32, without padding.
std::string base32(const std::vector<uint8_t>& data) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::string withChecksum(std::vector<uint8_t> raw) {
  uint16_t crc = crc16(raw);
  raw.push_back(static_cast<uint8_t>(crc & 0xff));
  raw.push_back(static_cast<uint8_t>(crc >> 8));
  return base32(raw);
}

struct NKey {
  KeyKind kind;
  std::array<uint8_t, crypto_sign_SEEDBYTES> seed{};
  std::array<uint8_t, crypto_sign_PUBLICKEYBYTES> publicKey{};
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secretKey{};

  explicit NKey(KeyKind k) : kind(k) {
    randombytes_buf(seed.data(), seed.size());
    crypto_sign_seed_keypair(publicKey.data(), secretKey.data(), seed.data());
  }
  ~NKey() {
    sodium_memzero(seed.data(), seed.size());
    sodium_memzero(secretKey.data(), secretKey.size());
  }
  NKey(const NKey&) = delete;
  NKey& operator=(const NKey&) = delete;

  std::string publicText() const {
    std::vector<uint8_t> raw{static_cast<uint8_t>(kind)};
    raw.insert(raw.end(), publicKey.begin(), publicKey.end());
    return withChecksum(std::move(raw));
  }
  std::string seedText() const {
    auto prefix = static_cast<uint8_t>(kind);
    std::vector<uint8_t> raw{static_cast<uint8_t>(kSeedPrefix | (prefix >> 5)),
                             static_cast<uint8_t>((prefix & 31) << 3)};
    raw.insert(raw.end(), seed.begin(), seed.end());
    return withChecksum(std::move(raw));
  }
};

std::string base64Url(std::string_view data) {
  std::string out(sodium_base64_ENCODED_LEN(data.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(data.data()),
                    data.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

// A version 2 NATS JWT: claims about `subject` (a public nkey), issued and signed by `issuer`;
// `nats` is the JSON object of the claim's kind.
std::string jwt(const NKey& issuer, const std::string& subject, const std::string& name,
                const std::string& nats) {
  std::string issuedAt = std::to_string(std::time(nullptr));
  // jti: any unique identifier will do (nsc puts a hash of the claims there).
  std::array<uint8_t, 20> id{};
  randombytes_buf(id.data(), id.size());
  std::string claims = R"({"jti":")" + base32({id.begin(), id.end()}) + R"(","iat":)" + issuedAt +
                       R"(,"iss":")" + issuer.publicText() + R"(","name":")" + name +
                       R"(","sub":")" + subject + R"(","nats":)" + nats + "}";
  std::string signedPart =
      base64Url(R"({"typ":"JWT","alg":"ed25519-nkey"})") + "." + base64Url(claims);
  std::array<uint8_t, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(signedPart.data()), signedPart.size(),
                       issuer.secretKey.data());
  return signedPart + "." +
         base64Url({reinterpret_cast<const char*>(signature.data()), signature.size()});
}

std::string accountClaims(bool jetStream) {
  std::string limits = R"("subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,)"
                       R"("wildcards":true,"conn":-1,"leaf":-1)";
  if (jetStream) limits += R"(,"mem_storage":-1,"disk_storage":-1,"streams":-1,"consumer":-1)";
  return R"({"limits":{)" + limits + R"(},"type":"account","version":2})";
}

}  // namespace

TlsFiles makeTlsFiles(const fs::path& dir) {
  TlsFiles files{dir / "ca.pem", dir / "server.pem", dir / "server.key", dir / "client.pem",
                 dir / "client.key"};
  fs::path caKey = dir / "ca.key";
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", caKey.string(), "-out", files.caCert.string(), "-days", "1", "-subj",
           "/CN=gatehouse test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
           "keyUsage=critical,keyCertSign,cRLSign"},
          "CA");
  fs::permissions(caKey, fs::perms::owner_read | fs::perms::owner_write);
  issue(dir, "server", "127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", files.caCert,
        caKey, 2);
  issue(dir, "client", "gatehoused test replica", "extendedKeyUsage=clientAuth\n", files.caCert,
        caKey, 3);
  return files;
}

JwtAuth makeJwtAuth(const fs::path& dir) {
  if (sodium_init() < 0) throw std::runtime_error("sodium_init failed");
  NKey operatorKey(KeyKind::operator_);
  NKey system(KeyKind::account);
  NKey account(KeyKind::account);
  NKey user(KeyKind::user);
  JwtAuth auth;
  auth.operatorJwtFile = dir / "operator.jwt";
  writePrivateFile(auth.operatorJwtFile,
                   jwt(operatorKey, operatorKey.publicText(), "gatehouse-test",
                       R"({"type":"operator","version":2})"));
  auth.systemAccount = system.publicText();
  auth.accounts[system.publicText()] =
      jwt(operatorKey, system.publicText(), "SYS", accountClaims(false));
  auth.accounts[account.publicText()] =
      jwt(operatorKey, account.publicText(), "gatehouse", accountClaims(true));
  std::string userJwt = jwt(account, user.publicText(), "replica",
                            R"({"pub":{},"sub":{},"subs":-1,"data":-1,"payload":-1,)"
                            R"("type":"user","version":2})");
  auth.credsFile = dir / "replica.creds";
  writePrivateFile(auth.credsFile, "-----BEGIN NATS USER JWT-----\n" + userJwt +
                                       "\n------END NATS USER JWT------\n\n"
                                       "-----BEGIN USER NKEY SEED-----\n" +
                                       user.seedText() + "\n------END USER NKEY SEED------\n");
  return auth;
}

}  // namespace gatehouse::testing
