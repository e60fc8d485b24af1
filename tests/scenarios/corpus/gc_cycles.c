/* gc_cycles <live_MiB> <young_MiB> <period_s> <leak_KiB_per_s> [seconds]
 *                         LABEL: not a leak with leak_KiB_per_s = 0, a leak otherwise
 *
 * Shape: a garbage-collected runtime. At start a live set of live_MiB MiB is allocated and
 * kept. Then objects are bump-allocated (written) into a young generation (its own
 * anonymous mapping of young_MiB MiB) at young_MiB / period_s MiB/s; when the young
 * generation reaches a collection threshold drawn in [60%, 100%] of young_MiB (random, seeded
 * by corpus_seed(), as real heuristics vary), it is "collected": MADV_DONTNEED gives its pages back
 * and allocation starts again at its bottom. RSS: live set plus a sawtooth of irregular
 * cycles (mean ~0.8 × period_s) whose troughs sit on the live set.
 * With leak_KiB_per_s > 0, each collection also "promotes" survivors that are never freed:
 * leak_KiB_per_s × (cycle length) KiB copied into the old generation (malloc, written), so
 * the troughs rise at leak_KiB_per_s KiB/s: a leak hidden behind GC cycles.
 */
#include "corpus.h"

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 4, "<live_MiB> <young_MiB> <period_s> <leak_KiB_per_s>");
    const long live = corpus_num(argv[1], 0, 4096);
    const long young_mib = corpus_num(argv[2], 1, 4096);
    const long period = corpus_num(argv[3], 1, 3600);
    const long leak = corpus_num(argv[4], 0, 1L << 20);
    if (live < 0 || young_mib < 0 || period < 0 || leak < 0) {
        fprintf(stderr, "gc_cycles: live_MiB 0..4096, young_MiB 1..4096, period_s 1..3600, leak_KiB_per_s "
                        "0..1048576\n");
        return 2;
    }
    corpus_start();
    uint64_t rng = corpus_seed(0x853c49e6748fea9bULL);
    if (live > 0)
        (void)corpus_alloc((size_t)(live * CORPUS_MIB)); /* the live set, kept for the whole run */
    const size_t young_size = (size_t)(young_mib * CORPUS_MIB);
    unsigned char* young = mmap(NULL, young_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (young == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    const double rate = (double)young_size / (double)period; /* bytes/s */
    size_t used = 0;
    size_t threshold = young_size * (size_t)corpus_rand_range(&rng, 60, 100) / 100;
    double last = corpus_now(), cycle_start = last, promoted = 0;
    long collections = 0;
    while (corpus_sleep_ms(50)) {
        const double now = corpus_now();
        size_t n = (size_t)((now - last) * rate);
        last = now;
        if (used + n > threshold)
            n = threshold - used;
        corpus_touch(young + used, n, (unsigned char)collections);
        used += n;
        if (used < threshold)
            continue;
        if (leak > 0) {
            const size_t survivors = (size_t)((now - cycle_start) * (double)leak * CORPUS_KIB);
            if (survivors > 0) {
                unsigned char* old = corpus_alloc(survivors);
                memcpy(old, young, survivors < used ? survivors : used); /* promoted, never freed */
                promoted += (double)survivors;
            }
        }
        madvise(young, young_size, MADV_DONTNEED); /* the collection gives the young generation back */
        used = 0;
        threshold = young_size * (size_t)corpus_rand_range(&rng, 60, 100) / 100;
        cycle_start = now;
        ++collections;
    }
    fprintf(stderr, "gc_cycles: %ld collections, promoted (leaked) %.0f KiB\n", collections, promoted / CORPUS_KIB);
    return 0;
}
