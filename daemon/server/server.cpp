#include "server/server.hpp"

#include <capnp/serialize.h>
#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <system_error>

#include "common/log.hpp"
#include "protocol/errors.hpp"

namespace gatehouse::server {

using asio::local::stream_protocol;

namespace {

// SIGINT, SIGTERM and SIGHUP blocked (`how` SIG_BLOCK) or unblocked (SIG_UNBLOCK) in the calling
// thread.
void maskControlSignals(int how) {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, signal);
  ::pthread_sigmask(how, &set, nullptr);
}

// Adds (EPOLL_CTL_ADD) or changes (EPOLL_CTL_MOD) what `epoll` reports for `fd`, tagged with
// `tag`. False (errno set) when it cannot.
bool setInterest(int epoll, int op, int fd, uint32_t events, void* tag) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = tag;
  return ::epoll_ctl(epoll, op, fd, &event) == 0;
}

// Takes an eventfd's or a timerfd's count, so that it is reported again only when it fires again.
void takeCount(int fd) {
  uint64_t count;
  while (::read(fd, &count, sizeof count) < 0 && errno == EINTR) {
  }
}

}  // namespace

void blockControlSignals() { maskControlSignals(SIG_BLOCK); }

// One connection. Lives on one worker; all of its code runs on that worker's IO thread, except
// answer() (called by the writer and the password pool), which goes through the worker's task
// queue.
class Session : public protocol::AnswerSink, public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, Server::Worker& worker, int fd, protocol::Peer peer)
      : server_(server), worker_(worker), fd_(fd), peer_(peer), lastActivity_(worker.now) {
    in_.resize(kInitialWords);
  }
  ~Session() override {
    closeDescriptors();
    server_.releaseSlot(peer_);
    ::close(fd_);  // only now: a peer that sees the connection end finds its slot free
  }

  std::shared_ptr<protocol::AnswerSink> retain() override { return shared_from_this(); }

  void acceptDescriptors() override { descriptorReads_ = true; }

  int takeDescriptor() override {
    if (descriptors_.empty()) return -1;
    int fd = descriptors_.front();
    descriptors_.pop_front();
    return fd;
  }

  // On another thread (the writer's, the password pool's): hand the answer to this session's own
  // thread.
  void answer(std::string frame) override {
    worker_.post([self = shared_from_this(), frame = std::move(frame)]() mutable {
      self->onAnswered(frame);
    });
  }

  // Watches the socket (edge-triggered: an event says something new arrived or the socket became
  // writable; the session remembers that until a read or a send finds nothing more to do). Throws
  // when the descriptor cannot be watched.
  void start() {
    if (!setInterest(worker_.epoll, EPOLL_CTL_ADD, fd_, kReadEvents, this)) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl(EPOLL_CTL_ADD)");
    }
  }

  // What epoll reported for the socket.
  void onEvents(uint32_t events) {
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) readable_ = true;
    if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) hungUp_ = true;
    if (waitingWritable_ && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
      onWritable();
      return;
    }
    readOnce();
  }

  // Called for a session the last round left readable, or with frames to go on with.
  void onReady() {
    queued_ = false;
    if (readable_ && wantsInput()) {
      readOnce();  // then the frames, those already buffered first
      return;
    }
    processFrames();
  }

  // Why the sweep at `now` closes this connection (a frame begun too long ago, answers the peer
  // has taken none of for too long, or nothing to do for too long), or null.
  const char* expired(std::chrono::steady_clock::time_point now) const {
    if (closed_) return nullptr;
    // Stamps come from the worker's clock, which the sweep advances once a second: they may be up
    // to a second early, so a deadline is taken to have passed only a second after it.
    constexpr std::chrono::seconds kGrain{1};
    bool partial = partialSince_ != std::chrono::steady_clock::time_point{};
    const auto frameTimeout = worker_.frameTimeout, idleTimeout = worker_.idleTimeout,
               sendTimeout = worker_.sendTimeout;
    if (frameTimeout.count() > 0 && partial && now - partialSince_ > frameTimeout + kGrain) {
      return "a frame begun was not completed within limits.frame_timeout_seconds";
    }
    bool unread = unreadSince_ != std::chrono::steady_clock::time_point{};
    if (sendTimeout.count() > 0 && unread && now - unreadSince_ > sendTimeout + kGrain) {
      return "answers were not read within limits.send_timeout_seconds";
    }
    bool idle = !partial && inFlight_ == 0 && out_.empty() && !eof_;
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
    if (closed_) return;
    eof_ = true;
    ::shutdown(fd_, SHUT_RD);
    processFrames();
  }

 private:
  static constexpr size_t kInitialWords = 8192;  // 64 KiB; grows up to the frame limit.
  static constexpr size_t kMaxDescriptors = 4;   // held per connection; more are closed
  static constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;

  char* inBytes() { return reinterpret_cast<char*>(in_.data()); }
  size_t capacity() const { return in_.size() * sizeof(capnp::word); }
  bool paused() const {
    return inFlight_ >= server_.options_.maxInFlight ||
           out_.size() > server_.options_.maxPendingOutput;
  }
  // processFrames grows the buffer for a partial frame, so a full buffer is never left unread.
  bool wantsInput() const { return !eof_ && !closed_ && !paused() && filled_ < capacity(); }

  // One read, when the socket has something and the session wants it; then the frames it
  // completed.
  void readOnce() {
    if (!readable_ || !wantsInput()) return;
    size_t space = capacity() - filled_;
    ssize_t n;
    std::vector<int> received;
    if (descriptorReads_) {
      n = receive(space, received);
    } else {
      do {
        n = ::recv(fd_, inBytes() + filled_, space, MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      readable_ = false;
      return;
    }
    keepDescriptors(received);
    if (n <= 0) {
      eof_ = true;  // EOF or reset: answer what was read, then close
      peerClosed_ = true;
      readable_ = false;
    } else {
      filled_ += static_cast<size_t>(n);
      lastActivity_ = worker_.now;
      // A short read emptied the socket (a stream socket's read takes all there is, up to the
      // space given): the next edge says when more comes. Not so once the peer has shut down (its
      // end of file came with the edge already taken: only a read that returns 0 sees it), nor
      // for recvmsg, which stops early at a message that carries descriptors. (A read also stops
      // at descriptors or out-of-band data that a peer sends where they were not asked for; what
      // such a peer sent after them waits for its next write. No other connection is affected.)
      if (!descriptorReads_ && !hungUp_ && static_cast<size_t>(n) < space) readable_ = false;
    }
    processFrames();
  }

  // The read of a connection that asked for descriptors: recvmsg instead of recv, so that
  // descriptors sent with a frame (SCM_RIGHTS: the backup request's file) are received rather
  // than dropped. They travel with the bytes: they join the queue only when the bytes join the
  // buffer, so that handling what was buffered before cannot close them.
  ssize_t receive(size_t space, std::vector<int>& received) {
    iovec iov{inBytes() + filled_, space};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxDescriptors)];
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n;
    do {
      n = ::recvmsg(fd_, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) received = descriptorsOf(message);  // with end of file too: none may leak
    return n;
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

  void processFrames() {
    // More to read, or frames held behind answers that a send has now taken (no event would
    // bring those back): next round, after the other connections have had theirs.
    bool resumable = handleBuffered();
    if ((resumable || (readable_ && wantsInput())) && !queued_) {
      queued_ = true;
      worker_.ready.push_back(shared_from_this());
    }
    maybeFinish();
  }

  // Handles the buffer's complete frames until reading pauses or the buffer ends in a partial
  // frame, then sends the answers. True when it stopped for answers that waited and the send
  // took enough of them to go on.
  bool handleBuffered() {
    bool handled = false;  // a frame completed: what is left began after it
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
      handled = true;
    }
    bool heldBack = !closed_ && paused() && consumed_ < filled_;
    worker_.state->release();
    if (consumed_ == filled_) {
      consumed_ = filled_ = 0;
      closeDescriptors();  // sent with frames that did not take them
    }
    // The frame deadline runs from the pending frame's first bytes: a stream of pipelined
    // frames that always ends inside one is not a frame that stalls. It does not run while
    // reading is paused — for the answers the daemon owes (max_in_flight) or for those the peer
    // has not read (max_pending_output_bytes, timed by the send deadline): what is buffered
    // then may be whole frames, and the rest may wait in the socket. It starts again when
    // reading resumes.
    if (filled_ == consumed_ || paused()) {
      partialSince_ = {};
    } else if (handled || partialSince_ == std::chrono::steady_clock::time_point{}) {
      partialSince_ = worker_.now;
    }
    flush();
    return heldBack && !closed_ && !paused();
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
        ++inFlight_;
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
    --inFlight_;
    if (!closed_) out_.append(frame);
    explicit_bzero(frame.data(), frame.size());  // answers may carry new secrets
    if (closed_) {
      maybeRetire();
      return;
    }
    processFrames();  // resumes frames held back by the in-flight limit
  }

  // Sends what the answers left in out_, as much as the socket takes now; the rest when epoll
  // says the socket is writable again (then reading waits behind it if it is more than
  // maxPendingOutput).
  void flush() {
    if (waitingWritable_ || out_.empty() || closed_) return;
    ssize_t n;
    do {
      n = ::send(fd_, out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      explicit_bzero(out_.data(), out_.size());  // answers may carry new secrets
      out_.clear();
      close();  // the peer is gone
      return;
    }
    size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    size_t rest = out_.size() - sent;
    if (sent > 0) {  // keep the rest at the front, and no copy of anything behind it
      std::memmove(out_.data(), out_.data() + sent, rest);
      explicit_bzero(out_.data() + rest, sent);
      out_.resize(rest);
    }
    // The send deadline runs while answers wait and the peer takes none of them: each send that
    // moves bytes starts it again.
    if (rest == 0) {
      unreadSince_ = {};
      return;
    }
    if (sent > 0 || unreadSince_ == std::chrono::steady_clock::time_point{}) {
      unreadSince_ = worker_.now;
    }
    waitingWritable_ = true;  // until epoll says the peer has read some
    watch(kReadEvents | EPOLLOUT);
  }

  void onWritable() {
    waitingWritable_ = false;
    flush();
    if (closed_ || waitingWritable_) return;
    watch(kReadEvents);  // all sent: no more wake-ups for a writable socket
    processFrames();     // resumes reading held back by pending output
  }

  void watch(uint32_t events) {
    if (!setInterest(worker_.epoll, EPOLL_CTL_MOD, fd_, events, this)) {
      logLine(Level::error, "connection_failed",
              {{"error", fmt::format("epoll_ctl(EPOLL_CTL_MOD): {}", std::strerror(errno))}});
      close();
    }
  }

  void maybeFinish() {
    if (closed_ || !eof_ || inFlight_ > 0 || !out_.empty()) return;
    close();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    closeDescriptors();
    // Out of the epoll set now; the descriptor itself is closed with the session, once its slot
    // is released (the end of this round, or the writer's last answer to it).
    ::epoll_ctl(worker_.epoll, EPOLL_CTL_DEL, fd_, nullptr);
    explicit_bzero(out_.data(), out_.size());
    out_.clear();
    maybeRetire();
  }

  // A closed session leaves its worker once the writer owes it nothing.
  void maybeRetire() {
    if (!closed_ || inFlight_ > 0) return;
    auto it = worker_.sessions.find(this);
    if (it == worker_.sessions.end()) return;
    worker_.finished.push_back(std::move(it->second));  // alive until the round is over
    worker_.sessions.erase(it);
  }

  Server& server_;
  Server::Worker& worker_;
  const int fd_;
  protocol::Peer peer_;
  std::vector<uint64_t> in_;  // whole words, so that a frame read into it is word-aligned
  size_t filled_ = 0;
  size_t consumed_ = 0;
  std::string out_;
  std::deque<int> descriptors_;   // received with frames (SCM_RIGHTS), not yet taken
  bool descriptorReads_ = false;  // reads with recvmsg (acceptDescriptors)
  uint32_t inFlight_ = 0;
  bool readable_ = false;         // epoll said so and no read has found the socket empty since
  bool hungUp_ = false;           // epoll reported the peer's shutdown (or an error)
  bool queued_ = false;           // in worker_.ready
  bool waitingWritable_ = false;  // out_ holds what the socket could not take
  bool eof_ = false;
  bool peerClosed_ = false;
  std::chrono::steady_clock::time_point lastActivity_;  // the worker's clock at the last read
  std::chrono::steady_clock::time_point partialSince_;  // when the pending partial frame began
  std::chrono::steady_clock::time_point unreadSince_;   // answers waiting: the last send's progress
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

protocol::Peer peerOf(int fd, const protocol::AccessPolicy& policy) {
  ucred cred{};
  socklen_t len = sizeof cred;
  protocol::Peer peer;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return peer;  // AccessClass::none: refused
  }
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  peer.pid = cred.pid;
  peer.access = policy.classify(cred.uid, cred.gid);
  return peer;
}

// A descriptor of the worker's, or a system_error naming the call that failed.
int checked(int fd, const char* call) {
  if (fd < 0) throw std::system_error(errno, std::generic_category(), call);
  return fd;
}

void watchFixed(int epoll, int fd, void* tag) {
  if (!setInterest(epoll, EPOLL_CTL_ADD, fd, EPOLLIN, tag)) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(EPOLL_CTL_ADD)");
  }
}

}  // namespace

Server::Worker::Worker() {
  try {
    epoll = checked(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1");
    wake = checked(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
    tick = checked(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK), "timerfd_create");
    watchFixed(epoll, wake, &wake);
    watchFixed(epoll, tick, &tick);
  } catch (...) {
    for (int fd : {tick, wake, epoll}) {
      if (fd >= 0) ::close(fd);
    }
    throw;
  }
}

Server::Worker::~Worker() {
  // The sessions (and the tasks that hold some) before the descriptors they were watched with.
  tasks.clear();
  ready.clear();
  finished.clear();
  sessions.clear();
  for (int fd : {tick, wake, epoll}) ::close(fd);
}

void Server::Worker::post(std::function<void()> task) {
  bool first;
  {
    std::lock_guard lock(tasksMutex);
    first = tasks.empty();
    tasks.push_back(std::move(task));
  }
  if (!first) return;  // the first one's wake-up is still to be taken
  uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(wake, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
}

Server::Server(const ServerOptions& options, protocol::RequestHandler& handler,
               const protocol::AccessPolicy& policy)
    : options_(options), handler_(handler), policy_(policy) {
  readerOptions_.traversalLimitInWords = options.traversalLimitWords;
  readerOptions_.nestingLimit = options.nestingLimit;
}

Server::~Server() {
  handler_.attachTransport(nullptr);
  workers_.clear();  // sessions release their slots into members declared after workers_
}

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
    worker->sendTimeout = options.sendTimeout;
    server->workers_.push_back(std::move(worker));
  }
  server->acceptRetry_ = std::make_unique<asio::steady_timer>(server->control_);
  server->acceptor_ = std::make_unique<stream_protocol::acceptor>(server->control_);
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
  // Drains the backlog, then waits: the wait is registered before this thread next polls, so a
  // connection that arrives in between is not missed.
  for (;;) {
    int fd = ::accept4(acceptor_->native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      handOff(fd);
      continue;
    }
    int error = errno;
    if (error == EINTR || error == ECONNABORTED) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) break;
    if (stopping_) return;
    warn(acceptLog_, "accept_failed", {{"error", std::strerror(error)}});
    if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
      acceptLater();  // existing connections are served meanwhile
      return;
    }
    break;  // anything else: wait for the next connection
  }
  acceptor_->async_wait(stream_protocol::acceptor::wait_read, [this](asio::error_code ec) {
    if (ec || stopping_) return;
    accept();
  });
}

void Server::handOff(int fd) {
  protocol::Peer peer = peerOf(fd, policy_);
  if (peer.access == protocol::AccessClass::none) {
    ::close(fd);
    refuse(peer, "no access class");
    return;
  }
  if (!takeSlot(peer)) {
    ::close(fd);
    return;
  }
  Worker& target = *workers_[nextWorker_++ % workers_.size()];
  target.post([this, &target, fd, peer] {
    auto session = std::make_shared<Session>(*this, target, fd, peer);
    try {
      session->start();
    } catch (const std::exception& e) {
      warn(acceptLog_, "accept_failed", {{"error", e.what()}});
      return;  // the session closes the descriptor and releases the slot
    }
    target.sessions.emplace(session.get(), session);
    if (target.stopping) session->shutdownRead();
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
  std::vector<std::pair<Session*, const char*>> expired;
  for (auto& [session, owner] : worker.sessions) {
    if (const char* reason = session->expired(worker.now)) expired.emplace_back(session, reason);
  }
  for (auto [session, reason] : expired) session->expire(reason);
}

void Server::runTasks(Worker& worker) {
  takeCount(worker.wake);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(worker.tasksMutex);
    tasks.swap(worker.tasks);
  }
  for (auto& task : tasks) task();
}

void Server::serve(Worker& worker) {
  // The hot path: one epoll_wait, then for a connection one read, its frames answered, one send.
  constexpr int kEvents = 64;
  epoll_event events[kEvents];
  std::vector<std::shared_ptr<Session>> again;
  while (!(worker.stopping && worker.sessions.empty())) {
    int n = ::epoll_wait(worker.epoll, events, kEvents, worker.ready.empty() ? -1 : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &worker.wake) {
        runTasks(worker);
      } else if (tag == &worker.tick) {
        takeCount(worker.tick);
        sweep(worker);
      } else {
        static_cast<Session*>(tag)->onEvents(events[i].events);
      }
    }
    again.swap(worker.ready);
    for (auto& session : again) session->onReady();
    again.clear();
    worker.finished.clear();
  }
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
  guard_.emplace(control_.get_executor());
  signals_ = std::make_unique<asio::signal_set>(control_, SIGINT, SIGTERM, SIGHUP);
  waitForSignal();
  itimerspec second{};
  second.it_value.tv_sec = second.it_interval.tv_sec = 1;
  for (auto& w : workers_) {
    w->now = std::chrono::steady_clock::now();
    w->beat.store(w->now.time_since_epoch().count(), std::memory_order_relaxed);
    if (::timerfd_settime(w->tick, 0, &second, nullptr) != 0) {
      throw std::system_error(errno, std::generic_category(), "timerfd_settime");
    }
  }
  asio::error_code ec;
  acceptor_->non_blocking(true, ec);  // accept() drains the backlog with accept4
  if (ec) throw std::runtime_error(fmt::format("the listening socket: {}", ec.message()));
  // The signals go to this thread alone: the IO threads start with them blocked (they inherit this
  // thread's mask), and this thread takes them from here on, however the process had them.
  maskControlSignals(SIG_BLOCK);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers_.size(); ++i) {
    threads.emplace_back([this, i] { serve(*workers_[i]); });
    // Named from here, before onReady: whoever looks once the socket answers finds the name.
    ::pthread_setname_np(threads.back().native_handle(), fmt::format("gh-io-{}", i).c_str());
  }
  maskControlSignals(SIG_UNBLOCK);
  accept();
  if (onReady) onReady();
  control_.run();  // until onStop: the acceptor, the signals and the accept back-off
  for (auto& t : threads) t.join();  // until each IO thread's last connection is done
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
    w->post([worker = w.get(), idle = options.idleTimeout, frame = options.frameTimeout,
             send = options.sendTimeout] {
      worker->idleTimeout = idle;
      worker->frameTimeout = frame;
      worker->sendTimeout = send;
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
  asio::post(control_, [this] { onStop(); });
}

void Server::onStop() {
  if (onStopping_) onStopping_();
  asio::error_code ignored;
  acceptor_->close(ignored);
  acceptRetry_->cancel();
  if (signals_) signals_->cancel(ignored);
  for (auto& w : workers_) {
    w->post([worker = w.get()] {
      worker->stopping = true;
      std::vector<Session*> open;
      for (auto& [session, owner] : worker->sessions) open.push_back(session);
      for (Session* session : open) session->shutdownRead();
    });
  }
  guard_.reset();
}

}  // namespace gatehouse::server
