// How the CLI finds and reaches the daemon: the default socket in a checkout and on a production
// host, the group to join when the socket may not be opened, and the answer timeout.
#define BOOST_TEST_MODULE connection
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <string>

#include "daemon_fixture.hpp"

using namespace gatehouse::testing;

namespace {

// The CLI run in `dir` with `args`, without GATEHOUSE_SOCKET.
Run cliIn(const std::filesystem::path& dir, const std::string& args) {
  return runProcess({"/usr/bin/env", "-u", "GATEHOUSE_SOCKET", "/bin/sh", "-c",
                     "cd '" + dir.string() + "' && exec " + GATEHOUSE_CLI_PATH + " " + args});
}

}  // namespace

BOOST_AUTO_TEST_CASE(without_socket_option_a_checkout_socket_is_used_when_present) {
  Daemon daemon;
  TempDir checkout;
  std::filesystem::create_directory(checkout.path() / "var");
  std::filesystem::create_symlink(daemon.socket(), checkout.path() / "var/gatehouse.sock");
  Run run = cliIn(checkout.path(), "ping");
  BOOST_TEST(run.status == 0, run.err);
  BOOST_TEST(run.out.find("pong") != std::string::npos, run.out);
}

BOOST_AUTO_TEST_CASE(without_socket_option_elsewhere_the_system_socket_is_used) {
  TempDir elsewhere;
  Run run = cliIn(elsewhere.path(), "ping");
  BOOST_TEST(run.status == 2);
  BOOST_TEST(run.err.find("/run/gatehouse/gatehouse.sock") != std::string::npos, run.err);
  Run help = cliIn(elsewhere.path(), "--help");
  BOOST_TEST(help.out.find("./var/gatehouse.sock when it exists") != std::string::npos, help.out);
}

// A user outside the socket's group is told which group to join, not "is gatehoused running?".
// Needs root, to run the CLI as another user (setpriv); CI runs as root.
BOOST_AUTO_TEST_CASE(a_socket_that_may_not_be_opened_names_the_group_to_join) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: needs root to run the CLI as an unprivileged user");
    return;
  }
  Daemon daemon;  // socket mode 0660, group root
  std::filesystem::permissions(daemon.dir(), std::filesystem::perms::owner_all |
                                                 std::filesystem::perms::group_exec |
                                                 std::filesystem::perms::others_exec);
  Run run = runProcess({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        GATEHOUSE_CLI_PATH, "--socket", daemon.socket(), "ping"});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(run.err.find("permission denied; the socket admits members of group 'root'") !=
                 std::string::npos,
             run.err);
  BOOST_TEST(run.err.find("is gatehoused running") == std::string::npos, run.err);
}

// A daemon that accepts but never answers: the CLI gives up after --timeout.
BOOST_AUTO_TEST_CASE(an_answer_that_does_not_come_times_out) {
  TempDir dir;
  std::string path = (dir.path() / "silent.sock").string();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  BOOST_REQUIRE(::listen(fd, 4) == 0);  // the kernel completes the connection; nobody reads
  Run run = runProcess({GATEHOUSE_CLI_PATH, "--socket", path, "--timeout", "0.3", "ping"});
  BOOST_TEST(run.status == 2);
  BOOST_TEST(run.err.find("no answer within 300 ms") != std::string::npos, run.err);
  Run bad = runProcess({GATEHOUSE_CLI_PATH, "--socket", path, "--timeout", "-1", "ping"});
  BOOST_TEST(bad.status == 2);
  ::close(fd);
}
