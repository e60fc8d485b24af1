/* grow_until_oom <MiB_per_s> <max_MiB>
 *
 * Ground truth: a process that grows steadily until the kernel's OOM killer kills it, for
 * the OOM forensic records (the caller puts it in a memory cgroup with a limit first, e.g.
 * `sh -c 'echo $$ > CGROUP/cgroup.procs && exec grow_until_oom 8 512'`).
 *   1. Prints "ready <pid>" before allocating anything.
 *   2. Every 1/<MiB_per_s> seconds (on a fixed schedule from the start, so the pace does
 *      not drift), touch_new_memory() mmaps 1 MiB of private anonymous memory and writes
 *      every page of it (all its page faults happen in that function), and keeps it:
 *      RssAnon grows by MiB_per_s MiB per second from ~0 until the memory cgroup's limit,
 *      where the kernel OOM-kills it with SIGKILL (oom:mark_victim names it). Inside a
 *      64 MiB limit at 8 MiB/s it lives ~8 s.
 *   3. Safety net (never reached when the limit works): after <max_MiB> MiB it prints
 *      "survived <max_MiB>" on stderr and exits 3, so a broken setup cannot drive the
 *      host into a global OOM.
 */
#include "scenario_common.h"

#include <sys/mman.h>
#include <time.h>

#define PAGE 4096L

__attribute__((noinline)) void touch_new_memory(void) {
  char *p = mmap(NULL, SCENARIO_MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("grow_until_oom: mmap");
    _exit(5);
  }
  for (long off = 0; off < SCENARIO_MIB; off += PAGE) ((volatile char *)p)[off] = 1;
}

int main(int argc, char **argv) {
  long rate = argc == 3 ? scenario_parse_num(argv[1], 1, 4096) : -1;
  long max_mib = argc == 3 ? scenario_parse_num(argv[2], 1, 1L << 20) : -1;
  if (rate < 0 || max_mib < 0) {
    fprintf(stderr, "usage: grow_until_oom <MiB_per_s> <max_MiB>   (1..4096 MiB/s)\n");
    return 2;
  }
  scenario_print_line("ready");

  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  const long step_ns = 1000000000L / rate;
  for (long mib = 0; mib < max_mib; mib++) {
    touch_new_memory();
    next.tv_nsec += step_ns;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  fprintf(stderr, "survived %ld\n", max_mib);
  return 3;
}
