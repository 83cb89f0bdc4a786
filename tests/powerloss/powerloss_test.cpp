// The power-loss layer on a scripted write sequence (powerloss_probe, run under the layer and
// killed with SIGKILL): after recovery the data file must hold what was durable at the kill —
// the state at the last fdatasync plus the writes through the O_DSYNC descriptor — and nothing
// else; files that are not data.mdb are not touched.
#define BOOST_TEST_MODULE powerloss
#include "powerloss.hpp"

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon_fixture.hpp"

using namespace gatehouse::testing;
namespace powerloss = gatehouse::powerloss;

namespace {

std::string contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void append(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

// Runs the probe's `scenario` in `dir` and checks it got as far as killing itself.
void runProbe(const std::filesystem::path& dir, const std::string& scenario) {
  Run run = runProcess({GATEHOUSE_POWERLOSS_PROBE, dir.string(), scenario}, "",
                       powerloss::preloadEnvironment(dir / "undo.log"));
  BOOST_REQUIRE_MESSAGE(run.status == -1 && run.out == "killing\n",
                        "probe " << scenario << ": status " << run.status << ", output '" << run.out
                                 << "', errors:\n"
                                 << run.err);
}

// What the file held before the probe ran: not a multiple of the page size, so that a revert that
// gets the size wrong shows.
std::string original() {
  std::string bytes;
  for (int i = 0; i < 6000; ++i) bytes.push_back(static_cast<char>('a' + i % 23));
  return bytes;
}

}  // namespace

BOOST_AUTO_TEST_CASE(what_was_durable_at_the_kill_is_kept_and_nothing_else) {
  TempDir dir;
  runProbe(dir.path(), "synced");
  auto stats = powerloss::recoverFromUndoLog(dir.path() / "data.mdb", dir.path() / "undo.log");
  // A at 0 (synced); C at 1024 and D at 16384 (O_DSYNC); the zeros between A's end and D are the
  // hole D's write leaves once the unsynced writes that grew the file are gone.
  std::string expected = std::string(1024, 'A') + std::string(512, 'C') +
                         std::string(8192 - 1536, 'A') + std::string(16384 - 8192, '\0') +
                         std::string(512, 'D');
  BOOST_TEST((contents(dir.path() / "data.mdb") == expected));
  BOOST_TEST(stats.records == 6u);
  BOOST_TEST(stats.reappliedWrites == 2u);
  BOOST_TEST(stats.droppedWrites == 4u);
  BOOST_TEST(stats.droppedBytes == 8192u + 100u + 100u + 4096u);
  BOOST_TEST(!stats.tornTail);
  BOOST_TEST((contents(dir.path() / "other.dat") == std::string(100, 'O')));
  // The log is consumed: recovering again changes nothing.
  BOOST_TEST(std::filesystem::file_size(dir.path() / "undo.log") == 0u);
  BOOST_TEST(
      powerloss::recoverFromUndoLog(dir.path() / "data.mdb", dir.path() / "undo.log").records ==
      0u);
  BOOST_TEST((contents(dir.path() / "data.mdb") == expected));
}

BOOST_AUTO_TEST_CASE(without_a_sync_every_write_is_dropped) {
  TempDir dir;
  append(dir.path() / "data.mdb", original());
  runProbe(dir.path(), "unsynced");
  BOOST_TEST(contents(dir.path() / "data.mdb").size() == 16384u);  // what the process saw
  auto stats = powerloss::recoverFromUndoLog(dir.path() / "data.mdb", dir.path() / "undo.log");
  BOOST_TEST((contents(dir.path() / "data.mdb") == original()));
  BOOST_TEST(stats.records == 2u);
  BOOST_TEST(stats.droppedWrites == 2u);
  BOOST_TEST(stats.droppedBytes == 16384u);
}

BOOST_AUTO_TEST_CASE(an_incomplete_record_at_the_end_of_the_log_is_ignored) {
  // The kill landed while a record was being appended: the write it describes had not started.
  // The torn record claims a durable write of 'X' at 0, which must not reach the file.
  powerloss::UndoRecordHeader h;
  h.length = 4096;
  h.sizeBefore = 16384;
  h.oldLength = 4096;
  h.newLength = 4096;
  h.durableLength = 4096;
  std::string record(reinterpret_cast<const char*>(&h), sizeof h);
  record += std::string(8192, 'X');  // old and new bytes
  for (size_t keep : {size_t{20}, sizeof h, record.size() - 8}) {
    BOOST_TEST_CONTEXT("torn record of " << keep << " bytes") {
      TempDir dir;
      append(dir.path() / "data.mdb", original());
      runProbe(dir.path(), "unsynced");
      append(dir.path() / "undo.log", record.substr(0, keep));
      auto stats = powerloss::recoverFromUndoLog(dir.path() / "data.mdb", dir.path() / "undo.log");
      BOOST_TEST(stats.tornTail);
      BOOST_TEST(stats.records == 2u);
      BOOST_TEST((contents(dir.path() / "data.mdb") == original()));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_log_that_is_not_one_is_refused) {
  TempDir dir;
  append(dir.path() / "data.mdb", original());
  append(dir.path() / "undo.log", std::string(100, 'Z'));
  BOOST_CHECK_THROW(powerloss::recoverFromUndoLog(dir.path() / "data.mdb", dir.path() / "undo.log"),
                    std::runtime_error);
  BOOST_TEST((contents(dir.path() / "data.mdb") == original()));
}
