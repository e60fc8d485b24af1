// site_cxx_new <KiB per second>   (growth-site corpus, protocol in growth_site_corpus.h)
//
// Ground truth: all growth comes from leak_add_record, called main -> handle_request -> leak_add_record, which
// creates a Record (4096 bytes) with libstdc++'s operator new (-> glibc malloc), whose constructor (always inlined
// into leak_add_record) fills it, and pushes the pointer onto a std::vector that is never cleared. New pages are
// first touched inside glibc's malloc (next top-chunk header), reached through operator new, which keeps no frame
// pointer. The growth site is the demangled "leak_add_record(long)" (a free function: the symbolizer names C++
// functions demangled, with their parameter list). The vector's own reallocations (in std::vector::
// _M_realloc_insert, 8 bytes per record) are ~0.4 % of the growth.
#include "growth_site_corpus.h"

#include <cstring>
#include <vector>

struct Record {
    long id;
    char payload[4088];

    [[gnu::always_inline]] explicit Record(long i) : id(i)
    {
        std::memset(payload, int(i & 0x7f) | 1, sizeof payload);
    }
};
static_assert(sizeof(Record) == 4096, "the ground truth states 4096-byte records");

std::vector<Record*> site_records; // never cleared: every record leaks
long site_requests;

__attribute__((noinline, noclone)) long leak_add_record(long id)
{
    site_records.push_back(new Record(id));
    return static_cast<long>(sizeof(Record));
}

__attribute__((noinline, noclone)) long handle_request(long id)
{
    long grown = leak_add_record(id);
    site_requests++; // keeps the call above out of tail position
    return grown;
}

int main(int argc, char** argv)
{
    site_corpus_start(argc, argv, "site_cxx_new");
    long grown = 0;
    for (long id = 0;; site_corpus_tick()) {
        for (long due = site_corpus_due(); grown < due;)
            grown += handle_request(id++);
    }
}
