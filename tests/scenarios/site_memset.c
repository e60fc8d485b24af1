/* site_memset <KiB per second>   (growth-site corpus, protocol in growth_site_corpus.h)
 *
 * Ground truth: all growth comes from leak_fill_block, called main -> handle_request -> leak_fill_block, which
 * mallocs a 1 MiB block (above glibc's mmap threshold: a fresh private mapping each time), fills it with memset and
 * links it into a list that is never freed. Malloc touches only the first page (the mmapped chunk's header); the
 * other 255 pages of each block are first touched inside libc's memset. The growth site is "leak_fill_block".
 */
#include "growth_site_corpus.h"

#define BLOCK_BYTES SCENARIO_MIB

void* site_blocks; /* head of the list of leaked blocks (each block's first word links the previous one) */
long site_requests;

__attribute__((noinline, noclone)) long leak_fill_block(long id)
{
    char* block = malloc(BLOCK_BYTES);
    if (block == NULL)
        abort();
    memset(block, (int)(id & 0x7f) | 1, BLOCK_BYTES);
    *(void**)block = site_blocks;
    site_blocks = block;
    return BLOCK_BYTES;
}

__attribute__((noinline, noclone)) long handle_request(long id)
{
    long grown = leak_fill_block(id);
    site_requests++; /* keeps the call above out of tail position */
    return grown;
}

int main(int argc, char** argv)
{
    site_corpus_start(argc, argv, "site_memset");
    long grown = 0;
    for (long id = 0;; site_corpus_tick()) {
        for (long due = site_corpus_due(); grown < due;)
            grown += handle_request(id++);
    }
}
