/* Helpers for the deep-tier (allocator uprobe) scenarios, on top of scenario_common.h.
 * Header-only; compiles as C11 and as C++17.
 *
 * Protocol of a leak scenario (tests sync with the tracer through it):
 *   1. setup, then print "ready <pid>" on stdout;
 *   2. block until a line "go" is READ on stdin (other lines are ignored; EOF before
 *      "go" exits 0 without running the workload), so the tracer can attach first;
 *   3. run the workload, then print "done <n>" on stdout;
 *   4. hold all memory until stdin EOF or SIGTERM, then exit 0.
 * SIGTERM exits 0 at any point (the handler is installed before "ready").
 *
 * Nothing here allocates on the heap once stdout's buffer exists (it is created by the
 * "ready" line, before the tracer attaches): stdin is read with read(2), never stdio.
 */
#ifndef MEMSIGHT_SCENARIO_DEEP_H
#define MEMSIGHT_SCENARIO_DEEP_H

#if defined(__cplusplus) && defined(_GNU_SOURCE)
#undef _GNU_SOURCE /* g++ predefines it as 1; scenario_common.h defines it again */
#endif
#include "scenario_common.h"

#include <stdint.h>
#include <time.h>

/* Makes the compiler believe p is used, so malloc/free (or new/delete) pairs and the
 * writes into the block are not optimised away. */
static inline void scenario_escape(void* p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* SIGTERM -> exit 0, from the very start (not only while waiting for EOF). */
static inline void scenario_install_sigterm(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = scenario_on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

/* Blocks until the line "go" is read from stdin; exits 0 on EOF or a read error. */
static inline void scenario_wait_for_go(void)
{
    char line[64];
    size_t len = 0;
    int overflow = 0;
    for (;;) {
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == 0)
            exit(0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            exit(0);
        }
        if (c == '\n') {
            if (!overflow && len == 2 && line[0] == 'g' && line[1] == 'o')
                return;
            len = 0;
            overflow = 0;
            continue;
        }
        if (len < sizeof line)
            line[len++] = c;
        else
            overflow = 1;
    }
}

static inline void scenario_print_done(long n)
{
    printf("done %ld\n", n);
    fflush(stdout);
}

static inline void scenario_sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline long scenario_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* xorshift64 (Marsaglia), deterministic for a fixed non-zero seed. */
static inline uint64_t scenario_xorshift64(uint64_t* state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

/* Uniform-ish integer in [lo, hi] (modulo bias is irrelevant here). */
static inline size_t scenario_rand_range(uint64_t* state, size_t lo, size_t hi)
{
    return lo + (size_t)(scenario_xorshift64(state) % (uint64_t)(hi - lo + 1));
}

#define SCENARIO_XORSHIFT_SEED UINT64_C(0x9E3779B97F4A7C15)

/* Which allocator malloc resolved to, from symbols visible to dlsym(RTLD_DEFAULT). Call
 * it before "ready" (dlsym may allocate). Needs <dlfcn.h>. */
#define SCENARIO_ALLOCATOR_NAME()                                                                                      \
    (dlsym(RTLD_DEFAULT, "mallctl") != NULL     ? "jemalloc"                                                           \
     : dlsym(RTLD_DEFAULT, "tc_malloc") != NULL ? "tcmalloc"                                                           \
     : dlsym(RTLD_DEFAULT, "mi_malloc") != NULL ? "mimalloc"                                                           \
                                                : "glibc")

#endif /* MEMSIGHT_SCENARIO_DEEP_H */
