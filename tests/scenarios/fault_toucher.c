/* fault_toucher <MiB> <seconds>
 *
 * Ground truth: prints "ready <pid>" at start, then for <seconds> seconds loops
 *   main -> outer_work -> middle_work -> memsight_touch_pages(MiB)
 * where memsight_touch_pages mmaps MiB MiB of private anonymous memory (with
 * MADV_NOHUGEPAGE, so every page is its own 4 KiB minor fault even with THP "always"),
 * writes one byte per page (MiB * 256 minor faults per call), and munmaps it.
 * Nearly all of the process's page faults therefore happen in memsight_touch_pages,
 * called from middle_work, called from outer_work (all three noinline, non-static, and
 * not tail calls, so each keeps a frame: the expected sampled stack is
 * memsight_touch_pages <- middle_work <- outer_work <- main).
 * Exits 0 when the time is up (it does not wait for stdin); a summary goes to stderr.
 */
#include "scenario_common.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#define PAGE 4096L

volatile long memsight_pages_touched; /* keeps the work observable, defeats tail calls */

__attribute__((noinline)) long memsight_touch_pages(long mib) {
  size_t len = (size_t)mib * SCENARIO_MIB;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  madvise(p, len, MADV_NOHUGEPAGE);
  long pages = 0;
  for (size_t off = 0; off < len; off += PAGE) {
    ((volatile char *)p)[off] = 1; /* one minor fault per page */
    pages++;
  }
  munmap(p, len);
  return pages;
}

__attribute__((noinline)) long middle_work(long mib) {
  long pages = memsight_touch_pages(mib);
  memsight_pages_touched += pages;
  return pages;
}

__attribute__((noinline)) long outer_work(long mib) {
  long pages = middle_work(mib);
  memsight_pages_touched += 0; /* a use after the call: no sibling call */
  return pages;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long mib = argc == 3 ? scenario_parse_num(argv[1], 1, 1L << 20) : -1;
  long seconds = argc == 3 ? scenario_parse_num(argv[2], 1, 1L << 30) : -1;
  if (mib < 0 || seconds < 0) {
    fprintf(stderr, "usage: fault_toucher <MiB> <seconds>   (both >= 1)\n");
    return 2;
  }

  scenario_print_line("ready");
  double end = now_seconds() + (double)seconds;
  long calls = 0, pages = 0;
  while (now_seconds() < end) {
    pages += outer_work(mib);
    calls++;
  }

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  fprintf(stderr, "fault_toucher: %ld calls, %ld pages touched, %ld minor faults in total\n",
          calls, pages, ru.ru_minflt);
  return 0;
}
