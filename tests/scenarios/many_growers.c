/* many_growers <processes> <KiB/s each>: a host with many growing processes, for measuring what the agent's
 * growth sites cost in memory (tests/bench/growth_sites_memory.py). Forks <processes> children; child i grows
 * at <KiB/s> from one of eight functions (grow_site_<i % 8>), reached through i % 5 extra frames, so that the
 * host has many distinct (process, stack) pairs. Children never free and die with the parent.
 *
 * Prints "ready <pid>" once every child runs; exits on stdin EOF or SIGTERM (scenario_common.h). */
#include "scenario_common.h"

#include <sys/prctl.h>
#include <time.h>

static volatile char sink;

#define GROW_SITE(n)                                                                                   \
  __attribute__((noinline)) void grow_site_##n(size_t bytes) {                                        \
    char *p = malloc(bytes);                                                                           \
    if (!p) abort();                                                                                   \
    memset(p, (int)(n + 1), bytes);                                                                    \
    sink = p[bytes - 1];                                                                               \
  }
GROW_SITE(0) GROW_SITE(1) GROW_SITE(2) GROW_SITE(3) GROW_SITE(4) GROW_SITE(5) GROW_SITE(6) GROW_SITE(7)

static void (*const sites[8])(size_t) = {grow_site_0, grow_site_1, grow_site_2, grow_site_3,
                                         grow_site_4, grow_site_5, grow_site_6, grow_site_7};

__attribute__((noinline)) void call_through(int depth, int site, size_t bytes) {
  if (depth > 0)
    call_through(depth - 1, site, bytes);
  else
    sites[site](bytes);
  sink = 0; /* not a tail call */
}

static void grow_forever(int i, long kib_per_s) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const size_t bytes = 4096;
  const long per_s = kib_per_s / 4 > 0 ? kib_per_s / 4 : 1; /* 4 KiB blocks per second */
  struct timespec pause = {0, 1000000000L / per_s};
  for (;;) {
    call_through(i % 5, i % 8, bytes);
    nanosleep(&pause, NULL);
  }
}

int main(int argc, char **argv) {
  long n = argc == 3 ? scenario_parse_num(argv[1], 1, 10000) : -1;
  long rate = argc == 3 ? scenario_parse_num(argv[2], 4, 1 << 20) : -1;
  if (n < 0 || rate < 0) {
    fprintf(stderr, "usage: many_growers <processes 1..10000> <KiB/s each, >= 4>\n");
    return 2;
  }
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1; /* the children forked so far die with this process */
    }
    if (pid == 0) grow_forever((int)i, rate);
  }
  scenario_print_line("ready");
  scenario_wait_then_exit(); /* the children die with this process (PR_SET_PDEATHSIG) */
}
