/* churn_flat <live_MiB> [seconds]        LABEL: not a leak
 *
 * Shape: flat steady-state churn. A ring of slots holds live_MiB MiB in blocks of
 * 1..64 KiB (written); right after start it is filled, then every 10 ms ~1% of the slots
 * (random, corpus_seed()) are freed and replaced by blocks of new random sizes. Live bytes
 * stay at ≈ live_MiB (random walk of a few hundred KiB); RSS is flat, with the allocator's
 * fragmentation settling in the first seconds.
 */
#include "corpus.h"

#define MAX_BLOCK (64 * CORPUS_KIB)
#define MIN_BLOCK CORPUS_KIB

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 1, "<live_MiB>");
    const long live = corpus_num(argv[1], 1, 4096);
    if (live < 0) {
        fprintf(stderr, "churn_flat: live_MiB 1..4096\n");
        return 2;
    }
    corpus_start();
    uint64_t rng = corpus_seed(0xda942042e4dd58b5ULL);
    const long nslots = live * CORPUS_MIB / ((MIN_BLOCK + MAX_BLOCK) / 2);
    void** slots = calloc((size_t)nslots, sizeof *slots);
    if (!slots) {
        perror("calloc");
        return 1;
    }
    for (long i = 0; i < nslots; ++i)
        slots[i] = corpus_alloc((size_t)corpus_rand_range(&rng, MIN_BLOCK, MAX_BLOCK));
    long replaced = 0;
    while (corpus_sleep_ms(10)) {
        for (long k = 0; k < nslots / 100 + 1; ++k) {
            const long i = corpus_rand_range(&rng, 0, nslots - 1);
            free(slots[i]);
            slots[i] = corpus_alloc((size_t)corpus_rand_range(&rng, MIN_BLOCK, MAX_BLOCK));
            ++replaced;
        }
    }
    fprintf(stderr, "churn_flat: %ld blocks replaced\n", replaced);
    return 0;
}
