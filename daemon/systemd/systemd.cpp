#include "systemd/systemd.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gatehouse::systemd {

bool managed() { return std::getenv("NOTIFY_SOCKET") != nullptr; }

bool notify(std::string_view state) {
  std::string text(state);
  return sd_notify(0, text.c_str()) > 0;
}

std::chrono::microseconds watchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(usec);
}

int listeningSocket() {
  int count = sd_listen_fds(1);
  if (count < 0) {
    throw std::runtime_error(
        fmt::format("socket activation: sd_listen_fds: {}", std::strerror(-count)));
  }
  if (count == 0) return -1;
  if (count > 1) {
    throw std::runtime_error(fmt::format(
        "socket activation: {} sockets were passed; gatehoused serves exactly one", count));
  }
  int fd = SD_LISTEN_FDS_START;
  if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0) {
    throw std::runtime_error(
        "socket activation: the socket passed is not a listening Unix stream socket "
        "(ListenStream= with a path)");
  }
  return fd;
}

std::string socketPath(int fd) {
  sockaddr_un address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      address.sun_family != AF_UNIX || address.sun_path[0] == '\0') {
    return "?";
  }
  return std::string(address.sun_path, strnlen(address.sun_path, sizeof address.sun_path));
}

}  // namespace gatehouse::systemd
