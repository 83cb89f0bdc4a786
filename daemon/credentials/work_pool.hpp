// A small pool of threads for slow work (Argon2id), scheduled SCHED_IDLE so that it only ever
// uses CPU time the IO threads do not want: password checks never delay authorize. Jobs run in
// submission order; `stop` runs what was queued, then joins. A job that throws is logged and its
// `onFailure` is called with the reason, so that whoever waits for it is always told.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace gatehouse::credentials {

class WorkPool {
 public:
  explicit WorkPool(unsigned threads);
  ~WorkPool() { stop(); }
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  using Failure = std::function<void(std::string_view reason)>;
  // False once stopping: the job was not queued. `onFailure` runs (on the pool's thread) when the
  // job throws.
  bool submit(std::function<void()> job, Failure onFailure);
  void stop();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  struct Job {
    std::function<void()> run;
    Failure onFailure;
  };
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gatehouse::credentials
