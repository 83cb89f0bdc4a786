#include "scratch.hpp"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "client.hpp"
#include "errors.hpp"
#include "wire_text.hpp"

namespace gatehouse::benchmark {
namespace fs = std::filesystem;
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kStopTimeout = std::chrono::seconds(10);
constexpr size_t kWindow = 256;  // mutations pipelined at once
constexpr uint64_t kPermissionsPerRole = 8;

// A TOML basic string.
std::string tomlString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// The synthetic catalog's i-th name: "routers.read", "sites.write", ..., then "routers1.read".
std::string permissionName(uint64_t i) {
  static constexpr std::array<const char*, 8> kResources = {
      "routers", "sites", "firmware", "configs", "alerts", "users", "roles", "audit"};
  static constexpr std::array<const char*, 8> kActions = {"read",   "write",  "reboot", "delete",
                                                          "create", "manage", "export", "approve"};
  uint64_t round = i / 64;
  return fmt::format("{}{}.{}", kResources[i % 8], round == 0 ? "" : std::to_string(round),
                     kActions[i / 8 % 8]);
}

std::string tail(const fs::path& log) {
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  return all.size() > 2000 ? "..." + all.substr(all.size() - 2000) : all;
}

}  // namespace

fs::path defaultDaemon() {
  std::error_code ec;
  fs::path here = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (const fs::path& candidate : {here / GATEHOUSE_SBINDIR_FROM_BINDIR / "gatehoused",
                                    here / "gatehoused", here / ".." / "daemon" / "gatehoused"}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal();
  }
  throw BenchmarkError(kUsageError,
                       fmt::format("--scratch: no gatehoused beside {} (looked in {}, {} "
                                   "and {}): name it with --daemon PATH",
                                   here.string(), GATEHOUSE_SBINDIR_FROM_BINDIR, ".", "../daemon"));
}

Scratch::Scratch(const ScratchOptions& options) : options_(options) {
  options_.dir = fs::absolute(options_.dir).lexically_normal();
  socket_ = (options_.dir / "gatehouse.sock").string();
}

std::unique_ptr<Scratch> Scratch::create(const ScratchOptions& options) {
  std::unique_ptr<Scratch> scratch(new Scratch(options));
  scratch->makeDirectory();
  scratch->writePepper();
  scratch->writeConfig();
  scratch->start();
  scratch->populate();
  return scratch;
}

Scratch::~Scratch() {
  try {
    finish();
  } catch (const std::exception&) {
    // A destructor reports nothing; finish() is called explicitly when the outcome matters.
  }
}

void Scratch::makeDirectory() {
  const fs::path& dir = options_.dir;
  if (socket_.size() >= sizeof(sockaddr_un::sun_path)) {
    throw BenchmarkError(kUsageError,
                         fmt::format("--scratch {}: the socket path inside it would be "
                                     "longer than {} bytes: choose a shorter path",
                                     dir.string(), sizeof(sockaddr_un::sun_path) - 1));
  }
  std::error_code ec;
  auto status = fs::symlink_status(dir, ec);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) {
      throw BenchmarkError(
          kUsageError, fmt::format("--scratch {}: exists and is not a directory", dir.string()));
    }
    if (!fs::is_empty(dir, ec) || ec) {
      throw BenchmarkError(kUsageError,
                           fmt::format("--scratch {}: exists and is not empty (give a new "
                                       "or empty directory; this one is left as it is)",
                                       dir.string()));
    }
    ::chmod(dir.c_str(), 0700);
  } else if (::mkdir(dir.c_str(), 0700) != 0) {
    throw BenchmarkError(kUsageError,
                         fmt::format("--scratch {}: {}", dir.string(), std::strerror(errno)));
  }
  made_ = true;
}

void Scratch::writePepper() const {
  fs::path path = options_.dir / "pepper";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw BenchmarkError(kScratchError, fmt::format("{}: {}", path.string(), std::strerror(errno)));
  }
  std::array<unsigned char, 32> pepper{};
  randombytes_buf(pepper.data(), pepper.size());
  ssize_t written = ::write(fd, pepper.data(), pepper.size());
  sodium_memzero(pepper.data(), pepper.size());
  ::close(fd);
  if (written != static_cast<ssize_t>(pepper.size())) {
    throw BenchmarkError(kScratchError,
                         fmt::format("{}: could not write the pepper", path.string()));
  }
}

void Scratch::writeConfig() const {
  const fs::path& dir = options_.dir;
  std::ofstream config(dir / "gatehoused.toml");
  config << "# A throwaway gatehoused, started by gatehouse-benchmark --scratch.\n"
         << "[daemon]\nsocket = " << tomlString(socket_) << "\nsocket_mode = \"0600\"\n"
         << "data_dir = " << tomlString((dir / "data").string()) << "\n"
         << "io_threads = " << options_.ioThreads << "\n"
         << "[store]\ndurable = false\n"
         << "[credentials]\npepper_file = " << tomlString((dir / "pepper").string()) << "\n";
  config.close();
  if (!config) {
    throw BenchmarkError(kScratchError,
                         fmt::format("{}: could not write the configuration", dir.string()));
  }
}

void Scratch::start() {
  std::string daemon = options_.daemon.string();
  std::string config = (options_.dir / "gatehoused.toml").string();
  std::string log = (options_.dir / "gatehoused.log").string();
  std::string configFlag = "--config";
  std::vector<char*> argv{daemon.data(), configFlag.data(), config.data(), nullptr};
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw BenchmarkError(kScratchError, fmt::format("fork: {}", std::strerror(errno)));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // no daemon outlives a crashed benchmark
    if (::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);  // the terminal's ^C is the benchmark's to handle, not the daemon's
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      client::Client::connect(socket_);
      return;
    } catch (const client::ClientError&) {
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw BenchmarkError(kScratchError,
                           fmt::format("{} exited during start-up ({}):\n{}", daemon,
                                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, tail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw BenchmarkError(kScratchError, fmt::format("{} did not accept connections within {} s:\n{}",
                                                  daemon, kStartTimeout.count(), tail(log)));
}

void Scratch::populate() {
  const ScratchOptions& o = options_;
  auto client = client::Client::connect(socket_, o.timeout);
  std::mt19937_64 rng(o.seed);
  // Sends `count` mutations, `kWindow` at a time; every answer must be a success. Returns them.
  auto mutate = [&](size_t count, std::string_view what,
                    const std::function<void(size_t, wire::Request::Builder)>& fill) {
    std::vector<client::Answer> all;
    all.reserve(count);
    for (size_t first = 0; first < count; first += kWindow) {
      auto answers =
          client.callMany(std::min(kWindow, count - first),
                          [&](size_t i, wire::Request::Builder r) { fill(first + i, r); });
      for (client::Answer& answer : answers) {
        try {
          client::checkOk(answer);
        } catch (const client::RequestError& e) {
          throw BenchmarkError(kScratchError,
                               fmt::format("populating the graph: {}: {}", what, e.what()));
        }
        all.push_back(std::move(answer));
      }
    }
    return all;
  };
  auto ids = [](const std::vector<client::Answer>& answers) {
    std::vector<uint64_t> out;
    out.reserve(answers.size());
    for (const client::Answer& a : answers) out.push_back(a->getMutation().getId());
    return out;
  };

  std::vector<std::string> names;
  for (uint64_t i = 0; i < o.permissions; ++i) names.push_back(permissionName(i));
  mutate(1, "definePermissions", [&](size_t, wire::Request::Builder r) {
    cli::setTexts(r.initDefinePermissions(static_cast<unsigned>(names.size())), names);
  });
  auto roles = ids(mutate(o.roles, "createRole", [&](size_t i, wire::Request::Builder r) {
    auto role = r.initCreateRole();
    role.setName(fmt::format("role-{}", i + 1));
    std::vector<std::string> held = names;
    std::shuffle(held.begin(), held.end(), rng);
    held.resize(std::min<uint64_t>(kPermissionsPerRole, held.size()));
    cli::setTexts(role.initPermissions(static_cast<unsigned>(held.size())), held);
  }));
  auto companies =
      ids(mutate(o.companies, "createCompany", [&](size_t i, wire::Request::Builder r) {
        r.initCreateCompany().setName(fmt::format("company-{}", i + 1));
      }));
  auto principals =
      ids(mutate(o.principals, "createPrincipal", [&](size_t i, wire::Request::Builder r) {
        if (i < o.serviceAccounts) {
          auto sa = r.initCreateServiceAccount();
          sa.setName(fmt::format("sa-{}", i + 1));
          sa.setOwnerCompany(companies[i % companies.size()]);
          sa.setDescription("gatehouse-benchmark scratch account");
          return;
        }
        r.initCreateUser().setName(fmt::format("user-{}", i + 1));
      }));
  // Each principal's grants in distinct companies: one role (when there are roles) and one direct
  // permission each.
  std::vector<std::pair<uint64_t, uint64_t>> grants;
  std::vector<uint64_t> order = companies;
  for (uint64_t principal : principals) {
    for (uint64_t k = 0; k < o.grants; ++k) {
      std::swap(order[k], order[k + rng() % (order.size() - k)]);
      grants.emplace_back(principal, order[k]);
    }
  }
  mutate(grants.size(), "setGrant", [&](size_t i, wire::Request::Builder r) {
    auto grant = r.initSetGrant();
    grant.setPrincipal(grants[i].first);
    grant.setCompany(grants[i].second);
    grant.initPermissions(1).set(0, cli::toText(names[rng() % names.size()]));
    if (!roles.empty()) grant.initRoles(1).set(0, roles[rng() % roles.size()]);
  });
  auto issued = mutate(o.serviceAccounts, "createKey", [&](size_t i, wire::Request::Builder r) {
    r.initCreateKey().setServiceAccount(principals[i]);
  });
  size_t bytes = 0;
  for (const client::Answer& a : issued) bytes += a->getKeyIssued().getSecret().size();
  keys_.reserve(bytes);
  for (const client::Answer& a : issued) keys_.add(cli::view(a->getKeyIssued().getSecret()));
  if (o.keep) keys_.write(o.dir / "keys");
}

int Scratch::finish() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
    int status = 0;
    pid_t done = 0;
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (done == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      status_ = -1;
    } else {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    pid_ = -1;
  }
  if (made_ && !options_.keep) {
    made_ = false;
    fs::remove_all(options_.dir);
  }
  return status_;
}

}  // namespace gatehouse::benchmark
