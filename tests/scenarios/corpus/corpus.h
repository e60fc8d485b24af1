/* Shared helpers of the leak-accuracy corpus (header-only, plain C11).
 *
 * Protocol of every corpus program:
 *   - arguments are positional numbers; the last, optional one is a run time in seconds
 *     (0 or absent: run until stopped). Bad input: usage on stderr, exit 2;
 *   - the first thing printed is the line "ready <pid>" on stdout (flushed), before the
 *     program allocates anything of its shape, so an observer sees the whole shape;
 *   - it then runs its memory shape until SIGTERM/SIGINT, stdin EOF, or the run time, and
 *     exits 0. Stdin EOF as a stop signal means a benchmark that dies never leaves
 *     programs behind (their stdin pipe closes).
 * Memory is always written (one store per 4 KiB page), so RSS follows what the program
 * means to hold; the header comment of each program states its shape and its label.
 */
#ifndef MEMSIGHT_CORPUS_H
#define MEMSIGHT_CORPUS_H

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CORPUS_KIB 1024L
#define CORPUS_MIB (1024L * 1024L)
#define CORPUS_PAGE 4096L

static volatile sig_atomic_t corpus_stop_flag;
static double corpus_deadline; /* monotonic seconds, 0 = none */
static int corpus_stdin_open = 1;

static void corpus_on_signal(int sig)
{
    (void)sig;
    corpus_stop_flag = 1;
}

static inline double corpus_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses a decimal number in [min, max]; returns -1 on any error. */
static inline long corpus_num(const char* s, long min, long max)
{
    char* end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    return v;
}

static long corpus_run_seconds;

/* Checks argc (nargs positional arguments plus an optional run time); exits 2 with the usage
 * line on bad input. Call it, check the program's own arguments, then corpus_start(). */
static inline void corpus_args(int argc, char** argv, int nargs, const char* usage)
{
    long seconds = 0;
    if (argc == nargs + 2)
        seconds = corpus_num(argv[nargs + 1], 0, 7L * 24 * 3600);
    if ((argc != nargs + 1 && argc != nargs + 2) || seconds < 0) {
        fprintf(stderr, "usage: %s %s [seconds]\n", argv[0], usage);
        exit(2);
    }
    corpus_run_seconds = seconds;
}

/* Installs the stop handlers, starts the run time and prints "ready <pid>". */
static inline void corpus_start(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = corpus_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    corpus_deadline = corpus_run_seconds > 0 ? corpus_now() + (double)corpus_run_seconds : 0;
    printf("ready %ld\n", (long)getpid());
    fflush(stdout);
}

/* True once the program should stop (signal, stdin EOF, run time over). */
static inline int corpus_stopping(void)
{
    return corpus_stop_flag || (corpus_deadline > 0 && corpus_now() >= corpus_deadline);
}

/* Sleeps ms milliseconds, waking early on a stop condition. Returns 0 when it is time to
 * stop. Stdin is watched with poll(), so EOF is seen within the sleep. */
static inline int corpus_sleep_ms(long ms)
{
    const double until = corpus_now() + (double)ms / 1000.0;
    for (;;) {
        if (corpus_stopping())
            return 0;
        const double left = until - corpus_now();
        if (left <= 0)
            return 1;
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        const int timeout = (int)(left * 1000.0) + 1;
        const int r = poll(&p, corpus_stdin_open ? 1 : 0, timeout);
        if (r > 0 && (p.revents & POLLNVAL)) {
            corpus_stdin_open = 0; /* no stdin at all: only signals and the run time stop us */
        } else if (r > 0) {
            char buf[256];
            const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                corpus_stop_flag = 1; /* EOF: whoever started us is gone or done */
        }
    }
}

/* Writes one byte per page so that every page of [p, p+n) becomes resident. */
static inline void corpus_touch(void* p, size_t n, unsigned char v)
{
    unsigned char* c = p;
    for (size_t off = 0; off < n; off += CORPUS_PAGE)
        c[off] = (unsigned char)(v + 1);
    if (n > 0)
        c[n - 1] = v;
}

static inline void* corpus_alloc(size_t n)
{
    void* p = malloc(n);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    corpus_touch(p, n, (unsigned char)n);
    return p;
}

/* xorshift64: seeded by corpus_seed(), so a run of a program can be repeated exactly. */
static inline uint64_t corpus_rand(uint64_t* s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Seed of a program's random choices: the program's fixed default, mixed with the number in the
 * environment variable CORPUS_SEED when it is set (the benchmark sets one per run and records it,
 * so repeated runs see different noise and each run can be replayed). Never 0 (xorshift's fixed
 * point). */
static inline uint64_t corpus_seed(uint64_t fixed)
{
    const char* env = getenv("CORPUS_SEED");
    uint64_t s = fixed;
    if (env != NULL && *env != '\0')
        s ^= (uint64_t)strtoull(env, NULL, 10) * 0x9e3779b97f4a7c15ULL;
    return s != 0 ? s : fixed;
}

/* Uniform in [lo, hi]. */
static inline long corpus_rand_range(uint64_t* s, long lo, long hi)
{
    return lo + (long)(corpus_rand(s) % (uint64_t)(hi - lo + 1));
}

/* Anonymous mapping, touched: memory that munmap() really gives back, whatever malloc's
 * thresholds are (used where a shape must shrink). */
static inline void* corpus_map(size_t n)
{
    void* p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    corpus_touch(p, n, (unsigned char)n);
    return p;
}

/* Fork-heavy shapes: one short-lived child that allocates and writes child_mib MiB, keeps
 * it for life_ms milliseconds and exits. The child never returns into the caller. */
static inline void corpus_spawn_child(long child_mib, long life_ms)
{
    const pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return; /* transient (e.g. pid limit): the parent's shape goes on */
    }
    if (pid > 0)
        return;
    void* p = mmap(NULL, (size_t)(child_mib * CORPUS_MIB), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
        corpus_touch(p, (size_t)(child_mib * CORPUS_MIB), 7);
    struct timespec ts = {.tv_sec = life_ms / 1000, .tv_nsec = (life_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    _exit(0);
}

/* Reaps every child that has exited (no zombies pile up). */
static inline void corpus_reap(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

#endif /* MEMSIGHT_CORPUS_H */
