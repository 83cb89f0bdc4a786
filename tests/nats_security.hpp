// End-to-end test support: the secured NATS set-ups an operator deploys (docs/replication.md), made
// from nothing for one test: TLS certificates (openssl(1)) and decentralised authentication (NATS
// JWTs signed with ed25519 nkeys, through libsodium). NatsCluster (nats_cluster.hpp) writes them
// into its servers' configuration; a replica is given the client's half.
//
// Every file goes into the directory given and is readable by its owner alone. Throws
// std::runtime_error naming the step that failed (with openssl's output).
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace gatehouse::testing {

// A CA, a certificate for the servers (names 127.0.0.1 and localhost) and one for a client (with
// the clientAuth usage), both signed by the CA, ECDSA P-256, valid for a day.
struct TlsFiles {
  std::filesystem::path caCert;
  std::filesystem::path serverCert;
  std::filesystem::path serverKey;
  std::filesystem::path clientCert;
  std::filesystem::path clientKey;
};
TlsFiles makeTlsFiles(const std::filesystem::path& dir);

// An operator, its system account, an account with unlimited JetStream and one user of that
// account, each with its own ed25519 nkey; the user's JWT and seed in a NATS .creds file.
struct JwtAuth {
  std::filesystem::path operatorJwtFile;        // the operator's JWT, for the servers' `operator`
  std::string systemAccount;                    // the system account's public nkey ("A...")
  std::map<std::string, std::string> accounts;  // public nkey -> account JWT (resolver_preload)
  std::filesystem::path credsFile;              // the user's .creds file
};
JwtAuth makeJwtAuth(const std::filesystem::path& dir);

}  // namespace gatehouse::testing
