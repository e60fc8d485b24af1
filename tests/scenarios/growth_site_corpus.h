/* Shared by the growth-site corpus (site_malloc.c, site_memset.c, site_own_touch.c, site_cxx_new.cpp): programs
 * that grow steadily from ONE known leaking function (named leak_*), built like a distribution builds them
 * (-O2 -g, no frame pointers), so that a growth site must be found through frameless code. Header-only; compiles
 * as C11 and as C++17.
 *
 * Protocol (as scenario_common.h): `<program> <KiB per second>`; bad input: usage on stderr, exit 2. Prints
 * "ready <pid>" before it grows, then grows at that rate for ever, never freeing, until stdin EOF or SIGTERM
 * (exit 0). Growth is paced against the clock (rate x time since "ready", checked every 100 ms), so RSS follows
 * the rate even when a tick runs late.
 */
#ifndef MEMSIGHT_GROWTH_SITE_CORPUS_H
#define MEMSIGHT_GROWTH_SITE_CORPUS_H

#include "scenario_deep.h"

#include <poll.h>

#define SITE_CORPUS_PAGE 4096L

static long site_corpus_rate_kib;
static long site_corpus_start_ms;

/* Parses `<KiB per second>`, installs SIGTERM -> exit 0, prints "ready <pid>". */
static inline void site_corpus_start(int argc, char** argv, const char* program)
{
    site_corpus_rate_kib = argc == 2 ? scenario_parse_num(argv[1], 1, 1L << 20) : -1;
    if (site_corpus_rate_kib < 0) {
        fprintf(stderr, "usage: %s <KiB per second>   (1..1048576)\n", program);
        exit(2);
    }
    scenario_install_sigterm();
    scenario_print_line("ready");
    site_corpus_start_ms = scenario_now_ms();
}

/* Bytes the program should have grown by now. */
static inline long site_corpus_due(void)
{
    return (scenario_now_ms() - site_corpus_start_ms) * site_corpus_rate_kib * 1024L / 1000L;
}

/* Waits 100 ms (less if stdin has input); exits 0 on stdin EOF or a read error. */
static inline void site_corpus_tick(void)
{
    struct pollfd p;
    p.fd = STDIN_FILENO;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 100) > 0) {
        char buf[256];
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            exit(0);
    }
}

#endif /* MEMSIGHT_GROWTH_SITE_CORPUS_H */
