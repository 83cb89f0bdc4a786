// The floor for the socket benchmarks: gatehouse's own server (same Unix socket, framing, decode,
// back-pressure, IO threads) with a handler that answers every request with a fixed `allowed`
// decision, touching no store. What gatehoused costs above this is the price of the answer itself.
//
//   build/bench/echo_server SOCKET [IO_THREADS]
#include <cstdio>
#include <cstdlib>

#include "server/server.hpp"

using namespace gatehouse;

namespace {

class EchoHandler : public protocol::RequestHandler {
 public:
  struct Scratch : ThreadState {
    static constexpr size_t kWords = 1024;
    std::unique_ptr<capnp::word[]> words{new capnp::word[kWords]()};
  };

  std::unique_ptr<ThreadState> newThreadState() override { return std::make_unique<Scratch>(); }

  protocol::Disposition handle(ThreadState& state, const protocol::Peer&,
                               wire::Request::Reader request, std::string& out,
                               protocol::AnswerSink&) override {
    auto& scratch = static_cast<Scratch&>(state);
    capnp::MallocMessageBuilder builder(kj::arrayPtr(scratch.words.get(), Scratch::kWords));
    auto response = builder.initRoot<wire::Response>();
    response.setId(request.getId());
    auto decision = response.initAuthorize();
    decision.setAllowed(true);
    decision.setRevision(1);
    protocol::appendFrame(builder, out);
    return protocol::Disposition::answered;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_server SOCKET [IO_THREADS]\n");
    return 2;
  }
  server::ServerOptions options;
  options.socketPath = argv[1];
  options.ioThreads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 0;
  protocol::AccessPolicy policy;
  policy.selfUid = static_cast<uint32_t>(::geteuid());
  EchoHandler handler;
  auto server = server::Server::create(options, handler, policy);
  server->run([] { std::fprintf(stderr, "echo_server ready\n"); });
  return 0;
}
