/* leak_cache <cache_MiB> <fill_seconds> <leak_KiB_per_s> [seconds]        LABEL: leak
 *
 * Shape: a leak behind a cache. The same bounded LRU cache as lru_cache (lru.h), filled at
 * cache_MiB / fill_seconds MiB/s and then evicting, PLUS a steady leak of leak_KiB_per_s
 * KiB/s (small mallocs, written, pointer dropped) from the start. RSS rises fast for
 * ~fill_seconds (cache + leak), then keeps rising slowly at the leak rate only: the leak
 * is what remains once the cache's warm-up is over.
 */
#include "lru.h"

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 3, "<cache_MiB> <fill_seconds> <leak_KiB_per_s>");
    const long cache_mib = corpus_num(argv[1], 1, 4096);
    const long fill_s = corpus_num(argv[2], 1, 3600);
    const long leak = corpus_num(argv[3], 1, 1L << 20);
    if (cache_mib < 0 || fill_s < 0 || leak < 0) {
        fprintf(stderr, "leak_cache: cache_MiB 1..4096, fill_seconds 1..3600, leak_KiB_per_s 1..1048576\n");
        return 2;
    }
    corpus_start();
    struct lru cache;
    lru_init(&cache, (size_t)(cache_mib * CORPUS_MIB), corpus_seed(0xd1b54a32d192ed03ULL));
    const double per_tick = (double)cache_mib * CORPUS_MIB / (double)fill_s / 10.0;
    const double start = corpus_now();
    double leaked = 0;
    while (corpus_sleep_ms(100)) {
        lru_insert_bytes(&cache, per_tick);
        const double due = (corpus_now() - start) * (double)leak * CORPUS_KIB;
        if (due - leaked >= 64) {
            const size_t n = (size_t)(due - leaked);
            (void)corpus_alloc(n); /* the leak */
            leaked += (double)n;
        }
    }
    fprintf(stderr, "leak_cache: %zu bytes cached, leaked %.0f KiB\n", cache.bytes, leaked / CORPUS_KIB);
    return 0;
}
