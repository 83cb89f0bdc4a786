// The `[replication]` section (docs/replication.md): without it (`enabled` false) the daemon is
// standalone. A value type.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace gatehouse::replication {

struct ReplicationOptions {
  bool enabled = false;              // mode = "nats"
  std::vector<std::string> servers;  // NATS URLs, e.g. "nats://10.0.0.1:4222"
  std::string stream = "GATEHOUSE";
  std::string subject = "gatehouse.log";
  int replicas = 3;  // of the stream, when this replica creates it
  // This replica's name in the log's message ids and the NATS connection's name.
  std::string name;
  // Credentials: a user and a file holding its password, or a .creds file (JWT and seed). Each
  // file must be readable by the daemon's user alone, as the pepper.
  std::string user;
  std::filesystem::path passwordFile;
  std::filesystem::path credsFile;
  // TLS, when any is set (or tls is true): the CA bundle, the client's certificate chain and key
  // (PEM files; the key readable by the daemon's user alone), the name the servers' certificate
  // must carry.
  bool tls = false;
  std::filesystem::path tlsCaFile;
  std::filesystem::path tlsCertFile;
  std::filesystem::path tlsKeyFile;
  std::string tlsServerName;

  std::chrono::milliseconds connectTimeout{2000};
  std::chrono::milliseconds reconnectWait{250};
  // A JetStream request (stream information, a message, a publish's acknowledgement).
  std::chrono::milliseconds requestTimeout{2000};
  // How long a mutation may wait for its batch's fate once a publish went unacknowledged, then
  // for the log to take it when no leader answers; past it the answer is `outcomeUnknown` or
  // `unavailable`.
  std::chrono::milliseconds outcomeWait{10000};
  // The longest a check with a minimum revision waits for this replica to apply that far.
  std::chrono::milliseconds minRevisionWait{2000};
  // The stream's duplicate window (when this replica creates it): a publish retried within it is
  // recognised as the same batch.
  std::chrono::seconds duplicateWindow{120};
};

}  // namespace gatehouse::replication
