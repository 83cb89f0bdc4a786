// What gatehoused asks of systemd, through libsystemd: readiness and status notifications, the
// watchdog interval, and socket activation. Outside systemd (no NOTIFY_SOCKET, no WATCHDOG_USEC, no
// LISTEN_FDS in the environment) every call is a no-op or says "none", so the daemon runs the same
// from a shell, under systemd-socket-activate, or as a Type=notify service.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace gatehouse::systemd {

// Whether a service manager listens for notifications (NOTIFY_SOCKET is set).
bool managed();

// Sends `state` ("READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1", several separated by
// newlines) to the service manager when NOTIFY_SOCKET names one; false when it could not be sent.
bool notify(std::string_view state);

// The interval within which the service manager expects WATCHDOG=1 (WATCHDOG_USEC, for this
// process); zero when the watchdog is off.
std::chrono::microseconds watchdogInterval();

// The listening socket passed by the service manager (LISTEN_FDS/LISTEN_PID; the variables are
// then removed from the environment), or -1 when none was. Throws std::runtime_error when it
// passed anything but exactly one listening Unix stream socket.
int listeningSocket();

// The path a Unix socket is bound to, for the log ("?" when it has none).
std::string socketPath(int fd);

}  // namespace gatehouse::systemd
