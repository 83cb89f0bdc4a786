#include "credentials/work_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include "common/log.hpp"

namespace gatehouse::credentials {

WorkPool::WorkPool(unsigned threads) {
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

bool WorkPool::submit(std::function<void()> job, Failure onFailure) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  jobs_.push_back(Job{std::move(job), std::move(onFailure)});
  wake_.notify_one();
  return true;
}

void WorkPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkPool::loop() {
  sched_param param{};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) != 0) {
    logLine(Level::warning, "sched_idle_unavailable", {{"pool", "password"}});
  }
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job.run();
    } catch (const std::exception& e) {
      logLine(Level::error, "slow_job_failed", {{"error", e.what()}});
      if (job.onFailure) job.onFailure(e.what());
    } catch (...) {
      logLine(Level::error, "slow_job_failed", {{"error", "unknown exception"}});
      if (job.onFailure) job.onFailure("unknown exception");
    }
  }
}

}  // namespace gatehouse::credentials
