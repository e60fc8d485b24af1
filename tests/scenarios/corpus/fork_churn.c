/* fork_churn <forks_per_s> [seconds]        LABEL: not a leak (the parent)
 *
 * Shape: a fork-heavy program without a leak. The parent holds a fixed 8 MiB working set
 * (written at start, read again every 100 ms: reads, because a write to a page shared with
 * a live child would copy it) and forks forks_per_s short-lived children
 * per second (each writes 4 MiB of its own, lives 200..600 ms, exits; the parent reaps
 * them). Processes come and go all the time; the parent's RSS is flat after the start.
 * The parent, the pid printed in "ready", is the process to judge.
 */
#include "corpus.h"

#define WORKING_SET (8 * CORPUS_MIB)

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 1, "<forks_per_s>");
    const long forks = corpus_num(argv[1], 1, 1000);
    if (forks < 0) {
        fprintf(stderr, "fork_churn: forks_per_s 1..1000\n");
        return 2;
    }
    corpus_start();
    uint64_t rng = corpus_seed(0x5851f42d4c957f2dULL);
    unsigned char* work = corpus_alloc(WORKING_SET);
    const double start = corpus_now();
    double forked = 0, touched = 0;
    unsigned long sum = 0;
    while (corpus_sleep_ms(20)) {
        corpus_reap();
        const double now = corpus_now() - start;
        for (; forked < now * (double)forks; forked += 1)
            corpus_spawn_child(4, corpus_rand_range(&rng, 200, 600));
        if (now - touched >= 0.1) {
            for (long off = 0; off < WORKING_SET; off += CORPUS_PAGE)
                sum += ((volatile unsigned char*)work)[off];
            touched = now;
        }
    }
    while (waitpid(-1, NULL, 0) > 0) {
    }
    fprintf(stderr, "fork_churn: %.0f children (checksum %lu)\n", forked, sum);
    return 0;
}
