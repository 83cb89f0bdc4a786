#include "supervisor.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.hpp"
#include "systemd/systemd.hpp"

namespace gatehouse {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

Supervisor::Supervisor(Readings readings, std::chrono::microseconds watchdog)
    : readings_(std::move(readings)), watchdog_(watchdog) {
  thread_ = std::thread([this] { loop(); });
}

Supervisor::~Supervisor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::string Supervisor::status() const {
  return fmt::format("serving {} connections at revision {}", readings_.connections(),
                     readings_.revision());
}

std::string Supervisor::stuck() const {
  Duration half = watchdog_ / 2;
  if (!readings_.ioResponsive(std::max<Duration>(seconds(3), half))) {
    return "an IO thread has not run its sweep";
  }
  Duration backlog = readings_.writerBacklog();
  if (backlog > std::max<Duration>(seconds(1), half)) {
    return fmt::format("a mutation has waited {} ms for the writer",
                       duration_cast<milliseconds>(backlog).count());
  }
  return {};
}

void Supervisor::loop() {
  // Pings at half the watchdog interval, as systemd advises; the status alone every 5 s.
  Duration tick = watchdog_.count() > 0 ? Duration(watchdog_ / 2) : Duration(seconds(5));
  bool withheld = false;
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, tick, [this] { return stopping_; })) {
    std::string problem = stuck();
    if (problem.empty()) {
      if (withheld) logLine(Level::info, "watchdog_resumed", {});
      withheld = false;
      systemd::notify(watchdog_.count() > 0 ? "WATCHDOG=1\nSTATUS=" + status()
                                            : "STATUS=" + status());
    } else {
      if (!withheld) logLine(Level::warning, "watchdog_withheld", {{"reason", problem}});
      withheld = true;
      systemd::notify("STATUS=stalled: " + problem);
    }
  }
}

}  // namespace gatehouse
