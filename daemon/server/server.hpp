// The Unix-socket server: accepts connections, reads peer credentials, frames the byte stream,
// decodes each frame as a `Request` under tight reader limits, hands it to the service, and writes
// the framed responses back. It never sees a transaction.
//
// Threading: one io_context per IO thread, each run by exactly one thread; a connection lives on
// one io_context for its whole life, so its handlers never run concurrently (no strands, no
// locks). The acceptor runs on the first io_context and spreads connections round-robin.
//
// Back-pressure: when a connection has `maxInFlight` requests handed off its IO thread, or more
// than `maxPendingOutput` bytes of answers its peer has not read, the server stops reading from
// it until that drains. Nothing is dropped.
//
// Slots: at most `maxConnections`, of which the last `adminReservedConnections` only admin-class
// peers may take, and at most `maxConnectionsPerUid` for any one uid below the admin class. Once a
// second each IO thread closes its connections that were idle for `idleTimeout` or have held a
// partial frame for `frameTimeout`. A connection's read buffer grows with the bytes that arrive,
// never to a frame's declared size up front.
//
// Shutdown (`stop()`, also on SIGINT/SIGTERM): stop accepting, stop reading, answer every request
// already read, flush, close. `run()` returns once every connection is closed.
//
// Socket activation: with `listenFd` set, the server serves on that listening socket (systemd
// made it and owns its path) instead of binding `socketPath`, and leaves the path alone.
#pragma once

#include <capnp/message.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.hpp"
#include "protocol/access.hpp"
#include "protocol/framing.hpp"
#include "protocol/handler.hpp"

namespace gatehouse::server {

struct ServerOptions {
  std::filesystem::path socketPath;
  uint32_t socketMode = 0660;
  unsigned ioThreads = 0;  // 0: one per core.
  protocol::FrameLimits frame;
  uint64_t traversalLimitWords = 262144;
  int nestingLimit = 16;
  uint32_t maxInFlight = 128;
  uint32_t maxConnections = 1024;
  uint32_t maxConnectionsPerUid = 512;     // for peers below the admin class
  uint32_t adminReservedConnections = 16;  // of maxConnections (at most a quarter), admin only
  std::chrono::seconds idleTimeout{600};   // a connection with nothing to do is closed; 0: never
  std::chrono::seconds frameTimeout{10};   // a frame begun must be complete within it; 0: never
  size_t maxPendingOutput = size_t{4} << 20;
  int listenFd = -1;  // an inherited listening socket (socket activation); -1: bind socketPath
};

class Session;

class Server : public protocol::TransportStatsSource {
 public:
  // Binds the socket (refusing to start when another daemon answers on it) and creates the
  // IO contexts. Throws std::runtime_error naming the path and the failing call.
  static std::unique_ptr<Server> create(const ServerOptions& options,
                                        protocol::RequestHandler& handler,
                                        const protocol::AccessPolicy& policy);
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until stop() (or SIGINT/SIGTERM) and every connection has closed. `onReady` runs once
  // the socket accepts connections; `onStopping` once, when stopping begins (on an IO thread);
  // `onReload` on each SIGHUP (on the IO thread that accepts, where reload() may be called).
  void run(const std::function<void()>& onReady = {}, const std::function<void()>& onStopping = {},
           const std::function<void()>& onReload = {});
  // What may change while serving (SIGHUP): the access policy, the connection limits
  // (max_connections, max_connections_per_uid, admin_reserved_connections) and the idle and frame
  // timeouts; every other field of `options` is ignored. From onReload only. Connections already
  // open keep their access class.
  void reload(const ServerOptions& options, const protocol::AccessPolicy& policy);
  // Thread-safe; may be called from any thread, any number of times.
  void stop();

  // Thread-safe readings for the supervisor (main.cpp): connections open now, and whether every
  // IO thread has run its once-a-second sweep within `within` (a wedged IO thread has not).
  size_t connections() const { return connections_.load(); }
  bool responsive(std::chrono::steady_clock::duration within) const;
  // For the stats request (registered with the handler while the server exists).
  protocol::TransportStats transportStats() const override;

 private:
  friend class Session;
  // One IO thread's; aligned so that no two threads' workers share a cache line.
  struct alignas(64) Worker {
    asio::io_context io{1};
    std::unique_ptr<protocol::RequestHandler::ThreadState> state;
    std::vector<std::weak_ptr<Session>> sessions;
    std::unique_ptr<asio::steady_timer> sweep;  // closes idle and stalled connections
    std::chrono::steady_clock::time_point now;  // as of the last sweep: sessions stamp with it
    std::atomic<int64_t> beat{0};               // `now` in steady-clock ticks, for responsive()
    // The worker's copies of the timeouts, which a reload changes through its io_context.
    std::chrono::seconds idleTimeout{0};
    std::chrono::seconds frameTimeout{0};
  };

  Server(const ServerOptions& options, protocol::RequestHandler& handler,
         const protocol::AccessPolicy& policy);
  // The server with its workers and an unopened acceptor.
  static std::unique_ptr<Server> construct(const ServerOptions& options,
                                           protocol::RequestHandler& handler,
                                           const protocol::AccessPolicy& policy);
  // create() for an inherited listening socket (options.listenFd).
  static std::unique_ptr<Server> adopt(const ServerOptions& options,
                                       protocol::RequestHandler& handler,
                                       const protocol::AccessPolicy& policy);
  void accept();
  // Whether a new connection of `peer` may have a slot; takes it when so (released by
  // releaseSlot), or logs why not.
  bool takeSlot(const protocol::Peer& peer);
  void releaseSlot(const protocol::Peer& peer);
  void sweep(Worker& worker);
  // After an accept failed for lack of descriptors or memory: try again later, not at once.
  void acceptLater();
  void onStop();
  void waitForSignal();
  // A warning any peer can cause at will, logged through `throttle`.
  void warn(LogThrottle& throttle, std::string_view event, std::initializer_list<LogField> fields);
  // A connection refused (counted, logged) for `reason`.
  void refuse(const protocol::Peer& peer, std::string_view reason);
  // A frame that broke the framing rules (counted, logged); the caller closes the connection.
  void framingViolation(const protocol::Peer& peer, std::string_view error);

  ServerOptions options_;
  protocol::RequestHandler& handler_;
  protocol::AccessPolicy policy_;
  capnp::ReaderOptions readerOptions_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
  size_t nextWorker_ = 0;
  std::atomic<size_t> connections_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> framingViolations_{0};
  std::mutex slotsMutex_;
  std::unordered_map<uint32_t, uint32_t> perUid_;  // connections of uids below the admin class
  std::atomic<bool> stopping_{false};
  // Keep the IO contexts running while idle; released by onStop.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::unique_ptr<asio::signal_set> signals_;
  std::function<void()> onStopping_;
  std::function<void()> onReload_;
  std::unique_ptr<asio::steady_timer> acceptRetry_;
  LogThrottle framingLog_{10, std::chrono::seconds(1)};
  LogThrottle refusedLog_{10, std::chrono::seconds(1)};
  LogThrottle acceptLog_{1, std::chrono::seconds(1)};
  LogThrottle expiredLog_{10, std::chrono::seconds(1)};
};

}  // namespace gatehouse::server
