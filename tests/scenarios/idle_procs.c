/* idle_procs <n> [cgroup_dir...]
 *
 * Load-test population (tests/bench/load.py, tests/e2e/test_load.py): forks <n> children that sleep
 * until the parent goes. Child i, for i < the number of cgroup dirs, first moves itself into cgroup dir i
 * (writes its pid to DIR/cgroup.procs), so each dir becomes a "container" holding one idle process.
 * Each child writes one byte to each of 16 pages of its own (64 KiB of private anonymous memory), so its
 * RSS is small but not only shared pages.
 *
 * Protocol (scenario_common.h): "ready <pid>" once every child is in place; then on stdin EOF or SIGTERM
 * the parent kills (SIGKILL) and reaps every child and exits 0. Children also die with the parent
 * (PR_SET_PDEATHSIG), so none outlives a parent that was killed. A child that cannot join its cgroup
 * reports it on stderr and the parent exits 1 before "ready".
 */
#include "scenario_common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define TOUCH_PAGES 16
#define PAGE 4096L

static pid_t *children;
static long forked;

static void kill_children(void) {
  for (long i = 0; i < forked; i++) kill(children[i], SIGKILL);
  for (long i = 0; i < forked; i++) waitpid(children[i], NULL, 0);
}

static int join_cgroup(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  int fd = open(path, O_WRONLY);
  if (fd < 0) return -1;
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  int ok = write(fd, pid, (size_t)len) == len;
  close(fd);
  return ok ? 0 : -1;
}

/* The child: joins its cgroup, touches its pages, says so on `ready_fd` (one byte: 1 ok, 0 failed), sleeps. */
static void child(const char *cgroup_dir, int ready_fd, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0); /* the parent went before the line above */
  char ok = 1;
  if (cgroup_dir && join_cgroup(cgroup_dir) != 0) {
    fprintf(stderr, "idle_procs: cannot join %s: %s\n", cgroup_dir, strerror(errno));
    ok = 0;
  }
  char *p = mmap(NULL, TOUCH_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED)
    for (long i = 0; i < TOUCH_PAGES; i++) p[i * PAGE] = 1;
  if (write(ready_fd, &ok, 1) != 1) _exit(1);
  close(ready_fd);
  for (;;) pause();
}

int main(int argc, char **argv) {
  long n = argc >= 2 ? scenario_parse_num(argv[1], 0, 100000) : -1;
  long dirs = argc - 2;
  if (n < 0 || dirs > n) {
    fprintf(stderr, "usage: idle_procs <n> [cgroup_dir...]   (0 <= n <= 100000, at most n dirs)\n");
    return 2;
  }
  children = calloc((size_t)(n ? n : 1), sizeof *children);
  int fds[2];
  if (!children || pipe(fds) != 0) {
    perror("idle_procs");
    return 1;
  }
  const pid_t self = getpid();
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "idle_procs: fork %ld of %ld: %s\n", i + 1, n, strerror(errno));
      kill_children();
      return 1;
    }
    if (pid == 0) {
      close(fds[0]);
      child(i < dirs ? argv[2 + i] : NULL, fds[1], self);
    }
    children[forked++] = pid;
  }
  close(fds[1]);
  long ready = 0, failed = 0;
  while (ready < n) {
    char buf[4096];
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break; /* every child died or closed its end */
    for (ssize_t j = 0; j < got; j++) failed += buf[j] == 0;
    ready += got;
  }
  close(fds[0]);
  if (ready < n || failed) {
    fprintf(stderr, "idle_procs: %ld of %ld children ready, %ld could not join their cgroup\n", ready, n, failed);
    kill_children();
    return 1;
  }
  scenario_print_line("ready");

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGTERM, &sa, NULL); /* stop below, like EOF: the children are killed and reaped first */
  char buf[256];
  for (;;) {
    ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
    if (got == 0 || (got < 0 && errno != EINTR)) break;
  }
  kill_children();
  return 0;
}
