// The installed layout (`cmake --install` into a temporary prefix): the daemon, the CLI, the units,
// the configuration, and the C++ client's -dev part — a program builds against it through
// find_package(gatehouse) and through pkg-config, and talks to a real daemon.
#define BOOST_TEST_MODULE install
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon_fixture.hpp"

using namespace gatehouse::testing;
namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One prefix for every case: installed once.
struct Installed {
  TempDir dir;
  fs::path prefix = dir.path() / "usr";
  Run install = runProcess(
      {"/usr/bin/cmake", "--install", GATEHOUSE_BINARY_DIR, "--prefix", prefix.string()});
};

Installed& installed() {
  static Installed i;
  return i;
}

fs::path find(const fs::path& root, const std::string& name) {
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.path().filename() == name) return entry.path();
  }
  return {};
}

}  // namespace

BOOST_AUTO_TEST_CASE(everything_lands_where_a_package_puts_it) {
  Installed& i = installed();
  BOOST_REQUIRE_MESSAGE(i.install.status == 0, i.install.out + i.install.err);
  for (const char* file :
       {"sbin/gatehoused", "bin/gatehouse", "lib/systemd/system/gatehoused.service",
        "lib/systemd/system/gatehoused.socket", "lib/sysusers.d/gatehouse.conf",
        "include/gatehouse/client.hpp", "include/gatehouse/gatehouse.capnp.h",
        "share/gatehouse/gatehouse.capnp", "share/doc/gatehouse/operations.md",
        "share/man/man8/gatehoused.8", "share/man/man1/gatehouse.1"}) {
    BOOST_TEST(fs::exists(i.prefix / file), file);
  }
  BOOST_TEST(!find(i.prefix, "gatehoused.toml").empty());
  BOOST_TEST(!find(i.prefix, "gatehouseConfig.cmake").empty());
  BOOST_TEST(!find(i.prefix, "gatehouse.pc").empty());
  BOOST_TEST(readFile(i.prefix / "share/man/man8/gatehoused.8").find(".TH GATEHOUSED \"8\"") !=
             std::string::npos);
  BOOST_TEST(readFile(i.prefix / "share/man/man1/gatehouse.1").find("\\-\\-timeout") !=
             std::string::npos);
  Run version = runProcess({(i.prefix / "sbin/gatehoused").string(), "--version"});
  BOOST_TEST(version.status == 0);
  BOOST_TEST(version.out.find(GATEHOUSE_VERSION) != std::string::npos, version.out);
}

BOOST_AUTO_TEST_CASE(a_program_builds_with_find_package_and_pings_the_daemon) {
  Installed& i = installed();
  BOOST_REQUIRE(i.install.status == 0);
  TempDir project;
  fs::copy_file(fs::path(GATEHOUSE_SOURCE_DIR) / "tests/install/app.cpp",
                project.path() / "app.cpp");
  fs::copy_file(fs::path(GATEHOUSE_SOURCE_DIR) / "tests/install/CMakeLists.txt.in",
                project.path() / "CMakeLists.txt");
  fs::path build = project.path() / "build";
  Run configure = runProcess({"/usr/bin/cmake", "-S", project.path().string(), "-B", build.string(),
                              "-DCMAKE_PREFIX_PATH=" + i.prefix.string(),
                              std::string("-DCMAKE_CXX_FLAGS=") + GATEHOUSE_CONSUMER_FLAGS});
  BOOST_REQUIRE_MESSAGE(configure.status == 0, configure.out + configure.err);
  Run compile = runProcess({"/usr/bin/cmake", "--build", build.string()});
  BOOST_REQUIRE_MESSAGE(compile.status == 0, compile.out + compile.err);
  Daemon daemon;
  Run ping = runProcess({(build / "app").string(), daemon.socket()});
  BOOST_TEST(ping.status == 0, ping.err);
  BOOST_TEST(ping.out == "pong\n");
}

BOOST_AUTO_TEST_CASE(a_program_builds_with_pkg_config_and_pings_the_daemon) {
  Installed& i = installed();
  BOOST_REQUIRE(i.install.status == 0);
  fs::path pc = find(i.prefix, "gatehouse.pc");
  BOOST_REQUIRE(!pc.empty());
  TempDir out;
  std::string app = (out.path() / "app").string();
  Run compile = runProcess(
      {"/bin/sh", "-c",
       "g++ -std=c++20 " + std::string(GATEHOUSE_CONSUMER_FLAGS) + " '" + GATEHOUSE_SOURCE_DIR +
           "/tests/install/app.cpp' -o '" + app + "' $(pkg-config --cflags --libs gatehouse)"},
      "", {"PKG_CONFIG_PATH=" + pc.parent_path().string()});
  BOOST_REQUIRE_MESSAGE(compile.status == 0, compile.out + compile.err);
  Daemon daemon;
  Run ping = runProcess({app, daemon.socket()});
  BOOST_TEST(ping.status == 0, ping.err);
  BOOST_TEST(ping.out == "pong\n");
  BOOST_TEST(readFile(pc).find("Version: " GATEHOUSE_VERSION) != std::string::npos);
}
