// Online backup: a consistent, compacted copy of the store written into a file the client opened
// and sent with its request (the descriptor arrives over the socket, so the daemon needs no
// access to the file's path). One backup at a time, on a thread of its own, while checks and
// mutations go on.
//
// How the copy gets a known revision without holding up the writer: a job between two group
// commits (Committer::between) reads the revision and starts the copy (store::Store::
// copyCompacted) into a pipe, and returns once the first bytes come out of it — by then the
// copy's read transaction has begun, at that revision. The backup thread relays the pipe into
// the client's file, counting bytes, then syncs the file and answers.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "protocol/handler.hpp"
#include "service/committer.hpp"
#include "store/store.hpp"

namespace gatehouse::service {

class Backups {
 public:
  Backups(store::Store& store, Committer& committer) : store_(store), committer_(committer) {}
  ~Backups() { stop(); }
  Backups(const Backups&) = delete;
  Backups& operator=(const Backups&) = delete;

  // Why a backup could not start: `invalidArgument` (`fd` is not a regular file open for
  // writing) or `overloaded` (another backup runs, or the daemon is stopping).
  struct Refused {
    wire::ErrorCode code;
    std::string message;
  };
  // Starts a backup into `fd` (taken: closed when done) for the request `id`; `sink` receives
  // the answer. When it cannot start, closes `fd` and says why.
  std::optional<Refused> start(uint64_t id, int fd, std::shared_ptr<protocol::AnswerSink> sink,
                               const protocol::Peer& peer);
  // Waits for the running backup (it is answered).
  void stop();

 private:
  void run(uint64_t id, int fd, const std::shared_ptr<protocol::AnswerSink>& sink,
           protocol::Peer peer);

  store::Store& store_;
  Committer& committer_;
  std::mutex mutex_;
  bool stopping_ = false;
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace gatehouse::service
