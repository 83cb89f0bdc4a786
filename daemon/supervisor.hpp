// The daemon's keeper under systemd (NOTIFY_SOCKET set), on a thread of its own while the server
// runs: it keeps the service manager's STATUS= current (connections, revision) and, when the
// watchdog is on, sends WATCHDOG=1 only while every IO thread and the writer make progress — so
// that systemd restarts a daemon whose writer is wedged (a commit that never returns) or whose IO
// thread is stuck, instead of letting it hang with its socket open.
//
// Healthy means: every IO thread ran its once-a-second sweep within max(3 s, interval / 2), and no
// mutation has waited longer than max(1 s, interval / 2) to be committed (queued or in the batch
// being applied). The same reading is logged on every change (`watchdog_withheld` as a warning,
// `watchdog_resumed`).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace gatehouse {

class Supervisor {
 public:
  using Duration = std::chrono::steady_clock::duration;
  // What the supervisor reads; each must be thread-safe.
  struct Readings {
    std::function<size_t()> connections;
    std::function<uint64_t()> revision;
    std::function<bool(Duration)> ioResponsive;  // every IO thread swept within the duration
    std::function<Duration()> writerBacklog;     // age of the oldest unanswered mutation
  };

  // `watchdog`: the interval systemd expects pings within; zero: status only.
  Supervisor(Readings readings, std::chrono::microseconds watchdog);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // The status line sent as STATUS= (also with READY=1).
  std::string status() const;

 private:
  void loop();
  // Empty when healthy; otherwise what is stuck.
  std::string stuck() const;

  Readings readings_;
  std::chrono::microseconds watchdog_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gatehouse
