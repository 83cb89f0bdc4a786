#include "secret_input.hpp"

#include <errno.h>
#include <fmt/format.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>

#include "output.hpp"
#include "session.hpp"

namespace gatehouse::cli {
namespace {

// The signals that end the process while echo is off; each restores the terminal first.
constexpr int kRestoringSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// Process-wide because a signal handler must reach it; set only while an EchoOff lives.
struct SavedTerminal {
  int fd = -1;
  termios settings{};
};
SavedTerminal savedTerminal;

extern "C" void restoreTerminalAndDie(int signal) {
  ::tcsetattr(savedTerminal.fd, TCSAFLUSH, &savedTerminal.settings);
  ::raise(signal);  // Delivered, with the default action (SA_RESETHAND), when the handler returns.
}

// Prompts on stderr and turns echo off while it lives, when `fd` is a terminal; else does
// nothing. The line feed the user types is still echoed (ECHONL), so what follows starts on a
// new line.
class EchoOff {
 public:
  EchoOff(int fd, std::string_view prompt) {
    termios settings{};
    if (!::isatty(fd) || ::tcgetattr(fd, &settings) != 0) return;
    savedTerminal = {fd, settings};
    struct sigaction restore {};
    restore.sa_handler = restoreTerminalAndDie;
    restore.sa_flags = SA_RESETHAND;
    sigemptyset(&restore.sa_mask);
    for (size_t i = 0; i < std::size(kRestoringSignals); ++i) {
      ::sigaction(kRestoringSignals[i], &restore, &previous_[i]);
    }
    fmt::print(stderr, "{}", prompt);
    std::fflush(stderr);
    settings.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    settings.c_lflag |= ECHONL;
    active_ = ::tcsetattr(fd, TCSAFLUSH, &settings) == 0;
    if (!active_) restoreSignals();
  }
  ~EchoOff() {
    if (!active_) return;
    ::tcsetattr(savedTerminal.fd, TCSAFLUSH, &savedTerminal.settings);
    restoreSignals();
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  void restoreSignals() {
    for (size_t i = 0; i < std::size(kRestoringSignals); ++i) {
      ::sigaction(kRestoringSignals[i], &previous_[i], nullptr);
    }
  }

  bool active_ = false;
  struct sigaction previous_[std::size(kRestoringSignals)]{};
};

}  // namespace

Secret::~Secret() { wipe(); }

void Secret::wipe() {
  explicit_bzero(bytes_.data(), bytes_.size());
  size_ = 0;
}

void Secret::readFromStdin(std::string_view what, std::string_view prompt) {
  wipe();
  bool lineFeed = false;
  {
    EchoOff echoOff(STDIN_FILENO, prompt);
    // One byte per read(2): nothing after the line is consumed, and the bytes go straight into
    // bytes_, with no intermediate buffer to wipe.
    while (size_ < bytes_.size()) {
      ssize_t n = ::read(STDIN_FILENO, &bytes_[size_], 1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        throw CommandError(kUsageError,
                           fmt::format("cannot read {} from stdin: {}", what, strerror(errno)));
      }
      if (n == 0) break;
      if (bytes_[size_] == '\n') {
        bytes_[size_] = '\0';
        lineFeed = true;
        break;
      }
      ++size_;
    }
  }
  if (lineFeed && size_ > 0 && bytes_[size_ - 1] == '\r') bytes_[--size_] = '\0';
  if (size_ > kMaxBytes) {
    throw CommandError(kUsageError, fmt::format("{} on stdin is longer than {} bytes (the first "
                                                "line is read, without its line feed)",
                                                what, kMaxBytes));
  }
  if (size_ == 0) {
    throw CommandError(
        kUsageError, lineFeed ? fmt::format("the first line of stdin is empty: expected {}", what)
                              : fmt::format("stdin is empty: expected {} on its first line", what));
  }
  bytes_[size_] = '\0';
}

}  // namespace gatehouse::cli
