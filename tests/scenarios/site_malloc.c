/* site_malloc <KiB per second>   (growth-site corpus, protocol in growth_site_corpus.h)
 *
 * Ground truth: all growth comes from leak_parse_record, called main -> handle_request -> leak_parse_record, which
 * mallocs a record of 3969..4000 bytes, fills it with libc's memset (the length is read from a variable, so the
 * compiler calls memset instead of inlining it) and links it into a list that is never freed. With glibc, nearly
 * every new page is first touched inside malloc itself (_int_malloc writes the header of the next top chunk, which
 * lies past the new record); memset then writes pages that are already resident. The growth site (first frame
 * outside the allocator and libc) is "leak_parse_record".
 *
 * Also built as site_jemalloc (linked against libjemalloc: DT_NEEDED ahead of libc). jemalloc keeps no header next
 * to a region of its 4 KiB class, so there the first touch is in libc's memset; same growth site. The allocator
 * malloc resolved to is checked before "ready" (exit 1 if it is not the expected one).
 */
#include "growth_site_corpus.h"

#include <dlfcn.h>

long site_record_bytes = 4000; /* not a constant: the compiler cannot inline the memset below as "rep stos" */
void* site_records; /* head of the list of leaked records (each record's first word links the previous one) */
long site_requests;

__attribute__((noinline, noclone)) long leak_parse_record(long id)
{
    const size_t len = (size_t)(site_record_bytes - (id & 31));
    char* rec = malloc(len);
    if (rec == NULL)
        abort();
    memset(rec, (int)(id & 0x7f) | 1, len);
    *(void**)rec = site_records;
    site_records = rec;
    return (long)len;
}

__attribute__((noinline, noclone)) long handle_request(long id)
{
    long grown = leak_parse_record(id);
    site_requests++; /* keeps the call above out of tail position */
    return grown;
}

int main(int argc, char** argv)
{
#ifdef MEMSIGHT_EXPECT_ALLOCATOR
    const char* allocator = SCENARIO_ALLOCATOR_NAME();
    if (strcmp(allocator, MEMSIGHT_EXPECT_ALLOCATOR) != 0) {
        fprintf(stderr, "%s: expected allocator %s, got %s\n", argv[0], MEMSIGHT_EXPECT_ALLOCATOR, allocator);
        return 1;
    }
#endif
    site_corpus_start(argc, argv, "site_malloc");
    long grown = 0;
    for (long id = 0;; site_corpus_tick()) {
        for (long due = site_corpus_due(); grown < due;)
            grown += handle_request(id++);
    }
}
