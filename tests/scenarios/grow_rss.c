/* grow_rss <MiB>
 *
 * Ground truth: mallocs <MiB> blocks of exactly 1 MiB (glibc serves each from its own
 * anonymous mmap, since 1 MiB is above the default mmap threshold), writes every page of
 * every block and keeps them all. After "ready <pid>":
 *   RssAnon (and VmRSS) ≈ MiB MiB, plus the usual small overhead of a C program
 *   (< ~1 MiB: libc, stack, one header page per block = MiB * 4 KiB).
 * Nothing is freed; the process then waits for stdin EOF or SIGTERM and exits 0.
 */
#include "scenario_common.h"

#include <stdint.h>

#define PAGE 4096L

int main(int argc, char **argv) {
  long mib = argc == 2 ? scenario_parse_num(argv[1], 1, 1L << 20) : -1;
  if (mib < 0) {
    fprintf(stderr, "usage: grow_rss <MiB>   (MiB >= 1)\n");
    return 2;
  }

  char **blocks = calloc((size_t)mib, sizeof *blocks);
  if (blocks == NULL) {
    perror("calloc");
    return 1;
  }
  for (long i = 0; i < mib; i++) {
    blocks[i] = malloc(SCENARIO_MIB);
    if (blocks[i] == NULL) {
      perror("malloc");
      return 1;
    }
    /* Write every page so that it is really resident. */
    for (long off = 0; off < SCENARIO_MIB; off += PAGE) blocks[i][off] = (char)(i + off);
    blocks[i][SCENARIO_MIB - 1] = 1;
  }

  scenario_print_line("ready");
  scenario_wait_then_exit();
}
