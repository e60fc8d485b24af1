/* leak_steady <KiB_per_s> [seconds]             LABEL: leak
 *
 * Shape: steady leak. Every 100 ms the program mallocs what brings its leaked total to
 * KiB_per_s × elapsed time (small blocks from the brk heap), writes every page and drops
 * the pointer: RSS rises linearly at ≈ KiB_per_s KiB/s from ~1 MiB, forever. Nothing else
 * happens. A fast (1024) and a slow (50) rate are in the corpus.
 */
#include "corpus.h"

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 1, "<KiB_per_s>");
    const long rate = corpus_num(argv[1], 1, 1L << 20);
    if (rate < 0) {
        fprintf(stderr, "leak_steady: KiB_per_s must be 1..1048576\n");
        return 2;
    }
    corpus_start();
    const double start = corpus_now();
    double leaked = 0;
    while (corpus_sleep_ms(100)) {
        const double due = (corpus_now() - start) * (double)rate * CORPUS_KIB;
        if (due - leaked >= 64) {
            const size_t n = (size_t)(due - leaked);
            (void)corpus_alloc(n); /* the leak: the only pointer is dropped */
            leaked += (double)n;
        }
    }
    fprintf(stderr, "leak_steady: leaked %.0f KiB\n", leaked / CORPUS_KIB);
    return 0;
}
