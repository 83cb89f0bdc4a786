// gatehouse-bench: a closed-loop load generator over a Unix socket, for gatehoused, the echo floor
// (bench/echo_server.cpp) and Redis (SISMEMBER through hiredis), on the same graph and lookups.
//
//   gatehouse-bench --target gatehouse|echo|redis --socket PATH
//                   [--mode pingpong|pipelined|concurrent] [--workload authorize|batch16|write]
//                   [--requests N] [--seconds S]
//   gatehouse-bench --make-graph        generate the benchmark graph (bench/graph.hpp) and exit
//   gatehouse-bench --load-redis PATH   put the graph's effective permissions into Redis as sets
//
// Modes: pingpong = 1 connection x 1 in flight; pipelined = 1 x 64; concurrent = 4 x 64. Each run
// is bounded by a request count and a duration, whichever ends first. Prints one JSON object:
// latency percentiles (microseconds, from a request's send to its answer) and throughput.
#include <capnp/serialize.h>
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "gatehouse.capnp.h"
#include "graph.hpp"
#include "server/framing.hpp"

using namespace gatehouse;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string target = "gatehouse";
  std::string socket;
  std::string mode = "pingpong";
  std::string workload = "authorize";
  uint64_t requests = 200000;
  double seconds = 10;
};

struct Shape {
  int connections;
  int window;
};

Shape shapeOf(const std::string& mode) {
  if (mode == "pingpong") return {1, 1};
  if (mode == "pipelined") return {1, 64};
  if (mode == "concurrent") return {4, 64};
  throw std::runtime_error("unknown mode " + mode);
}

int connectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error(fmt::format("connect({}): {}", path, std::strerror(errno)));
  }
  return fd;
}

void sendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// Pre-encoded request frames: frame i has id i. Ids are reused cyclically; at most 64 are in
// flight per connection, far fewer than frames. The write workload creates companies with names
// unique to this process.
std::vector<std::string> encodeFrames(const std::vector<bench::Lookup>& lookups,
                                      const std::string& workload, size_t count) {
  bool batch16 = workload == "batch16";
  std::vector<std::string> frames;
  frames.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<wire::Request>();
    r.setId(i);
    auto fill = [&](wire::AuthorizeQuery::Builder q, const bench::Lookup& l) {
      q.setPrincipal(l.principal);
      q.setCompany(l.company);
      q.setPermission(l.permission);
    };
    if (workload == "write") {
      r.initCreateCompany().setName(fmt::format("bench-{}-{}", ::getpid(), i));
    } else if (batch16) {
      auto items = r.initAuthorizeBatch(16);
      for (unsigned k = 0; k < 16; ++k) fill(items[k], lookups[(i * 16 + k) % lookups.size()]);
    } else {
      fill(r.initAuthorize(), lookups[i % lookups.size()]);
    }
    auto flat = capnp::messageToFlatArray(m);
    frames.emplace_back(reinterpret_cast<const char*>(flat.asBytes().begin()),
                        flat.asBytes().size());
  }
  return frames;
}

struct Result {
  std::vector<double> latenciesUs;
  uint64_t completed = 0;
};

constexpr size_t kFrames = 1 << 16;

// One connection to gatehoused or the echo floor: keep `window` requests in flight.
void runCapnp(const Options& o, const std::vector<std::string>& frames, int window, uint64_t budget,
              uint64_t firstFrame, Clock::time_point deadline, Result& out) {
  int fd = connectUnix(o.socket);
  std::vector<Clock::time_point> sentAt(kFrames);
  std::vector<capnp::word> buffer(1 << 16);
  size_t filled = 0;
  uint64_t sent = 0, next = firstFrame;
  // Requests queued while answers are parsed go out in one send(), as hiredis batches its
  // appended commands: the client's syscalls must not be what is measured.
  std::string outbox;
  auto sendOne = [&] {
    size_t i = next++ % kFrames;
    sentAt[i] = Clock::now();
    outbox.append(frames[i]);
    ++sent;
  };
  auto flush = [&] {
    sendAll(fd, outbox.data(), outbox.size());
    outbox.clear();
  };
  for (int k = 0; k < window && sent < budget; ++k) sendOne();
  flush();
  server::FrameLimits limits;
  limits.maxFrameBytes = 1 << 20;
  while (out.completed < sent) {
    ssize_t n =
        ::recv(fd, reinterpret_cast<char*>(buffer.data()) + filled, buffer.size() * 8 - filled, 0);
    if (n <= 0) throw std::runtime_error("the server closed the connection");
    filled += static_cast<size_t>(n);
    size_t consumed = 0;
    for (;;) {
      std::string_view pending(reinterpret_cast<const char*>(buffer.data()) + consumed,
                               filled - consumed);
      auto scan = server::scanFrame(pending, limits);
      if (scan.status != server::FrameStatus::frame) break;
      capnp::FlatArrayMessageReader message(
          kj::arrayPtr(buffer.data() + consumed / 8, scan.bytes / 8));
      auto response = message.getRoot<wire::Response>();
      if (response.which() == wire::Response::ERROR) {
        throw std::runtime_error(response.getError().getMessage().cStr());
      }
      auto now = Clock::now();
      out.latenciesUs.push_back(
          std::chrono::duration<double, std::micro>(now - sentAt[response.getId() % kFrames])
              .count());
      ++out.completed;
      consumed += scan.bytes;
      if (sent < budget && now < deadline) sendOne();
    }
    if (!outbox.empty()) flush();
    std::memmove(buffer.data(), reinterpret_cast<char*>(buffer.data()) + consumed,
                 filled - consumed);
    filled -= consumed;
  }
  ::close(fd);
}

// One connection to Redis: SISMEMBER g:<principal>:<company> <permission>, `window` in flight.
void runRedis(const Options& o, const std::vector<bench::Lookup>& lookups, int window,
              uint64_t budget, Clock::time_point deadline, Result& out) {
  redisContext* c = redisConnectUnix(o.socket.c_str());
  if (c == nullptr || c->err) throw std::runtime_error("cannot connect to redis");
  std::vector<Clock::time_point> sentAt(kFrames);
  uint64_t sent = 0;
  auto sendOne = [&] {
    const bench::Lookup& l = lookups[sent % lookups.size()];
    sentAt[sent % kFrames] = Clock::now();
    redisAppendCommand(c, "SISMEMBER g:%llu:%llu %s", (unsigned long long)l.principal,
                       (unsigned long long)l.company, l.permission.c_str());
    ++sent;
  };
  for (int k = 0; k < window && sent < budget; ++k) sendOne();
  while (out.completed < sent) {
    void* reply = nullptr;
    if (redisGetReply(c, &reply) != REDIS_OK) throw std::runtime_error("redis reply failed");
    freeReplyObject(reply);
    auto now = Clock::now();
    out.latenciesUs.push_back(
        std::chrono::duration<double, std::micro>(now - sentAt[out.completed % kFrames]).count());
    ++out.completed;
    if (sent < budget && now < deadline) sendOne();
  }
  redisFree(c);
}

double percentile(std::vector<double>& v, double q) {
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * double(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

int run(const Options& o) {
  Shape shape = shapeOf(o.mode);
  auto grants = bench::grantList();
  auto lookups = bench::lookups(grants, true);
  bool batch16 = o.workload == "batch16";
  bool write = o.workload == "write";
  if (!batch16 && !write && o.workload != "authorize") {
    throw std::runtime_error("unknown workload " + o.workload);
  }
  if ((batch16 || write) && o.target != "gatehouse") {
    throw std::runtime_error(o.workload + " is a gatehouse workload");
  }
  if (write && o.requests > kFrames) throw std::runtime_error("write: at most 65536 requests");
  std::vector<std::string> frames;
  if (o.target != "redis") frames = encodeFrames(lookups, o.workload, kFrames);

  std::vector<Result> results(shape.connections);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  uint64_t budget = o.requests / static_cast<uint64_t>(shape.connections);
  std::atomic<bool> failed{false};
  for (int i = 0; i < shape.connections; ++i) {
    threads.emplace_back([&, i] {
      try {
        if (o.target == "redis") {
          runRedis(o, lookups, shape.window, budget, deadline, results[i]);
        } else {
          // Each connection starts at its own frame: distinct names for the write workload.
          runCapnp(o, frames, shape.window, budget, budget * static_cast<uint64_t>(i), deadline,
                   results[i]);
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "gatehouse-bench: connection %d: %s\n", i, e.what());
        failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed) return 1;
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  uint64_t completed = 0;
  for (auto& r : results) {
    all.insert(all.end(), r.latenciesUs.begin(), r.latenciesUs.end());
    completed += r.completed;
  }
  double checks = double(completed) * (batch16 ? 16 : 1);
  std::printf(
      "{\"target\":\"%s\",\"mode\":\"%s\",\"workload\":\"%s\",\"requests\":%llu,"
      "\"seconds\":%.3f,\"requests_per_s\":%.0f,\"checks_per_s\":%.0f,\"p50_us\":%.2f,"
      "\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f}\n",
      o.target.c_str(), o.mode.c_str(), o.workload.c_str(), (unsigned long long)completed, elapsed,
      double(completed) / elapsed, checks / elapsed, percentile(all, 0.5), percentile(all, 0.9),
      percentile(all, 0.99), percentile(all, 0.999));
  return 0;
}

// Every grant's effective permissions, as Redis sets g:<principal>:<company>.
int loadRedis(const std::string& socket) {
  auto grants = bench::grantList();
  auto db = bench::openGraph(bench::graphDir(), grants);
  redisContext* c = redisConnectUnix(socket.c_str());
  if (c == nullptr || c->err) throw std::runtime_error("cannot connect to redis");
  store::Snapshot snap(*db);
  snap.begin();
  auto g = snap.reader();
  std::vector<std::string> catalog;
  g.forEachPermission([&](uint32_t, std::string_view name) { catalog.emplace_back(name); });
  size_t pending = 0, loaded = 0;
  for (auto [p, company] : grants) {
    auto bits = g.effective(p, company);
    if (!bits) continue;
    std::vector<std::string> args = {"SADD", fmt::format("g:{}:{}", p, company)};
    store::forEachBit(*bits, [&](uint32_t bit) { args.push_back(catalog[bit]); });
    if (args.size() == 2) continue;
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data());
    if (++pending == 1000) {
      for (; pending > 0; --pending) {
        void* reply = nullptr;
        if (redisGetReply(c, &reply) != REDIS_OK) throw std::runtime_error("redis SADD failed");
        freeReplyObject(reply);
      }
    }
    ++loaded;
  }
  for (; pending > 0; --pending) {
    void* reply = nullptr;
    if (redisGetReply(c, &reply) != REDIS_OK) throw std::runtime_error("redis SADD failed");
    freeReplyObject(reply);
  }
  snap.end();
  redisFree(c);
  std::fprintf(stderr, "loaded %zu sets into redis\n", loaded);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
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
      else
        throw std::runtime_error("unknown option " + a);
    }
    if (o.socket.empty()) throw std::runtime_error("--socket is required");
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gatehouse-bench: %s\n", e.what());
    return 2;
  }
}
