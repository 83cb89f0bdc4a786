#include "nats_cluster.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

namespace gatehouse::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Where Debian's nats-server unit listens on a real host; a test never uses it.
constexpr uint16_t kSystemNatsPort = 4222;
constexpr auto kStartDeadline = std::chrono::seconds(30);
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr auto kPollInterval = milliseconds(50);
constexpr time_t kHttpTimeoutSeconds = 1;
constexpr size_t kLogTailLines = 40;

std::system_error systemError(std::string_view what) {
  return std::system_error(errno, std::generic_category(), std::string(what));
}

// A file descriptor closed on destruction.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

// `count` distinct free TCP ports on 127.0.0.1, never 4222: each is bound (port 0) and stays bound
// until all are chosen, so the kernel cannot hand out one twice.
std::vector<uint16_t> freeLoopbackPorts(size_t count) {
  std::vector<Fd> bound;
  std::vector<uint16_t> ports;
  while (ports.size() < count) {
    Fd& fd = bound.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw systemError("socket");
    sockaddr_in address = loopback(0);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw systemError("bind 127.0.0.1:0");
    }
    socklen_t length = sizeof address;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw systemError("getsockname");
    }
    uint16_t port = ntohs(address.sin_port);
    if (port != kSystemNatsPort) ports.push_back(port);  // 4222 stays bound: never picked again
  }
  return ports;
}

struct HttpAnswer {
  int status = 0;    // 0: no HTTP answer at all
  std::string text;  // the body, or why there was no answer
};

// GET `target` from 127.0.0.1:`port` over HTTP/1.0 (the server closes after answering), each
// socket operation bounded by kHttpTimeoutSeconds.
HttpAnswer httpGet(uint16_t port, std::string_view target) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw systemError("socket");
  timeval timeout{kHttpTimeoutSeconds, 0};
  for (int option : {SO_RCVTIMEO, SO_SNDTIMEO}) {
    if (::setsockopt(fd.get(), SOL_SOCKET, option, &timeout, sizeof timeout) != 0) {
      throw systemError("setsockopt");
    }
  }
  sockaddr_in address = loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return {0, std::string("connect: ") + std::strerror(errno)};
  }
  std::string request = "GET " + std::string(target) + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) return {0, std::string("send: ") + std::strerror(errno)};
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[4096];
  while (response.size() < 65536) {
    ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n == 0) break;
    if (n < 0) return {0, std::string("recv: ") + std::strerror(errno)};
    response.append(buffer, static_cast<size_t>(n));
  }
  // "HTTP/1.x NNN reason\r\n"
  if (!response.starts_with("HTTP/1.") || response.size() < 12 || response[8] != ' ') {
    return {0, "not an HTTP answer: " + response.substr(0, 200)};
  }
  HttpAnswer answer;
  answer.status = std::atoi(response.c_str() + 9);
  size_t body = response.find("\r\n\r\n");
  if (body != std::string::npos) answer.text = response.substr(body + 4);
  return answer;
}

std::string describe(const HttpAnswer& answer) {
  if (answer.status == 0) return answer.text;
  return "HTTP " + std::to_string(answer.status) + " " + answer.text;
}

// Whether the child `pid` has exited, without reaping it (so that its pid stays ours); `how` then
// says how.
bool exited(pid_t pid, std::string& how) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    how = "is gone (already reaped)";
    return true;
  }
  if (info.si_pid == 0) return false;
  how = info.si_code == CLD_EXITED ? "exited with status " + std::to_string(info.si_status)
                                   : "was killed by signal " + std::to_string(info.si_status);
  return true;
}

// Reaps the child `pid` when it exits within `timeout`; whether it did.
bool reapWithin(pid_t pid, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t reaped = ::waitpid(pid, &status, WNOHANG);
    if (reaped == pid || (reaped < 0 && errno == ECHILD)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// The last kLogTailLines lines of `log`, without the server's "Healthcheck failed" warnings, which
// every poll of a node that is not healthy yet adds (the last answer is reported separately).
std::string tail(const std::string& log) {
  std::deque<std::string_view> lines;
  size_t skipped = 0;
  std::string_view rest = log;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.find("Healthcheck failed") != std::string_view::npos) {
      ++skipped;
      continue;
    }
    lines.push_back(line);
    if (lines.size() > kLogTailLines) lines.pop_front();
  }
  std::string out =
      "--- log tail (" + std::to_string(skipped) + " health-check warnings left out)\n";
  for (std::string_view line : lines) out.append(line).append("\n");
  return out;
}

// Starts nats-server with `config`, its log, standard output and standard error appended to
// `logFile`. Everything the child needs is built before fork: the test may have threads (nats.c's),
// so the child only makes system calls until exec.
pid_t spawnServer(const std::filesystem::path& config, const std::filesystem::path& logFile) {
  std::vector<std::string> argv{GATEHOUSE_NATS_SERVER_PATH, "-c", config.string(), "-l",
                                logFile.string()};
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  Fd input(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (input.get() < 0) throw systemError("open /dev/null");
  Fd output(::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (output.get() < 0) throw systemError("open " + logFile.string());
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw systemError("fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed test leaves no server behind
    if (::getppid() != parent) ::_exit(127);
    ::dup2(input.get(), 0);
    ::dup2(output.get(), 1);
    ::dup2(output.get(), 2);
    ::close_range(3, ~0U, 0);  // not the test's client connections, nor its other servers' files
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

NatsCluster::NatsCluster(size_t nodes) : NatsCluster(nodes, Security{}) {}

NatsCluster::NatsCluster(size_t nodes, Security security) : security_(std::move(security)) {
  if (nodes == 0) throw std::invalid_argument("NatsCluster: at least one node");
  checkSecurity(security_);
  std::vector<uint16_t> ports = freeLoopbackPorts(3 * nodes);
  for (size_t i = 0; i < nodes; ++i) {
    Node& n = nodes_.emplace_back();
    n.name = std::to_string(i).insert(0, 1, 'n');  // not "n" + ...: GCC 12's false -Wrestrict
    n.clientPort = ports[3 * i];
    n.clusterPort = ports[3 * i + 1];
    n.httpPort = ports[3 * i + 2];
    std::filesystem::create_directory(dir_.path() / n.name);
    n.config = dir_.path() / n.name / "nats.conf";
    n.logFile = dir_.path() / n.name / "nats.log";
  }
  for (const Node& n : nodes_) writeConfig(n);
  try {
    for (size_t i = 0; i < nodes; ++i) start(i);
    auto deadline = Clock::now() + kStartDeadline;
    for (size_t i = 0; i < nodes; ++i) {
      auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
      waitHealthy(i, std::chrono::duration_cast<milliseconds>(left));
    }
  } catch (...) {
    stopAll();
    throw;
  }
}

NatsCluster::~NatsCluster() { stopAll(); }

void NatsCluster::checkSecurity(const Security& security) {
  if (!security.user.empty() && security.jwt != nullptr) {
    throw std::invalid_argument("NatsCluster: a user or JWTs, not both");
  }
}

void NatsCluster::setSecurity(Security security) {
  checkSecurity(security);
  security_ = std::move(security);
  for (const Node& n : nodes_) writeConfig(n);
}

void NatsCluster::writeConfig(const Node& n) const {
  std::ofstream config(n.config);
  config << "# " << n.name << " of a gatehouse test cluster (tests/nats_cluster.cpp)\n"
         << "server_name: " << n.name << "\n"
         << "listen: 127.0.0.1:" << n.clientPort << "\n"
         << "http: 127.0.0.1:" << n.httpPort << "\n"
         << "jetstream {\n"
         << "  store_dir: \"" << (dir_.path() / n.name / "store").string() << "\"\n"
         << "  max_mem_store: 64MB\n"
         << "  max_file_store: 1GB\n"
         << "}\n";
  if (!security_.user.empty()) {
    config << "authorization {\n  users: [ { user: \"" << security_.user << "\", password: \""
           << security_.password << "\" } ]\n}\n";
  }
  if (const JwtAuth* jwt = security_.jwt) {
    config << "operator: \"" << jwt->operatorJwtFile.string() << "\"\n"
           << "system_account: " << jwt->systemAccount << "\n"
           << "resolver: MEMORY\n"
           << "resolver_preload: {\n";
    for (const auto& [account, token] : jwt->accounts) {
      config << "  " << account << ": \"" << token << "\"\n";
    }
    config << "}\n";
  }
  if (const TlsFiles* tls = security_.tls) {
    config << "tls {\n"
           << "  cert_file: \"" << tls->serverCert.string() << "\"\n"
           << "  key_file: \"" << tls->serverKey.string() << "\"\n"
           << "  ca_file: \"" << tls->caCert.string() << "\"\n"
           << "  verify: true\n"
           << "}\n";
  }
  // One node runs JetStream on its own: a cluster of one would wait for peers that never come.
  if (nodes_.size() > 1) {
    // Every route, the node's own included: the initial size of the meta group is their number.
    config << "cluster {\n"
           << "  name: gatehouse-test\n"
           << "  listen: 127.0.0.1:" << n.clusterPort << "\n"
           << "  routes: [\n";
    for (const Node& peer : nodes_) {
      config << "    nats-route://127.0.0.1:" << peer.clusterPort << "\n";
    }
    config << "  ]\n}\n";
  }
  config.close();
  if (!config) throw std::runtime_error("cannot write " + n.config.string());
}

const NatsCluster::Node& NatsCluster::node(size_t index) const {
  if (index >= nodes_.size()) {
    throw std::out_of_range("NatsCluster: node " + std::to_string(index) + " of " +
                            std::to_string(nodes_.size()));
  }
  return nodes_[index];
}

NatsCluster::Node& NatsCluster::node(size_t index) {
  return const_cast<Node&>(std::as_const(*this).node(index));
}

std::string NatsCluster::url(size_t index) const {
  return (security_.tls != nullptr ? "tls://127.0.0.1:" : "nats://127.0.0.1:") +
         std::to_string(node(index).clientPort);
}

std::vector<std::string> NatsCluster::urls() const {
  std::vector<std::string> all;
  for (size_t i = 0; i < nodes_.size(); ++i) all.push_back(url(i));
  return all;
}

std::string NatsCluster::name(size_t index) const { return node(index).name; }

pid_t NatsCluster::pid(size_t index) const { return node(index).pid; }

bool NatsCluster::running(size_t index) const {
  const Node& n = node(index);
  std::string how;
  return n.pid > 0 && !exited(n.pid, how);
}

void NatsCluster::kill(size_t index) {
  Node& n = node(index);
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  reap(n.pid);
  n.pid = -1;
}

void NatsCluster::stop(size_t index) {
  Node& n = node(index);
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGTERM);
  if (!reapWithin(n.pid, kStopGrace)) {
    ::kill(n.pid, SIGKILL);
    reap(n.pid);
  }
  n.pid = -1;
}

void NatsCluster::stopAll() {
  for (const Node& n : nodes_) {
    if (n.pid > 0) ::kill(n.pid, SIGTERM);
  }
  auto deadline = Clock::now() + kStopGrace;
  for (Node& n : nodes_) {
    if (n.pid <= 0) continue;
    if (!reapWithin(n.pid, std::max(Clock::duration::zero(), deadline - Clock::now()))) {
      ::kill(n.pid, SIGKILL);
      reap(n.pid);
    }
    n.pid = -1;
  }
}

void NatsCluster::start(size_t index) {
  Node& n = node(index);
  if (n.pid > 0) {
    if (running(index)) throw std::logic_error("NatsCluster: " + n.name + " is running");
    reap(n.pid);  // it died on its own
    n.pid = -1;
  }
  n.pid = spawnServer(n.config, n.logFile);
}

void NatsCluster::waitHealthy(size_t index, milliseconds deadline, bool full) const {
  const Node& n = node(index);
  const std::string target = full ? "/healthz" : "/healthz?js-server-only=true";
  auto until = Clock::now() + deadline;
  for (;;) {
    if (n.pid <= 0) throw std::runtime_error("NatsCluster: " + n.name + " is not running");
    HttpAnswer answer = httpGet(n.httpPort, target);
    if (answer.status == 200) return;
    std::string how;
    bool gone = exited(n.pid, how);
    if (gone || Clock::now() >= until) {
      std::ostringstream error;
      error << "nats-server " << n.name << " ";
      if (gone) {
        error << how << " before answering 200 on " << target;
      } else {
        error << "did not answer 200 on " << target << " within " << deadline.count() << " ms";
      }
      error << "; last answer: " << describe(answer) << "\n" << tail(log(index));
      throw std::runtime_error(error.str());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string NatsCluster::log(size_t index) const {
  std::ifstream in(node(index).logFile);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace gatehouse::testing
