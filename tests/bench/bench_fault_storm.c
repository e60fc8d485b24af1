/* bench_fault_storm <rounds> <MiB>
 *
 * Page-fault storm: each round mmaps <MiB> MiB of private anonymous memory (with
 * MADV_NOHUGEPAGE, so each page is its own 4 KiB minor fault regardless of THP settings),
 * writes one byte per page and munmaps it. Prints the mean time per touched page (fault +
 * store, with mmap/munmap amortised) as "ns_per_page <x>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096L

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long parse(const char *s) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  return errno != 0 || *end != '\0' || end == s || v < 1 || v > (1L << 20) ? -1 : v;
}

int main(int argc, char **argv) {
  long rounds = argc == 3 ? parse(argv[1]) : -1;
  long mib = argc == 3 ? parse(argv[2]) : -1;
  if (rounds < 0 || mib < 0) {
    fprintf(stderr, "usage: bench_fault_storm <rounds> <MiB>   (both >= 1)\n");
    return 2;
  }

  size_t len = (size_t)mib * 1024 * 1024;
  long pages = 0;
  double start = now_ns();
  for (long r = 0; r < rounds; r++) {
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      return 1;
    }
    madvise(p, len, MADV_NOHUGEPAGE);
    for (size_t off = 0; off < len; off += PAGE) {
      ((volatile char *)p)[off] = 1;
      pages++;
    }
    munmap(p, len);
  }
  double elapsed = now_ns() - start;

  printf("ns_per_page %.3f\n", elapsed / (double)pages);
  return 0;
}
