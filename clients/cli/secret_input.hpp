// Secrets the CLI sends (API keys, passwords), read from standard input and never from the
// command line: argv is readable by every user of the machine (`ps`, /proc/PID/cmdline) and is
// kept in shell history.
//
// The secret is the first line of the input, without its "\n" or "\r\n"; nothing after that line
// is read. When the input is a terminal, a prompt goes to stderr and the line is not echoed.
//
// Caveats: the bytes live in one fixed buffer inside the Secret, which is neither copyable nor
// movable and is overwritten (explicit_bzero) when destroyed, whatever the path out. The copies
// made to send it (the Cap'n Proto request and its serialized frame, in the client library) are
// freed without being overwritten. Not thread-safe: the terminal settings and the signal handlers
// that restore them are process-wide.
#pragma once

#include <capnp/blob.h>

#include <array>
#include <cstddef>
#include <string_view>

namespace gatehouse::cli {

class Secret {
 public:
  // The schema's limit for a credential or a password.
  static constexpr size_t kMaxBytes = 1024;

  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret();

  // Reads the first line of standard input; `prompt` is shown on stderr when it is a terminal.
  // Throws CommandError (usage) when stdin is empty, the line is empty or longer than kMaxBytes,
  // or stdin cannot be read. `what` names the secret in those messages ("the API key").
  void readFromStdin(std::string_view what, std::string_view prompt);

  // The secret as Cap'n Proto text; valid as long as this Secret and until the next read.
  capnp::Text::Reader text() const { return {bytes_.data(), size_}; }

 private:
  void wipe();

  // The line, one more byte (a '\r' before the '\n', or the byte that makes it too long), and the
  // NUL that Cap'n Proto text needs.
  std::array<char, kMaxBytes + 2> bytes_{};
  size_t size_ = 0;
};

}  // namespace gatehouse::cli
