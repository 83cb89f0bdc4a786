// A small pool of threads for slow work (Argon2id), scheduled SCHED_IDLE so that it only ever
// uses CPU time the IO threads do not want: password checks never delay authorize. Jobs run in
// submission order; `stop` runs what was queued, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gatehouse::credentials {

class WorkPool {
 public:
  explicit WorkPool(unsigned threads);
  ~WorkPool() { stop(); }
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // False once stopping: the job was not queued.
  bool submit(std::function<void()> job);
  void stop();

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gatehouse::credentials
