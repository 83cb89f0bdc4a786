#include "server/server.hpp"

#include <capnp/serialize.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include "common/log.hpp"
#include "protocol/errors.hpp"

namespace gatehouse::server {

using asio::local::stream_protocol;

// One connection. Lives on one worker's io_context; all of its handlers run on that thread.
class Session : public protocol::AnswerSink, public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, Server::Worker& worker, stream_protocol::socket socket,
          protocol::Peer peer)
      : server_(server),
        worker_(worker),
        socket_(std::move(socket)),
        peer_(peer),
        lastActivity_(worker.now) {
    in_.resize(kInitialWords);
  }
  ~Session() override {
    closeDescriptors();
    server_.releaseSlot(peer_);
  }

  std::shared_ptr<protocol::AnswerSink> retain() override { return shared_from_this(); }

  void acceptDescriptors() override { descriptorReads_ = true; }

  int takeDescriptor() override {
    if (descriptors_.empty()) return -1;
    int fd = descriptors_.front();
    descriptors_.pop_front();
    return fd;
  }

  // On the writer thread: hand the answer to this session's own thread.
  void answer(std::string frame) override {
    asio::post(worker_.io, [self = shared_from_this(), frame = std::move(frame)]() mutable {
      self->onAnswered(frame);
    });
  }

  void start() { readMore(); }

  // Why the sweep at `now` closes this connection (a frame begun too long ago, or nothing to do
  // for too long), or null.
  const char* expired(std::chrono::steady_clock::time_point now) const {
    if (closed_) return nullptr;
    // Stamps come from the worker's clock, which the sweep advances once a second: they may be up
    // to a second early, so a deadline is taken to have passed only a second after it.
    constexpr std::chrono::seconds kGrain{1};
    bool partial = partialSince_ != std::chrono::steady_clock::time_point{};
    const auto frameTimeout = worker_.frameTimeout, idleTimeout = worker_.idleTimeout;
    if (frameTimeout.count() > 0 && partial && now - partialSince_ > frameTimeout + kGrain) {
      return "a frame begun was not completed within limits.frame_timeout_seconds";
    }
    bool idle = !partial && inFlight_ == 0 && out_.empty() && !writingActive_ && !eof_;
    if (idleTimeout.count() > 0 && idle && now - lastActivity_ > idleTimeout + kGrain) {
      return "idle for limits.idle_timeout_seconds";
    }
    return nullptr;
  }

  void expire(const char* reason) {
    server_.warn(server_.expiredLog_, "connection_closed",
                 {{"reason", reason},
                  {"uid", std::to_string(peer_.uid)},
                  {"pid", std::to_string(peer_.pid)}});
    close();
  }

  // Stop reading; answer what was read; then close.
  void shutdownRead() {
    eof_ = true;
    asio::error_code ignored;
    socket_.shutdown(stream_protocol::socket::shutdown_receive, ignored);
    maybeFinish();
  }

 private:
  static constexpr size_t kInitialWords = 8192;  // 64 KiB; grows up to the frame limit.
  static constexpr size_t kMaxDescriptors = 4;   // held per connection; more are closed

  char* inBytes() { return reinterpret_cast<char*>(in_.data()); }
  size_t capacity() const { return in_.size() * sizeof(capnp::word); }
  bool paused() const {
    return inFlight_ >= server_.options_.maxInFlight ||
           out_.size() + writing_.size() > server_.options_.maxPendingOutput;
  }

  void readMore() {
    if (reading_ || eof_ || closed_ || paused()) return;
    if (filled_ == capacity()) return;  // processFrames grows the buffer for a partial frame
    reading_ = true;
    if (descriptorReads_) {
      receive(false);
      return;
    }
    socket_.async_read_some(
        asio::buffer(inBytes() + filled_, capacity() - filled_),
        [self = shared_from_this()](asio::error_code ec, size_t n) { self->onRead(ec, n); });
  }

  // The read of a connection that asked for descriptors: what asio's async_read_some does — read
  // at once, wait for readiness only when nothing is there, complete through the io_context — but
  // with recvmsg, so that descriptors sent with a frame (SCM_RIGHTS: the backup request's file)
  // are received rather than dropped. (It costs a failed read more per wait than asio's own, which
  // is why other connections keep async_read_some.) `direct`: called from a completion handler,
  // so the read's own completion need not be posted.
  void receive(bool direct) {
    iovec iov{inBytes() + filled_, capacity() - filled_};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxDescriptors)];
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n;
    do {
      n = ::recvmsg(socket_.native_handle(), &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      socket_.async_wait(stream_protocol::socket::wait_read,
                         [self = shared_from_this()](asio::error_code ec) {
                           if (ec) {
                             self->onRead(ec, 0);
                           } else if (!self->closed_) {
                             self->receive(true);
                           }
                         });
      return;
    }
    asio::error_code ec;
    std::vector<int> received;
    if (n < 0) {
      ec = asio::error_code(errno, asio::system_category());
    } else if (n == 0) {
      ec = asio::error::eof;
    }
    received = descriptorsOf(message);  // with an error too: none may leak
    size_t bytes = ec ? 0 : static_cast<size_t>(n);
    if (direct) {
      onRead(ec, bytes, std::move(received));
      return;
    }
    // The descriptors travel with the bytes: they join the queue only when the bytes join the
    // buffer (onRead), so that handling what was buffered before cannot close them.
    asio::post(worker_.io,
               [self = shared_from_this(), ec, bytes, fds = std::move(received)]() mutable {
                 self->onRead(ec, bytes, std::move(fds));
               });
  }

  // The descriptors a read brought (SCM_RIGHTS).
  static std::vector<int> descriptorsOf(msghdr& message) {
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    }
    return fds;
  }

  // Queues received descriptors, up to kMaxDescriptors; closes the rest (and all of them once the
  // connection is closed).
  void keepDescriptors(std::vector<int>& fds) {
    for (int fd : fds) {
      if (!closed_ && descriptors_.size() < kMaxDescriptors) {
        descriptors_.push_back(fd);
      } else {
        ::close(fd);
      }
    }
  }

  void closeDescriptors() {
    for (int fd : descriptors_) ::close(fd);
    descriptors_.clear();
  }

  void onRead(asio::error_code ec, size_t n, std::vector<int> fds = {}) {
    reading_ = false;
    keepDescriptors(fds);
    if (closed_) return;
    if (ec) {
      eof_ = true;  // EOF or reset: answer what was read, then close
      peerClosed_ = true;
    } else {
      filled_ += n;
      lastActivity_ = worker_.now;
    }
    processFrames();
  }

  void processFrames() {
    while (!closed_ && !paused()) {
      std::string_view pending(inBytes() + consumed_, filled_ - consumed_);
      protocol::FrameScan scan = protocol::scanFrame(pending, server_.options_.frame);
      if (scan.status == protocol::FrameStatus::bad) {
        server_.framingViolation(peer_, scan.error);
        close();
        break;
      }
      if (scan.status == protocol::FrameStatus::needMore) {
        if (eof_ && !pending.empty()) {
          // Nothing more will complete this frame. When the peer closed inside it, that is a
          // framing violation (a shutdown cutting it short is not).
          if (peerClosed_) {
            server_.framingViolation(
                peer_, fmt::format("connection closed after {} bytes of a frame", pending.size()));
          }
          explicit_bzero(inBytes() + consumed_, pending.size());
          consumed_ = filled_;
          break;
        }
        makeRoom(scan.bytes);
        break;
      }
      handleFrame(kj::arrayPtr(
          reinterpret_cast<const capnp::word*>(in_.data()) + consumed_ / sizeof(capnp::word),
          scan.bytes / sizeof(capnp::word)));
      explicit_bzero(inBytes() + consumed_, scan.bytes);  // requests may carry credentials
      consumed_ += scan.bytes;
    }
    worker_.state->release();
    if (consumed_ == filled_) {
      consumed_ = filled_ = 0;
      closeDescriptors();  // sent with frames that did not take them
    }
    if (filled_ == consumed_) {
      partialSince_ = {};
    } else if (partialSince_ == std::chrono::steady_clock::time_point{}) {
      partialSince_ = worker_.now;  // the frame deadline runs from its first bytes
    }
    flush();
    readMore();
    maybeFinish();
  }

  // Ensures the buffer can hold a frame of `needed` bytes from `consumed_` on.
  void makeRoom(size_t needed) {
    if (consumed_ > 0) {
      size_t partial = filled_ - consumed_;
      std::memmove(inBytes(), inBytes() + consumed_, partial);
      // No stale copy of the partial frame: what it left behind beyond its new place. (The
      // frames before it were wiped as they were handled.)
      size_t stale = std::max(consumed_, partial);
      explicit_bzero(inBytes() + stale, filled_ - stale);
      filled_ = partial;
      consumed_ = 0;
    }
    if (needed > capacity()) {
      // Grow with what arrives — double once the buffer is full — never to a declared size up
      // front: a peer that declares a large frame and stalls costs only what it sent.
      if (filled_ < capacity()) return;
      size_t next = std::min(needed, 2 * capacity());
      in_.resize((next + sizeof(capnp::word) - 1) / sizeof(capnp::word));
    } else if (filled_ == 0 && in_.size() > kInitialWords) {
      in_.resize(kInitialWords);  // a large frame has passed: give the memory back
      in_.shrink_to_fit();
    }
  }

  void handleFrame(kj::ArrayPtr<const capnp::word> words) {
    uint64_t id = 0;
    try {
      if (server_.handler_.answerPlain(*worker_.state, peer_, words, out_)) return;
      capnp::FlatArrayMessageReader message(words, server_.readerOptions_);
      auto request = message.getRoot<wire::Request>();
      id = request.getId();
      if (server_.handler_.handle(*worker_.state, peer_, request, out_, *this) ==
          protocol::Disposition::queued) {
        if (inFlight_++ == 0) pendingWork_.emplace(worker_.io.get_executor());
      }
    } catch (const kj::Exception& e) {
      protocol::appendError(id, wire::ErrorCode::MALFORMED,
                            fmt::format("undecodable request: {}", e.getDescription().cStr()),
                            out_);
    } catch (const std::exception& e) {
      logLine(Level::error, "request_failed", {{"error", e.what()}});
      protocol::appendError(id, wire::ErrorCode::FAILED,
                            fmt::format("internal failure: {}", e.what()), out_);
    }
  }

  void onAnswered(std::string& frame) {
    if (--inFlight_ == 0) pendingWork_.reset();
    if (closed_) return;
    out_.append(frame);
    explicit_bzero(frame.data(), frame.size());  // answers may carry new secrets
    processFrames();                             // resumes frames held back by the in-flight limit
  }

  void flush() {
    if (writingActive_ || out_.empty() || closed_) return;
    // Answers usually fit in the socket's send buffer: send them at once, as asio's own first
    // attempt would, but without an operation, a handler and a completion posted through the
    // io_context for each write. Only what the socket cannot take now is left to asio.
    ssize_t n;
    do {
      n = ::send(socket_.native_handle(), out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      explicit_bzero(out_.data(), out_.size());  // answers may carry new secrets
      out_.clear();
      close();  // as a failed asynchronous write does
      return;
    }
    size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    size_t rest = out_.size() - sent;
    if (sent > 0) {  // keep the rest at the front, and no copy of anything behind it
      std::memmove(out_.data(), out_.data() + sent, rest);
      explicit_bzero(out_.data() + rest, sent);
      out_.resize(rest);
    }
    if (rest == 0) return;
    writing_.swap(out_);
    writingActive_ = true;
    asio::async_write(
        socket_, asio::buffer(writing_),
        [self = shared_from_this()](asio::error_code ec, size_t) { self->onWritten(ec); });
  }

  void onWritten(asio::error_code ec) {
    writingActive_ = false;
    explicit_bzero(writing_.data(), writing_.size());  // answers may carry new secrets
    writing_.clear();
    if (ec) {
      close();
      return;
    }
    if (!out_.empty()) {
      flush();
      if (writingActive_ || closed_) return;  // else it was all sent at once
    }
    processFrames();  // resumes reading held back by pending output
  }

  void maybeFinish() {
    if (closed_ || !eof_ || reading_ || inFlight_ > 0 || writingActive_ || !out_.empty()) return;
    close();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    closeDescriptors();
    asio::error_code ignored;
    socket_.close(ignored);
  }

  Server& server_;
  Server::Worker& worker_;
  stream_protocol::socket socket_;
  protocol::Peer peer_;
  std::vector<uint64_t> in_;  // whole words, so that a frame read into it is word-aligned
  size_t filled_ = 0;
  size_t consumed_ = 0;
  std::string out_;
  std::string writing_;
  std::deque<int> descriptors_;   // received with frames (SCM_RIGHTS), not yet taken
  bool descriptorReads_ = false;  // reads with recvmsg (acceptDescriptors)
  uint32_t inFlight_ = 0;
  // Keeps the io_context running while mutations are at the writer, even during shutdown.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> pendingWork_;
  bool reading_ = false;
  bool writingActive_ = false;
  bool eof_ = false;
  bool peerClosed_ = false;
  std::chrono::steady_clock::time_point lastActivity_;  // the worker's clock at the last read
  std::chrono::steady_clock::time_point partialSince_;  // when the pending partial frame began
  bool closed_ = false;
};

namespace {

// True when something accepts connections on `path` (another daemon is running).
bool socketAnswers(const std::filesystem::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  bool answers = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return answers;
}

// Raises the soft limit on open descriptors to the hard one, and says so loudly when the
// configured connections cannot all fit (each connection is one descriptor; the store, the log
// and the listener need a few more).
void raiseDescriptorLimit(uint32_t maxConnections) {
  constexpr rlim_t kReserved = 64;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur != RLIM_INFINITY && maxConnections + kReserved > limit.rlim_cur) {
    logLine(Level::warning, "descriptor_limit_too_low",
            {{"max_connections", std::to_string(maxConnections)},
             {"limit", std::to_string(limit.rlim_cur)},
             {"advice", "raise LimitNOFILE= (or ulimit -n) or lower limits.max_connections"}});
  }
}

protocol::Peer peerOf(stream_protocol::socket& socket, const protocol::AccessPolicy& policy) {
  ucred cred{};
  socklen_t len = sizeof cred;
  protocol::Peer peer;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return peer;  // AccessClass::none: refused
  }
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  peer.pid = cred.pid;
  peer.access = policy.classify(cred.uid, cred.gid);
  return peer;
}

}  // namespace

Server::Server(const ServerOptions& options, protocol::RequestHandler& handler,
               const protocol::AccessPolicy& policy)
    : options_(options), handler_(handler), policy_(policy) {
  readerOptions_.traversalLimitInWords = options.traversalLimitWords;
  readerOptions_.nestingLimit = options.nestingLimit;
}

Server::~Server() { handler_.attachTransport(nullptr); }

protocol::TransportStats Server::transportStats() const {
  protocol::TransportStats s;
  s.connectionsOpen = connections_.load(std::memory_order_relaxed);
  s.connectionsAccepted = accepted_.load(std::memory_order_relaxed);
  s.connectionsRefused = refused_.load(std::memory_order_relaxed);
  s.framingViolations = framingViolations_.load(std::memory_order_relaxed);
  return s;
}

void Server::refuse(const protocol::Peer& peer, std::string_view reason) {
  refused_.fetch_add(1, std::memory_order_relaxed);
  warn(refusedLog_, "connection_refused", {{"uid", std::to_string(peer.uid)}, {"reason", reason}});
}

void Server::framingViolation(const protocol::Peer& peer, std::string_view error) {
  framingViolations_.fetch_add(1, std::memory_order_relaxed);
  warn(framingLog_, "framing_violation",
       {{"error", error}, {"uid", std::to_string(peer.uid)}, {"pid", std::to_string(peer.pid)}});
}

std::unique_ptr<Server> Server::create(const ServerOptions& options,
                                       protocol::RequestHandler& handler,
                                       const protocol::AccessPolicy& policy) {
  if (options.listenFd >= 0) return adopt(options, handler, policy);
  const auto& path = options.socketPath;
  if (path.native().size() >= sizeof(sockaddr_un::sun_path)) {
    throw std::runtime_error(fmt::format("socket path {} is longer than {} bytes", path.string(),
                                         sizeof(sockaddr_un::sun_path) - 1));
  }
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
    if (socketAnswers(path)) {
      throw std::runtime_error(
          fmt::format("another process is serving on {}; refusing to start", path.string()));
    }
    if (!std::filesystem::is_socket(std::filesystem::symlink_status(path, ec))) {
      throw std::runtime_error(
          fmt::format("{} exists and is not a socket; refusing to replace it", path.string()));
    }
    std::filesystem::remove(path, ec);  // stale socket of a daemon that did not stop cleanly
  }
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);

  auto server = construct(options, handler, policy);
  asio::error_code aec;
  server->acceptor_->open(stream_protocol(), aec);
  if (!aec) server->acceptor_->bind(stream_protocol::endpoint(path.string()), aec);
  if (aec) {
    throw std::runtime_error(fmt::format("bind({}): {}", path.string(), aec.message()));
  }
  if (::chmod(path.c_str(), options.socketMode) != 0) {
    throw std::runtime_error(fmt::format("chmod({}): {}", path.string(), std::strerror(errno)));
  }
  server->acceptor_->listen(asio::socket_base::max_listen_connections, aec);
  if (aec) throw std::runtime_error(fmt::format("listen({}): {}", path.string(), aec.message()));
  return server;
}

std::unique_ptr<Server> Server::construct(const ServerOptions& options,
                                          protocol::RequestHandler& handler,
                                          const protocol::AccessPolicy& policy) {
  raiseDescriptorLimit(options.maxConnections);
  std::unique_ptr<Server> server(new Server(options, handler, policy));
  unsigned threads = options.ioThreads != 0 ? options.ioThreads
                                            : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->state = handler.newThreadState();
    worker->idleTimeout = options.idleTimeout;
    worker->frameTimeout = options.frameTimeout;
    server->workers_.push_back(std::move(worker));
  }
  auto& io = server->workers_[0]->io;
  server->acceptRetry_ = std::make_unique<asio::steady_timer>(io);
  server->acceptor_ = std::make_unique<stream_protocol::acceptor>(io);
  handler.attachTransport(server.get());
  return server;
}

std::unique_ptr<Server> Server::adopt(const ServerOptions& options,
                                      protocol::RequestHandler& handler,
                                      const protocol::AccessPolicy& policy) {
  auto server = construct(options, handler, policy);
  asio::error_code ec;
  server->acceptor_->assign(stream_protocol(), options.listenFd, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("the inherited socket (fd {}): {}", options.listenFd, ec.message()));
  }
  return server;
}

void Server::accept() {
  Worker& target = *workers_[nextWorker_++ % workers_.size()];
  acceptor_->async_accept(
      target.io, [this, &target](asio::error_code ec, stream_protocol::socket socket) {
        if (ec) {
          if (ec == asio::error::operation_aborted || stopping_) return;
          warn(acceptLog_, "accept_failed", {{"error", ec.message()}});
          bool exhausted = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                           ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
          if (exhausted) {
            acceptLater();  // existing connections are served meanwhile
          } else {
            accept();
          }
          return;
        }
        accept();
        protocol::Peer peer = peerOf(socket, policy_);
        if (peer.access == protocol::AccessClass::none) {
          refuse(peer, "no access class");
          return;
        }
        if (!takeSlot(peer)) return;
        // The socket was created on the target's io_context: start the session there.
        asio::post(target.io, [this, &target, peer, s = std::move(socket)]() mutable {
          auto session = std::make_shared<Session>(*this, target, std::move(s), peer);
          std::erase_if(target.sessions, [](const auto& w) { return w.expired(); });
          target.sessions.push_back(session);
          if (stopping_) {
            session->shutdownRead();
            return;
          }
          session->start();
        });
      });
}

bool Server::takeSlot(const protocol::Peer& peer) {
  std::lock_guard lock(slotsMutex_);
  size_t open = connections_.load();
  bool admin = peer.access == protocol::AccessClass::admin;
  size_t reserved = std::min(options_.adminReservedConnections, options_.maxConnections / 4);
  std::string refusal;
  if (open >= options_.maxConnections) {
    refusal = fmt::format("max_connections ({}) reached", options_.maxConnections);
  } else if (!admin && open >= options_.maxConnections - reserved) {
    refusal = fmt::format("the last {} connections are reserved for the admin class", reserved);
  } else if (!admin && perUid_[peer.uid] >= options_.maxConnectionsPerUid) {
    refusal = fmt::format("uid {} holds {} connections (max_connections_per_uid)", peer.uid,
                          perUid_[peer.uid]);
  }
  if (!refusal.empty()) {
    if (!admin && perUid_[peer.uid] == 0) perUid_.erase(peer.uid);
    refuse(peer, refusal);
    return false;
  }
  connections_.fetch_add(1);
  accepted_.fetch_add(1, std::memory_order_relaxed);
  if (!admin) ++perUid_[peer.uid];
  return true;
}

void Server::releaseSlot(const protocol::Peer& peer) {
  std::lock_guard lock(slotsMutex_);
  connections_.fetch_sub(1);
  if (peer.access == protocol::AccessClass::admin) return;
  auto it = perUid_.find(peer.uid);
  if (it != perUid_.end() && --it->second == 0) perUid_.erase(it);
}

void Server::sweep(Worker& worker) {
  worker.now = std::chrono::steady_clock::now();
  worker.beat.store(worker.now.time_since_epoch().count(), std::memory_order_relaxed);
  std::erase_if(worker.sessions, [](const auto& w) { return w.expired(); });
  for (auto& weak : worker.sessions) {
    auto session = weak.lock();
    if (!session) continue;
    if (const char* reason = session->expired(worker.now)) session->expire(reason);
  }
  worker.sweep->expires_after(std::chrono::seconds(1));
  worker.sweep->async_wait([this, &worker](asio::error_code ec) {
    if (!ec && !stopping_) sweep(worker);
  });
}

void Server::acceptLater() {
  acceptRetry_->expires_after(std::chrono::milliseconds(100));
  acceptRetry_->async_wait([this](asio::error_code ec) {
    if (!ec && !stopping_) accept();
  });
}

void Server::warn(LogThrottle& throttle, std::string_view event,
                  std::initializer_list<LogField> fields) {
  auto dropped = throttle.admit();
  if (!dropped) return;
  std::vector<LogField> all(fields);
  std::string count = std::to_string(*dropped);
  if (*dropped > 0) all.emplace_back("suppressed", count);
  logFields(Level::warning, event, all);
}

void Server::run(const std::function<void()>& onReady, const std::function<void()>& onStopping,
                 const std::function<void()>& onReload) {
  onStopping_ = onStopping;
  onReload_ = onReload;
  for (auto& w : workers_) guards_.emplace_back(w->io.get_executor());
  signals_ = std::make_unique<asio::signal_set>(workers_[0]->io, SIGINT, SIGTERM, SIGHUP);
  waitForSignal();
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->now = std::chrono::steady_clock::now();
    worker->beat.store(worker->now.time_since_epoch().count(), std::memory_order_relaxed);
    worker->sweep = std::make_unique<asio::steady_timer>(worker->io);
    asio::post(worker->io, [this, worker] { sweep(*worker); });
  }
  accept();
  if (onReady) onReady();

  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers_.size(); ++i) {
    threads.emplace_back([this, i] { workers_[i]->io.run(); });
  }
  workers_[0]->io.run();
  for (auto& t : threads) t.join();
  // signals_ stays alive (so SIGTERM/SIGINT stay caught) until the server is destroyed.
  if (options_.listenFd < 0) {  // an inherited socket's path belongs to systemd
    std::error_code ec;
    std::filesystem::remove(options_.socketPath, ec);
  }
}

void Server::waitForSignal() {
  signals_->async_wait([this](asio::error_code ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      logLine(Level::info, "signal", {{"signal", "SIGHUP"}});
      if (onReload_) onReload_();
      waitForSignal();
      return;
    }
    logLine(Level::info, "signal", {{"signal", signal == SIGINT ? "SIGINT" : "SIGTERM"}});
    stop();
  });
}

void Server::reload(const ServerOptions& options, const protocol::AccessPolicy& policy) {
  {
    std::lock_guard lock(slotsMutex_);
    policy_ = policy;
    options_.maxConnections = options.maxConnections;
    options_.maxConnectionsPerUid = options.maxConnectionsPerUid;
    options_.adminReservedConnections = options.adminReservedConnections;
  }
  for (auto& w : workers_) {
    asio::post(w->io, [worker = w.get(), idle = options.idleTimeout, frame = options.frameTimeout] {
      worker->idleTimeout = idle;
      worker->frameTimeout = frame;
    });
  }
}

bool Server::responsive(std::chrono::steady_clock::duration within) const {
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  for (const auto& w : workers_) {
    if (now - w->beat.load(std::memory_order_relaxed) > within.count()) return false;
  }
  return true;
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(workers_[0]->io, [this] { onStop(); });
}

void Server::onStop() {
  if (onStopping_) onStopping_();
  asio::error_code ignored;
  acceptor_->close(ignored);
  acceptRetry_->cancel();
  if (signals_) signals_->cancel(ignored);
  for (auto& w : workers_) {
    Worker* worker = w.get();
    asio::post(worker->io, [worker] {
      if (worker->sweep) worker->sweep->cancel();
      for (auto& weak : worker->sessions) {
        if (auto s = weak.lock()) s->shutdownRead();
      }
    });
  }
  for (auto& g : guards_) g.reset();
}

}  // namespace gatehouse::server
