// What a hostile process on the host can do to the real daemon, each attack with the behaviour that
// holds it off (docs/security.md): input that used to reach LMDB unvalidated, a descriptor limit
// reached, framing violations by the hundred, and secrets left behind in the daemon's memory.
#define BOOST_TEST_MODULE security
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "daemon_fixture.hpp"

using namespace gatehouse;
using namespace gatehouse::testing;
using client::Client;

namespace {

size_t countLines(const std::string& log, std::string_view needle) {
  size_t n = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

// CPU seconds (user + system) the process has used.
double cpuSeconds(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A raw connection that only connects (the daemon may not even accept it).
int rawConnect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A createCompany request with `id`, framed as on the wire.
std::string createCompanyFrame(uint64_t id, const std::string& name) {
  capnp::MallocMessageBuilder m;
  auto r = m.initRoot<wire::Request>();
  r.setId(id);
  r.initCreateCompany().setName(name);
  auto flat = capnp::messageToFlatArray(m);
  return std::string(reinterpret_cast<const char*>(flat.asBytes().begin()), flat.asBytes().size());
}

// `count` stats requests, framed as on the wire, one after another.
std::string statsRequests(int count) {
  std::string frames;
  for (int i = 0; i < count; ++i) {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::Request>().setStats();
    auto flat = capnp::messageToFlatArray(m);
    frames.append(reinterpret_cast<const char*>(flat.asBytes().begin()), flat.asBytes().size());
  }
  return frames;
}

}  // namespace

// Item 7: an empty or over-long lookup name is refused as invalidArgument before it reaches
// LMDB (it used to answer `failed: ... MDB_BAD_VALSIZE` and log an error line every time).
BOOST_AUTO_TEST_CASE(bad_lookup_names_are_invalid_arguments_and_log_nothing) {
  Daemon daemon;
  Client c = daemon.connect();
  for (auto kind : {wire::EntityKind::COMPANY, wire::EntityKind::PRINCIPAL, wire::EntityKind::ROLE,
                    wire::EntityKind::PERMISSION}) {
    for (std::string name : {std::string(), std::string(600, 'n')}) {
      auto a = c.call([&](wire::Request::Builder r) {
        auto q = r.initLookup();
        q.setKind(kind);
        q.setName(name);
      });
      BOOST_REQUIRE((a->which() == wire::Response::ERROR));
      BOOST_TEST((a->getError().getCode() == wire::ErrorCode::INVALID_ARGUMENT));
      BOOST_TEST(std::string(a->getError().getMessage().cStr()).find("name:") == 0u);
    }
  }
  auto answers = c.callMany(1000, [](size_t, wire::Request::Builder r) {
    r.initLookup().setKind(wire::EntityKind::PRINCIPAL);  // empty name
  });
  BOOST_TEST(answers.size() == 1000u);
  auto found = c.call([](wire::Request::Builder r) {
    auto q = r.initLookup();
    q.setKind(wire::EntityKind::COMPANY);
    q.setName("nobody-has-this-name");
  });
  BOOST_TEST(!found->getLookup().getFound());  // a well-formed unknown name: not found, no error
  BOOST_TEST(countLines(daemon.log(), "level=error") == 0u);
}

// Item 2: out of descriptors, the daemon neither spins nor floods its log; it keeps serving the
// connections it has and accepts again once descriptors are back.
BOOST_AUTO_TEST_CASE(running_out_of_descriptors_backs_off_and_keeps_serving) {
  Daemon daemon;
  Client bystander = daemon.connect();
  bystander.call([](wire::Request::Builder r) { r.setPing(); });  // accepted and served
  // Only the bystander stays open (the fixture's probe of the socket has closed, on either IO
  // thread): no connection ends while the daemon has no descriptor to spare. In the sanitizer
  // builds a connection's end is where UBSan first checks a session's type, with a pipe it cannot
  // open then ("invalid vptr", and the daemon halts).
  for (int i = 0; i < 1000 && metric(bystander, "gatehouse_connections_open") != 1.0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_REQUIRE(metric(bystander, "gatehouse_connections_open") == 1.0);
  rlimit original{};
  BOOST_REQUIRE(::prlimit(daemon.pid(), RLIMIT_NOFILE, nullptr, &original) == 0);
  rlimit low{48, original.rlim_max};  // the soft limit only: raising a hard one needs a capability
  BOOST_REQUIRE(::prlimit(daemon.pid(), RLIMIT_NOFILE, &low, nullptr) == 0);
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    int fd = rawConnect(daemon.socket());
    if (fd >= 0) fds.push_back(fd);
  }
  double before = cpuSeconds(daemon.pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  double used = cpuSeconds(daemon.pid()) - before;
  BOOST_TEST(used < 0.5, "the daemon used " << used << " s of CPU in 2 s while out of descriptors");
  BOOST_TEST(countLines(daemon.log(), "event=accept_failed") <= 4u);
  auto pong = bystander.call([](wire::Request::Builder r) { r.setPing(); });
  BOOST_TEST((pong->which() == wire::Response::PONG));

  BOOST_REQUIRE(::prlimit(daemon.pid(), RLIMIT_NOFILE, &original, nullptr) == 0);
  Client later = daemon.connect();  // accepted once the retry finds descriptors again
  BOOST_TEST(
      (later.call([](wire::Request::Builder r) { r.setPing(); })->which() == wire::Response::PONG));
  for (int fd : fds) ::close(fd);
}

// Repeated warnings a peer can cause are rate-limited, with a count of what was left out.
BOOST_AUTO_TEST_CASE(framing_violations_by_the_hundred_are_logged_a_few_times) {
  Daemon daemon;
  auto violate = [&] {  // a segment count of 2^32: the daemon closes the connection
    Client c = daemon.connect();
    uint32_t bad[2] = {0xFFFFFFFFu, 0};
    c.sendBytes(std::string_view(reinterpret_cast<const char*>(bad), sizeof bad));
    try {
      c.receive();
    } catch (const client::ClientError&) {
    }
  };
  for (int i = 0; i < 200; ++i) violate();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the next window
  violate();
  std::string log = daemon.log();
  size_t lines = countLines(log, "event=framing_violation");
  BOOST_TEST(lines >= 2u);
  BOOST_TEST(lines <= 40u, lines << " framing_violation lines for 201 violations");
  BOOST_TEST(log.find("suppressed=") != std::string::npos);
  Client still = daemon.connect();
  BOOST_TEST(
      (still.call([](wire::Request::Builder r) { r.setPing(); })->which() == wire::Response::PONG));
}

namespace {

// How many times `needle` occurs in the daemon's anonymous writable memory (heap, stacks, the
// caches): where a secret could linger after it was issued.
size_t occurrencesInMemory(pid_t pid, const std::string& needle) {
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  int mem = ::open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDONLY | O_CLOEXEC);
  BOOST_REQUIRE(mem >= 0);
  size_t found = 0;
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::string range, perms, offset, device, inode, path;
    in >> range >> perms >> offset >> device >> inode;
    std::getline(in, path);
    path.erase(0, path.find_first_not_of(' '));
    bool anonymous = path.empty() || path == "[heap]" || path.starts_with("[stack");
    if (perms.substr(0, 2) != "rw" || !anonymous) continue;
    uint64_t start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    uint64_t end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    // Larger regions are reservations (a sanitizer's shadow memory), not where data lives.
    if (end - start > (uint64_t{256} << 20)) continue;
    std::string chunk(end - start, '\0');
    ssize_t n = ::pread(mem, chunk.data(), chunk.size(), static_cast<off_t>(start));
    if (n <= 0) continue;
    chunk.resize(static_cast<size_t>(n));
    for (size_t at = chunk.find(needle); at != std::string::npos; at = chunk.find(needle, at + 1)) {
      ++found;
    }
  }
  ::close(mem);
  return found;
}

}  // namespace

// Item 8: issued secrets do not stay in the daemon's memory once answered, and the daemon is not
// dumpable (no core file, no /proc/PID/mem for processes of its uid).
BOOST_AUTO_TEST_CASE(issued_secrets_do_not_stay_in_memory_and_the_process_is_not_dumpable) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: reading another process's memory needs root");
    return;
  }
  Daemon daemon;
  Client c = daemon.connect();
  auto ok = [&](const Client::Fill& fill) {
    auto a = c.call(fill);
    client::checkOk(a);
    return a;
  };
  uint64_t acme = ok([](wire::Request::Builder r) { r.initCreateCompany().setName("acme"); })
                      ->getMutation()
                      .getId();
  uint64_t bot = ok([&](wire::Request::Builder r) {
                   auto sa = r.initCreateServiceAccount();
                   sa.setName("bot");
                   sa.setOwnerCompany(acme);
                 })
                     ->getMutation()
                     .getId();
  uint64_t alice = ok([](wire::Request::Builder r) { r.initCreateUser().setName("alice"); })
                       ->getMutation()
                       .getId();
  std::vector<std::string> secrets;
  for (int i = 0; i < 3; ++i) {
    auto issued = ok([&](wire::Request::Builder r) { r.initCreateKey().setServiceAccount(bot); });
    secrets.emplace_back(issued->getKeyIssued().getSecret().cStr());
  }
  auto enrolled = ok([&](wire::Request::Builder r) { r.setEnrollTotp(alice); });
  std::string uri = enrolled->getTotpEnrolled().getUri().cStr();
  size_t at = uri.find("secret=") + 7;
  secrets.push_back(uri.substr(at, uri.find('&', at) - at));
  c.call([](wire::Request::Builder r) { r.setPing(); });  // the answers above are all written

  for (const std::string& secret : secrets) {
    // The body of the secret: its prefix is common to every key.
    std::string body = secret.substr(secret.size() - 24);
    BOOST_TEST(occurrencesInMemory(daemon.pid(), body) == 0u, "found " << body);
  }
  // keepMemoryPrivate ran: the core limit is 0 (set just before PR_SET_DUMPABLE 0).
  rlimit core{};
  BOOST_REQUIRE(::prlimit(daemon.pid(), RLIMIT_CORE, nullptr, &core) == 0);
  BOOST_TEST(core.rlim_cur == 0u);
}

// Item 10: a full disk is reported as a full disk (naming the directory and the free space), reads
// keep being answered, nothing acknowledged is lost, and writes resume once space is freed.
BOOST_AUTO_TEST_CASE(a_full_disk_is_named_and_writes_resume_when_space_returns) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: needs root to mount a small tmpfs");
    return;
  }
  Daemon daemon("[store]\nmap_size_mib = 64\n");
  daemon.stop();
  auto data = daemon.dir() / "data";
  std::filesystem::remove_all(data);
  std::filesystem::create_directory(data);
  BOOST_REQUIRE(runProcess({"/usr/bin/mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs",
                            data.string()})
                    .status == 0);
  struct Unmount {
    std::filesystem::path path;
    ~Unmount() { runProcess({"/usr/bin/umount", "-l", path.string()}); }
  } unmount{data};
  daemon.start();
  Client c = daemon.connect();
  // Leave about 256 KiB for the store, then write until the disk refuses.
  auto filler = data / "filler";
  auto fill = [&] {
    std::ofstream out(filler, std::ios::binary);
    std::string block(64 << 10, 'f');
    struct statvfs fs {};
    while (::statvfs(data.c_str(), &fs) == 0 &&
           uint64_t{fs.f_bavail} * fs.f_frsize > (256u << 10)) {
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
      out.flush();
    }
  };
  fill();
  std::vector<std::string> acknowledged;
  std::string refusal;
  for (int round = 0; round < 200 && refusal.empty(); ++round) {
    auto answers = c.callMany(50, [&](size_t i, wire::Request::Builder r) {
      r.initCreateCompany().setName(fmt::format("{:0>120}-{}-{}", "c", round, i));
    });
    for (size_t i = 0; i < answers.size(); ++i) {
      if (answers[i]->which() == wire::Response::MUTATION) {
        acknowledged.push_back(fmt::format("{:0>120}-{}-{}", "c", round, i));
      } else if (refusal.empty()) {
        refusal = answers[i]->getError().getMessage().cStr();
      }
    }
  }
  BOOST_REQUIRE_MESSAGE(!refusal.empty(), "the disk never filled up");
  BOOST_TEST(refusal.find("is full") != std::string::npos, refusal);
  BOOST_TEST(refusal.find(data.string()) != std::string::npos, refusal);
  // Reads go on.
  auto list = c.call([](wire::Request::Builder r) { r.setListCompanies(); });
  BOOST_REQUIRE((list->which() == wire::Response::COMPANIES));
  BOOST_TEST(list->getCompanies().getCompanies().size() == acknowledged.size());
  // Space returns: writes resume, and everything acknowledged is there after a restart.
  std::filesystem::remove(filler);
  auto again = c.call([](wire::Request::Builder r) { r.initCreateCompany().setName("after"); });
  BOOST_TEST((again->which() == wire::Response::MUTATION));
  // Full again: a stop while every commit fails (its last flush included) still ends, cleanly.
  fill();
  for (int round = 0; round < 200; ++round) {
    auto refused = c.call([&](wire::Request::Builder r) {
      r.initCreateCompany().setName(fmt::format("{:0>120}-refused-{}", "c", round));
    });
    if (refused->which() == wire::Response::ERROR) break;
    acknowledged.push_back(fmt::format("{:0>120}-refused-{}", "c", round));
  }
  BOOST_TEST(daemon.stop() == 0, daemon.log());
  std::filesystem::remove(filler);
  daemon.start();
  Client fresh = daemon.connect();
  auto after = fresh.call([](wire::Request::Builder r) { r.setListCompanies(); });
  BOOST_TEST(after->getCompanies().getCompanies().size() == acknowledged.size() + 1);
  daemon.stop();
}

// Item 1: a mutation the writer could not read in full (here a name without its terminator) is
// refused on its own before it is queued; the mutations around it, in the same group commit, are
// applied.
BOOST_AUTO_TEST_CASE(an_unreadable_mutation_does_not_fail_its_group_commit) {
  Daemon daemon;
  Client c = daemon.connect();
  std::string bytes;
  for (uint64_t id = 1; id <= 41; ++id) {
    std::string f = createCompanyFrame(id, fmt::format("company-{:02}", id));
    if (id == 21) {  // its name's terminator overwritten: the text is no longer NUL-terminated
      size_t at = f.find("company-21");
      BOOST_REQUIRE(at != std::string::npos);
      f[at + 10] = 'x';
    }
    bytes += f;
  }
  c.sendBytes(bytes);
  size_t applied = 0;
  for (int i = 0; i < 41; ++i) {
    auto a = c.receive();
    if (a->getId() == 21) {
      BOOST_REQUIRE((a->which() == wire::Response::ERROR));
      BOOST_TEST((a->getError().getCode() == wire::ErrorCode::MALFORMED));
      continue;
    }
    BOOST_TEST((a->which() == wire::Response::MUTATION), "request " << a->getId());
    applied += a->which() == wire::Response::MUTATION;
  }
  BOOST_TEST(applied == 40u);
  auto list = c.call([](wire::Request::Builder r) { r.setListCompanies(); });
  BOOST_TEST(list->getCompanies().getCompanies().size() == 40u);
}

// Item 6: the password pool's queue is bounded in total, per connection and per user, so a flood
// of password checks on one connection (or at one user) is refused at once, and someone else's
// login still gets its turn.
BOOST_AUTO_TEST_CASE(a_flood_of_password_checks_is_refused_and_others_still_log_in) {
  Daemon daemon("", "password_queue_max = 8\n");  // 2 per connection, 1 per user
  Client admin = daemon.connect();
  std::map<std::string, uint64_t> users;
  for (std::string name : {"alice", "bob"}) {
    auto created = admin.call([&](wire::Request::Builder r) { r.initCreateUser().setName(name); });
    client::checkOk(created);
    users[name] = created->getMutation().getId();
    auto set = admin.call([&](wire::Request::Builder r) {
      auto p = r.initSetPassword();
      p.setUser(users[name]);
      p.setPassword("correct horse battery");
    });
    client::checkOk(set);
  }
  auto check = [](const std::string& user, const std::string& password) {
    return [=](size_t, wire::Request::Builder r) {
      auto q = r.initCheckCredential();
      q.setUser(user);
      q.setCredential(password);
      q.setChannel(wire::Channel::UI);
    };
  };
  Client flood = daemon.connect();
  auto answers = flood.callMany(32, check("alice", "wrong password!"));
  size_t overloaded = 0;
  for (const auto& a : answers) {
    if (a->which() == wire::Response::ERROR) {
      BOOST_TEST((a->getError().getCode() == wire::ErrorCode::OVERLOADED));
      overloaded += 1;
    }
  }
  BOOST_TEST(overloaded >= 30u, overloaded << " of 32 refused");
  Client other = daemon.connect();
  auto login = other.callMany(1, check("bob", "correct horse battery"));
  BOOST_REQUIRE((login[0]->which() == wire::Response::CREDENTIAL));
  BOOST_TEST(login[0]->getCredential().getAccepted());
}

namespace {

bool closedByDaemon(Client& c) {
  try {
    c.call([](wire::Request::Builder r) { r.setPing(); });
    return false;
  } catch (const client::ClientError&) {
    return true;
  }
}

size_t rssKib(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoul(line.substr(6));
  }
  return 0;
}

}  // namespace

// Item 3: an idle connection and one that stalls inside a frame are closed after their timeouts;
// a connection in use is not.
BOOST_AUTO_TEST_CASE(idle_and_stalled_connections_are_closed) {
  Daemon daemon("[limits]\nidle_timeout_seconds = 1\nframe_timeout_seconds = 1\n");
  Client idle = daemon.connect();
  Client stalled = daemon.connect();
  uint32_t header[2] = {0, 1000};  // one segment of 8,000 bytes declared; 8 sent
  stalled.sendBytes(std::string_view(reinterpret_cast<const char*>(header), sizeof header));
  stalled.sendBytes(std::string(8, 'x'));
  Client busy = daemon.connect();
  for (int i = 0; i < 16; ++i) {  // 4 s of pings, each well within the idle timeout
    BOOST_REQUIRE((busy.call([](wire::Request::Builder r) { r.setPing(); })->which() ==
                   wire::Response::PONG));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  BOOST_TEST(closedByDaemon(idle));
  BOOST_TEST(closedByDaemon(stalled));
  std::string log = daemon.log();
  BOOST_TEST(log.find("reason=\"idle for limits.idle_timeout_seconds\"") != std::string::npos);
  BOOST_TEST(log.find("frame_timeout_seconds") != std::string::npos);
}

// The frame deadline is the pending frame's, not the stream's: a peer that pipelines pings for
// three times frame_timeout_seconds, every write ending half-way through a frame, is never cut
// off — each write completes the frame the last one began.
BOOST_AUTO_TEST_CASE(a_stream_that_always_ends_inside_a_frame_is_not_stalled) {
  Daemon daemon("[limits]\nframe_timeout_seconds = 1\n");
  Client c = daemon.connect();
  std::string frame;
  {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::Request>().setPing();
    auto words = capnp::messageToFlatArray(m);
    frame.assign(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
  }
  size_t half = frame.size() / 2;
  c.sendBytes(std::string_view(frame).substr(0, half));
  constexpr int kWrites = 150;  // 20 ms apart: 3 s
  for (int i = 0; i < kWrites; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    c.sendBytes(frame.substr(half) + frame.substr(0, half));
  }
  c.sendBytes(std::string_view(frame).substr(half));
  for (int i = 0; i <= kWrites; ++i) {
    BOOST_REQUIRE_MESSAGE((c.receive()->which() == wire::Response::PONG), "answer " << i);
  }
  BOOST_TEST(daemon.log().find("frame_timeout_seconds") == std::string::npos);
}

// Frames read in one go whose answers pass max_pending_output_bytes wait for those answers to be
// sent, and then go on by themselves: the peer need not write again (they used to wait for its
// next write, or for the frame deadline to close the connection).
BOOST_AUTO_TEST_CASE(frames_held_behind_pending_answers_go_on_once_those_are_sent) {
  Daemon daemon("[limits]\nmax_pending_output_bytes = 65536\n");
  constexpr int kRequests = 2000;
  Client c = daemon.connect();
  c.sendBytes(statsRequests(kRequests));
  for (int i = 0; i < kRequests; ++i) {
    BOOST_REQUIRE_MESSAGE((c.receive()->which() == wire::Response::STATS), "answer " << i);
  }
  BOOST_TEST(daemon.log().find("connection_closed") == std::string::npos);
}

// A peer that sends requests and takes none of the answers is closed once
// limits.send_timeout_seconds pass without the socket taking a byte (it would otherwise hold its
// slot and its unsent answers for ever); a peer that reads its answers slowly, over longer than
// the timeout, gets all of them.
BOOST_AUTO_TEST_CASE(a_peer_that_reads_no_answers_is_closed_and_a_slow_reader_is_not) {
  Daemon daemon("[limits]\nsend_timeout_seconds = 1\nmax_pending_output_bytes = 65536\n");
  constexpr int kRequests = 2000;  // their answers (the metrics) fill both sockets' buffers
  std::string requests = statsRequests(kRequests);
  Client deaf = daemon.connect();
  Client slow = daemon.connect();
  deaf.sendBytes(requests);
  slow.sendBytes(requests);
  for (int i = 0; i < kRequests; ++i) {  // 2 ms apart: over 4 s
    BOOST_REQUIRE_MESSAGE((slow.receive()->which() == wire::Response::STATS), "answer " << i);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  int deafAnswers = 0;
  try {
    for (; deafAnswers < kRequests; ++deafAnswers) deaf.receive();
  } catch (const client::ClientError&) {  // the daemon closed it: what it had sent, then the end
  }
  BOOST_TEST(deafAnswers < kRequests);
  std::string log = daemon.log();
  BOOST_TEST(countLines(log, "answers were not read within limits.send_timeout_seconds") == 1u,
             log);
}

// A connection the daemon stops reading because its requests wait for the writer
// (limits.max_in_flight) is not a peer stalling a frame: the frame deadline waits with it. Here the
// writer is held in fsync for three times frame_timeout_seconds with one mutation in flight and a
// second, whole, read but not yet handled; both are answered once the writer goes on.
BOOST_AUTO_TEST_CASE(a_connection_held_for_the_writers_answers_is_not_stalled) {
  TempDir scratch;
  std::string stall = (scratch.path() / "stall").string();
  Daemon daemon("[limits]\nframe_timeout_seconds = 1\nmax_in_flight = 1\n", "",
                stallEnvironment(stall));
  Client c = daemon.connect();
  std::ofstream(stall).put('x');
  c.sendBytes(createCompanyFrame(1, "held-1") + createCompanyFrame(2, "held-2"));
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the sweep closes a stall after 2 s
  std::filesystem::remove(stall);
  for (uint64_t id = 1; id <= 2; ++id) {
    auto a = c.receive();
    BOOST_TEST(a->getId() == id);
    BOOST_TEST((a->which() == wire::Response::MUTATION), "answer " << id);
  }
  BOOST_TEST(daemon.log().find("frame_timeout_seconds") == std::string::npos, daemon.log());
}

// Item 3: connections that declare a large frame and stall cost what they sent, not what they
// declared (the read buffer grows with the bytes that arrive).
BOOST_AUTO_TEST_CASE(declared_frames_do_not_reserve_memory) {
  Daemon daemon;
  Client first = daemon.connect();
  first.call([](wire::Request::Builder r) { r.setPing(); });
  size_t before = rssKib(daemon.pid());
  std::vector<Client> stalled;
  for (int i = 0; i < 200; ++i) {
    stalled.push_back(daemon.connect());
    uint32_t header[2] = {0, 131000};  // ~1 MiB declared, within max_frame_bytes
    stalled.back().sendBytes(std::string_view(reinterpret_cast<const char*>(header), 8));
    stalled.back().sendBytes(std::string(16, 'x'));
  }
  first.call([](wire::Request::Builder r) { r.setPing(); });  // the daemon has read them all
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  size_t grown = rssKib(daemon.pid()) - std::min(before, rssKib(daemon.pid()));
  // 200 x 1 MiB declared grew it by 205,060 KiB before; 200 x 64 KiB buffers (and a sanitizer's
  // shadow of them) stay far below.
  BOOST_TEST(grown < 128u * 1024, "RSS grew by " << grown << " KiB for 200 stalled frames");
}

// Item 3: one uid below the admin class cannot take every connection: it is held to
// max_connections_per_uid, the last slots stay for the admin class, and other uids get the rest.
BOOST_AUTO_TEST_CASE(one_uid_cannot_take_every_connection) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: needs root to connect as other uids");
    return;
  }
  Daemon daemon(
      "socket_mode = \"0666\"\n[limits]\nmax_connections = 14\nmax_connections_per_uid = 10\n"
      "admin_reserved_connections = 2\n");
  std::filesystem::permissions(daemon.dir(), std::filesystem::perms(0755));
  // A child as `uid` opens `count` connections, reports how many were answered on `report`, and
  // holds them until `release` is closed.
  int reports[2], releases[2];
  BOOST_REQUIRE(::pipe(reports) == 0 && ::pipe(releases) == 0);
  auto child = [&](uid_t uid, int count, int report, int release) {
    pid_t pid = ::fork();
    if (pid != 0) return pid;
    ::close(releases[1]);  // only the test holds the write end: closing it releases the children
    if (::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(10);
    std::vector<Client> held;
    unsigned char answered = 0;
    for (int i = 0; i < count; ++i) {
      try {
        held.push_back(daemon.connect());
        if (held.back().call([](wire::Request::Builder r) { r.setPing(); })->which() ==
            wire::Response::PONG) {
          ++answered;
        }
      } catch (...) {
      }
    }
    if (::write(report, &answered, 1) != 1) ::_exit(11);
    char byte;
    while (::read(release, &byte, 1) > 0) {
    }
    ::_exit(0);
  };
  pid_t a = child(65534, 12, reports[1], releases[0]);
  unsigned char byA = 0, byB = 0;
  BOOST_REQUIRE(::read(reports[0], &byA, 1) == 1);
  pid_t b = child(65533, 4, reports[1], releases[0]);
  BOOST_REQUIRE(::read(reports[0], &byB, 1) == 1);
  Client admin = daemon.connect();  // a reserved slot
  bool adminAnswered =
      admin.call([](wire::Request::Builder r) { r.setPing(); })->which() == wire::Response::PONG;
  ::close(releases[1]);
  for (pid_t pid : {a, b}) ::waitpid(pid, nullptr, 0);
  for (int fd : {reports[0], reports[1], releases[0]}) ::close(fd);
  BOOST_TEST(byA == 10);  // max_connections_per_uid
  BOOST_TEST(byB == 2);   // 14 - 2 reserved - 10 held by the first uid
  BOOST_TEST(adminAnswered);
  BOOST_TEST(daemon.log().find("max_connections_per_uid") != std::string::npos);
}

// Item 11: list requests are answered in pages (1,000 items unless the client asks for fewer, at
// most 10,000), with a flag and a token for the next page; a client that knows nothing of pages
// gets the first one. The CLI follows the pages to the end.
BOOST_AUTO_TEST_CASE(lists_are_answered_in_pages) {
  Daemon daemon;
  Client c = daemon.connect();
  auto ok = [&](const Client::Fill& fill) {
    auto a = c.call(fill);
    client::checkOk(a);
    return a->which() == wire::Response::MUTATION ? a->getMutation().getId() : 0;
  };
  auto created = c.callMany(10001, [](size_t i, wire::Request::Builder r) {
    r.initCreateCompany().setName(fmt::format("company-{:05}", i));
  });
  uint64_t acme = created[0]->getMutation().getId();
  // An old client: the first 1,000, and the flag.
  auto first = c.call([](wire::Request::Builder r) { r.setListCompanies(); });
  BOOST_TEST(first->getCompanies().getCompanies().size() == 1000u);
  BOOST_TEST(first->getCompanies().getMore());
  // Every page in turn: each company once, ascending.
  std::vector<uint64_t> seen;
  uint64_t token = 0;
  int pages = 0;
  do {
    auto page = c.call([&](wire::Request::Builder r) {
      r.setListCompanies();
      r.setPageSize(3000);
      r.setPageToken(token);
    });
    for (auto company : page->getCompanies().getCompanies()) seen.push_back(company.getId());
    BOOST_TEST(page->getCompanies().getMore() == (page->getCompanies().getNextPageToken() != 0));
    token = page->getCompanies().getNextPageToken();
    ++pages;
  } while (token != 0);
  BOOST_TEST(pages == 4);
  BOOST_TEST(seen.size() == 10001u);
  BOOST_TEST(std::is_sorted(seen.begin(), seen.end()));
  BOOST_TEST((std::adjacent_find(seen.begin(), seen.end()) == seen.end()));
  // The CLI asks for 10,000 a page and prints all 10,001.
  Run listed = daemon.cli({"--json", "company", "list"});
  BOOST_TEST(listed.status == 0);
  BOOST_TEST(listed.out.find("company-00000") != std::string::npos);
  BOOST_TEST(listed.out.find("company-10000") != std::string::npos);  // from the second page

  // The catalog: names from firstBit on.
  ok([](wire::Request::Builder r) {
    auto names = r.initDefinePermissions(25);
    for (unsigned i = 0; i < 25; ++i) names.set(i, fmt::format("p.n{:02}", i));
  });
  std::vector<std::string> names;
  token = 0;
  do {
    auto page = c.call([&](wire::Request::Builder r) {
      r.setListCatalog();
      r.setPageSize(10);
      r.setPageToken(token);
    });
    auto catalog = page->getCatalog();
    BOOST_TEST(catalog.getFirstBit() == names.size());
    for (auto name : catalog.getNames()) names.emplace_back(name.cStr());
    token = catalog.getNextPageToken();
  } while (token != 0);
  BOOST_TEST(names.size() == 25u);
  BOOST_TEST(names[24] == "p.n24");

  // Roles: the system roles, then the company's, across pages.
  for (int i = 0; i < 3; ++i) {
    ok([&](wire::Request::Builder r) {
      auto role = r.initCreateRole();
      role.setName(fmt::format("system-{}", i));
    });
    ok([&](wire::Request::Builder r) {
      auto role = r.initCreateRole();
      role.setCompany(acme);
      role.setName(fmt::format("own-{}", i));
    });
  }
  std::vector<std::string> roles;
  token = 0;
  do {
    auto page = c.call([&](wire::Request::Builder r) {
      r.initListRoles().setCompany(acme);
      r.setPageSize(2);
      r.setPageToken(token);
    });
    for (auto role : page->getRoles().getRoles()) roles.emplace_back(role.getName().cStr());
    token = page->getRoles().getNextPageToken();
  } while (token != 0);
  BOOST_TEST((roles == std::vector<std::string>{"system-0", "system-1", "system-2", "own-0",
                                                "own-1", "own-2"}));

  // The Service Accounts view: the owned accounts, then the external ones, across pages.
  ok([](wire::Request::Builder r) { r.initDefinePermissions(1).set(0, "service_accounts.read"); });
  uint64_t other = created[1]->getMutation().getId();
  uint64_t alice = ok([](wire::Request::Builder r) { r.initCreateUser().setName("alice"); });
  ok([&](wire::Request::Builder r) {
    auto g = r.initSetGrant();
    g.setPrincipal(alice);
    g.setCompany(acme);
    g.initPermissions(1).set(0, "service_accounts.read");
  });
  for (int i = 0; i < 5; ++i) {
    uint64_t sa = ok([&](wire::Request::Builder r) {
      auto q = r.initCreateServiceAccount();
      q.setName(fmt::format("sa-{}", i));
      q.setOwnerCompany(i < 3 ? acme : other);
    });
    if (i >= 3) {
      ok([&](wire::Request::Builder r) {
        auto g = r.initSetGrant();
        g.setPrincipal(sa);
        g.setCompany(acme);
      });
    }
  }
  std::vector<std::string> rows;
  token = 0;
  do {
    auto page = c.call([&](wire::Request::Builder r) {
      r.setActor(alice);
      r.setActiveCompany(acme);
      r.setSaList();
      r.setPageSize(2);
      r.setPageToken(token);
    });
    BOOST_REQUIRE((page->which() == wire::Response::SA_VIEW));
    for (auto row : page->getSaView().getRows()) rows.emplace_back(row.getName().cStr());
    token = page->getSaView().getNextPageToken();
  } while (token != 0);
  BOOST_TEST((rows == std::vector<std::string>{"sa-0", "sa-1", "sa-2", "sa-3", "sa-4"}));
}
