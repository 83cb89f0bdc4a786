// The log line format: quoting and escaping (a value can never forge a line or a field), and the
// journald priority prefixes when stderr is the journal.
#define BOOST_TEST_MODULE log
#include "common/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.hpp"

using namespace gatehouse;

namespace {

std::string line(std::string_view value) {
  LogField field{"v", value};
  return formatLine(Level::info, "e", std::span<const LogField>(&field, 1));
}

}  // namespace

BOOST_AUTO_TEST_CASE(plain_values_are_bare_and_others_quoted) {
  BOOST_TEST(line("abc") == "level=info event=e v=abc\n");
  BOOST_TEST(line("") == "level=info event=e v=\"\"\n");
  BOOST_TEST(line("a b") == "level=info event=e v=\"a b\"\n");
  BOOST_TEST(line("a=b") == "level=info event=e v=\"a=b\"\n");
  BOOST_TEST(line("say \"hi\" \\o/") == "level=info event=e v=\"say \\\"hi\\\" \\\\o/\"\n");
  BOOST_TEST(line("ünïcode") == "level=info event=e v=ünïcode\n");
}

BOOST_AUTO_TEST_CASE(control_characters_are_escaped_so_no_line_can_be_forged) {
  BOOST_TEST(line("a\nlevel=error event=forged") ==
             "level=info event=e v=\"a\\nlevel=error event=forged\"\n");
  BOOST_TEST(line("tab\there\rcr") == "level=info event=e v=\"tab\\there\\rcr\"\n");
  BOOST_TEST(line(std::string("nul\0bell\a\x1b[31m\x7f", 15)) ==
             "level=info event=e v=\"nul\\x00bell\\x07\\x1b[31m\\x7f\"\n");
}

// With stderr redirected to a file that JOURNAL_STREAM names, lines carry their priority.
BOOST_AUTO_TEST_CASE(priorities_are_prefixed_only_when_stderr_is_the_journal) {
  testing::TempDir dir;
  std::string path = (dir.path() / "stderr").string();
  int saved = ::dup(STDERR_FILENO);
  int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  BOOST_REQUIRE(saved >= 0 && file >= 0);
  ::dup2(file, STDERR_FILENO);
  struct stat st {};
  ::fstat(file, &st);

  ::setenv("JOURNAL_STREAM", "1:2", 1);  // another stream: no prefixes
  detectJournal();
  logLine(Level::warning, "not_journal");
  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(),
           1);
  detectJournal();
  logLine(Level::error, "failed");
  logLine(Level::warning, "warned");
  logLine(Level::info, "noted");
  ::unsetenv("JOURNAL_STREAM");
  detectJournal();

  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(file);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  BOOST_TEST(text.str() ==
             "level=warning event=not_journal\n"
             "<3>level=error event=failed\n"
             "<4>level=warning event=warned\n"
             "<6>level=info event=noted\n");
}
