// The Unix-socket server: accepts connections, reads peer credentials, frames the byte stream,
// decodes each frame as a `Request` under tight reader limits, hands it to the service, and writes
// the framed responses back. It never sees a transaction.
//
// Threading: each IO thread runs an event loop of its own around one epoll descriptor (the hot
// path: wait, read, answer, send — the three system calls a plain echo server makes, and no
// operation objects, queues or locks between them). A connection lives on one IO thread for its
// whole life, so its code never runs concurrently (no strands, no locks); other threads reach an
// IO thread only through its task queue (a mutex and an eventfd): answers from the writer and the
// password pool, new connections, reloads, the stop. The thread that calls run() is the control
// thread: an io_context of its own runs the acceptor (which spreads connections round-robin), the
// signals and the accept back-off timer.
//
// Back-pressure: when a connection has `maxInFlight` requests handed off its IO thread, or more
// than `maxPendingOutput` bytes of answers its peer has not read, the server stops reading from
// it until that drains. Nothing is dropped.
//
// Slots: at most `maxConnections`, of which the last `adminReservedConnections` only admin-class
// peers may take, and at most `maxConnectionsPerUid` for any one uid below the admin class. Once a
// second (its timerfd) each IO thread closes its connections that were idle for `idleTimeout`,
// have held a partial frame for `frameTimeout`, or left answers unread for `sendTimeout`. A
// connection's read buffer grows with the bytes that arrive, never to a frame's declared size up
// front.
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
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.hpp"
#include "protocol/access.hpp"
#include "protocol/framing.hpp"
#include "protocol/handler.hpp"

namespace gatehouse::server {

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, and so in every thread it starts from
// then on: Server::run takes them on its control thread alone.
void blockControlSignals();

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
  std::chrono::seconds sendTimeout{30};    // answers the peer takes none of; 0: never
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
  // the socket accepts connections; `onStopping` once, when stopping begins; `onReload` on each
  // SIGHUP, where reload() may be called. All three run on the calling (control) thread, which
  // alone takes SIGINT, SIGTERM and SIGHUP from then on: it unblocks them in itself and starts the
  // IO threads with them blocked. Threads the process started before should have them blocked too
  // (blockControlSignals() before starting any), or the kernel may hand a signal to one of those
  // instead (Asio's handler still catches it there).
  void run(const std::function<void()>& onReady = {}, const std::function<void()>& onStopping = {},
           const std::function<void()>& onReload = {});
  // What may change while serving (SIGHUP): the access policy, the connection limits
  // (max_connections, max_connections_per_uid, admin_reserved_connections) and the idle, frame
  // and send timeouts; every other field of `options` is ignored. From onReload only. Connections
  // already open keep their access class.
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
  // One IO thread's; aligned so that no two threads' workers share a cache line. Everything but
  // the task queue and `beat` belongs to the IO thread alone.
  struct alignas(64) Worker {
    Worker();
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    // Thread-safe: runs `task` on this IO thread, in the order posted.
    void post(std::function<void()> task);

    int epoll = -1;  // the connections, `wake` and `tick`
    int wake = -1;   // eventfd: tasks were posted
    int tick = -1;   // timerfd, once a second: the sweep
    std::unique_ptr<protocol::RequestHandler::ThreadState> state;
    // The open connections, and those closed but still awaiting answers from the writer.
    std::unordered_map<Session*, std::shared_ptr<Session>> sessions;
    std::vector<std::shared_ptr<Session>> ready;     // still readable: read again next round
    std::vector<std::shared_ptr<Session>> finished;  // done: destroyed once the round is over
    bool stopping = false;
    std::chrono::steady_clock::time_point now;  // as of the last sweep: sessions stamp with it
    std::atomic<int64_t> beat{0};               // `now` in steady-clock ticks, for responsive()
    // The worker's copies of the timeouts, which a reload changes through its task queue.
    std::chrono::seconds idleTimeout{0};
    std::chrono::seconds frameTimeout{0};
    std::chrono::seconds sendTimeout{0};
    // Written by other threads (answers from the writer and the password pool): on a cache line
    // of their own, so that posting does not evict what the IO thread's hot path reads.
    alignas(64) std::mutex tasksMutex;
    std::vector<std::function<void()>> tasks;
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
  // The IO thread's loop: until it is stopping and its last connection is done.
  void serve(Worker& worker);
  void runTasks(Worker& worker);
  // On the control thread: accepts what is pending, then waits for more.
  void accept();
  // Hands an accepted connection (its descriptor, owned from here on) to the next IO thread.
  void handOff(int fd);
  // Whether a new connection of `peer` may have a slot; takes it when so (released by
  // releaseSlot), or logs why not.
  bool takeSlot(const protocol::Peer& peer);
  void releaseSlot(const protocol::Peer& peer);
  // Closes a worker's connections past a timeout (idle, frame, send); stamps its clock and
  // heartbeat.
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
  asio::io_context control_{1};  // the acceptor, the signals, the accept back-off
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
  size_t nextWorker_ = 0;
  std::atomic<size_t> connections_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> framingViolations_{0};
  std::mutex slotsMutex_;
  std::unordered_map<uint32_t, uint32_t> perUid_;  // connections of uids below the admin class
  std::atomic<bool> stopping_{false};
  // Keeps the control thread's io_context running while idle; released by onStop.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
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
