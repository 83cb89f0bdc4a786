// End-to-end test support: a real NATS JetStream cluster of nats-server processes on loopback, for
// the replication tests. Every node listens on 127.0.0.1 only, on ports picked free at
// construction (client, cluster route and HTTP monitor; never 4222, where a system nats-server may
// listen), and keeps its config, JetStream store and log in one temporary directory.
//
// A resource: not copyable. The destructor stops every node still running (by its pid) and removes
// the temporary directory; nothing else is touched. Not thread-safe: one thread drives a cluster.
//
// Caveats: the ports are free when chosen and released just before each server binds them, so
// another process could in principle take one in between (start-up then fails with the log's
// "address already in use"). A node's ports are kept for its life, restarts included. Every child
// gets SIGTERM when the thread that created it exits, so a crashed test leaves no server behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "nats_security.hpp"
#include "temp_dir.hpp"

namespace gatehouse::testing {

class NatsCluster {
 public:
  // What the servers demand of clients (routes between nodes stay plain): at most one of a user
  // and password or decentralised authentication (JWTs), and TLS with client certificates
  // (`verify: true`) when `tls` is given.
  struct Security {
    std::string user;
    std::string password;
    const JwtAuth* jwt = nullptr;
    const TlsFiles* tls = nullptr;
  };

  // Starts `nodes` servers as one cluster (every node routes to all of them, itself included) and
  // waits up to 30 s until each answers 200 on /healthz?js-server-only=true (a JetStream meta
  // leader is known and the node is current with it). Throws std::runtime_error naming the node,
  // with its last answer and the tail of its log, when one does not get there; the nodes already
  // started are stopped first.
  explicit NatsCluster(size_t nodes = 3);
  NatsCluster(size_t nodes, Security security);
  // Stops every running node: SIGTERM to all, SIGKILL to those still running after 5 s, waitpid.
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  size_t size() const { return nodes_.size(); }
  // "nats://127.0.0.1:<client port>" (tls:// with TLS) for one node, or for every node in order.
  std::string url(size_t node) const;
  std::vector<std::string> urls() const;
  // The node's server_name ("n0", "n1", ...), as JetStream reports it (e.g. a stream's leader).
  std::string name(size_t node) const;

  // -1 once the node was stopped or killed.
  pid_t pid(size_t node) const;
  // The process was started and has not exited (a node that died on its own is not running).
  bool running(size_t node) const;

  // SIGKILL and waitpid: a crash, JetStream's store left as it was. No-op when not running.
  void kill(size_t node);
  // SIGTERM, SIGKILL after 5 s, waitpid. No-op when not running.
  void stop(size_t node);
  // Starts a stopped or killed node again with the same name, ports and store; does not wait
  // (see waitHealthy). Throws std::logic_error when it is running.
  void start(size_t node);

  // Rewrites every node's configuration for `security`: a node takes it when next started.
  // Throws std::invalid_argument as the constructor does.
  void setSecurity(Security security);

  // Waits until the node answers 200 on /healthz?js-server-only=true or, with `full`, on plain
  // /healthz (additionally, every stream and consumer assigned to the node is current: what to
  // wait for after a restart). Polls every 50 ms; throws std::runtime_error with the last answer
  // and the log's tail when `deadline` passes or the process exits.
  void waitHealthy(size_t node, std::chrono::milliseconds deadline, bool full = false) const;

  // The node's log file (nats-server's log, plus anything it wrote to stdout or stderr).
  std::string log(size_t node) const;
  // The directory holding every node's files: <dir>/<name>/{nats.conf,nats.log,store/}.
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  struct Node {
    std::string name;
    uint16_t clientPort = 0;
    uint16_t clusterPort = 0;
    uint16_t httpPort = 0;
    std::filesystem::path config;
    std::filesystem::path logFile;
    pid_t pid = -1;
  };

  const Node& node(size_t node) const;
  Node& node(size_t node);
  static void checkSecurity(const Security& security);
  void writeConfig(const Node& node) const;
  void stopAll();

  TempDir dir_;
  Security security_;
  std::vector<Node> nodes_;
};

}  // namespace gatehouse::testing
