// The wire protocol against the real daemon: hostile frames get an error answer or close only
// their own connection, while other connections keep being answered; pipelining, out-of-order
// answers, limits and access classes.
#define BOOST_TEST_MODULE protocol
#include <capnp/any.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <random>
#include <thread>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using client::Client;

namespace {

std::string words(std::initializer_list<uint32_t> values) {
  std::string s(values.size() * 4, '\0');
  size_t i = 0;
  for (uint32_t v : values) std::memcpy(s.data() + 4 * i++, &v, 4);
  return s;
}

std::string flat(capnp::MessageBuilder& m) {
  auto a = capnp::messageToFlatArray(m);
  return std::string(reinterpret_cast<const char*>(a.asBytes().begin()), a.asBytes().size());
}

std::string pingFrame(uint64_t id) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<wire::Request>();
  r.setId(id);
  r.setPing();
  return flat(m);
}

// True when the daemon closes `c` without answering (reads EOF).
bool closedWithoutAnswer(Client& c) {
  try {
    c.receive();
    return false;
  } catch (const client::ClientError& e) {
    return std::string(e.what()).find("closed") != std::string::npos;
  }
}

void stillServes(const Daemon& d) {
  Client other = d.connect();
  auto answer = other.call([](wire::Request::Builder r) { r.setPing(); });
  BOOST_TEST((answer->which() == wire::Response::PONG));
}

struct Fixture {
  Daemon daemon{"[limits]\nmax_in_flight = 4\nmax_batch = 64\n"};
  // A connection that stays open through every hostile one, and must keep working.
  Client bystander = daemon.connect();

  void bystanderAnswers() {
    auto a = bystander.call([](wire::Request::Builder r) { r.setPing(); });
    BOOST_TEST((a->which() == wire::Response::PONG));
    stillServes(daemon);
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(truncated_frame_then_eof_closes_only_that_connection, Fixture) {
  Client c = daemon.connect();
  std::string frame = pingFrame(1);
  c.sendBytes(std::string_view(frame).substr(0, frame.size() - 3));
  ::shutdown(c.fd(), SHUT_WR);
  BOOST_TEST(closedWithoutAnswer(c));
  bystanderAnswers();
}

BOOST_FIXTURE_TEST_CASE(truncated_frame_then_eof_is_logged_as_a_framing_violation, Fixture) {
  Client c = daemon.connect();
  std::string frame = pingFrame(1);
  c.sendBytes(std::string_view(frame).substr(0, frame.size() - 3));
  ::shutdown(c.fd(), SHUT_WR);
  BOOST_TEST(closedWithoutAnswer(c));
  std::string log = daemon.log();
  BOOST_TEST(log.find("event=framing_violation") != std::string::npos);
  BOOST_TEST(log.find(fmt::format("connection closed after {} bytes of a frame",
                                  frame.size() - 3)) != std::string::npos);
  bystanderAnswers();
}

BOOST_FIXTURE_TEST_CASE(segment_count_of_all_ones_closes_the_connection, Fixture) {
  Client c = daemon.connect();
  c.sendBytes(words({0xFFFFFFFFu, 1, 0, 0}));
  BOOST_TEST(closedWithoutAnswer(c));
  BOOST_TEST(daemon.log().find("segment count 4294967296 exceeds") != std::string::npos);
  bystanderAnswers();
}

BOOST_FIXTURE_TEST_CASE(too_many_segments_closes_the_connection, Fixture) {
  Client c = daemon.connect();
  std::string frame = words({99});
  for (int i = 0; i < 100; ++i) frame += words({1});
  c.sendBytes(frame);
  BOOST_TEST(closedWithoutAnswer(c));
  bystanderAnswers();
}

BOOST_FIXTURE_TEST_CASE(huge_declared_segment_closes_before_any_allocation, Fixture) {
  Client c = daemon.connect();
  c.sendBytes(words({0, 0xFFFFFFF0u}));
  BOOST_TEST(closedWithoutAnswer(c));
  BOOST_TEST(daemon.log().find("exceeds the limit of 1048576 bytes") != std::string::npos);
  bystanderAnswers();
}

BOOST_FIXTURE_TEST_CASE(garbage_bytes_get_an_error_or_a_close, Fixture) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    Client c = daemon.connect();
    std::string junk(64 + rng() % 64, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    junk[0] = static_cast<char>(round % 3);  // sometimes a plausible segment count
    junk[1] = junk[2] = junk[3] = 0;
    c.sendBytes(junk);
    ::shutdown(c.fd(), SHUT_WR);
    timeval timeout{5, 0};  // a hang fails the test instead of blocking it
    ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string ending;
    try {
      for (int answers = 0; answers < 100; ++answers) c.receive();
    } catch (const client::ClientError& e) {
      ending = e.what();
    }
    BOOST_TEST(ending.find("closed") != std::string::npos, "round " << round << ": " << ending);
  }
  bystanderAnswers();
}

BOOST_FIXTURE_TEST_CASE(root_that_is_not_a_struct_is_malformed, Fixture) {
  Client c = daemon.connect();
  capnp::MallocMessageBuilder m;
  m.getRoot<capnp::AnyPointer>().initAs<capnp::List<uint64_t>>(3);
  c.send(m);
  auto a = c.receive();
  BOOST_REQUIRE((a->which() == wire::Response::ERROR));
  BOOST_TEST((a->getError().getCode() == wire::ErrorCode::MALFORMED));
  BOOST_TEST(std::string(a->getError().getMessage().cStr()).find("undecodable") !=
             std::string::npos);
  // The connection stays usable after a decodable-but-wrong message.
  auto pong = c.call([](wire::Request::Builder r) { r.setPing(); });
  BOOST_TEST((pong->which() == wire::Response::PONG));
  bystanderAnswers();
}

BOOST_FIXTURE_TEST_CASE(unknown_union_member_is_an_error_value, Fixture) {
  Client c = daemon.connect();
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<wire::Request>();
  r.setId(4242);
  r.setPing();
  capnp::AnyStruct::Builder any = capnp::toAny(r);
  uint16_t unknown = 999;
  std::memcpy(any.getDataSection().begin() + 8, &unknown, 2);  // the union discriminant
  c.send(m);
  auto a = c.receive();
  BOOST_TEST(a->getId() == 4242u);
  BOOST_REQUIRE((a->which() == wire::Response::ERROR));
  BOOST_TEST((a->getError().getCode() == wire::ErrorCode::UNKNOWN_REQUEST));
  bystanderAnswers();
}

BOOST_FIXTURE_TEST_CASE(batch_over_the_limit_is_refused_with_the_limit, Fixture) {
  Client c = daemon.connect();
  auto a = c.call([](wire::Request::Builder r) {
    auto items = r.initAuthorizeBatch(65);
    for (auto item : items) item.setPermission("x.y");
  });
  BOOST_REQUIRE((a->which() == wire::Response::ERROR));
  BOOST_TEST((a->getError().getCode() == wire::ErrorCode::LIMIT_EXCEEDED));
  BOOST_TEST(std::string(a->getError().getMessage().cStr()).find("64") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(pipelined_requests_are_all_answered_despite_in_flight_limit, Fixture) {
  Client c = daemon.connect();
  // 200 mutations and checks interleaved on one connection with max_in_flight = 4: the daemon
  // stops reading while 4 mutations wait, and never drops one.
  auto answers = c.callMany(200, [](size_t i, wire::Request::Builder r) {
    if (i % 2 == 0) {
      r.initCreateCompany().setName("company-" + std::to_string(i));
    } else {
      r.setPing();
    }
  });
  BOOST_REQUIRE(answers.size() == 200u);
  uint64_t lastRevision = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (i % 2 == 1) {
      BOOST_TEST((answers[i]->which() == wire::Response::PONG));
      continue;
    }
    BOOST_REQUIRE((answers[i]->which() == wire::Response::MUTATION));
    BOOST_TEST(answers[i]->getMutation().getRevision() >= lastRevision);
    lastRevision = answers[i]->getMutation().getRevision();
  }
  auto list = c.call([](wire::Request::Builder r) { r.setListCompanies(); });
  BOOST_TEST(list->getCompanies().getCompanies().size() == 100u);
}

// A peer that sends much and reads late: the daemon sends what the socket takes, keeps the rest
// (and stops reading past max_pending_output_bytes), and once the peer reads, every answer
// arrives, in order, none lost or repeated — plain authorizes (answered without a message
// reader) and pings alike.
BOOST_AUTO_TEST_CASE(answers_to_a_peer_that_reads_late_all_arrive_in_order) {
  Daemon daemon("[limits]\nmax_pending_output_bytes = 65536\n");
  Client c = Client::connect(daemon.socket(), std::chrono::seconds(20));
  int small = 4096;
  BOOST_REQUIRE(::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
  constexpr uint64_t kCount = 40000;  // about 1.4 MB of answers: far more than the buffers hold
  std::string frames;
  for (uint64_t id = 1; id <= kCount; ++id) {
    capnp::MallocMessageBuilder m;
    auto r = m.initRoot<wire::Request>();
    r.setId(id);
    if (id % 2 == 1) {
      r.setPing();
    } else {
      auto q = r.initAuthorize();
      q.setPrincipal(id);
      q.setCompany(1);
      q.setPermission("routers.read");
    }
    frames += flat(m);
  }
  std::string sendError, receiveError;
  std::thread sender([&] {
    try {
      c.sendBytes(frames);
    } catch (const std::exception& e) {
      sendError = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the answers back up meanwhile
  uint64_t wrong = 0, first = 0, received = 0;
  try {
    for (uint64_t id = 1; id <= kCount; ++id, ++received) {
      auto a = c.receive();
      bool right = a->getId() == id && (id % 2 == 1 ? a->which() == wire::Response::PONG
                                                    : a->which() == wire::Response::AUTHORIZE &&
                                                          !a->getAuthorize().getAllowed());
      if (!right && wrong++ == 0) first = id;
    }
  } catch (const std::exception& e) {
    receiveError = e.what();
    ::shutdown(c.fd(), SHUT_RDWR);  // ends a send still blocked
  }
  sender.join();
  BOOST_TEST(receiveError.empty(), "after " << received << " answers: " << receiveError);
  BOOST_TEST(sendError.empty(), sendError);
  BOOST_TEST(wrong == 0u, wrong << " answers out of place, the first at " << first);
  stillServes(daemon);
}

// The gauge of open connections, read over `c`.
double connectionsOpen(Client& c) {
  auto open = metric(c, "gatehouse_connections_open");
  BOOST_REQUIRE(open.has_value());
  return *open;
}

// A peer that sends mutations and hangs up before their answers: every one is still committed,
// and once the writer has answered them the connection is gone from the daemon (its slot free,
// connections_open back down) — it is neither kept for ever nor dropped while the writer owes it.
BOOST_AUTO_TEST_CASE(a_peer_gone_before_its_answers_leaves_no_connection_behind) {
  Daemon daemon;
  Client observer = daemon.connect();
  constexpr uint64_t kCount = 50;
  {
    Client c = daemon.connect();
    std::string frames;
    for (uint64_t id = 1; id <= kCount; ++id) {
      capnp::MallocMessageBuilder m;
      auto r = m.initRoot<wire::Request>();
      r.setId(id);
      r.initCreateCompany().setName(fmt::format("gone-{}", id));
      frames += flat(m);
    }
    c.sendBytes(frames);
  }  // closed with the mutations at the writer
  size_t companies = 0;
  double open = 0;
  for (int i = 0; i < 200; ++i) {  // the writer answers within milliseconds; allow 10 s
    auto list = observer.call([](wire::Request::Builder r) { r.setListCompanies(); });
    companies = list->getCompanies().getCompanies().size();
    open = connectionsOpen(observer);
    if (companies == kCount && open == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  BOOST_TEST(companies == kCount);
  BOOST_TEST(open == 1);
  stillServes(daemon);
}

BOOST_AUTO_TEST_CASE(traversal_limit_refuses_oversized_messages) {
  Daemon daemon("[limits]\ntraversal_limit_words = 1024\n");
  Client c = daemon.connect();
  auto a = c.call([](wire::Request::Builder r) {
    auto items = r.initAuthorizeBatch(1000);
    for (auto item : items) item.setPermission("routers.read");
  });
  BOOST_REQUIRE((a->which() == wire::Response::ERROR));
  BOOST_TEST((a->getError().getCode() == wire::ErrorCode::MALFORMED));
  stillServes(daemon);
}

BOOST_AUTO_TEST_CASE(check_class_peer_cannot_provision) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: needs root to connect as another uid");
    return;
  }
  Daemon daemon("socket_mode = \"0666\"\n");
  std::filesystem::permissions(daemon.dir(), std::filesystem::perms(0755));  // let nobody reach it
  // Moves into a child running as nobody, which reports what it saw through its exit code.
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    try {
      Client c = daemon.connect();
      auto check = c.call([](wire::Request::Builder r) { r.initAuthorize().setPermission("a.b"); });
      if (check->which() != wire::Response::AUTHORIZE) ::_exit(11);
      auto write = c.call([](wire::Request::Builder r) { r.initCreateCompany().setName("x"); });
      if (write->which() != wire::Response::ERROR) ::_exit(12);
      if (write->getError().getCode() != wire::ErrorCode::ACCESS_DENIED) ::_exit(13);
      ::_exit(0);
    } catch (...) {
      ::_exit(14);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST(WEXITSTATUS(status) == 0);
  auto list = daemon.connect().call([](wire::Request::Builder r) { r.setListCompanies(); });
  BOOST_TEST(list->getCompanies().getCompanies().size() == 0u);
}
