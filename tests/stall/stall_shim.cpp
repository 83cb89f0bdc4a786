// libgatehouse_stall.so, loaded into gatehoused with LD_PRELOAD by tests/systemd_test.cpp: while
// the file named by GATEHOUSE_STALL_FILE exists, every fdatasync and fsync waits — as a sync on a
// failing disk can — so the writer's commit does not return and the daemon's watchdog pings must
// stop. Removing the file lets the sync (and the commit) finish.
//
// Built without sanitizers, like the power-loss layer: it is preloaded ahead of their runtimes.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>

namespace {

// At most a minute: a test that died with its stall file in place must not leave a daemon that can
// never finish its commit (and so never stop).
void waitWhileStalled() {
  const char* path = std::getenv("GATEHOUSE_STALL_FILE");
  if (path == nullptr) return;
  for (int waited = 0; waited < 6000 && ::access(path, F_OK) == 0; ++waited) ::usleep(10000);
}

template <typename Fn>
Fn next(const char* name) {
  auto fn = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
  if (fn == nullptr) std::abort();
  return fn;
}

}  // namespace

extern "C" int fdatasync(int fd) {
  static auto real = next<int (*)(int)>("fdatasync");
  waitWhileStalled();
  return real(fd);
}

extern "C" int fsync(int fd) {
  static auto real = next<int (*)(int)>("fsync");
  waitWhileStalled();
  return real(fd);
}
