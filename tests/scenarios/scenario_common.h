/* Shared helpers for the memsight scenario programs (header-only, plain C11).
 *
 * Protocol of a long-running scenario:
 *   - arguments are plain positional numbers; on bad input print usage to stderr, exit 2;
 *   - once the state under test is reached, print exactly one line "ready <pid>" to
 *     stdout and flush it;
 *   - then wait until stdin reaches EOF or SIGTERM arrives, and exit 0.
 */
#ifndef MEMSIGHT_SCENARIO_COMMON_H
#define MEMSIGHT_SCENARIO_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCENARIO_MIB (1024L * 1024L)

/* Parses a decimal number in [min, max]; returns -1 on any error. */
static inline long scenario_parse_num(const char *s, long min, long max) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
  return v;
}

static inline void scenario_print_line(const char *word) {
  printf("%s %ld\n", word, (long)getpid());
  fflush(stdout);
}

static inline void scenario_on_sigterm(int sig) {
  (void)sig;
  _exit(0);
}

/* Blocks until stdin reaches EOF (or errors) or SIGTERM arrives; never returns. */
static inline void scenario_wait_then_exit(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = scenario_on_sigterm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);

  char buf[256];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) break;                      /* EOF */
    if (n < 0 && errno != EINTR) break;     /* stdin closed or unusable */
  }
  exit(0);
}

#endif /* MEMSIGHT_SCENARIO_COMMON_H */
