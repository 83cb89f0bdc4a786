// The service's options, filled by daemon/config from the configuration file. Value types.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "credentials/password.hpp"
#include "credentials/rate_limiter.hpp"

namespace gatehouse::service {

struct CredentialOptions {
  credentials::PasswordLimits password;  // Argon2id cost for new hashes (old ones are rehashed).
  credentials::RateLimits rate;
  uint32_t maxKeysPerAccount = 10;  // Live keys of one service account.
  unsigned passwordThreads = 1;     // The SCHED_IDLE pool that runs Argon2id.
  size_t passwordQueue = 64;        // Password jobs queued or running (service/pool_admission.hpp).
  std::string totpIssuer = "gatehouse";
  std::chrono::seconds lastUsedFlush{60};  // How often key last-used times reach the store.
  size_t verifiedKeyCache = 4096;  // Entries per IO thread (service/verified_keys.hpp); 0: off.
};

// Who may give a service account access to a company other than its owner
// (docs/service-accounts.md, "Sharing").
enum class Sharing : uint8_t {
  consent,  // only a company the owner offered it to (saShare); the default
  open,     // any company, by the account's id (the behaviour before offers)
};

struct ServiceOptions {
  std::string version = "unknown";  // gatehoused's, answered to `hello`.
  uint32_t maxBatch = 1024;         // Items in one authorizeBatch.
  uint32_t groupCommitMax = 256;    // Mutations in one write transaction.
  bool writerYields = true;         // The writer runs below the IO threads' CPU priority.
  // How long the oldest queued mutation waits, from when it was queued, for others to share its
  // commit (one write and sync for all); 0 commits at once.
  std::chrono::milliseconds commitDelay{0};
  CredentialOptions credentials;
  std::chrono::seconds auditRetention{std::chrono::hours(24 * 365)};
  Sharing sharing = Sharing::consent;
  // Replicated mode's own (its waits included) are the replicator's (replication/options.hpp).
};

}  // namespace gatehouse::service
