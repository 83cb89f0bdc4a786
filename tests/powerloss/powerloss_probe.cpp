// Test helper for powerloss_test: run under the power-loss layer, writes a known sequence to
// DIR/data.mdb, then kills itself with SIGKILL, leaving the undo log for the test to recover.
//   powerloss_probe DIR synced    A at 0 (8 KiB), fdatasync; then, not synced: B over its second
//                                 half and beyond (lseek + writev), b at 100 (lseek + write);
//                                 through an O_DSYNC descriptor: C at 1024 and D at 16384 (past
//                                 the end); then b again over C (pwrite) and E far past the end.
//                                 Also writes DIR/other.dat, which the layer must not track.
//   powerloss_probe DIR unsynced  A at 0 (8 KiB) and B at 8 KiB, never synced.
// Prints "killing" before the kill; exits 1 with a message when a call fails.
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "powerloss_probe: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

void pwriteFill(int fd, char c, size_t length, off_t offset) {
  std::string bytes(length, c);
  check(::pwrite(fd, bytes.data(), length, offset) == static_cast<ssize_t>(length), "pwrite");
}

int openData(const std::string& dir, int flags) {
  int fd = ::open((dir + "/data.mdb").c_str(), flags, 0600);
  check(fd >= 0, "open data.mdb");
  return fd;
}

void synced(const std::string& dir) {
  int fd = openData(dir, O_RDWR | O_CREAT);
  pwriteFill(fd, 'A', 8192, 0);
  check(::fdatasync(fd) == 0, "fdatasync");

  std::string b(4096, 'B');
  iovec iov[2] = {{b.data(), b.size()}, {b.data(), b.size()}};
  check(::lseek(fd, 4096, SEEK_SET) == 4096, "lseek");
  check(::writev(fd, iov, 2) == 8192, "writev");
  std::string small(100, 'b');
  check(::lseek(fd, 100, SEEK_SET) == 100, "lseek");
  check(::write(fd, small.data(), small.size()) == 100, "write");

  int meta = openData(dir, O_WRONLY | O_DSYNC);
  pwriteFill(meta, 'C', 512, 1024);
  pwriteFill(meta, 'D', 512, 16384);
  pwriteFill(fd, 'b', 100, 1200);
  pwriteFill(fd, 'E', 4096, 65536);

  int other = ::open((dir + "/other.dat").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  check(other >= 0, "open other.dat");
  pwriteFill(other, 'O', 100, 0);
  check(::close(other) == 0, "close other.dat");
}

void unsynced(const std::string& dir) {
  int fd = openData(dir, O_RDWR | O_CREAT);
  pwriteFill(fd, 'A', 8192, 0);
  pwriteFill(fd, 'B', 8192, 8192);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: powerloss_probe DIR synced|unsynced\n");
    return 2;
  }
  std::string_view scenario = argv[2];
  if (scenario == "synced") {
    synced(argv[1]);
  } else if (scenario == "unsynced") {
    unsynced(argv[1]);
  } else {
    std::fprintf(stderr, "powerloss_probe: unknown scenario %s\n", argv[2]);
    return 2;
  }
  std::printf("killing\n");
  std::fflush(stdout);
  std::raise(SIGKILL);
  return 3;
}
