// libFuzzer target: bytes as a peer would send them on the socket, through the daemon's own
// path — the frame scanner, the plain-authorize shortcut, the Cap'n Proto reader with the
// server's limits, and the service's request handler (checks, the writer, the password pool) on a
// store in a temporary directory — as an admin-class peer, so every request kind is reachable.
// Each queued request's answer is awaited, so a mutation is applied before the next input. A
// frame the shortcut answers is answered by the full path too, and the two answers must be the
// same bytes (a difference aborts). Build and run: scripts/fuzz SECONDS.
#include <capnp/serialize.h>
#include <sodium.h>

#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>

#include "credentials/pepper.hpp"
#include "protocol/framing.hpp"
#include "service/service.hpp"
#include "service/test_support.hpp"
#include "store/store.hpp"
#include "temp_dir.hpp"

namespace {

using namespace gatehouse;

// The daemon's parts, made once per fuzzing process.
struct Harness {
  testing::TempDir dir;
  std::unique_ptr<store::Store> store;
  credentials::Pepper pepper = credentials::Pepper::fromBytes(std::string(32, 'f'));
  std::unique_ptr<service::Service> service;
  std::unique_ptr<service::IoState> io;
  protocol::FrameLimits limits;  // the server's defaults
  capnp::ReaderOptions reader;

  Harness() {
    store::StoreOptions options;
    options.directory = dir.path() / "data";
    options.initialMapSize = size_t{64} << 20;
    options.durable = false;
    store = store::Store::open(options);
    service::ServiceOptions so;
    so.credentials.password.opsLimit = 1;  // Argon2id at its cheapest: inputs, not hashing
    so.credentials.password.memLimit = size_t{8} << 10;
    service = std::make_unique<service::Service>(*store, pepper, so);
    io = service->newIoState();
    reader.traversalLimitInWords = 262144;
    reader.nestingLimit = 16;
  }
};

Harness& harness() {
  static Harness* h = [] {
    if (sodium_init() < 0) std::abort();
    return new Harness();  // lives for the process: the fuzzer never returns from main
  }();
  return *h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = harness();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  protocol::Peer admin{0, 0, 1, protocol::AccessClass::admin};
  while (!rest.empty()) {
    protocol::FrameScan scan = protocol::scanFrame(rest, h.limits);
    if (scan.status != protocol::FrameStatus::frame) break;  // bad or incomplete: connection ends
    auto words = kj::heapArray<capnp::word>(scan.bytes / sizeof(capnp::word));
    std::memcpy(words.begin(), rest.data(), scan.bytes);
    rest.remove_prefix(scan.bytes);
    std::string out, plain;
    bool shortcut = h.service->answerPlain(*h.io, admin, words, plain);
    auto sink = std::make_shared<service::testing::PromiseSink>();
    auto answer = sink->future();
    try {
      capnp::FlatArrayMessageReader message(words, h.reader);
      auto request = message.getRoot<wire::Request>();
      if (h.service->handle(*h.io, admin, request, out, *sink) == protocol::Disposition::queued) {
        h.io->release();
        if (answer.wait_for(std::chrono::seconds(30)) != std::future_status::ready) std::abort();
        out = answer.get();
      }
    } catch (const kj::Exception&) {
      // The server answers `malformed` and goes on.
      if (shortcut) std::abort();  // the shortcut answered a frame the reader refuses
    }
    if (shortcut && plain != out) std::abort();  // not the answer the full path gives
    h.io->release();
  }
  return 0;
}
