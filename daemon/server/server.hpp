// The Unix-socket server: accepts connections, reads peer credentials, frames the byte stream,
// decodes each frame as a `Request` under tight reader limits, hands it to the service, and writes
// the framed responses back. It never sees a transaction.
//
// Threading: one io_context per IO thread, each run by exactly one thread; a connection lives on
// one io_context for its whole life, so its handlers never run concurrently (no strands, no
// locks). The acceptor runs on the first io_context and spreads connections round-robin.
//
// Back-pressure: when a connection has `maxInFlight` mutations waiting for the writer, or more
// than `maxPendingOutput` bytes of answers its peer has not read, the server stops reading from
// it until that drains. Nothing is dropped.
//
// Shutdown (`stop()`, also on SIGINT/SIGTERM): stop accepting, stop reading, answer every request
// already read, flush, close. `run()` returns once every connection is closed.
#pragma once

#include <capnp/message.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
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
  size_t maxPendingOutput = size_t{4} << 20;
};

class Session;

class Server {
 public:
  // Binds the socket (refusing to start when another daemon answers on it) and creates the
  // IO contexts. Throws std::runtime_error naming the path and the failing call.
  static std::unique_ptr<Server> create(const ServerOptions& options,
                                        protocol::RequestHandler& handler,
                                        const protocol::AccessPolicy& policy);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until stop() (or SIGINT/SIGTERM) and every connection has closed. `onReady` runs once
  // the socket accepts connections.
  void run(const std::function<void()>& onReady = {});
  // Thread-safe; may be called from any thread, any number of times.
  void stop();

 private:
  friend class Session;
  struct Worker {
    asio::io_context io{1};
    std::unique_ptr<protocol::RequestHandler::ThreadState> state;
    std::vector<std::weak_ptr<Session>> sessions;
  };

  Server(const ServerOptions& options, protocol::RequestHandler& handler,
         const protocol::AccessPolicy& policy);
  void accept();
  // After an accept failed for lack of descriptors or memory: try again later, not at once.
  void acceptLater();
  void onStop();
  // A warning any peer can cause at will, logged through `throttle`.
  void warn(LogThrottle& throttle, std::string_view event, std::initializer_list<LogField> fields);

  ServerOptions options_;
  protocol::RequestHandler& handler_;
  protocol::AccessPolicy policy_;
  capnp::ReaderOptions readerOptions_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
  size_t nextWorker_ = 0;
  std::atomic<size_t> connections_{0};
  std::atomic<bool> stopping_{false};
  // Keep the IO contexts running while idle; released by onStop.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<asio::steady_timer> acceptRetry_;
  LogThrottle framingLog_{10, std::chrono::seconds(1)};
  LogThrottle refusedLog_{10, std::chrono::seconds(1)};
  LogThrottle acceptLog_{1, std::chrono::seconds(1)};
};

}  // namespace gatehouse::server
