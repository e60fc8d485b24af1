/* oneshot <MiB> [seconds]        LABEL: not a leak
 *
 * Shape: a big one-shot allocation at start, then flat. Right after "ready" the program
 * mallocs MiB MiB in one block and writes every page (~1.3 ms per MiB here), so RSS jumps
 * from ~1 MiB to ≈ MiB MiB within the first second, then never changes; every 100 ms it
 * rewrites one 64 KiB stretch of the block (resident, no growth).
 */
#include "corpus.h"

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 1, "<MiB>");
    const long mib = corpus_num(argv[1], 1, 65536);
    if (mib < 0) {
        fprintf(stderr, "oneshot: MiB 1..65536\n");
        return 2;
    }
    corpus_start();
    const size_t size = (size_t)(mib * CORPUS_MIB);
    unsigned char* big = corpus_alloc(size);
    size_t off = 0;
    while (corpus_sleep_ms(100)) {
        corpus_touch(big + off, 64 * CORPUS_KIB, (unsigned char)off);
        off = (off + 64 * CORPUS_KIB) % size;
    }
    fprintf(stderr, "oneshot: held %ld MiB\n", mib);
    return 0;
}
