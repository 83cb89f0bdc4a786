// gatehouse-write-load: a steady stream of mutations at a fixed rate, for measuring what writes
// cost the readers (bench/run, "authorize while writing"). Open loop: every millisecond it sends
// the setGrant requests that are due, whatever the answers' latency, on one connection; it stops
// after the duration and then waits for the answers still due.
//
//   gatehouse-write-load SOCKET RATE SECONDS
//
// Each request replaces one grant of the benchmark graph (bench/graph.hpp) drawn from the same Zipf
// distribution as the readers' lookups, so writes hit the rows the readers read, with one of the
// catalog's permissions. It changes the graph: run it against a copy. Prints one JSON line: the
// rate asked for and achieved, answers, refusals, and the commit latency (send to answer).
#include <capnp/serialize.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "gatehouse.capnp.h"
#include "graph.hpp"
#include "protocol/framing.hpp"
#include "unix_socket.hpp"

using namespace gatehouse;
using Clock = std::chrono::steady_clock;

namespace {

std::string setGrantFrame(uint64_t id, const bench::Lookup& target) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<wire::Request>();
  r.setId(id);
  auto g = r.initSetGrant();
  g.setPrincipal(target.principal);
  g.setCompany(target.company);
  g.initPermissions(1).set(0, target.permission);
  std::string frame;
  protocol::appendFrame(m, frame);
  return frame;
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 4) {
    std::fprintf(stderr, "usage: gatehouse-write-load SOCKET RATE SECONDS\n");
    return 2;
  }
  std::string socket = argv[1];
  double rate = std::stod(argv[2]);
  double seconds = std::stod(argv[3]);
  if (rate <= 0 || seconds <= 0) throw std::runtime_error("RATE and SECONDS must be positive");
  auto lookups = bench::lookups(bench::grantList(), true);
  int fd = bench::connectUnixSocket(socket);

  std::vector<Clock::time_point> sentAt;
  std::vector<double> latenciesUs;
  uint64_t sent = 0, answered = 0, refused = 0;
  std::vector<capnp::word> buffer(1 << 16);
  char* bytes = reinterpret_cast<char*>(buffer.data());
  size_t filled = 0;
  protocol::FrameLimits limits;
  limits.maxFrameBytes = 1 << 20;
  auto start = Clock::now();
  auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto readAnswers = [&] {
    ssize_t n = ::recv(fd, bytes + filled, buffer.size() * 8 - filled, MSG_DONTWAIT);
    if (n == 0) throw std::runtime_error("the server closed the connection");
    if (n < 0) return;
    filled += static_cast<size_t>(n);
    size_t consumed = 0;
    for (;;) {
      auto scan =
          protocol::scanFrame(std::string_view(bytes + consumed, filled - consumed), limits);
      if (scan.status != protocol::FrameStatus::frame) break;
      capnp::FlatArrayMessageReader message(
          kj::arrayPtr(buffer.data() + consumed / 8, scan.bytes / 8));
      auto response = message.getRoot<wire::Response>();
      if (response.which() == wire::Response::ERROR) ++refused;
      latenciesUs.push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - sentAt[response.getId()])
              .count());
      ++answered;
      consumed += scan.bytes;
    }
    std::memmove(bytes, bytes + consumed, filled - consumed);
    filled -= consumed;
  };
  std::string outbox;
  for (auto now = Clock::now(); now < end; now = Clock::now()) {
    auto due = static_cast<uint64_t>(rate * std::chrono::duration<double>(now - start).count());
    for (; sent < due; ++sent) {
      sentAt.push_back(now);
      outbox += setGrantFrame(sent, lookups[(sent * 7919) % lookups.size()]);
    }
    for (size_t off = 0; off < outbox.size();) {
      ssize_t n = ::send(fd, outbox.data() + off, outbox.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      off += static_cast<size_t>(n);
    }
    outbox.clear();
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 1);
    if (p.revents & POLLIN) readAnswers();
  }
  auto drainUntil = Clock::now() + std::chrono::seconds(30);
  while (answered < sent && Clock::now() < drainUntil) {
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 100);
    if (p.revents & POLLIN) readAnswers();
  }
  ::close(fd);
  if (answered < sent) throw std::runtime_error(fmt::format("{} answers missing", sent - answered));
  double p50 = percentile(latenciesUs, 0.50), p99 = percentile(latenciesUs, 0.99);
  std::printf(
      "{\"workload\":\"write-load\",\"rate\":%.0f,\"achieved\":%.1f,\"answered\":%llu,"
      "\"refused\":%llu,\"commit_p50_us\":%.1f,\"commit_p99_us\":%.1f}\n",
      rate, static_cast<double>(sent) / seconds, static_cast<unsigned long long>(answered),
      static_cast<unsigned long long>(refused), p50, p99);
  return refused == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "gatehouse-write-load: %s\n", e.what());
  return 1;
}
