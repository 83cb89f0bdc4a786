// The installed layout (`cmake --install` into a temporary prefix): the daemon, the CLI, the units,
// the configuration, and the C++ client's -dev part — a program builds against it through
// find_package(gatehouse) and through pkg-config, and talks to a real daemon. The program cases
// also run against the unpacked Debian packages (package_client_test, tests/CMakeLists.txt).
#define BOOST_TEST_MODULE install
#include <boost/test/unit_test.hpp>
#include <cstdlib>
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

// One prefix for every case: this build installed once with `cmake --install`, or, when
// GATEHOUSE_INSTALLED_PREFIX is set, that prefix as it is (package_client_test: the unpacked
// Debian packages' /usr, for the cases that build a program against it).
struct Installed {
  TempDir dir;
  fs::path prefix;
  Run install;
  Installed() {
    if (const char* given = std::getenv("GATEHOUSE_INSTALLED_PREFIX")) {
      prefix = given;
      install.status = fs::exists(prefix / "include/gatehouse/client.hpp") ? 0 : 1;
      install.err = "GATEHOUSE_INSTALLED_PREFIX=" + prefix.string() + " holds no gatehouse client";
      return;
    }
    prefix = dir.path() / "usr";
    install = runProcess(
        {"/usr/bin/cmake", "--install", GATEHOUSE_BINARY_DIR, "--prefix", prefix.string()});
  }
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
        "lib/tmpfiles.d/gatehouse.conf", "etc/gatehouse/gatehoused.toml",
        "share/bash-completion/completions/gatehouse", "share/man/man5/gatehoused.toml.5",
        "include/gatehouse/client.hpp", "include/gatehouse/gatehouse.capnp.h",
        "share/gatehouse/gatehouse.capnp", "share/doc/gatehouse/operations.md",
        "share/man/man8/gatehoused.8", "share/man/man1/gatehouse.1"}) {
    BOOST_TEST(fs::exists(i.prefix / file), file);
  }
  // Only the Debian packages carry these (EXCLUDE_FROM_ALL in packaging/debian.cmake).
  BOOST_TEST(!fs::exists(i.prefix / "share/doc/gatehouse/copyright"));
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

// With the prefix /usr the configuration and the units go where Debian 12 looks for them, outside
// the prefix (CMakeLists.txt, gatehouse_install_system_files).
BOOST_AUTO_TEST_CASE(with_the_prefix_usr_configuration_and_units_leave_the_prefix) {
  TempDir root;
  Run install = runProcess({"/usr/bin/cmake", "--install", GATEHOUSE_BINARY_DIR, "--prefix", "/usr",
                            "--component", "runtime"},
                           "", {"DESTDIR=" + root.path().string()});
  BOOST_REQUIRE_MESSAGE(install.status == 0, install.out + install.err);
  for (const char* file :
       {"etc/gatehouse/gatehoused.toml", "lib/systemd/system/gatehoused.service",
        "lib/systemd/system/gatehoused.socket", "usr/sbin/gatehoused",
        "usr/lib/sysusers.d/gatehouse.conf", "usr/lib/tmpfiles.d/gatehouse.conf"}) {
    BOOST_TEST(fs::exists(root.path() / file), file);
  }
  BOOST_TEST(!fs::exists(root.path() / "usr/etc"));
  BOOST_TEST(!fs::exists(root.path() / "usr/lib/systemd"));
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
