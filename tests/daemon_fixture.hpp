// End-to-end test support: runs the real gatehoused binary on a temporary directory (socket, data
// and config inside it), and runs the real gatehouse CLI against it.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "client.hpp"
#include "temp_dir.hpp"

namespace gatehouse::testing {

struct Run {
  int status = -1;  // exit code, or -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs `argv` with `input` on standard input; captures both outputs. `environment` ("NAME=value")
// is added to the inherited environment, replacing a variable of the same name.
Run runProcess(const std::vector<std::string>& argv, const std::string& input = "",
               const std::vector<std::string>& environment = {});

// Writes `text` to `path` (replacing it), readable and writable by its owner alone: a secret file
// as the daemon accepts one (a pepper, a password). Throws std::runtime_error when it cannot.
void writePrivateFile(const std::filesystem::path& path, std::string_view text);

// "ASAN_OPTIONS=..." for a child that preloads a library (LD_PRELOAD) ahead of the ASan runtime,
// which otherwise refuses to start: the inherited options plus verify_asan_link_order=0. The check
// guards against a preloaded library that bypasses ASan's interceptors; the test libraries forward
// every call they interpose to the next definition, which is ASan's.
std::string preloadAsanOptions();

// The environment of a daemon run under libgatehouse_stall.so: its fsync and fdatasync (the
// writer's commits) wait while the file `stall` exists (at most a minute each).
std::vector<std::string> stallEnvironment(const std::string& stall);

// The first sample of the daemon's metric `name` (the stats request, over `c`); none when the
// daemon reports no sample of it.
std::optional<double> metric(client::Client& c, std::string_view name);

class Daemon {
 public:
  // `extraToml` is appended to a config that sets the socket and data directory (it may open
  // other sections); `credentialsToml` goes into the [credentials] section, which also sets the
  // pepper file inside the temporary directory unless `credentialsToml` sets `pepper_file`.
  // `environment` ("NAME=value") is added to the inherited environment of every start, replacing a
  // variable of the same name. `launcher`, given the socket's path, returns what comes before the
  // daemon's own command line (e.g. systemd-socket-activate and its options); the pid is then the
  // launcher's, which must exec the daemon in its place.
  using Launcher = std::function<std::vector<std::string>(const std::string& socket)>;
  explicit Daemon(const std::string& extraToml = "", const std::string& credentialsToml = "",
                  std::vector<std::string> environment = {}, Launcher launcher = {});
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts the daemon and returns once it answers a ping (with a launcher: once the socket
  // accepts a connection); throws with its log if it exits or does not serve within 20 s.
  void start();
  // SIGTERM and wait; returns the exit status (-1 when a signal ended the daemon). The destructor
  // stops a running daemon the same way, and fails the test (BOOST_ERROR) unless it exits with 0. A
  // daemon that has not stopped after kStopTimeout is killed, and stop() throws with what its
  // threads were waiting for and its log.
  static constexpr std::chrono::seconds kStopTimeout{120};
  int stop();
  // SIGKILL and wait (for crash-safety tests).
  void kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  std::string socket() const { return (dir_.path() / "gh.sock").string(); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::string log() const;
  // A connection whose sends and answers fail (ClientError) after kAnswerTimeout: a lost answer
  // fails the test that waits for it instead of hanging it.
  static constexpr std::chrono::seconds kAnswerTimeout{120};
  client::Client connect() const { return client::Client::connect(socket(), kAnswerTimeout); }

  // Runs the CLI with --socket set.
  Run cli(std::vector<std::string> args, const std::string& input = "") const;

 private:
  TempDir dir_;
  std::vector<std::string> environment_;
  Launcher launcher_;
  pid_t pid_ = -1;
  int exitStatus_ = 0;  // the wait status of the last stop()
};

}  // namespace gatehouse::testing
