/* noisy_band <base_MiB> <band_MiB> [seconds]        LABEL: not a leak
 *
 * Shape: noisy RSS that oscillates randomly within a band. base_MiB MiB are held for the
 * whole run; on top, every 300..2000 ms (random, corpus_seed()) the program picks a new extra
 * amount uniformly in [0, band_MiB] MiB and maps (written) or unmaps 1 MiB chunks to reach
 * it. munmap gives memory back at once, so RSS jumps around between ≈ base_MiB and
 * base_MiB + band_MiB with no trend.
 */
#include "corpus.h"

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 2, "<base_MiB> <band_MiB>");
    const long base = corpus_num(argv[1], 0, 4096);
    const long band = corpus_num(argv[2], 1, 4096);
    if (base < 0 || band < 0) {
        fprintf(stderr, "noisy_band: base_MiB 0..4096, band_MiB 1..4096\n");
        return 2;
    }
    corpus_start();
    uint64_t rng = corpus_seed(0x6a09e667f3bcc909ULL);
    if (base > 0)
        (void)corpus_alloc((size_t)(base * CORPUS_MIB));
    void** chunks = calloc((size_t)band, sizeof *chunks);
    if (!chunks) {
        perror("calloc");
        return 1;
    }
    long held = 0, changes = 0;
    for (;;) {
        const long want = corpus_rand_range(&rng, 0, band);
        while (held < want)
            chunks[held++] = corpus_map(CORPUS_MIB);
        while (held > want)
            munmap(chunks[--held], CORPUS_MIB);
        ++changes;
        if (!corpus_sleep_ms(corpus_rand_range(&rng, 300, 2000)))
            break;
    }
    fprintf(stderr, "noisy_band: %ld changes\n", changes);
    return 0;
}
