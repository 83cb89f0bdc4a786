// gatehouse-bench: a closed-loop load generator over a Unix socket, for gatehoused, the echo floor
// (bench/echo_server.cpp: gatehouse's own server with a fixed answer), the raw floor
// (bench/raw_echo.c: a C epoll echo of 64-byte messages, nothing of gatehouse's) and Redis
// (SISMEMBER through hiredis), on the same graph and lookups.
//
//   gatehouse-bench --target gatehouse|echo|raw|redis --socket PATH
//                   [--mode pingpong|pipelined|concurrent]
//                   [--workload authorize|batch16|access|write]
//                   [--requests N] [--seconds S] [--warmup N]
//   gatehouse-bench --compare gatehouse=PATH,echo=PATH,redis=PATH [--block N] ...
//                   the same, for several targets in one process: each warmed up, then blocks of
//                   N requests (default 1000) to each in turn; one JSON line per target
//   --label TEXT    the workload's name in the output (to tell configurations apart)
//   gatehouse-bench --make-graph        generate the benchmark graph (bench/graph.hpp) and exit
//   gatehouse-bench --load-redis PATH   put the graph's effective permissions into Redis as sets
//   gatehouse-bench --dump-lookups      print the authorize lookups the requests cycle through, one
//                                       "principal company permission" a line (for bench/node)
//
// Modes: pingpong = 1 connection x 1 in flight; pipelined = 1 x 64; concurrent = 4 x 64. Each run
// is bounded by a request count and a duration, whichever ends first. Prints one JSON object:
// latency percentiles (microseconds, from a request's send to its answer) and throughput.
//
// Workloads: authorize (one check a request), batch16 (authorizeBatch of 16), access (checkAccess
// with a service account's API key: key verification + check), write (createCompany). Against
// Redis, authorize is SISMEMBER and access is one Lua script (HGET of the key's hash, then
// SISMEMBER) whose key hash the client computes outside the timed path: a baseline that favours
// Redis. Before measuring, each connection sends --warmup requests (default: a tenth of its share,
// none for write) whose answers are not counted, so every target is measured warm. On a noisy
// machine the one-connection modes are best compared with --compare: the machine's drift during
// the run then falls on every target alike.
//
// The connection loop, the frames and the start of connections together are the load library's
// (clients/benchmark/load.hpp), shared with the operators' load generator, gatehouse-benchmark.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>

#include "credentials/api_key.hpp"
#include "credentials/pepper.hpp"
#include "gatehouse.capnp.h"
#include "graph.hpp"
#include "load.hpp"
#include "unix_socket.hpp"

using namespace gatehouse;
using load::Clock;

namespace {

struct Options {
  std::string target = "gatehouse";
  std::string socket;
  std::string mode = "pingpong";
  std::string workload = "authorize";
  uint64_t requests = 200000;
  double seconds = 10;
  std::optional<uint64_t> warmup;  // per connection
  std::string compare;             // name=socket,...: interleaved runs of several targets
  uint64_t block = 1000;           // requests per target per turn with --compare
  std::string label;               // the workload's name in the output (default: --workload)
};

load::Shape shapeOf(const std::string& mode) {
  if (auto shape = load::modeShape(mode)) return *shape;
  throw std::runtime_error("unknown mode " + mode);
}

// Pre-encoded request frames: frame i has id i. Ids are reused cyclically; at most 64 are in
// flight per connection, far fewer than frames. The write workload creates companies with names
// unique to this process.
load::Frames encodeFrames(const std::vector<bench::Lookup>& lookups,
                          const std::vector<bench::AccessLookup>& access,
                          const std::string& workload) {
  bool batch16 = workload == "batch16";
  auto fill = [&](wire::AuthorizeQuery::Builder q, const bench::Lookup& l) {
    q.setPrincipal(l.principal);
    q.setCompany(l.company);
    q.setPermission(l.permission);
  };
  return load::Frames([&](size_t i, wire::Request::Builder r) {
    if (workload == "write") {
      r.initCreateCompany().setName(fmt::format("bench-{}-{}", ::getpid(), i));
    } else if (workload == "access") {
      const bench::AccessLookup& l = access[i % access.size()];
      auto q = r.initCheckAccess();
      q.setCredential(l.key);
      q.setCompany(l.company);
      q.setPermission(l.permission);
    } else if (batch16) {
      auto items = r.initAuthorizeBatch(16);
      for (unsigned k = 0; k < 16; ++k) fill(items[k], lookups[(i * 16 + k) % lookups.size()]);
    } else {
      fill(r.initAuthorize(), lookups[i % lookups.size()]);
    }
  });
}

struct Result {
  std::vector<double> latenciesUs;
  uint64_t completed = 0;
  double seconds = 0;  // time spent measuring this target
};

constexpr size_t kFrames = load::Frames::kCount;

// Appends request number `i` to a Redis connection's output.
using RedisAppend = std::function<void(redisContext*, uint64_t)>;

redisContext* connectRedis(const std::string& socket) {
  redisContext* c = redisConnectUnix(socket.c_str());
  if (c == nullptr || c->err) throw std::runtime_error("cannot connect to redis at " + socket);
  return c;
}

std::string hex(const credentials::Digest& d) { return fmt::format("{:02x}", fmt::join(d, "")); }

// The access workload's hand-rolled equivalent: the key's hash names its account, then the set.
constexpr const char* kAccessScript =
    "local p = redis.call('HGET', 'keys', ARGV[1]) "
    "if not p then return -1 end "
    "return redis.call('SISMEMBER', 'g:' .. p .. ':' .. ARGV[2], ARGV[3])";

// What each Redis request of `workload` sends. For access, each key's hash is computed here, once:
// the client's hashing is not measured (the daemon's is).
RedisAppend redisRequests(const std::string& workload, const std::string& socket,
                          const std::vector<bench::Lookup>& lookups,
                          const std::vector<bench::AccessLookup>& access) {
  if (workload == "authorize") {
    return [&lookups](redisContext* c, uint64_t i) {
      const bench::Lookup& l = lookups[i % lookups.size()];
      redisAppendCommand(c, "SISMEMBER g:%llu:%llu %s", (unsigned long long)l.principal,
                         (unsigned long long)l.company, l.permission.c_str());
    };
  }
  auto pepper = credentials::Pepper::loadOrCreate(bench::pepperPath(bench::graphDir()));
  auto hashes = std::make_shared<std::vector<std::string>>();
  for (const auto& l : access) {
    credentials::ParsedKey key;
    if (!credentials::parseApiKey(l.key, key)) throw std::runtime_error("bad benchmark key");
    hashes->push_back(hex(pepper.keyedHash(key.secret.data(), key.secret.size())));
  }
  redisContext* c = connectRedis(socket);
  auto* reply = static_cast<redisReply*>(redisCommand(c, "SCRIPT LOAD %s", kAccessScript));
  if (reply == nullptr || reply->type != REDIS_REPLY_STRING) {
    throw std::runtime_error("redis: SCRIPT LOAD failed");
  }
  std::string sha = reply->str;
  freeReplyObject(reply);
  redisFree(c);
  return [&access, hashes, sha](redisContext* c, uint64_t i) {
    const bench::AccessLookup& l = access[i % access.size()];
    redisAppendCommand(c, "EVALSHA %s 0 %s %llu %s", sha.c_str(),
                       (*hashes)[i % access.size()].c_str(), (unsigned long long)l.company,
                       l.permission.c_str());
  };
}

// Targets are named by kind, optionally with a suffix to tell two of a kind apart in --compare
// (gatehouse-a=PATH,gatehouse-b=PATH).
bool isRedis(const std::string& target) { return target.starts_with("redis"); }
// The kernel's floor (bench/raw_echo.c): fixed 64-byte messages echoed back, no Cap'n Proto.
bool isRaw(const std::string& target) { return target.starts_with("raw"); }
constexpr size_t kRawMessage = 64;

// What every connection of a run sends: encoded frames (gatehoused and the floor) or Redis
// commands.
struct Workload {
  std::optional<load::Frames> frames;
  RedisAppend redis;
};

void record(Result& out, Clock::duration latency) {
  out.latenciesUs.push_back(std::chrono::duration<double, std::micro>(latency).count());
  ++out.completed;
}

// Each answer's latency into a Result; an error answer or a refused key ends the run.
class Recorder : public load::AnswerSink {
 public:
  explicit Recorder(Result& out) : out_(out) {}
  void answer(size_t, wire::Response::Reader response, Clock::duration latency) override {
    if (response.which() == wire::Response::ERROR) {
      throw std::runtime_error(response.getError().getMessage().cStr());
    }
    if (response.which() == wire::Response::ACCESS &&
        response.getAccess().getCredential() != wire::CredentialRefusal::NONE) {
      throw std::runtime_error("a benchmark key was refused (is the daemon using " +
                               bench::pepperPath(bench::graphDir()).string() + "?)");
    }
    record(out_, latency);
  }

 private:
  Result& out_;
};

// One connection to one target. `run` sends `count` requests keeping `window` in flight (it stops
// sending once `deadline` has passed) and appends each answer's latency to a Result.
class Connection {
 public:
  Connection(const std::string& target, const std::string& socket, const Workload& workload,
             uint64_t firstFrame)
      : workload_(workload), next_(firstFrame) {
    if (isRedis(target)) {
      redis_ = connectRedis(socket);
      sentAt_.resize(kFrames);
    } else if (isRaw(target)) {
      raw_ = bench::connectUnixSocket(socket);
      sentAt_.resize(kFrames);
    } else {
      gatehouse_.emplace(socket, *workload.frames, firstFrame);
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    if (redis_ != nullptr) redisFree(redis_);
    if (raw_ >= 0) ::close(raw_);
  }

  void run(int window, uint64_t count, Clock::time_point deadline, Result& out) {
    auto begin = Clock::now();
    if (redis_ != nullptr) {
      runRedis(window, count, deadline, out);
    } else if (raw_ >= 0) {
      runRaw(window, count, deadline, out);
    } else {
      Recorder recorder(out);
      gatehouse_->run(window, {count, deadline}, recorder);
    }
    out.seconds += std::chrono::duration<double>(Clock::now() - begin).count();
  }

 private:
  void runRedis(int window, uint64_t count, Clock::time_point deadline, Result& out) {
    uint64_t sent = 0, answered = 0;
    auto sendOne = [&] {
      sentAt_[(next_ + sent) % kFrames] = Clock::now();
      workload_.redis(redis_, next_ + sent);
      ++sent;
    };
    for (int k = 0; k < window && sent < count; ++k) sendOne();
    while (answered < sent) {
      void* reply = nullptr;
      if (redisGetReply(redis_, &reply) != REDIS_OK) throw std::runtime_error("redis reply failed");
      bool failed = static_cast<redisReply*>(reply)->type == REDIS_REPLY_ERROR;
      std::string error = failed ? static_cast<redisReply*>(reply)->str : "";
      freeReplyObject(reply);
      if (failed) throw std::runtime_error("redis: " + error);
      auto now = Clock::now();
      record(out, now - sentAt_[(next_ + answered) % kFrames]);
      ++answered;
      if (sent < count && now < deadline) sendOne();
    }
    next_ += sent;
  }

  // As gatehouse's loop: requests queued while answers are read go out in one send().
  void runRaw(int window, uint64_t count, Clock::time_point deadline, Result& out) {
    uint64_t sent = 0, answered = 0;
    std::string outbox;
    auto sendOne = [&] {
      uint64_t id = next_ + sent;
      sentAt_[id % kFrames] = Clock::now();
      char message[kRawMessage] = {};
      std::memcpy(message, &id, sizeof id);
      outbox.append(message, kRawMessage);
      ++sent;
    };
    auto flush = [&] {
      for (size_t done = 0; done < outbox.size();) {
        ssize_t n = ::send(raw_, outbox.data() + done, outbox.size() - done, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("raw: send failed");
        done += static_cast<size_t>(n);
      }
      outbox.clear();
    };
    for (int k = 0; k < window && sent < count; ++k) sendOne();
    flush();
    std::vector<char> in(kRawMessage * 1024);
    size_t filled = 0;
    while (answered < sent) {
      ssize_t n = ::recv(raw_, in.data() + filled, in.size() - filled, 0);
      if (n <= 0) throw std::runtime_error("raw: the server closed the connection");
      filled += static_cast<size_t>(n);
      size_t used = 0;
      for (; filled - used >= kRawMessage; used += kRawMessage) {
        uint64_t id = 0;
        std::memcpy(&id, in.data() + used, sizeof id);
        auto now = Clock::now();
        record(out, now - sentAt_[id % kFrames]);
        ++answered;
        if (sent < count && now < deadline) sendOne();
      }
      std::memmove(in.data(), in.data() + used, filled - used);
      filled -= used;
      if (!outbox.empty()) flush();
    }
    next_ += sent;
  }

  const Workload& workload_;
  std::optional<load::Connection> gatehouse_;
  redisContext* redis_ = nullptr;
  int raw_ = -1;
  uint64_t next_;
  std::vector<Clock::time_point> sentAt_;
};

double percentile(std::vector<double>& v, double q) {
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * double(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

void report(const Options& o, const std::string& target, std::vector<Result>& results,
            uint64_t warmup, double seconds, uint64_t block) {
  std::vector<double> all;
  uint64_t completed = 0;
  for (auto& r : results) {
    all.insert(all.end(), r.latenciesUs.begin(), r.latenciesUs.end());
    completed += r.completed;
  }
  if (all.empty()) throw std::runtime_error(target + ": nothing was answered");
  double checks = double(completed) * (o.workload == "batch16" ? 16 : 1);
  std::printf(
      "{\"target\":\"%s\",\"mode\":\"%s\",\"workload\":\"%s\",\"requests\":%llu,"
      "\"warmup\":%llu,\"interleaved_block\":%llu,\"seconds\":%.3f,\"requests_per_s\":%.0f,"
      "\"checks_per_s\":%.0f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,"
      "\"p999_us\":%.2f}\n",
      target.c_str(), o.mode.c_str(), (o.label.empty() ? o.workload : o.label).c_str(),
      (unsigned long long)completed, (unsigned long long)warmup, (unsigned long long)block, seconds,
      double(completed) / seconds, checks / seconds, percentile(all, 0.5), percentile(all, 0.9),
      percentile(all, 0.99), percentile(all, 0.999));
}

// "name=socket,name=socket" (--compare) or the single --target/--socket.
std::vector<std::pair<std::string, std::string>> targetsOf(const Options& o) {
  std::vector<std::pair<std::string, std::string>> out;
  if (o.compare.empty()) {
    if (o.socket.empty()) throw std::runtime_error("--socket is required");
    out.emplace_back(o.target, o.socket);
    return out;
  }
  std::string_view rest = o.compare;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) throw std::runtime_error("--compare: expected name=socket");
    out.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  for (auto& [name, socket] : out) {
    if (!name.starts_with("gatehouse") && !name.starts_with("echo") && !isRedis(name) &&
        !isRaw(name)) {
      throw std::runtime_error("unknown target " + name + " (gatehouse*, echo*, raw* or redis*)");
    }
  }
  return out;
}

int run(const Options& o) {
  load::Shape shape = shapeOf(o.mode);
  auto targets = targetsOf(o);
  bool interleaved = !o.compare.empty();
  if (interleaved && shape.connections != 1) {
    throw std::runtime_error("--compare needs a one-connection mode (pingpong or pipelined)");
  }
  auto grants = bench::grantList();
  bool batch16 = o.workload == "batch16";
  bool write = o.workload == "write";
  bool access = o.workload == "access";
  if (!batch16 && !write && !access && o.workload != "authorize") {
    throw std::runtime_error("unknown workload " + o.workload);
  }
  bool redis = false, capnp = false;
  for (auto& t : targets) {
    if (isRedis(t.first)) redis = true;
    if (!isRedis(t.first) && !isRaw(t.first)) capnp = true;
  }
  if ((batch16 || write) && redis)
    throw std::runtime_error(o.workload + " has no Redis equivalent");
  std::vector<bench::Lookup> lookups;
  std::vector<bench::AccessLookup> accessLookups;
  if (access) {
    accessLookups = bench::accessLookups(grants);
  } else {
    lookups = bench::lookups(grants, true);
  }
  uint64_t budget = o.requests / static_cast<uint64_t>(shape.connections);
  uint64_t warmup = o.warmup.value_or(write ? 0 : budget / 10);
  if (write && (budget + warmup) * static_cast<uint64_t>(shape.connections) > kFrames) {
    throw std::runtime_error("write: at most 65536 requests, warm-up included");
  }
  Workload workload;
  for (auto& [name, socket] : targets) {
    if (isRedis(name) && !workload.redis) {
      workload.redis = redisRequests(o.workload, socket, lookups, accessLookups);
    }
  }
  if (capnp) workload.frames.emplace(encodeFrames(lookups, accessLookups, o.workload));
  auto forever = Clock::time_point::max();
  auto seconds =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));

  if (interleaved) {
    // Every target warm, then blocks of --block requests in turn, so that the machine's drift
    // (neighbours, frequency) falls on all of them alike.
    std::vector<std::unique_ptr<Connection>> connections;
    std::vector<Result> results(targets.size());
    for (auto& [name, socket] : targets) {
      connections.push_back(std::make_unique<Connection>(name, socket, workload, 0));
      Result discard;
      connections.back()->run(shape.window, warmup, forever, discard);
    }
    auto deadline = Clock::now() + seconds;
    for (uint64_t done = 0; done < budget && Clock::now() < deadline; done += o.block) {
      for (size_t t = 0; t < targets.size(); ++t) {
        connections[t]->run(shape.window, std::min(o.block, budget - done), forever, results[t]);
      }
    }
    for (size_t t = 0; t < targets.size(); ++t) {
      std::vector<Result> one(1, std::move(results[t]));
      report(o, targets[t].first, one, warmup, one[0].seconds, o.block);
    }
    return 0;
  }

  const std::string& target = targets.front().first;
  const std::string& socket = targets.front().second;
  std::vector<Result> results(shape.connections);
  Clock::time_point start;
  auto failures = load::runTogether(shape.connections, [&](int i, load::StartLine& line) {
    // Each connection starts at its own frame: distinct names for the write workload.
    Connection c(target, socket, workload, (budget + warmup) * static_cast<uint64_t>(i));
    Result discard;
    c.run(shape.window, warmup, forever, discard);
    // Every connection warm, then one start for all.
    Clock::time_point begin = line.ready();
    if (i == 0) start = begin;
    c.run(shape.window, budget, begin + seconds, results[i]);
  });
  for (const load::Failure& f : failures) {
    std::fprintf(stderr, "gatehouse-bench: connection %d: %s\n", f.runner, f.message.c_str());
  }
  if (!failures.empty()) return 1;
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  report(o, target, results, warmup * static_cast<uint64_t>(shape.connections), elapsed, 0);
  return 0;
}

// Every grant's effective permissions, as Redis sets g:<principal>:<company>; every service
// account key's hash (hex), as a field of the hash `keys` naming its account.
int loadRedis(const std::string& socket) {
  auto grants = bench::grantList();
  auto db = bench::openGraph(bench::graphDir(), grants);
  auto pepper = credentials::Pepper::loadOrCreate(bench::pepperPath(bench::graphDir()));
  redisContext* c = connectRedis(socket);
  size_t pending = 0, loaded = 0;
  auto drain = [&](size_t keep) {
    for (; pending > keep; --pending) {
      void* reply = nullptr;
      if (redisGetReply(c, &reply) != REDIS_OK) throw std::runtime_error("redis load failed");
      bool failed = static_cast<redisReply*>(reply)->type == REDIS_REPLY_ERROR;
      freeReplyObject(reply);
      if (failed) throw std::runtime_error("redis refused a load command");
    }
  };
  auto append = [&](const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data());
    if (++pending == 1000) drain(0);
    ++loaded;
  };
  store::Snapshot snap(*db);
  snap.begin();
  auto g = snap.reader();
  std::vector<std::string> catalog;
  g.forEachPermission([&](uint32_t, std::string_view name) { catalog.emplace_back(name); });
  for (auto [p, company] : grants) {
    auto bits = g.effective(p, company);
    if (!bits) continue;
    std::vector<std::string> args = {"SADD", fmt::format("g:{}:{}", p, company)};
    store::forEachBit(*bits, [&](uint32_t bit) { args.push_back(catalog[bit]); });
    if (args.size() > 2) append(args);
  }
  auto keys = bench::serviceAccountKeys();
  for (uint32_t i = 0; i < keys.size(); ++i) {
    append({"HSET", "keys", hex(pepper.keyedHash(keys[i].secret, sizeof keys[i].secret)),
            std::to_string(i + 1)});
  }
  drain(0);
  snap.end();
  redisFree(c);
  std::fprintf(stderr, "loaded %zu sets and keys into redis\n", loaded);
  return 0;
}

// The lookups of the authorize workload, in the order its frames use them (frame i: lookup i).
int dumpLookups() {
  auto lookups = bench::lookups(bench::grantList(), true);
  for (size_t i = 0; i < kFrames; ++i) {
    const bench::Lookup& l = lookups[i % lookups.size()];
    std::printf("%llu %llu %s\n", (unsigned long long)l.principal, (unsigned long long)l.company,
                l.permission.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    if (sodium_init() < 0) throw std::runtime_error("sodium_init failed");
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--make-graph") {
        bench::openGraph(bench::graphDir(), bench::grantList());
        return 0;
      }
      if (a == "--load-redis") return loadRedis(value());
      if (a == "--dump-lookups") return dumpLookups();
      if (a == "--target")
        o.target = value();
      else if (a == "--socket")
        o.socket = value();
      else if (a == "--mode")
        o.mode = value();
      else if (a == "--workload")
        o.workload = value();
      else if (a == "--requests")
        o.requests = std::stoull(value());
      else if (a == "--seconds")
        o.seconds = std::stod(value());
      else if (a == "--warmup")
        o.warmup = std::stoull(value());
      else if (a == "--compare")
        o.compare = value();
      else if (a == "--label")
        o.label = value();
      else if (a == "--block")
        o.block = std::max<uint64_t>(1, std::stoull(value()));
      else
        throw std::runtime_error("unknown option " + a);
    }
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gatehouse-bench: %s\n", e.what());
    return 2;
  }
}
