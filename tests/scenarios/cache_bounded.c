/* cache_bounded <cache_MiB> <fill_seconds>
 *
 * Ground truth: a healthy bounded cache, NOT a leak. Prints "ready <pid>" before it caches
 * anything (so an observer sees the fill), then inserts 64 KiB entries (malloc, one store
 * per page, so they are resident) paced against the clock: the cache holds
 * cache_MiB × 16 entries after fill_seconds, a linear fill at cache_MiB / fill_seconds MiB/s.
 * It then prints "full <entries>" and keeps working at the same pace for ever: each new
 * entry evicts (frees) the oldest one and takes its place, a malloc of the same size that
 * glibc serves from the chunk just freed. So from "full" on, RssAnon stays flat at
 * ≈ cache_MiB MiB (+ < 1 MiB: program, slot array, chunk headers), within a few hundred KiB,
 * until stdin EOF or SIGTERM (exit 0). Unlike corpus/lru_cache (random sizes, allocator
 * slack that creeps up for minutes after the fill), nothing grows once the cache is full.
 */
#include "scenario_common.h"

#include <poll.h>
#include <stdint.h>
#include <time.h>

#define PAGE 4096L
#define ENTRY (64L * 1024L)
#define TICK_MS 100

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps ms milliseconds watching stdin; returns 0 at EOF (or error) or after SIGTERM. */
static int sleep_watching_stdin(long ms) {
  const double until = now_s() + (double)ms / 1000.0;
  while (!stop_flag) {
    const double left = until - now_s();
    if (left <= 0) return 1;
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    const int r = poll(&p, 1, (int)(left * 1000.0) + 1);
    if (r > 0 && (p.revents & POLLNVAL)) return 0;
    if (r > 0) {
      char buf[256];
      const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return 0;
    }
  }
  return 0;
}

static char *new_entry(uint64_t serial) {
  char *p = malloc(ENTRY);
  if (p == NULL) {
    perror("malloc");
    exit(1);
  }
  for (long off = 0; off < ENTRY; off += PAGE) p[off] = (char)(serial + (uint64_t)off);
  p[ENTRY - 1] = (char)serial;
  return p;
}

int main(int argc, char **argv) {
  long mib = argc == 3 ? scenario_parse_num(argv[1], 1, 4096) : -1;
  long fill_s = argc == 3 ? scenario_parse_num(argv[2], 1, 3600) : -1;
  if (mib < 0 || fill_s < 0) {
    fprintf(stderr, "usage: cache_bounded <cache_MiB 1..4096> <fill_seconds 1..3600>\n");
    return 2;
  }
  const long entries = mib * (SCENARIO_MIB / ENTRY);
  char **slots = calloc((size_t)entries, sizeof *slots);
  if (slots == NULL) {
    perror("calloc");
    return 1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);

  scenario_print_line("ready");
  const double start = now_s();
  const double per_second = (double)entries / (double)fill_s;
  uint64_t inserted = 0; /* entries put in so far, evicting ones included */
  long oldest = 0;       /* the slot to evict next, once full */
  while (sleep_watching_stdin(TICK_MS)) {
    const uint64_t due = (uint64_t)((now_s() - start) * per_second);
    for (; inserted < due; inserted++) {
      if (inserted < (uint64_t)entries) {
        slots[inserted] = new_entry(inserted);
        if (inserted + 1 == (uint64_t)entries) {
          printf("full %ld\n", entries);
          fflush(stdout);
        }
      } else {
        free(slots[oldest]);
        slots[oldest] = new_entry(inserted);
        oldest = (oldest + 1) % entries;
      }
    }
  }
  fprintf(stderr, "cache_bounded: %ld entries of %ld bytes, %llu inserted\n", entries, ENTRY,
          (unsigned long long)inserted);
  return 0;
}
