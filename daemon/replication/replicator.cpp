#include "replication/replicator.hpp"

#include <fmt/format.h>
#include <nats/nats.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/log.hpp"
#include "store/journal.hpp"

namespace gatehouse::replication {
namespace {

using Clock = std::chrono::steady_clock;

// The genesis: the log's first entry, "GHG1" and the shared secrets' fingerprint.
constexpr std::string_view kGenesisMagic = "GHG1";
constexpr std::string_view kBatchMagic = "GHB";

// The thread's last error text belongs to `s` only when its status is `s` (nats.c keeps an older
// failure's text otherwise).
const char* lastErrorOf(natsStatus s) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (last != s || text == nullptr || *text == '\0') return nullptr;
  return text;
}

std::string natsError(natsStatus s) {
  if (const char* text = lastErrorOf(s)) return fmt::format("{} ({})", natsStatus_GetText(s), text);
  return natsStatus_GetText(s);
}

void require(natsStatus s, std::string_view what) {
  if (s != NATS_OK) throw std::runtime_error(fmt::format("{}: {}", what, natsError(s)));
}

// A file of a secret: readable by the daemon's user alone, as the pepper.
std::string readPrivateFile(const std::filesystem::path& path, std::string_view key) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw std::runtime_error(
        fmt::format("replication.{}: {}: {}", key, path.string(), std::strerror(errno)));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw std::runtime_error(fmt::format(
        "replication.{}: {} is accessible to group or others (mode {:04o}); chmod 600 it", key,
        path.string(), st.st_mode & 07777));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in && !in.eof()) {
    throw std::runtime_error(fmt::format("replication.{}: cannot read {}", key, path.string()));
  }
  std::string text = buffer.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string randomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex;
  for (unsigned char c : raw) hex += fmt::format("{:02x}", c);
  return hex;
}

std::string hostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "gatehoused";
  return name;
}

// "wrong last sequence: 41" -> 41; 0 when the text of failure `s` does not say.
uint64_t headFromError(natsStatus s) {
  const char* text = lastErrorOf(s);
  if (text == nullptr) return 0;
  const char* at = std::strstr(text, "wrong last sequence: ");
  if (at == nullptr) return 0;
  at += std::strlen("wrong last sequence: ");
  uint64_t head = 0;
  std::from_chars(at, at + std::strlen(at), head);
  return head;
}

template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p != nullptr) Destroy(p);
  }
};
template <typename T, void (*Destroy)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Destroy>>;
using MsgHandle = Handle<natsMsg, natsMsg_Destroy>;
using StreamInfoHandle = Handle<jsStreamInfo, jsStreamInfo_Destroy>;
using PubAckHandle = Handle<jsPubAck, jsPubAck_Destroy>;

}  // namespace

struct Replicator::NatsOptions {
  Handle<natsOptions, natsOptions_Destroy> options;
};

struct Replicator::Nats {
  Handle<natsConnection, natsConnection_Destroy> connection;
  Handle<jsCtx, jsCtx_Destroy> js;
  Handle<natsSubscription, natsSubscription_Destroy> subscription;
  jsOptions jsOpts{};

  ~Nats() {
    if (subscription) natsSubscription_Unsubscribe(subscription.get());
    subscription.reset();
    js.reset();
    if (connection) natsConnection_Close(connection.get());
    connection.reset();
  }
};

struct Callbacks {
  static void message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<std::pair<Replicator*, uint64_t>*>(closure);
    MsgHandle owned(msg);
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) return;
    Replicator::Delivery d;
    d.generation = self->second;
    d.sequence = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
    const char* id = nullptr;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) d.id = id;
    d.payload.assign(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    self->first->delivered(self->second, std::move(d));
  }
  static void disconnected(natsConnection* nc, void* closure) {
    static_cast<Replicator*>(closure)->connectionChanged(false, nc);
  }
  static void connected(natsConnection* nc, void* closure) {
    static_cast<Replicator*>(closure)->connectionChanged(true, nc);
  }
  static void closed(natsConnection* nc, void* closure) {
    static_cast<Replicator*>(closure)->connectionClosed(nc);
  }
};

Replicator::Replicator(store::Store& store, const ReplicationOptions& options,
                       std::string fingerprint)
    : store_(store), options_(options), fingerprint_(std::move(fingerprint)) {
  if (options_.servers.empty()) throw std::runtime_error("replication.servers: none given");
  if (options_.name.empty()) options_.name = hostName();
  if (!options_.passwordFile.empty()) {
    password_ = readPrivateFile(options_.passwordFile, "password_file");
  }
  if (!options_.credsFile.empty()) readPrivateFile(options_.credsFile, "creds_file");
  if (!options_.tlsKeyFile.empty()) readPrivateFile(options_.tlsKeyFile, "tls_key_file");
  idPrefix_ = fmt::format("{}.{}", options_.name, randomHex(8));
}

Replicator::~Replicator() { stop(); }

void Replicator::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  connectorWake_.notify_all();
  if (connector_.joinable()) connector_.join();
  if (natsOptions_) {  // started: every connection was made with them
    nats_.reset();
    fresh_.reset();
    natsOptions_.reset();
    // The library's threads and global state go with the last connection (one replicator per
    // process).
    nats_CloseAndWait(5000);
  }
  sodium_memzero(password_.data(), password_.size());
}

void Replicator::start(std::function<void()> wake) {
  wake_ = std::move(wake);
  auto settings = std::make_unique<NatsOptions>();
  natsOptions* raw = nullptr;
  require(natsOptions_Create(&raw), "replication: natsOptions_Create");
  settings->options.reset(raw);
  natsOptions* o = raw;
  std::vector<const char*> servers;
  for (const auto& s : options_.servers) servers.push_back(s.c_str());
  require(natsOptions_SetServers(o, servers.data(), static_cast<int>(servers.size())),
          "replication.servers");
  require(natsOptions_SetName(o, fmt::format("gatehoused {}", options_.name).c_str()),
          "replication.name");
  if (!options_.user.empty()) {
    require(natsOptions_SetUserInfo(o, options_.user.c_str(), password_.c_str()),
            "replication.user");
  }
  if (!options_.credsFile.empty()) {
    require(natsOptions_SetUserCredentialsFromFiles(o, options_.credsFile.c_str(), nullptr),
            "replication.creds_file");
  }
  bool tls = options_.tls || !options_.tlsCaFile.empty() || !options_.tlsCertFile.empty();
  if (tls) {
    require(natsOptions_SetSecure(o, true), "replication.tls");
    if (!options_.tlsCaFile.empty()) {
      require(natsOptions_LoadCATrustedCertificates(o, options_.tlsCaFile.c_str()),
              "replication.tls_ca_file");
    }
    if (!options_.tlsCertFile.empty()) {
      require(natsOptions_LoadCertificatesChain(o, options_.tlsCertFile.c_str(),
                                                options_.tlsKeyFile.c_str()),
              "replication.tls_cert_file");
    }
    if (!options_.tlsServerName.empty()) {
      require(natsOptions_SetExpectedHostname(o, options_.tlsServerName.c_str()),
              "replication.tls_server_name");
    }
  }
  require(natsOptions_SetTimeout(o, options_.connectTimeout.count()), "connect timeout");
  require(natsOptions_SetMaxReconnect(o, -1), "max reconnect");  // the library never gives up...
  require(natsOptions_SetReconnectWait(o, options_.reconnectWait.count()), "reconnect wait");
  require(natsOptions_SetDisconnectedCB(o, Callbacks::disconnected, this), "callbacks");
  require(natsOptions_SetReconnectedCB(o, Callbacks::connected, this), "callbacks");
  // ...except on an authorization error met twice in a row: then the connector connects anew.
  require(natsOptions_SetClosedCB(o, Callbacks::closed, this), "callbacks");
  natsOptions_ = std::move(settings);
  {
    // Until the first connection (made in the background) a mutation waits for it, as for a
    // connection lost a moment ago.
    std::lock_guard lock(mutex_);
    disconnectedAt_ = Clock::now();
  }
  logLine(Level::info, "replication_started",
          {{"stream", options_.stream},
           {"servers", fmt::format("{}", options_.servers.size())},
           {"applied", std::to_string(store_.appliedSequence())}});
  connector_ = std::thread([this] { connectLoop(); });
}

void Replicator::connectLoop() {
  ::pthread_setname_np(::pthread_self(), "gh-nats-connect");
  // One line per distinct failure, and a reminder with a count at most once a minute.
  constexpr auto kRepeatLog = std::chrono::seconds(60);
  std::string lastFailure;
  uint64_t failures = 0;
  Clock::time_point loggedAt{};
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (current_ != nullptr && !currentClosed_) {
      connectorWake_.wait(lock, [&] { return stopping_ || currentClosed_; });
      continue;
    }
    if (current_ != nullptr) {
      // Read without the lock (the library takes its own): the connection stays alive until this
      // thread makes the next one, which alone can replace it.
      auto* closed = static_cast<natsConnection*>(current_);
      lock.unlock();
      const char* text = nullptr;
      natsConnection_GetLastError(closed, &text);
      std::string why = text != nullptr && *text != '\0' ? text : "closed by the client library";
      logLine(Level::warning, "replication_connection_closed",
              {{"error", why}, {"effect", "connecting anew"}});
      lock.lock();
      current_ = nullptr;
      continue;
    }
    lock.unlock();
    natsConnection* nc = nullptr;
    natsStatus s = natsConnection_Connect(&nc, natsOptions_->options.get());
    std::unique_ptr<Nats> made;
    std::string failure;
    if (s == NATS_OK) {
      made = std::make_unique<Nats>();
      made->connection.reset(nc);
      jsOptions_Init(&made->jsOpts);
      made->jsOpts.Wait = options_.requestTimeout.count();
      jsCtx* js = nullptr;
      natsStatus j = natsConnection_JetStream(&js, nc, &made->jsOpts);
      if (j == NATS_OK) {
        made->js.reset(js);
      } else {
        failure = fmt::format("JetStream context: {}", natsError(j));
      }
    } else {
      failure = natsError(s);
    }
    if (failure.empty()) {
      if (failures > 0) {
        logLine(Level::info, "replication_connect_succeeded",
                {{"after_failures", std::to_string(failures)}});
      }
      failures = 0;
      lastFailure.clear();
      {
        lock.lock();
        current_ = nc;
        currentClosed_ = false;
        std::swap(fresh_, made);  // one never adopted is closed below, outside the lock
        lock.unlock();
      }
      made.reset();
      connectionChanged(true, nc);
      // Closed before it became current_, its closed callback was ignored: do what it would
      // have done (once current_, the callback does it).
      if (natsConnection_IsClosed(nc)) connectionClosed(nc);
      lock.lock();
      continue;
    }
    made.reset();  // a connection without JetStream is closed (none when connecting failed)
    ++failures;
    if (failure != lastFailure || Clock::now() - loggedAt >= kRepeatLog) {
      lastFailure = failure;
      loggedAt = Clock::now();
      logLine(Level::warning, "replication_connect_failed",
              {{"error", failure},
               {"attempts", std::to_string(failures)},
               {"effect", fmt::format("retried every {} ms; checks go on from this replica, "
                                      "mutations are refused",
                                      options_.reconnectWait.count())}});
    }
    lock.lock();
    connectorWake_.wait_for(lock, options_.reconnectWait, [&] { return stopping_; });
  }
}

void Replicator::connectionClosed(void* connection) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || connection != current_) return;  // one this replica replaced or closes
    currentClosed_ = true;
  }
  connectorWake_.notify_all();
  connectionChanged(false, connection);
}

void Replicator::adopt() {
  std::unique_ptr<Nats> made;
  {
    std::lock_guard lock(mutex_);
    made = std::move(fresh_);
  }
  if (!made) return;
  nats_ = std::move(made);  // the one before is closed: its deliveries are of an old generation
  following_ = false;
}

void Replicator::connectionChanged(bool connected, void* connection) {
  auto* nc = static_cast<natsConnection*>(connection);
  bool was = connected_.exchange(connected);
  if (was == connected) return;
  {
    std::lock_guard lock(mutex_);
    disconnectedAt_.reset();
    if (!connected) disconnectedAt_ = Clock::now();
    if (connected) {
      resubscribe_ = true;  // the library would restart an idle ordered consumer from 1
      char url[256] = {};
      // The callback's own connection: nats_ may not be set yet (start() is still connecting).
      if (natsConnection_GetConnectedUrl(nc, url, sizeof url) == NATS_OK) server_ = url;
    }
  }
  logLine(connected ? Level::info : Level::warning,
          connected ? "replication_connected" : "replication_disconnected",
          {{"applied", std::to_string(store_.appliedSequence())},
           {"effect", connected ? "catching up with the log"
                                : "checks go on from this replica; mutations are refused"}});
  if (wake_) wake_();
}

void Replicator::delivered(uint64_t generation, Delivery&& delivery) {
  {
    std::lock_guard lock(mutex_);
    if (generation != generation_) return;
    head_ = std::max(head_, delivery.sequence);
    inbox_.push_back(std::move(delivery));
  }
  deliveredWake_.notify_all();
  if (wake_) wake_();
}

bool Replicator::pending() const {
  std::lock_guard lock(mutex_);
  if (!stopped_.empty()) return false;
  if (!inbox_.empty() || resubscribe_ || fresh_) return true;
  return connected_ && !following_ && Clock::now() >= nextSetUp_;
}

bool Replicator::joining() const {
  std::lock_guard lock(mutex_);
  if (!stopped_.empty()) return false;
  if (connected_) return !following_;
  // A connection lost a moment ago is usually back at once (another server of the cluster).
  return disconnectedAt_ && Clock::now() - *disconnectedAt_ < options_.connectTimeout;
}

bool Replicator::writable(std::string* why) const {
  std::lock_guard lock(mutex_);
  std::string reason;
  if (!stopped_.empty()) {
    reason = fmt::format("this replica stopped following the log: {}", stopped_);
  } else if (!connected_) {
    reason = "this replica cannot reach NATS; mutations are refused until it does";
  } else if (!following_) {
    reason = lastError_.empty() ? "this replica is joining the log"
                                : fmt::format("this replica cannot use the log: {}", lastError_);
  }
  if (why != nullptr) *why = reason;
  return reason.empty();
}

std::optional<Clock::time_point> Replicator::poll() {
  adopt();
  if (!nats_) return std::nullopt;
  Clock::time_point setUpAt;
  {
    std::lock_guard lock(mutex_);
    if (!stopped_.empty()) return std::nullopt;
    if (resubscribe_ && following_) {
      resubscribe_ = false;
      following_ = false;
    }
    setUpAt = nextSetUp_;
  }
  if (!following_) {
    if (!connected_) return std::nullopt;
    if (Clock::now() < setUpAt) return setUpAt;
    if (!setUp()) {
      std::lock_guard lock(mutex_);
      nextSetUp_ = Clock::now() + std::chrono::milliseconds(500);
      return nextSetUp_;
    }
  }
  applyDeliveries();
  return std::nullopt;
}

bool Replicator::setUp() {
  try {
    ensureStream();
    checkGenesis();
    subscribe();
    std::lock_guard lock(mutex_);
    if (!stopped_.empty()) return false;
    following_ = true;
    joinedOnce_ = true;
    lastError_.clear();
    logLine(Level::info, "replication_following",
            {{"stream", options_.stream},
             {"from", std::to_string(store_.appliedSequence() + 1)},
             {"head", std::to_string(head_)}});
    return true;
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    if (!stopped_.empty()) return false;  // said by replication_stopped; not retried
    if (lastError_ != e.what()) {
      logLine(Level::warning, "replication_setup_failed",
              {{"error", e.what()}, {"effect", "retried every 0.5 s"}});
    }
    lastError_ = e.what();
    return false;
  }
}

void Replicator::ensureStream() {
  jsErrCode code = static_cast<jsErrCode>(0);
  jsStreamInfo* raw = nullptr;
  natsStatus s = js_GetStreamInfo(&raw, nats_->js.get(), options_.stream.c_str(), nullptr, &code);
  StreamInfoHandle info(raw);
  if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {options_.subject.c_str()};
    cfg.Name = options_.stream.c_str();
    cfg.Description = "gatehouse: the replicated permission graph (docs/replication.md)";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = options_.replicas;
    cfg.MaxMsgs = cfg.MaxBytes = -1;
    cfg.MaxAge = 0;
    cfg.Duplicates =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.duplicateWindow).count();
    cfg.DenyDelete = cfg.DenyPurge = true;
    cfg.AllowRollup = false;
    s = js_AddStream(&raw, nats_->js.get(), &cfg, nullptr, &code);
    info.reset(raw);
    if (s != NATS_OK && code != JSStreamNameExistErr) {
      throw std::runtime_error(
          fmt::format("cannot create stream {}: {}", options_.stream, natsError(s)));
    }
    if (s != NATS_OK) {  // another replica created it meanwhile
      s = js_GetStreamInfo(&raw, nats_->js.get(), options_.stream.c_str(), nullptr, &code);
      info.reset(raw);
    } else {
      logLine(Level::info, "replication_stream_created",
              {{"stream", options_.stream}, {"replicas", std::to_string(options_.replicas)}});
    }
  }
  if (s != NATS_OK || !info) {
    throw std::runtime_error(fmt::format("stream {}: {}", options_.stream, natsError(s)));
  }
  const jsStreamConfig& c = *info->Config;
  std::vector<std::string> wrong;
  if (c.Storage != js_FileStorage) wrong.push_back("storage is not file");
  if (c.Retention != js_LimitsPolicy) wrong.push_back("retention is not limits");
  if (c.MaxMsgs > 0 || c.MaxBytes > 0 || c.MaxAge > 0 || c.MaxMsgsPerSubject > 0) {
    wrong.push_back("it has a message, byte or age limit (entries would be lost)");
  }
  if (!c.DenyDelete || !c.DenyPurge) wrong.push_back("deletes or purges are allowed");
  if (c.AllowRollup) wrong.push_back("roll-ups are allowed");
  bool subject = false;
  for (int i = 0; i < c.SubjectsLen; ++i) subject = subject || options_.subject == c.Subjects[i];
  if (!subject) wrong.push_back(fmt::format("it does not hold subject {}", options_.subject));
  if (!wrong.empty()) {
    std::string all;
    for (const auto& w : wrong) all += (all.empty() ? "" : "; ") + w;
    throw std::runtime_error(
        fmt::format("stream {} cannot hold the log: {}", options_.stream, all));
  }
  uint64_t last = info->State.LastSeq;
  // Checked when this process first joins the log. Rejoining (a reconnect, a leader change), a
  // cluster in the middle of an election may report a stream state it does not have yet (an
  // empty one was seen): the genesis check below still tells another log apart.
  if (!joinedOnce_ && store_.appliedSequence() > last) {
    // A server that has just come back may answer before it caught up: not a verdict, a retry
    // (a stream that was replaced has another genesis, which checkGenesis refuses).
    throw std::runtime_error(fmt::format(
        "stream {} says it ends at {} but this replica applied {}: waiting for the cluster to "
        "catch up (if it lost entries, this replica cannot follow it)",
        options_.stream, last, store_.appliedSequence()));
  }
  std::lock_guard lock(mutex_);
  head_ = std::max(head_, last);
}

void Replicator::checkGenesis() {
  std::string genesis = fmt::format("{}{}", kGenesisMagic, fingerprint_);
  // An empty stream gets the genesis; of two replicas starting together one wins.
  natsMsg* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&raw, nats_->js.get(), options_.stream.c_str(), 1, nullptr, &code);
  MsgHandle first(raw);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) {
    Outcome o = publish(0, genesis);
    if (o.fate != Fate::stored && o.fate != Fate::conflict) {
      throw std::runtime_error(fmt::format("cannot write the log's genesis: {}", o.why));
    }
    s = js_GetMsg(&raw, nats_->js.get(), options_.stream.c_str(), 1, nullptr, &code);
    first.reset(raw);
  }
  if (s != NATS_OK) {
    throw std::runtime_error(fmt::format("cannot read the log's genesis: {}", natsError(s)));
  }
  std::string_view payload(natsMsg_GetData(first.get()),
                           static_cast<size_t>(natsMsg_GetDataLength(first.get())));
  const char* idRaw = nullptr;
  std::string id;
  if (natsMsgHeader_Get(first.get(), "Nats-Msg-Id", &idRaw) == NATS_OK && idRaw != nullptr) {
    id = idRaw;
  }
  if (!payload.starts_with(kGenesisMagic)) {
    stopFollowing(
        fmt::format("stream {} does not begin with a gatehouse genesis", options_.stream));
    throw std::runtime_error(stopped_);
  }
  if (payload != genesis) {
    stopFollowing(
        "the log was written by replicas with another pepper or TOTP key (its genesis holds "
        "another fingerprint): deploy the same pepper on every replica (docs/replication.md)");
    throw std::runtime_error(stopped_);
  }
  std::string followed = store_.replicationMeta("genesis");
  if (followed.empty()) {
    if (store_.appliedSequence() != 0) {
      stopFollowing("this data directory applied entries of a log it did not record");
      throw std::runtime_error(stopped_);
    }
    if (!store_.holdsNoGraph()) {
      stopFollowing(
          "this data directory holds a graph written outside the log (a standalone store): a "
          "replica starts on an empty data directory and replays the log");
      throw std::runtime_error(stopped_);
    }
    store_.setReplicationMeta("genesis", id);
    store_.setReplicationMeta("stream", options_.stream);
    return;
  }
  if (followed != id) {
    stopFollowing(fmt::format(
        "this data directory followed another log (genesis {}; stream {} begins with {}): a "
        "replica of a new log starts on an empty data directory",
        followed, options_.stream, id));
    throw std::runtime_error(stopped_);
  }
}

void Replicator::subscribe() {
  uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    generation = ++generation_;
    inbox_.clear();
    resubscribe_ = false;
  }
  if (nats_->subscription) {
    natsSubscription_Unsubscribe(nats_->subscription.get());
    nats_->subscription.reset();
  }
  // NATS may still deliver to a subscription being destroyed: its closure lives on.
  closures_.push_back(std::make_unique<std::pair<Replicator*, uint64_t>>(this, generation));
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = options_.stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = store_.appliedSequence() + 1;
  so.Config.Heartbeat = int64_t{1'000'000'000};  // 1 s: a stalled delivery is noticed in 2
  natsSubscription* sub = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_Subscribe(&sub, nats_->js.get(), options_.subject.c_str(), Callbacks::message,
                              closures_.back().get(), nullptr, &so, &code);
  if (s != NATS_OK) {
    throw std::runtime_error(
        fmt::format("cannot follow stream {}: {}", options_.stream, natsError(s)));
  }
  nats_->subscription.reset(sub);
}

void Replicator::applyDeliveries() {
  for (;;) {
    Delivery d;
    {
      std::lock_guard lock(mutex_);
      if (inbox_.empty() || !stopped_.empty()) return;
      d = std::move(inbox_.front());
      inbox_.pop_front();
    }
    uint64_t applied = store_.appliedSequence();
    if (d.sequence <= applied) continue;  // applied already (our own publish, or a replay)
    if (d.sequence != applied + 1) {
      // A gap: entries were lost on the way. Follow again from what is applied.
      logLine(Level::warning, "replication_gap",
              {{"applied", std::to_string(applied)},
               {"delivered", std::to_string(d.sequence)},
               {"effect", "following the log again from the applied sequence"}});
      try {
        subscribe();
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        following_ = false;
        lastError_ = e.what();
      }
      return;
    }
    apply(d);
  }
}

void Replicator::apply(const Delivery& d) {
  try {
    if (std::string_view(d.payload).starts_with(kGenesisMagic)) {
      if (d.sequence != 1) throw store::CorruptBatch("a genesis that is not the first entry");
      store_.applyReplicated(d.sequence, store::encodeBatch(store::kSchemaVersion, {}, {}));
      return;
    }
    if (!std::string_view(d.payload).starts_with(kBatchMagic)) {
      throw store::CorruptBatch("not a gatehouse batch");
    }
    store_.applyReplicated(d.sequence, d.payload);
  } catch (const store::CorruptBatch& e) {
    stopFollowing(fmt::format("entry {} ({}): {}", d.sequence, d.id, e.what()));
  } catch (const std::exception& e) {
    // The store could not write (a full disk): the entry is applied again once it can.
    logLine(Level::error, "replication_apply_failed",
            {{"sequence", std::to_string(d.sequence)},
             {"error", e.what()},
             {"effect", "this replica follows the log again from the applied sequence"}});
    std::lock_guard lock(mutex_);
    following_ = false;
    nextSetUp_ = Clock::now() + std::chrono::seconds(1);
  }
}

void Replicator::stopFollowing(std::string why) {
  {
    std::lock_guard lock(mutex_);
    if (!stopped_.empty()) return;
    stopped_ = std::move(why);
    following_ = false;
    inbox_.clear();
    ++generation_;
  }
  logLine(Level::error, "replication_stopped",
          {{"error", stopped_},
           {"effect",
            "this replica answers checks as of its last applied entry and refuses "
            "mutations"}});
}

bool Replicator::catchUp(uint64_t sequence, Clock::time_point deadline) {
  for (;;) {
    poll();
    if (store_.appliedSequence() >= sequence) return true;
    if (Clock::now() >= deadline || !writable()) return false;
    // Until a delivery, looking again at the connection's state every 50 ms.
    std::unique_lock lock(mutex_);
    deliveredWake_.wait_until(lock,
                              std::min(deadline, Clock::now() + std::chrono::milliseconds(50)),
                              [&] { return !inbox_.empty() || !stopped_.empty(); });
  }
}

std::string Replicator::nextMessageId() { return fmt::format("{}.{}", idPrefix_, ++idCounter_); }

Replicator::Outcome Replicator::publish(uint64_t head, std::string_view batch) {
  Outcome out;
  adopt();
  if (!connected_ || !nats_) {
    out.why = "this replica cannot reach NATS";
    return out;  // unavailable: nothing was sent
  }
  std::string id = nextMessageId();
  auto deadline = Clock::now() + options_.outcomeWait;
  bool sent = false;  // once sent, the batch may be stored even without an acknowledgement
  for (;;) {
    adopt();  // NATS closed the connection and the connector made another: the same batch on it
    natsMsg* raw = nullptr;
    require(natsMsg_Create(&raw, options_.subject.c_str(), nullptr, batch.data(),
                           static_cast<int>(batch.size())),
            "natsMsg_Create");
    MsgHandle msg(raw);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    po.ExpectStream = options_.stream.c_str();
    po.MaxWait = options_.requestTimeout.count();
    if (head > 0) {
      po.ExpectLastSeq = head;
    } else {  // the library sends the expectation only when > 0: the genesis sets it itself
      natsMsgHeader_Set(msg.get(), "Nats-Expected-Last-Sequence", "0");
    }
    jsPubAck* ackRaw = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_PublishMsg(&ackRaw, nats_->js.get(), msg.get(), &po, &code);
    PubAckHandle ack(ackRaw);
    if (s == NATS_OK && ack) {
      std::lock_guard lock(mutex_);
      if (ack->Sequence == head + 1) {
        ++published_;
        head_ = std::max(head_, ack->Sequence);
        out.fate = Fate::stored;
        out.head = ack->Sequence;
        return out;
      }
      // Stored before under this id at another place: CAS makes that impossible; say so.
      out.fate = Fate::unknown;
      out.why = fmt::format("the log holds this batch as {}, expected {}", ack->Sequence, head + 1);
      ++unknownOutcomes_;
      return out;
    }
    if (code == JSStreamWrongLastSequenceErr) {
      uint64_t logHead = headFromError(s);
      if (sent) {
        // Ours may be the entry that moved the head (a late copy of the first send).
        natsMsg* atRaw = nullptr;
        jsErrCode getCode = static_cast<jsErrCode>(0);
        if (js_GetMsg(&atRaw, nats_->js.get(), options_.stream.c_str(), head + 1, nullptr,
                      &getCode) == NATS_OK) {
          MsgHandle at(atRaw);
          const char* atId = nullptr;
          if (natsMsgHeader_Get(at.get(), "Nats-Msg-Id", &atId) == NATS_OK && atId != nullptr &&
              id == atId) {
            std::lock_guard lock(mutex_);
            ++published_;
            out.fate = Fate::stored;
            out.head = head + 1;
            return out;
          }
        } else if (Clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;  // cannot read it now: still unknown
        }
      }
      std::lock_guard lock(mutex_);
      if (head > 0) ++conflicts_;  // not two replicas writing the genesis together
      head_ = std::max(head_, logHead);
      out.fate = Fate::conflict;
      out.head = logHead;
      out.why = "another replica wrote first";
      return out;
    }
    out.why = natsError(s);
    // No stream leader: the message was not taken, and may be sent again. A timeout or a broken
    // connection: it may have been stored. Anything else is a refusal before or by the log
    // (too large for the servers' max_payload, storage full...): it was not stored.
    bool notTaken =
        s == NATS_NO_RESPONDERS ||
        (s == NATS_ERR && (code == JSClusterNotAvailErr || code == JSClusterNotLeaderErr));
    bool maybeStored = s == NATS_TIMEOUT || s == NATS_CONNECTION_CLOSED ||
                       s == NATS_CONNECTION_DISCONNECTED || s == NATS_IO_ERROR ||
                       s == NATS_STALE_CONNECTION;
    if (maybeStored) sent = true;
    if (!notTaken && !maybeStored) {
      if (s == NATS_MAX_PAYLOAD) {
        out.why = fmt::format(
            "the batch ({} bytes) is larger than the NATS servers take (max_payload, {} bytes)",
            batch.size(), natsConnection_GetMaxPayload(nats_->connection.get()));
      }
      if (!sent) {
        out.fate = Fate::unavailable;
        out.why = fmt::format("the log refused the batch: {}", out.why);
        return out;
      }
      break;  // an earlier attempt may still have been stored: unknown
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(notTaken ? 250 : 100));
  }
  std::lock_guard lock(mutex_);
  if (!sent) {
    out.fate = Fate::unavailable;
    out.why = fmt::format("the log did not take the batch: {}", out.why);
    return out;
  }
  ++unknownOutcomes_;
  out.fate = Fate::unknown;
  out.why =
      fmt::format("batch {} was sent, and whether the log stored it is unknown: {}", id, out.why);
  logLine(Level::warning, "replication_outcome_unknown",
          {{"batch", id}, {"after", std::to_string(head)}, {"error", out.why}});
  return out;
}

Replicator::Status Replicator::status() const {
  std::lock_guard lock(mutex_);
  Status s;
  s.connected = connected_;
  s.following = following_ && connected_;
  s.stopped = stopped_;
  s.applied = store_.appliedSequence();
  s.head = std::max(head_, s.applied);
  s.published = published_;
  s.conflicts = conflicts_;
  s.unknownOutcomes = unknownOutcomes_;
  s.server = connected_ ? server_ : std::string();
  return s;
}

}  // namespace gatehouse::replication
