/* warmup <MiB> <seconds_to_settle> [seconds]        LABEL: not a leak
 *
 * Shape: warm-up growth that stops. The program fills a working set towards MiB MiB the
 * way caches and JIT/arena warm-ups do, fast at first and slower as it approaches the end:
 * held(t) = MiB × (1 − e^(−4t/T)) for t < T = seconds_to_settle (98% at T), then the rest
 * at T. After T the size never changes; the working set is rewritten slowly (one 64 KiB
 * block per 100 ms), so RSS stays flat.
 */
#include "corpus.h"

#include <math.h>

#define BLOCK (64 * CORPUS_KIB)

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 2, "<MiB> <seconds_to_settle>");
    const long mib = corpus_num(argv[1], 1, 4096);
    const long settle = corpus_num(argv[2], 1, 3600);
    if (mib < 0 || settle < 0) {
        fprintf(stderr, "warmup: MiB 1..4096, seconds_to_settle 1..3600\n");
        return 2;
    }
    corpus_start();
    const long nblocks = mib * CORPUS_MIB / BLOCK;
    unsigned char** blocks = calloc((size_t)nblocks, sizeof *blocks);
    if (!blocks) {
        perror("calloc");
        return 1;
    }
    const double start = corpus_now();
    long held = 0, round = 0;
    while (corpus_sleep_ms(100)) {
        const double t = corpus_now() - start;
        const long want = t >= (double)settle ? nblocks : (long)((double)nblocks * (1.0 - exp(-4.0 * t / settle)));
        while (held < want)
            blocks[held++] = corpus_alloc(BLOCK);
        if (held > 0) {
            ++round;
            corpus_touch(blocks[round % held], BLOCK, (unsigned char)round);
        }
    }
    fprintf(stderr, "warmup: %ld blocks held\n", held);
    return 0;
}
