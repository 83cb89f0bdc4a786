// The Debian packages (packaging/debian.cmake) that the package_build fixture made from this build
// with CPack and unpacked into one root: lintian finds no error; each package holds its files,
// conffile, maintainer scripts and dependencies; dpkg installs, upgrades, removes and purges
// gatehouse in a temporary root (`dpkg --root`, scripts run with DPKG_ROOT) with the effects
// docs/operations.md describes; the unpacked daemon serves and the unpacked CLI pings it; the
// unpacked gatehouse-benchmark finds the unpacked daemon for --scratch; the man pages render; the
// bash completion completes from the programs' own --help.
#define BOOST_TEST_MODULE package
#include <sys/stat.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_fixture.hpp"

using namespace gatehouse::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kPackageDir = GATEHOUSE_PACKAGE_DIR;
const fs::path kRoot = kPackageDir / "root";  // both packages unpacked
const std::string kVersion = GATEHOUSE_VERSION;

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The .deb of `name` ("gatehouse", "gatehouse-dev") at this version, whatever the architecture.
fs::path deb(const std::string& name) {
  std::string prefix = name + "_" + kVersion + "_";
  for (const auto& entry : fs::directory_iterator(kPackageDir / "cpack")) {
    std::string file = entry.path().filename().string();
    if (file.starts_with(prefix) && file.ends_with(".deb")) return entry.path();
  }
  throw std::runtime_error("no " + prefix + "*.deb in " + (kPackageDir / "cpack").string());
}

// The paths `dpkg-deb -c` lists ("./usr/sbin/gatehoused"), each with its mode and owner column.
std::map<std::string, std::string> contents(const fs::path& package) {
  Run list = runProcess({GATEHOUSE_DPKG_DEB, "-c", package.string()});
  if (list.status != 0) throw std::runtime_error("dpkg-deb -c failed: " + list.err);
  std::map<std::string, std::string> files;
  for (const std::string& line : lines(list.out)) {
    size_t path = line.find(" ./");
    if (path == std::string::npos) continue;
    std::string name = line.substr(path + 1, line.find(" -> ") - path - 1);
    files[name] = line.substr(0, line.find(' ', line.find(' ') + 1));  // "-rwxr-xr-x root/root"
  }
  return files;
}

std::string field(const fs::path& package, const std::string& name) {
  return runProcess({GATEHOUSE_DPKG_DEB, "-f", package.string(), name}).out;
}

fs::perms permissions(const fs::path& path) { return fs::status(path).permissions(); }

// The value of `key=` in a systemd unit.
std::string unitValue(const std::string& unit, const std::string& key) {
  for (const std::string& line : lines(unit)) {
    if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(lintian_reports_no_errors) {
  for (const char* name : {"gatehouse", "gatehouse-dev"}) {
    Run lintian = runProcess({GATEHOUSE_LINTIAN, deb(name).string()});
    BOOST_TEST(lintian.status == 0, name << ":\n" << lintian.out << lintian.err);
    for (const std::string& line : lines(lintian.out)) {
      BOOST_TEST(!line.starts_with("E: "), line);
    }
    BOOST_TEST_MESSAGE("lintian " << name << ":\n" << lintian.out);
  }
}

BOOST_AUTO_TEST_CASE(the_main_package_holds_the_daemon_the_cli_and_their_companions) {
  auto files = contents(deb("gatehouse"));
  for (const char* file :
       {"./usr/sbin/gatehoused", "./usr/bin/gatehouse", "./usr/bin/gatehouse-benchmark",
        "./lib/systemd/system/gatehoused.service", "./lib/systemd/system/gatehoused.socket",
        "./usr/lib/sysusers.d/gatehouse.conf", "./usr/lib/tmpfiles.d/gatehouse.conf",
        "./etc/gatehouse/gatehoused.toml", "./usr/share/man/man1/gatehouse.1.gz",
        "./usr/share/man/man1/gatehouse-benchmark.1.gz", "./usr/share/man/man8/gatehoused.8.gz",
        "./usr/share/man/man5/gatehoused.toml.5.gz",
        "./usr/share/bash-completion/completions/gatehouse",
        "./usr/share/bash-completion/completions/gatehouse-benchmark",
        "./usr/share/doc/gatehouse/copyright", "./usr/share/doc/gatehouse/performance.md",
        "./usr/share/doc/gatehouse/changelog.gz", "./usr/share/doc/gatehouse/operations.md",
        "./usr/share/doc/gatehouse/README.md"}) {
    BOOST_TEST(files.contains(file), file);
  }
  BOOST_TEST(files["./usr/sbin/gatehoused"] == "-rwxr-xr-x root/root");
  BOOST_TEST(files["./usr/bin/gatehouse"] == "-rwxr-xr-x root/root");
  BOOST_TEST(files["./usr/bin/gatehouse-benchmark"] == "-rwxr-xr-x root/root");
  BOOST_TEST(files["./etc/gatehouse/gatehoused.toml"] == "-rw-r--r-- root/root");
  for (const auto& [file, mode] : files) {
    BOOST_TEST(!file.starts_with("./usr/include"), file);
    BOOST_TEST(!file.starts_with("./usr/lib/systemd"), file << ": Debian 12 wants /lib/systemd");
  }

  TempDir control;
  Run extract = runProcess(
      {GATEHOUSE_DPKG_DEB, "-e", deb("gatehouse").string(), (control.path() / "DEBIAN").string()});
  BOOST_REQUIRE_MESSAGE(extract.status == 0, extract.err);
  BOOST_TEST(readFile(control.path() / "DEBIAN/conffiles") == "/etc/gatehouse/gatehoused.toml\n");
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    BOOST_TEST((permissions(control.path() / "DEBIAN" / script) ==
                (fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                 fs::perms::others_read | fs::perms::others_exec)),
               script);
  }

  // The state directory made at installation is the one the unit makes on start.
  std::string unit = readFile(kRoot / "lib/systemd/system/gatehoused.service");
  std::string tmpfiles = readFile(kRoot / "usr/lib/tmpfiles.d/gatehouse.conf");
  std::string expected = "d /var/lib/" + unitValue(unit, "StateDirectory") + " " +
                         unitValue(unit, "StateDirectoryMode") + " " + unitValue(unit, "User") +
                         " " + unitValue(unit, "Group") + " -\n";
  BOOST_TEST(expected == "d /var/lib/gatehouse 0700 gatehouse gatehouse -\n");
  BOOST_TEST(contains(tmpfiles, "\n" + expected), tmpfiles);
  BOOST_TEST(contains(readFile(kRoot / "usr/lib/sysusers.d/gatehouse.conf"), "\nu gatehouse "));
  BOOST_TEST(unitValue(unit, "LoadCredential") == "pepper:/etc/gatehouse/pepper");
}

// Depends names the package of every shared library the binaries load (dpkg-shlibdeps), and what
// the maintainer scripts run.
BOOST_AUTO_TEST_CASE(the_main_package_depends_on_what_its_binaries_load) {
  std::string depends = field(deb("gatehouse"), "Depends");
  BOOST_TEST(contains(depends, "systemd | systemd-standalone-sysusers"), depends);
  std::set<std::string> needed;  // the binaries' own DT_NEEDED entries
  for (const char* binary :
       {"usr/sbin/gatehoused", "usr/bin/gatehouse", "usr/bin/gatehouse-benchmark"}) {
    Run readelf = runProcess({"/usr/bin/readelf", "--dynamic", (kRoot / binary).string()});
    BOOST_REQUIRE_MESSAGE(readelf.status == 0, readelf.err);
    for (const std::string& line : lines(readelf.out)) {
      size_t open = line.find("(NEEDED)");
      if (open == std::string::npos) continue;
      open = line.find('[', open);
      needed.insert(line.substr(open + 1, line.find(']', open) - open - 1));
    }
  }
  BOOST_TEST(needed.contains("libcapnp-0.9.2.so"));
  std::string entries = ", " + depends.substr(0, depends.find('\n')) + ",";
  for (const std::string& soname : needed) {
    // "libc6:amd64: /lib/x86_64-linux-gnu/libm.so.6", "libc6-i386: /usr/lib32/libm.so.6": one
    // of the packages that ship it must be listed.
    Run owners = runProcess({GATEHOUSE_DPKG, "--search", "*/" + soname});
    BOOST_REQUIRE_MESSAGE(owners.status == 0, soname << ": " << owners.err);
    bool listed = false;
    for (const std::string& line : lines(owners.out)) {
      std::string package = line.substr(0, line.find_first_of(":,"));
      listed = listed || contains(entries, ", " + package + " ") ||
               contains(entries, ", " + package + ",") || contains(entries, "| " + package + " ");
    }
    BOOST_TEST(listed, soname << " (" << owners.out << ") is missing in Depends: " << depends);
  }
}

BOOST_AUTO_TEST_CASE(the_dev_package_holds_the_client_its_schema_and_build_files) {
  auto files = contents(deb("gatehouse-dev"));
  std::string lib = std::string("./usr/") + GATEHOUSE_LIBDIR;
  for (const std::string& file : std::vector<std::string>{
           "./usr/include/gatehouse/client.hpp", "./usr/include/gatehouse/gatehouse.capnp.h",
           lib + "/libgatehouse_client.a", lib + "/libgatehouse_protocol.a",
           lib + "/libgatehouse_wire.a", "./usr/share/gatehouse/gatehouse.capnp",
           lib + "/cmake/gatehouse/gatehouseConfig.cmake", lib + "/pkgconfig/gatehouse.pc",
           "./usr/share/doc/gatehouse-dev/copyright",
           "./usr/share/doc/gatehouse-dev/changelog.gz"}) {
    BOOST_TEST(files.contains(file), file);
  }
  for (const auto& [file, mode] : files) {
    BOOST_TEST(!file.starts_with("./usr/sbin"), file);
    BOOST_TEST(!file.starts_with("./etc"), file);
  }
  std::string depends = field(deb("gatehouse-dev"), "Depends");
  BOOST_TEST(contains(depends, "gatehouse (= " + kVersion + ")"), depends);
  BOOST_TEST(contains(depends, "libcapnp-dev"), depends);
  BOOST_TEST(contains(depends, "libfmt-dev"), depends);
}

namespace {

// A root directory for `dpkg --root`: an empty dpkg database. The maintainer scripts run outside
// a chroot with DPKG_ROOT set, as in a bootstrap, so nothing on this host changes.
struct DpkgRoot {
  TempDir dir;
  fs::path root = dir.path();
  DpkgRoot() {
    fs::create_directories(root / "var/lib/dpkg/info");
    fs::create_directories(root / "var/lib/dpkg/updates");
    fs::create_directories(root / "etc");
    std::ofstream(root / "var/lib/dpkg/status").close();
    std::ofstream(root / "var/lib/dpkg/available").close();
  }
  Run dpkg(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{GATEHOUSE_DPKG,    "--root=" + root.string(),
                                  "--log=/dev/null", "--force-script-chrootless",
                                  "--force-depends", "--force-not-root"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runProcess(argv);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(dpkg_installs_upgrades_removes_and_purges_gatehouse) {
  DpkgRoot r;
  const fs::path& root = r.root;
  Run install = r.dpkg({"--install", deb("gatehouse").string()});
  BOOST_REQUIRE_MESSAGE(install.status == 0, install.out + install.err);

  // postinst: the user, the state directory, the pepper, the socket enabled (not started here).
  std::vector<std::string> users = lines(readFile(root / "etc/passwd"));
  BOOST_TEST(std::any_of(users.begin(), users.end(),
                         [](const std::string& user) { return user.starts_with("gatehouse:x:"); }));
  BOOST_TEST(fs::is_directory(root / "var/lib/gatehouse"));
  BOOST_TEST((permissions(root / "var/lib/gatehouse") == fs::perms::owner_all));
  fs::path pepper = root / "etc/gatehouse/pepper";
  BOOST_REQUIRE(fs::exists(pepper));
  BOOST_TEST(fs::file_size(pepper) == 32u);
  BOOST_TEST((permissions(pepper) == (fs::perms::owner_read | fs::perms::owner_write)));
  struct stat owner {};
  BOOST_REQUIRE(::stat(pepper.c_str(), &owner) == 0);
  BOOST_TEST(owner.st_uid == 0u);
  BOOST_TEST(owner.st_gid == 0u);
  BOOST_TEST(fs::is_symlink(root / "etc/systemd/system/sockets.target.wants/gatehoused.socket"));
  BOOST_TEST(!fs::exists(root / "etc/systemd/system/multi-user.target.wants/gatehoused.service"));
  Run status = r.dpkg({"--status", "gatehouse"});
  BOOST_TEST(contains(status.out, "Conffiles:\n /etc/gatehouse/gatehoused.toml "), status.out);

  // An upgrade (here: the same version again) keeps the pepper's bytes.
  std::string bytes = readFile(pepper);
  Run upgrade = r.dpkg({"--install", deb("gatehouse").string()});
  BOOST_REQUIRE_MESSAGE(upgrade.status == 0, upgrade.out + upgrade.err);
  BOOST_TEST(readFile(pepper) == bytes);

  // Remove keeps the data, the pepper and the configuration.
  fs::create_directories(root / "var/lib/gatehouse/data");
  std::ofstream(root / "var/lib/gatehouse/data/data.mdb") << "graph";
  Run remove = r.dpkg({"--remove", "gatehouse"});
  BOOST_REQUIRE_MESSAGE(remove.status == 0, remove.out + remove.err);
  BOOST_TEST(!fs::exists(root / "usr/sbin/gatehoused"));
  BOOST_TEST(readFile(root / "var/lib/gatehouse/data/data.mdb") == "graph");
  BOOST_TEST(readFile(pepper) == bytes);
  BOOST_TEST(fs::exists(root / "etc/gatehouse/gatehoused.toml"));

  // Purge deletes them, and says so.
  Run purge = r.dpkg({"--purge", "gatehouse"});
  BOOST_REQUIRE_MESSAGE(purge.status == 0, purge.out + purge.err);
  BOOST_TEST(!fs::exists(root / "var/lib/gatehouse"));
  BOOST_TEST(!fs::exists(root / "etc/gatehouse"));
  BOOST_TEST(contains(purge.err, "purged /var/lib/gatehouse"), purge.err);
}

BOOST_AUTO_TEST_CASE(a_pepper_beside_the_data_is_kept_at_installation) {
  DpkgRoot r;
  fs::create_directories(r.root / "var/lib/gatehouse");
  std::string bytes(32, '\x5a');
  std::ofstream(r.root / "var/lib/gatehouse/pepper", std::ios::binary) << bytes;
  fs::permissions(r.root / "var/lib/gatehouse/pepper",
                  fs::perms::owner_read | fs::perms::owner_write);
  Run install = r.dpkg({"--install", deb("gatehouse").string()});
  BOOST_REQUIRE_MESSAGE(install.status == 0, install.out + install.err);
  BOOST_TEST(readFile(r.root / "etc/gatehouse/pepper") == bytes);
  BOOST_TEST(contains(install.err, "copied"), install.err);
}

BOOST_AUTO_TEST_CASE(the_unpacked_daemon_serves_and_the_unpacked_cli_pings_it) {
  fs::path daemonPath = kRoot / "usr/sbin/gatehoused";
  Run version = runProcess({daemonPath.string(), "--version"});
  BOOST_TEST(version.status == 0);
  BOOST_TEST(contains(version.out, kVersion), version.out);
  // The fixture runs the build's daemon; this launcher execs the unpacked one in its place.
  Daemon daemon("", "", {}, [&](const std::string&) {
    return std::vector<std::string>{"/bin/sh", "-c", "shift; exec \"$0\" \"$@\"",
                                    daemonPath.string()};
  });
  BOOST_TEST(fs::read_symlink("/proc/" + std::to_string(daemon.pid()) + "/exe") == daemonPath);
  Run ping =
      runProcess({(kRoot / "usr/bin/gatehouse").string(), "--socket", daemon.socket(), "ping"});
  BOOST_TEST(ping.status == 0, ping.err);
  BOOST_TEST(contains(ping.out, "pong from gatehoused " + kVersion), ping.out);
}

// Installed, the benchmark starts the gatehoused installed beside it (../sbin) for --scratch.
BOOST_AUTO_TEST_CASE(the_unpacked_benchmark_runs_the_unpacked_daemon_for_scratch) {
  TempDir parent;
  fs::path dir = parent.path() / "scratch";
  Run run = runProcess({(kRoot / "usr/bin/gatehouse-benchmark").string(), "--scratch", dir.string(),
                        "--principals", "20", "-n", "200"});
  BOOST_TEST(run.status == 0, run.out << run.err);
  std::string daemon = fs::canonical(kRoot / "usr/sbin/gatehoused").string();
  BOOST_TEST(contains(run.out, "starting " + daemon + " in " + dir.string()), run.out);
  BOOST_TEST(contains(run.out, "====== checkAccess ======"), run.out);
  BOOST_TEST(contains(run.out, "errors: 0"), run.out);
  BOOST_TEST(!fs::exists(dir));
}

BOOST_AUTO_TEST_CASE(the_man_pages_render) {
  struct Page {
    const char* file;
    const char* whatis;
    const char* text;
  };
  for (const Page& page :
       {Page{"man1/gatehouse.1.gz", "gatehouse - query and provision", "--timeout"},
        Page{"man1/gatehouse-benchmark.1.gz",
             "gatehouse-benchmark - measure the throughput and latency", "--scratch"},
        Page{"man8/gatehoused.8.gz", "gatehoused - the gatehouse authorization daemon", "--config"},
        Page{"man5/gatehoused.toml.5.gz", "gatehoused.toml - configuration file of gatehoused",
             "max_frame_bytes = 1048576"}}) {
    fs::path path = kRoot / "usr/share/man" / page.file;
    Run man = runProcess({GATEHOUSE_MAN, "--warnings", "--local-file", path.string()}, "",
                         {"MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8"});
    BOOST_TEST(man.status == 0, page.file << ": " << man.err);
    BOOST_TEST(man.err.empty(), page.file << ": " << man.err);  // groff's warnings
    BOOST_TEST(contains(man.out, "NAME"), page.file);
    BOOST_TEST(contains(man.out, page.text), page.file << ":\n" << man.out);
    Run whatis = runProcess({GATEHOUSE_LEXGROG, path.string()});
    BOOST_TEST(whatis.status == 0, page.file << ": " << whatis.out);
    BOOST_TEST(contains(whatis.out, page.whatis), whatis.out);
  }
}

namespace {

// The subcommands a --help lists (CLI11's "Subcommands:" section), in order.
std::vector<std::string> helpSubcommands(const std::vector<std::string>& command) {
  std::vector<std::string> argv = command;
  argv.push_back("--help");
  Run help = runProcess(argv);
  std::vector<std::string> names;
  bool inSection = false;
  for (const std::string& line : lines(help.out)) {
    if (!line.empty() && line.back() == ':' && line[0] != ' ') {
      inSection = line == "Subcommands:" || line == "SUBCOMMANDS:";
    } else if (inSection && line.starts_with("  ") && line[2] != ' ') {
      names.push_back(line.substr(2, line.find(' ', 2) - 2));
    }
  }
  return names;
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Completes each of `commandLines` (the last word is the one being completed) with the packaged
// completion, the unpacked CLI first in PATH; `prelude` runs first. One line of COMPREPLY each.
std::vector<std::string> complete(const std::vector<std::string>& commandLines,
                                  const std::string& prelude = "") {
  std::string script =
      prelude + "\nsource '" +
      (kRoot / "usr/share/bash-completion/completions/gatehouse").string() +
      "'\n"
      "c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _gatehouse;"
      " printf '%s\\n' \"${COMPREPLY[*]}\"; }\n";
  for (const std::string& line : commandLines) script += "c " + line + "\n";
  Run bash = runProcess({GATEHOUSE_BASH, "-c", script}, "",
                        {"PATH=" + (kRoot / "usr/bin").string() + ":/usr/bin:/bin"});
  BOOST_TEST(bash.err.empty(), bash.err);
  return lines(bash.out);
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_bash_completion_completes_subcommands_and_options) {
  std::string cli = (kRoot / "usr/bin/gatehouse").string();
  std::vector<std::string> top = helpSubcommands({cli});
  std::vector<std::string> serviceAccount = helpSubcommands({cli, "sa"});
  std::vector<std::string> keys = helpSubcommands({cli, "sa", "key"});
  BOOST_REQUIRE(top.size() > 10);
  BOOST_TEST(joined(top).starts_with("check check-batch permissions ping health"), joined(top));

  TempDir dir;
  std::ofstream(dir.path() / "gh.sock").close();
  std::vector<std::string> replies = complete({
      "gatehouse ''",
      "gatehouse sa ''",
      "gatehouse --json sa key ''",
      "gatehouse sa k",
      "gatehouse --ti",
      "gatehouse grant set PRINCIPAL --",
      "gatehouse --socket '" + (dir.path() / "gh").string() + "'",
      "gatehouse --timeout ''",
  });
  BOOST_REQUIRE_EQUAL(replies.size(), 8u);
  BOOST_TEST(replies[0] == joined(top));
  BOOST_TEST(replies[1] == joined(serviceAccount));
  BOOST_TEST(contains(replies[1], "key"));
  BOOST_TEST(replies[2] == joined(keys));
  BOOST_TEST(contains(replies[2], "rotate"));
  BOOST_TEST(replies[3] == "key");
  BOOST_TEST(replies[4] == "--timeout");
  // A command's own options, then the global ones.
  BOOST_TEST(replies[5].starts_with("--perm --role --until --for --help --socket --timeout"),
             replies[5]);
  BOOST_TEST(contains(replies[5], "--company"));
  BOOST_TEST(replies[6] == (dir.path() / "gh.sock").string());
  BOOST_TEST(replies[7] == "");  // a value to type

  // gatehouse-benchmark, from the same file: an option's choices, a file after a FILE option, and
  // a flag that "Needs:" another (--keep) is not taken for an option with a value.
  replies = complete({
      "gatehouse-benchmark --mo",
      "gatehouse-benchmark --mode ''",
      "gatehouse-benchmark -t ''",
      "gatehouse-benchmark --keys '" + (dir.path() / "gh").string() + "'",
      "gatehouse-benchmark --keep --jso",
      "gatehouse-benchmark -c ''",
  });
  BOOST_REQUIRE_EQUAL(replies.size(), 6u);
  BOOST_TEST(replies[0] == "--mode");
  BOOST_TEST(replies[1] == "pingpong pipelined concurrent");
  BOOST_TEST(replies[2] == "authorize checkAccess");
  BOOST_TEST(replies[3] == (dir.path() / "gh.sock").string());
  BOOST_TEST(replies[4] == "--json");
  BOOST_TEST(replies[5] == "");  // a value to type

  // With bash-completion: its loader finds the file where the package puts it, and file names
  // after --socket come from its _filedir.
  std::string bashCompletion =
      "source /usr/share/bash-completion/bash_completion\n"
      "XDG_DATA_DIRS='" +
      (kRoot / "usr/share").string() +
      "'\n"
      "__load_completion gatehouse && complete -p gatehouse\n"
      "__load_completion gatehouse-benchmark && complete -p gatehouse-benchmark\n";
  replies =
      complete({"gatehouse sa key ''", "gatehouse --socket '" + (dir.path() / "gh").string() + "'"},
               bashCompletion);
  BOOST_REQUIRE_EQUAL(replies.size(), 4u);
  BOOST_TEST(replies[0] == "complete -F _gatehouse gatehouse");
  BOOST_TEST(replies[1] == "complete -F _gatehouse gatehouse-benchmark");
  BOOST_TEST(replies[2] == joined(keys));
  BOOST_TEST(replies[3] == (dir.path() / "gh.sock").string());
}

BOOST_AUTO_TEST_CASE(the_maintainer_scripts_and_the_completion_pass_shellcheck) {
  TempDir control;
  Run extract = runProcess(
      {GATEHOUSE_DPKG_DEB, "-e", deb("gatehouse").string(), (control.path() / "DEBIAN").string()});
  BOOST_REQUIRE_MESSAGE(extract.status == 0, extract.err);
  Run scripts = runProcess(
      {GATEHOUSE_SHELLCHECK, "--shell=sh", (control.path() / "DEBIAN/postinst").string(),
       (control.path() / "DEBIAN/prerm").string(), (control.path() / "DEBIAN/postrm").string()});
  BOOST_TEST(scripts.status == 0, scripts.out);
  Run completion =
      runProcess({GATEHOUSE_SHELLCHECK, "--shell=bash",
                  (kRoot / "usr/share/bash-completion/completions/gatehouse").string()});
  BOOST_TEST(completion.status == 0, completion.out);
}
