/* The kernel's floor for the socket benchmarks: a plain C echo server on a Unix socket, nothing of
 * gatehouse's in it. One thread, epoll (level-triggered), non-blocking sockets; every byte read is
 * written back as it came, so a client's 64-byte frames come back as 64-byte answers. Reads and
 * writes as much as each call allows (64 KiB at a time), as a tuned server would. What gatehoused
 * costs above it is everything a request costs beyond moving its bytes through the kernel.
 *
 *   build/bench/raw_echo SOCKET
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { kBuffer = 65536, kEvents = 64 };

struct connection {
  int fd;
  unsigned mask;  /* what epoll waits for: EPOLLIN, or EPOLLOUT while bytes are pending */
  size_t pending; /* bytes read but not yet written back */
  char data[kBuffer];
};

static void die(const char* what) {
  perror(what);
  exit(1);
}

/* Writes back what is pending; 0 when the connection is to be closed. */
static int flush(struct connection* c) {
  size_t done = 0;
  while (done < c->pending) {
    ssize_t n = send(c->fd, c->data + done, c->pending - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) return 0;
    done += (size_t)n;
  }
  memmove(c->data, c->data + done, c->pending - done);
  c->pending -= done;
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: raw_echo SOCKET\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (listener < 0) die("socket");
  if (strlen(argv[1]) >= sizeof addr.sun_path) {
    fprintf(stderr, "raw_echo: socket path too long\n");
    return 2;
  }
  strcpy(addr.sun_path, argv[1]);
  unlink(argv[1]);
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) != 0) die("bind");
  if (listen(listener, 128) != 0) die("listen");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) != 0) die("epoll_ctl");
  struct epoll_event events[kEvents];
  for (;;) {
    int n = epoll_wait(ep, events, kEvents, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      struct connection* c = events[i].data.ptr;
      if (c == NULL) { /* the listener */
        int fd;
        while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          c = calloc(1, sizeof *c);
          if (c == NULL) die("calloc");
          c->fd = fd;
          c->mask = EPOLLIN;
          struct epoll_event add = {.events = EPOLLIN, .data.ptr = c};
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &add) != 0) die("epoll_ctl");
        }
        continue;
      }
      int open = 1;
      if (c->pending == 0) { /* waiting for input: read, then write back at once */
        ssize_t got = recv(c->fd, c->data, kBuffer, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN)) open = 0;
        if (got > 0) c->pending = (size_t)got;
      }
      if (open) open = flush(c);
      unsigned want = c->pending > 0 ? EPOLLOUT : EPOLLIN; /* a slow reader: wait for room */
      if (open && want != c->mask) {
        struct epoll_event mod = {.events = want, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &mod) != 0) die("epoll_ctl");
        c->mask = want;
      }
      if (!open) {
        close(c->fd);
        free(c);
      }
    }
  }
}
