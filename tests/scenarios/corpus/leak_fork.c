/* leak_fork <leak_KiB_per_s> <forks_per_s> [seconds]        LABEL: leak (the parent)
 *
 * Shape: a leak in a fork-heavy program. The parent forks forks_per_s short-lived children
 * per second (each writes 4 MiB of its own, lives 200..600 ms, exits; the parent reaps
 * them) and leaks leak_KiB_per_s KiB/s itself (small mallocs, written, pointer dropped).
 * The parent's RSS rises linearly at the leak rate; the children's RSS is their own
 * (copy-on-write: the parent's pages are shared, the 4 MiB are private). The parent,
 * the pid printed in "ready", is the process to judge.
 */
#include "corpus.h"

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 2, "<leak_KiB_per_s> <forks_per_s>");
    const long leak = corpus_num(argv[1], 1, 1L << 20);
    const long forks = corpus_num(argv[2], 1, 1000);
    if (leak < 0 || forks < 0) {
        fprintf(stderr, "leak_fork: leak_KiB_per_s 1..1048576, forks_per_s 1..1000\n");
        return 2;
    }
    corpus_start();
    uint64_t rng = corpus_seed(0x2545f4914f6cdd1dULL);
    const double start = corpus_now();
    double leaked = 0, forked = 0;
    while (corpus_sleep_ms(20)) {
        corpus_reap();
        const double now = corpus_now() - start;
        for (; forked < now * (double)forks; forked += 1)
            corpus_spawn_child(4, corpus_rand_range(&rng, 200, 600));
        const double due = now * (double)leak * CORPUS_KIB;
        if (due - leaked >= 4096) {
            const size_t n = (size_t)(due - leaked);
            (void)corpus_alloc(n); /* the leak */
            leaked += (double)n;
        }
    }
    while (waitpid(-1, NULL, 0) > 0) {
    }
    fprintf(stderr, "leak_fork: %.0f children, leaked %.0f KiB\n", forked, leaked / CORPUS_KIB);
    return 0;
}
