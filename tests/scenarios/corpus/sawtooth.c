/* sawtooth <peak_MiB> <period_s> [seconds]        LABEL: not a leak
 *
 * Shape: sawtooth heap. Over period_s seconds the program mallocs 64 KiB blocks (written)
 * at a steady rate up to peak_MiB MiB, then frees them all at once and starts again. Every
 * block is freed, so the brk heap coalesces into its top chunk and glibc trims it: RSS
 * falls back to its base (~1 MiB) at every cycle, then climbs again. Troughs stay flat,
 * peaks stay at ≈ peak_MiB.
 */
#include "corpus.h"

#define BLOCK (64 * CORPUS_KIB)

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 2, "<peak_MiB> <period_s>");
    const long peak = corpus_num(argv[1], 1, 4096);
    const long period = corpus_num(argv[2], 1, 3600);
    if (peak < 0 || period < 0) {
        fprintf(stderr, "sawtooth: peak_MiB 1..4096, period_s 1..3600\n");
        return 2;
    }
    corpus_start();
    const long nblocks = peak * CORPUS_MIB / BLOCK;
    void** blocks = calloc((size_t)nblocks, sizeof *blocks);
    if (!blocks) {
        perror("calloc");
        return 1;
    }
    long held = 0, cycles = 0;
    double cycle_start = corpus_now();
    while (corpus_sleep_ms(100)) {
        const double frac = (corpus_now() - cycle_start) / (double)period;
        const long want = frac >= 1.0 ? nblocks : (long)(frac * (double)nblocks);
        while (held < want)
            blocks[held++] = corpus_alloc(BLOCK);
        if (frac >= 1.0) {
            while (held > 0)
                free(blocks[--held]); /* newest first: each free shrinks the top chunk */
            ++cycles;
            cycle_start = corpus_now();
        }
    }
    fprintf(stderr, "sawtooth: %ld cycles\n", cycles);
    return 0;
}
