/* A bounded LRU cache of heap blocks, shared by lru_cache.c and leak_cache.c.
 *
 * Keys are drawn uniformly from [0, KEYS); a hit moves the entry to the front, a miss
 * mallocs a value of 1..32 KiB (written) and inserts it; while the cache holds more than
 * its capacity in value bytes, the least recently used entries are freed. KEYS is large
 * enough that a cache of up to a few hundred MiB misses most of the time, so it keeps
 * allocating and evicting after it filled: churn at a bounded size.
 */
#ifndef MEMSIGHT_CORPUS_LRU_H
#define MEMSIGHT_CORPUS_LRU_H

#include "corpus.h"

#define LRU_KEYS (1L << 16)
#define LRU_MAX_VALUE (32 * CORPUS_KIB)

struct lru_entry {
    long key;
    size_t size;
    unsigned char* value;
    struct lru_entry* prev; /* towards the most recently used */
    struct lru_entry* next; /* towards the least recently used */
};

struct lru {
    size_t capacity;
    size_t bytes;
    struct lru_entry* head; /* most recently used */
    struct lru_entry* tail; /* least recently used */
    struct lru_entry** by_key;
    uint64_t rng;
    long hits, misses, evictions;
};

static inline void lru_unlink(struct lru* c, struct lru_entry* e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static inline void lru_push_front(struct lru* c, struct lru_entry* e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static inline void lru_init(struct lru* c, size_t capacity, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->capacity = capacity;
    c->rng = seed;
    c->by_key = calloc((size_t)LRU_KEYS, sizeof *c->by_key);
    if (!c->by_key) {
        perror("calloc");
        exit(1);
    }
}

/* One lookup of a random key; returns the bytes newly allocated (0 on a hit). */
static inline size_t lru_access(struct lru* c)
{
    const long key = corpus_rand_range(&c->rng, 0, LRU_KEYS - 1);
    struct lru_entry* e = c->by_key[key];
    if (e) {
        ++c->hits;
        e->value[0]++; /* a read-modify-write keeps hot entries resident */
        lru_unlink(c, e);
        lru_push_front(c, e);
        return 0;
    }
    ++c->misses;
    e = malloc(sizeof *e);
    if (!e) {
        perror("malloc");
        exit(1);
    }
    e->key = key;
    e->size = (size_t)corpus_rand_range(&c->rng, 1024, LRU_MAX_VALUE);
    e->value = corpus_alloc(e->size);
    c->by_key[key] = e;
    lru_push_front(c, e);
    c->bytes += e->size;
    while (c->bytes > c->capacity && c->tail) {
        struct lru_entry* victim = c->tail;
        lru_unlink(c, victim);
        c->by_key[victim->key] = NULL;
        c->bytes -= victim->size;
        free(victim->value);
        free(victim);
        ++c->evictions;
    }
    return e->size;
}

/* Lookups until `bytes` new bytes were inserted (at least one lookup). */
static inline void lru_insert_bytes(struct lru* c, double bytes)
{
    double added = 0;
    do {
        added += (double)lru_access(c);
    } while (added < bytes);
}

#endif /* MEMSIGHT_CORPUS_LRU_H */
