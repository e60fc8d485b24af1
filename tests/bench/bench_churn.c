/* bench_churn <iterations>
 *
 * malloc-heavy churn: a ring of 1024 slots; each iteration frees the block in the current
 * slot and mallocs a new one of a pseudo-random size in 16..4096 bytes (xorshift64), then
 * writes its first byte. Prints the mean time per iteration (one free + one malloc + one
 * store) as "ns_per_op <x>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SLOTS 1024

static char *ring[SLOTS]; /* global: the allocations escape, so none is optimised away */

static uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  char *end = NULL;
  errno = 0;
  long long iterations = argc == 2 ? strtoll(argv[1], &end, 10) : 0;
  if (argc != 2 || errno != 0 || *end != '\0' || iterations < 1) {
    fprintf(stderr, "usage: bench_churn <iterations>   (iterations >= 1)\n");
    return 2;
  }

  uint64_t state = 0x9e3779b97f4a7c15ULL;
  double start = now_ns();
  for (long long i = 0; i < iterations; i++) {
    size_t slot = (size_t)(i & (SLOTS - 1));
    free(ring[slot]);
    size_t size = 16 + (size_t)(xorshift64(&state) % (4096 - 16 + 1));
    char *p = malloc(size);
    if (p == NULL) {
      perror("malloc");
      return 1;
    }
    p[0] = (char)i;
    ring[slot] = p;
  }
  double elapsed = now_ns() - start;

  for (size_t s = 0; s < SLOTS; s++) free(ring[s]);
  printf("ns_per_op %.3f\n", elapsed / (double)iterations);
  return 0;
}
