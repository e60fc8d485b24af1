/* leak_step <MiB_per_step> <step_seconds> [seconds]        LABEL: leak
 *
 * Shape: bursty (step) leak. RSS is flat for step_seconds, then jumps by MiB_per_step MiB
 * at once (a burst of 64 KiB mallocs, all pages written, never freed), and so on: a
 * staircase with an average rate of MiB_per_step / step_seconds MiB/s. Between steps the
 * program touches a small fixed working set (flat). Each burst is spread over ~100 ms.
 */
#include "corpus.h"

#define WORKING_SET (256 * CORPUS_KIB)

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 2, "<MiB_per_step> <step_seconds>");
    const long step_mib = corpus_num(argv[1], 1, 4096);
    const long step_s = corpus_num(argv[2], 1, 3600);
    if (step_mib < 0 || step_s < 0) {
        fprintf(stderr, "leak_step: MiB_per_step 1..4096, step_seconds 1..3600\n");
        return 2;
    }
    corpus_start();
    unsigned char* work = corpus_alloc(WORKING_SET);
    double next = corpus_now() + (double)step_s;
    long steps = 0;
    while (corpus_sleep_ms(100)) {
        corpus_touch(work, WORKING_SET, (unsigned char)steps);
        if (corpus_now() < next)
            continue;
        for (long i = 0; i < step_mib * 16; ++i)
            (void)corpus_alloc(64 * CORPUS_KIB); /* leaked */
        ++steps;
        next += (double)step_s;
    }
    fprintf(stderr, "leak_step: %ld steps, leaked %ld MiB\n", steps, steps * step_mib);
    return 0;
}
