/* site_own_touch <KiB per second>   (growth-site corpus, protocol in growth_site_corpus.h)
 *
 * Ground truth: all growth comes from leak_own_touch, called main -> handle_request -> leak_own_touch, which writes
 * one byte into the next page of a 1 MiB calloc'd block (a fresh mmapped chunk: calloc does not write it, except its
 * header on the first page), callocing the next block when one is used up; nothing is ever freed. The faulting
 * store is in leak_own_touch itself, so even a frame-pointer walk (whose first frame is the faulting instruction)
 * names it: the control of the corpus. The growth site is "leak_own_touch".
 */
#include "growth_site_corpus.h"

#define BLOCK_BYTES SCENARIO_MIB

char* site_block;                    /* current block; earlier ones are leaked (still mapped, never freed) */
long site_block_used = BLOCK_BYTES;  /* bytes of site_block already touched */
long site_requests;

__attribute__((noinline, noclone)) long leak_own_touch(long id)
{
    if (site_block_used == BLOCK_BYTES) {
        site_block = calloc(1, BLOCK_BYTES);
        if (site_block == NULL)
            abort();
        site_block_used = 0;
    }
    ((volatile char*)site_block)[site_block_used] = (char)((id & 0x7f) | 1);
    site_block_used += SITE_CORPUS_PAGE;
    return SITE_CORPUS_PAGE;
}

__attribute__((noinline, noclone)) long handle_request(long id)
{
    long grown = leak_own_touch(id);
    site_requests++; /* keeps the call above out of tail position */
    return grown;
}

int main(int argc, char** argv)
{
    site_corpus_start(argc, argv, "site_own_touch");
    long grown = 0;
    for (long id = 0;; site_corpus_tick()) {
        for (long due = site_corpus_due(); grown < due;)
            grown += handle_request(id++);
    }
}
