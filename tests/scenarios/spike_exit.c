/* spike_exit <MiB>
 *
 * Ground truth: a short-lived process (comm "spike_exit") that maps <MiB> MiB of private
 * anonymous memory, writes one byte to every page (so its peak RSS anon ≈ MiB MiB, plus
 * < ~1 MiB of program overhead), prints "done <pid>" and exits 0 at once, without
 * unmapping. The whole run is well under a second (≈ 0.1 s for 512 MiB).
 * Used to check the peak RSS reported for processes that exit before any /proc poll.
 */
#include "scenario_common.h"

#include <sys/mman.h>

#define PAGE 4096L

int main(int argc, char **argv) {
  long mib = argc == 2 ? scenario_parse_num(argv[1], 1, 1L << 20) : -1;
  if (mib < 0) {
    fprintf(stderr, "usage: spike_exit <MiB>   (MiB >= 1)\n");
    return 2;
  }

  size_t len = (size_t)mib * SCENARIO_MIB;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  for (size_t off = 0; off < len; off += PAGE) p[off] = 1;

  scenario_print_line("done");
  return 0; /* the mapping is still fully resident at exit */
}
