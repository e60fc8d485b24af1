/* lru_cache <cache_MiB> <fill_seconds> [seconds]        LABEL: not a leak
 *
 * Shape: a cache that fills, then evicts. A bounded LRU cache (lru.h: random keys, values
 * of 1..32 KiB, least recently used freed beyond cache_MiB) receives new values at
 * cache_MiB / fill_seconds MiB/s for the whole run. RSS rises for ~fill_seconds to
 * ≈ cache_MiB (plus entry headers and allocator slack, a few %), then stays flat while the
 * cache keeps inserting and evicting at that rate (freed blocks are reused by the next
 * inserts).
 */
#include "lru.h"

int main(int argc, char** argv)
{
    corpus_args(argc, argv, 2, "<cache_MiB> <fill_seconds>");
    const long cache_mib = corpus_num(argv[1], 1, 4096);
    const long fill_s = corpus_num(argv[2], 1, 3600);
    if (cache_mib < 0 || fill_s < 0) {
        fprintf(stderr, "lru_cache: cache_MiB 1..4096, fill_seconds 1..3600\n");
        return 2;
    }
    corpus_start();
    struct lru cache;
    lru_init(&cache, (size_t)(cache_mib * CORPUS_MIB), corpus_seed(0x9e3779b97f4a7c15ULL));
    const double per_tick = (double)cache_mib * CORPUS_MIB / (double)fill_s / 10.0;
    while (corpus_sleep_ms(100))
        lru_insert_bytes(&cache, per_tick);
    fprintf(stderr, "lru_cache: %zu bytes cached, %ld hits, %ld misses, %ld evictions\n", cache.bytes, cache.hits,
            cache.misses, cache.evictions);
    return 0;
}
