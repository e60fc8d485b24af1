/* fork_storm <n> [in_flight]
 *
 * Load-test fork/exit storm (tests/bench/load.py, tests/e2e/test_load.py): forks <n> children that exit
 * at once (_exit(0), no exec), keeping at most <in_flight> (default 64) unreaped at a time, then prints
 * "done <n> <seconds>" (wall time of the storm) and exits 0. Every child is one process exit (a single
 * thread, so its thread exit is its group's); with fork_storm's own exit the storm makes n + 1 exits.
 * A failed fork is retried after 1 ms (EAGAIN: the host's process limit), so exactly n children run.
 */
#include "scenario_common.h"

#include <sys/wait.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long n = argc >= 2 && argc <= 3 ? scenario_parse_num(argv[1], 1, 100000000) : -1;
  long in_flight = argc == 3 ? scenario_parse_num(argv[2], 1, 100000) : 64;
  if (n < 0 || in_flight < 0) {
    fprintf(stderr, "usage: fork_storm <n> [in_flight]   (n >= 1, in_flight >= 1, default 64)\n");
    return 2;
  }
  const double start = now_s();
  long started = 0, reaped = 0;
  while (reaped < n) {
    while (started < n && started - reaped < in_flight) {
      pid_t pid = fork();
      if (pid == 0) _exit(0);
      if (pid < 0) {
        if (errno != EAGAIN) {
          perror("fork_storm: fork");
          return 1;
        }
        if (started == reaped) {
          struct timespec ms = {0, 1000000};
          nanosleep(&ms, NULL);
        }
        break;
      }
      started++;
    }
    if (started > reaped) {
      if (waitpid(-1, NULL, 0) > 0)
        reaped++;
      else if (errno != EINTR) {
        perror("fork_storm: waitpid");
        return 1;
      }
    }
  }
  printf("done %ld %.3f\n", n, now_s() - start);
  fflush(stdout);
  return 0;
}
