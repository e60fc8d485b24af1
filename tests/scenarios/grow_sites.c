/* grow_sites <KiB per second>
 *
 * Ground truth: after "ready <pid>", grows for ever (until stdin EOF or SIGTERM) from two named functions that
 * write every page of fresh private anonymous memory themselves (no malloc, no memset: the faulting instruction
 * is in the function, so a frame-pointer walk names it):
 *   grow_main_site   2/3 of the rate   (the top growth site)
 *   grow_side_site   1/3 of the rate
 * Nothing is freed, so RSS grows at the given rate. Each function maps its own region once (MADV_NOHUGEPAGE:
 * one 4 KiB fault per page) and touches the next pages of it every 100 ms.
 */
#include "scenario_common.h"

#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096L
#define REGION (4096L * SCENARIO_MIB) /* address space only: pages are touched as the process grows */

volatile long grow_sites_pages;

static char *map_region(void) {
  char *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  madvise(p, REGION, MADV_NOHUGEPAGE);
  return p;
}

__attribute__((noinline)) long grow_main_site(char *region, long *next, long pages) {
  for (long i = 0; i < pages && *next + PAGE <= REGION; i++, *next += PAGE)
    ((volatile char *)region)[*next] = 1;
  return pages;
}

__attribute__((noinline)) long grow_side_site(char *region, long *next, long pages) {
  for (long i = 0; i < pages && *next + PAGE <= REGION; i++, *next += PAGE)
    ((volatile char *)region)[*next] = 1;
  return pages;
}

static long rate_kib;

static void *grow(void *arg) {
  (void)arg;
  char *main_region = map_region(), *side_region = map_region();
  long main_next = 0, side_next = 0;
  /* Pages per 100 ms tick: 2/3 and 1/3 of the rate (at least one page each). */
  long per_tick = rate_kib / 4 / 10;
  long main_pages = per_tick * 2 / 3 > 0 ? per_tick * 2 / 3 : 1;
  long side_pages = per_tick - main_pages > 0 ? per_tick - main_pages : 1;
  struct timespec tick = {0, 100 * 1000 * 1000};
  for (;;) {
    grow_sites_pages += grow_main_site(main_region, &main_next, main_pages);
    grow_sites_pages += grow_side_site(side_region, &side_next, side_pages);
    nanosleep(&tick, NULL);
  }
  return NULL;
}

int main(int argc, char **argv) {
  rate_kib = argc == 2 ? scenario_parse_num(argv[1], 40, 1L << 20) : -1;
  if (rate_kib < 0) {
    fprintf(stderr, "usage: grow_sites <KiB per second>   (>= 40)\n");
    return 2;
  }
  pthread_t t;
  if (pthread_create(&t, NULL, grow, NULL) != 0) {
    perror("pthread_create");
    return 1;
  }
  scenario_print_line("ready");
  scenario_wait_then_exit();
}
