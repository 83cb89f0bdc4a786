// One replica of the replicated log in NATS JetStream (docs/replication.md, DESIGN §7).
//
// The log is one stream; each message is one batch of the store's journal (store/journal.hpp),
// except the first, the genesis, which carries the fingerprint of the pepper and the TOTP sealing
// key every replica must share. A replica:
//   - connects in the background and keeps reconnecting, also when NATS closed a connection for
//     good (an authorization error twice in a row), and logs why an attempt failed (a replica cut
//     off from NATS keeps serving checks from its store; its mutations are refused);
//   - once connected, makes sure the stream exists with settings it can rely on (file storage, no
//     limits, deletes and purges denied), writes the genesis when the stream is empty, and
//     refuses to follow a log whose genesis differs from its own or from the one it followed;
//   - follows the stream from its last applied sequence with an ordered consumer, applying each
//     batch in one transaction that records its sequence (Store::applyReplicated): exactly once,
//     in order, across crashes;
//   - publishes its writer's batches with an expected last sequence (Replicator::publish), so a
//     batch is stored only on top of the head it was validated against.
// A replica that finds the log unusable (a genesis of another pepper, a batch it cannot apply)
// stops following it and says why (`Status::stopped`); it keeps answering checks.
//
// Threading: `poll`, `publish` and `catchUp` run on the writer thread (they apply batches, and
// only the writer writes; it alone uses the connection it adopted); `status` from any thread. The
// connector thread makes connections and hands them to the writer. NATS's callbacks run on its
// own threads and only queue deliveries, set flags and call the `wake` given to start().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "replication/options.hpp"
#include "store/store.hpp"

namespace gatehouse::replication {

class Replicator {
 public:
  // `fingerprint`: of the secrets every replica must share (e.g. a keyed hash under the pepper;
  // never the secret). Reads the credential files; throws std::runtime_error naming a file that
  // cannot be used.
  Replicator(store::Store& store, const ReplicationOptions& options, std::string fingerprint);
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // Starts connecting in the background (the connector thread); `wake` is called (from NATS's
  // threads and the connector) when the writer has work here: deliveries to apply, a connection to
  // set up. Throws on options NATS refuses.
  void start(std::function<void()> wake);
  // Stops the connector (which may first finish an attempt under way: up to connect_timeout_ms
  // per server) and closes the connection (deliveries stop); the store stays as applied.
  void stop();

  // Writer thread: when connected and not yet following, sets up the stream, the genesis and the
  // subscription; then applies every batch delivered in order. Answers when it wants to be called
  // again at the latest (a retry after a failed setup), or nullopt.
  std::optional<std::chrono::steady_clock::time_point> poll();
  // Whether poll() has work now (deliveries, a set-up due); any thread.
  bool pending() const;
  // Not stopped and about to follow the log: connected and setting it up again, or disconnected
  // (or started) less than replication.connect_timeout_ms ago (a mutation waits for that, not
  // longer).
  bool joining() const;
  // Whether mutations can be published now; `why` says what stops them.
  bool writable(std::string* why = nullptr) const;

  // Writer thread: publishes `batch` as the entry after `head` (this store's applied sequence)
  // and learns its fate, within the outcome deadline:
  //   stored      the log holds it as head + 1 (commit it locally)
  //   conflict    another replica's batch is head + 1 (`head` says the log's head when known:
  //               catch up, validate again)
  //   unavailable the log did not take it (no leader, not connected): it never will
  //   unknown     sent, and whether it was stored is still unknown at the deadline
  enum class Fate { stored, conflict, unavailable, unknown };
  struct Outcome {
    Fate fate = Fate::unavailable;
    uint64_t head = 0;
    std::string why;
  };
  Outcome publish(uint64_t head, std::string_view batch);
  // Writer thread: applies deliveries until the store has applied `sequence` or `deadline` passes
  // (waiting for deliveries in between); answers whether it got there.
  bool catchUp(uint64_t sequence, std::chrono::steady_clock::time_point deadline);

  const ReplicationOptions& options() const { return options_; }

  struct Status {
    bool connected = false;
    bool following = false;  // the stream is set up and this replica subscribed to it
    std::string stopped;     // why this replica stopped following the log; empty while it does
    uint64_t applied = 0;    // the last sequence applied here
    uint64_t head = 0;       // the log's last sequence as last heard of (0: not yet)
    uint64_t published = 0;  // batches this replica's writer published
    uint64_t conflicts = 0;  // publishes refused because another replica wrote first
    uint64_t unknownOutcomes = 0;
    std::string server;  // the URL connected to
  };
  Status status() const;

 private:
  struct Nats;         // the nats.c handles of one connection (replicator.cpp)
  struct NatsOptions;  // the nats.c options every connection is made with
  struct Delivery {
    uint64_t generation = 0;
    uint64_t sequence = 0;
    std::string id;
    std::string payload;
  };

  // NATS's callbacks (replicator.cpp), on its threads.
  friend struct Callbacks;
  void delivered(uint64_t generation, Delivery&& delivery);
  // `connection`: the callback's natsConnection (opaque here, so that nats.h stays out of this
  // header).
  void connectionChanged(bool connected, void* connection);
  // NATS closed `connection` for good: the connector makes another unless it is an old one.
  void connectionClosed(void* connection);
  // The connector thread.
  void connectLoop();
  // Writer thread: takes over the connection the connector made last, if it has not yet.
  void adopt();

  // Writer thread.
  bool setUp();  // stream, genesis, subscription; false (and lastError_) when not yet
  void ensureStream();
  void checkGenesis();
  void subscribe();
  void applyDeliveries();
  void apply(const Delivery& delivery);
  void stopFollowing(std::string why);
  std::string nextMessageId();

  store::Store& store_;
  ReplicationOptions options_;
  std::string fingerprint_;
  std::string password_;  // wiped on destruction
  std::string idPrefix_;  // name.random: unique per process start
  uint64_t idCounter_ = 0;
  std::vector<std::unique_ptr<std::pair<Replicator*, uint64_t>>> closures_;  // outlive nats_
  std::unique_ptr<NatsOptions> natsOptions_;
  std::unique_ptr<Nats> nats_;  // writer thread: the adopted connection
  std::function<void()> wake_;
  std::thread connector_;

  mutable std::mutex mutex_;  // guards what NATS's threads and the connector share with the writer
  std::condition_variable connectorWake_;  // stop, or the current connection closed
  std::condition_variable deliveredWake_;  // a delivery came (catchUp waits for it)
  bool stopping_ = false;
  void* current_ = nullptr;      // the newest connection made (a natsConnection)
  bool currentClosed_ = false;   // NATS closed it for good
  std::unique_ptr<Nats> fresh_;  // made by the connector, not yet adopted by the writer
  std::deque<Delivery> inbox_;
  uint64_t generation_ = 0;   // of the current subscription; older deliveries are dropped
  bool resubscribe_ = false;  // reconnected: follow again from the applied sequence
  std::string stopped_;
  std::string lastError_;
  std::string server_;
  uint64_t head_ = 0;
  uint64_t published_ = 0;
  uint64_t conflicts_ = 0;
  uint64_t unknownOutcomes_ = 0;
  std::atomic<bool> connected_{false};
  std::atomic<bool> following_{false};                 // set by the writer thread
  bool joinedOnce_ = false;                            // writer thread: set up once in this process
  std::chrono::steady_clock::time_point nextSetUp_{};  // under mutex_
  std::optional<std::chrono::steady_clock::time_point> disconnectedAt_;  // under mutex_
};

}  // namespace gatehouse::replication
