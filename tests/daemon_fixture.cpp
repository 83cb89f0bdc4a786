#include "daemon_fixture.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/prctl.h>

#include <boost/test/unit_test.hpp>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

namespace gatehouse::testing {
namespace {

std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::vector<char*> cArgs(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

// The inherited environment with `extra` added; built before fork (the child of a threaded test
// may not allocate).
std::vector<std::string> childEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('=') + 1);  // "NAME="; "" drops it
    if (name.empty()) continue;
    bool replaced = false;
    for (const auto& x : extra) replaced = replaced || x.starts_with(name);
    if (!replaced) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// A wait status as an exit code; -1 when the process did not exit (a signal ended it).
int exitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

int waitFor(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return exitCode(status);
}

// How a process ended, from its wait status.
std::string describeExit(int status) {
  if (WIFSIGNALED(status)) {
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       ::strsignal(WTERMSIG(status)));
  }
  return fmt::format("exited with status {}", exitCode(status));
}

// Each thread of `pid`: its name, its state, where the kernel holds it, and its system call
// (number and arguments, /proc/PID/task/TID/syscall): what a process that does not stop is
// waiting for.
std::string threadStates(pid_t pid) {
  std::string out;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    auto field = [&](const char* name) {
      std::ifstream in(task.path() / name);
      std::string text;
      std::getline(in, text);
      return text;
    };
    std::string stat = field("stat");
    size_t close = stat.rfind(')');
    char state = close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
    out += fmt::format("  {} {} state {} wchan {} syscall {}\n", task.path().filename().string(),
                       field("comm"), state, field("wchan"), field("syscall"));
  }
  return out;
}

}  // namespace

std::string preloadAsanOptions() {
  const char* inherited = std::getenv("ASAN_OPTIONS");
  std::string asan = inherited != nullptr && *inherited != '\0' ? std::string(inherited) + ":" : "";
  return "ASAN_OPTIONS=" + asan + "verify_asan_link_order=0";
}

void writePrivateFile(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

Run runProcess(const std::vector<std::string>& argv, const std::string& input,
               const std::vector<std::string>& environment) {
  char inPath[] = "/tmp/gh-in-XXXXXX", outPath[] = "/tmp/gh-out-XXXXXX",
       errPath[] = "/tmp/gh-err-XXXXXX";
  int in = ::mkstemp(inPath), out = ::mkstemp(outPath), err = ::mkstemp(errPath);
  if (::write(in, input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    throw std::runtime_error("cannot write test input");
  }
  ::lseek(in, 0, SEEK_SET);
  auto args = cArgs(argv);
  auto envStrings = childEnvironment(environment);
  auto env = cArgs(envStrings);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(args[0], args.data(), env.data());
    ::_exit(127);
  }
  Run run;
  run.status = waitFor(pid);
  ::lseek(out, 0, SEEK_SET);
  ::lseek(err, 0, SEEK_SET);
  run.out = readAll(out);
  run.err = readAll(err);
  for (int fd : {in, out, err}) ::close(fd);
  for (const char* p : {inPath, outPath, errPath}) ::unlink(p);
  return run;
}

std::vector<std::string> stallEnvironment(const std::string& stall) {
  return {std::string("LD_PRELOAD=") + GATEHOUSE_STALL_LIBRARY, "GATEHOUSE_STALL_FILE=" + stall,
          preloadAsanOptions()};
}

std::optional<double> metric(client::Client& c, std::string_view name) {
  client::Answer stats = c.call([](wire::Request::Builder r) { r.setStats(); });
  client::checkOk(stats);
  for (auto m : stats->getStats().getMetrics()) {
    if (name == m.getName().cStr() && m.getSamples().size() > 0) {
      return m.getSamples()[0].getValue();
    }
  }
  return std::nullopt;
}

Daemon::Daemon(const std::string& extraToml, const std::string& credentialsToml,
               std::vector<std::string> environment, Launcher launcher)
    : environment_(std::move(environment)), launcher_(std::move(launcher)) {
  std::ofstream config(dir_.path() / "gatehoused.toml");
  config << "[daemon]\nsocket = \"" << socket() << "\"\ndata_dir = \""
         << (dir_.path() / "data").string() << "\"\nio_threads = 2\n";
  config << extraToml << "\n";
  config << "[credentials]\n";
  if (credentialsToml.find("pepper_file") == std::string::npos) {
    config << "pepper_file = \"" << (dir_.path() / "pepper").string() << "\"\n";
  }
  config << credentialsToml << "\n";
  config.close();
  start();
}

Daemon::~Daemon() {
  if (pid_ <= 0) return;
  std::string failure;
  try {
    stop();
    // A daemon that ended on its own during the test — a sanitizer's report, a crash — fails it,
    // even when every check the test made passed.
    if (exitStatus_ != 0) {
      failure = fmt::format("gatehoused {} (a clean stop exits with 0); its log:\n{}",
                            describeExit(exitStatus_), log());
    }
  } catch (const std::exception& e) {
    // A daemon that does not stop is a failure the test must not hide (nor hang on).
    std::fprintf(stderr, "%s\n", e.what());
    std::abort();
  }
  if (!failure.empty()) BOOST_ERROR(failure);
}

void Daemon::start() {
  std::string logPath = (dir_.path() / "daemon.log").string();
  std::vector<std::string> argv;
  if (launcher_) argv = launcher_(socket());
  argv.insert(argv.end(),
              {GATEHOUSE_DAEMON_PATH, "--config", (dir_.path() / "gatehoused.toml").string()});
  auto args = cArgs(argv);
  auto envStrings = childEnvironment(environment_);
  auto env = cArgs(envStrings);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed test leaves no daemon behind
    int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(log, 2);
    ::execve(args[0], args.data(), env.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      client::Client probe = client::Client::connect(socket(), kAnswerTimeout);
      // Serving is what start() waits for: a ping answered (a connection accepted into the
      // backlog can come before the IO threads exist). Not with a launcher: its socket accepts
      // before the daemon runs, and socket activation may start it late on purpose.
      if (!launcher_) probe.call([](wire::Request::Builder r) { r.setPing(); });
      return;
    } catch (const client::ClientError&) {
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("gatehoused exited during start-up:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("gatehoused did not serve within 20 s:\n" + log());
}

int Daemon::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (done < 0 && errno != EINTR) {  // not ours to wait for (reaped elsewhere)
      pid_ = -1;
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string threads = threadStates(pid_);
      kill();
      throw std::runtime_error(fmt::format(
          "gatehoused did not stop within {} s of SIGTERM; its threads then:\n{}\nits log:\n{}",
          kStopTimeout.count(), threads, log()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
  exitStatus_ = status;
  return exitCode(status);
}

void Daemon::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitFor(pid_);
  pid_ = -1;
}

std::string Daemon::log() const {
  std::ifstream in(dir_.path() / "daemon.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Run Daemon::cli(std::vector<std::string> args, const std::string& input) const {
  args.insert(args.begin(), {GATEHOUSE_CLI_PATH, "--socket", socket()});
  return runProcess(args, input);
}

}  // namespace gatehouse::testing
