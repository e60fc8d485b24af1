/* alloc_family [--truth FILE]
 *
 * Deep-tier scenario: every libc allocation entry point, each from its own noinline
 * function (the site), with exactly known live bytes at the end. Protocol as in
 * scenario_deep.h ("ready <pid>", wait for "go", workload, "done 1", hold until stdin
 * EOF / SIGTERM). Glibc malloc only (the realloc(p, 0) line is glibc behaviour).
 *
 * Ground truth after "done 1" (live = requested bytes still allocated, by site):
 *   use_malloc          1000  malloc(1000)
 *   use_calloc          3000  calloc(10, 300); calloc(SIZE_MAX/2, 4) -> NULL (overflow,
 *                             not an allocation)
 *   use_realloc         6100  p = malloc(100); p = realloc(p, 5000) (5000);
 *                             realloc(NULL, 700) (700); r = malloc(300); realloc(r, 0)
 *                             frees r and returns NULL (glibc 2.36); s = malloc(400);
 *                             realloc(s, SIZE_MAX/2) -> NULL, s stays alive (400)
 *   use_reallocarray    1000  reallocarray(NULL, 20, 50); reallocarray(NULL, SIZE_MAX/2,
 *                             4) -> NULL (overflow)
 *   use_posix_memalign  2048  posix_memalign(&p, 64, 2048) -> 0; posix_memalign(&q, 3,
 *                             100) -> EINVAL (not an allocation, q untouched)
 *   use_aligned_alloc   4096  aligned_alloc(256, 4096)
 *   use_memalign        1500  memalign(128, 1500)
 *   use_valloc          5000  valloc(5000) (page aligned)
 *   use_pvalloc         5000  pvalloc(5000): 5000 requested, glibc rounds it up to 8192
 *   use_free_all           0  malloc(777); free
 *   total_heap         28744  (31936 if pvalloc is counted as its rounded 8192)
 *   use_mmap          114688  anonymous private mmap 16 pages kept (65536); 16 pages then
 *                             munmap of the first 4 (49152 kept); 8 pages fully
 *                             munmapped (0); plus a 1-page PROT_READ MAP_PRIVATE mapping
 *                             of /proc/self/exe, kept, NOT anonymous: not counted
 *   use_mremap         40960  anonymous mmap 4 pages, mremap to 10 pages MREMAP_MAYMOVE
 *   total_mmap        155648  (anonymous pages, all written, so also resident)
 * Live heap blocks: 11. Pages are 4096 bytes (checked at start).
 *
 * The table goes to stderr, and as JSON to FILE with --truth FILE, before "ready" ("sites"
 * as above, "sites_pvalloc_rounded" the same with use_pvalloc = 8192, totals). Any
 * observed result that contradicts the table (e.g. realloc(r, 0) returning a block)
 * prints "alloc_family: unexpected: ..." and exits 3 before "done".
 *
 * Glibc 2.36 facts a tracer must cope with (public symbols share addresses):
 * aligned_alloc == memalign (same function), malloc == __libc_malloc; realloc(NULL, n)
 * calls malloc internally and realloc(p, 0) calls free internally; reallocarray calls
 * realloc; valloc/pvalloc/posix_memalign/memalign share an internal _mid_memalign (no
 * nested public entry point). Internal calls do not go through the PLT, but a uprobe on
 * the function's address still fires for them, so a tracer must ignore an entry point
 * called while another one of the same thread is in flight (or it counts twice).
 * Verified with tracefs uprobes on libc (entry + return on every function above): per-site
 * live bytes equal the table exactly, and the nested hits seen were realloc -> malloc,
 * realloc -> free and reallocarray -> realloc (the failing reallocarray does not call
 * realloc). The mmap totals also equal the growth of path-less mappings in
 * /proc/PID/maps. Valgrind 3.19 cannot check the whole run: it aborts on pvalloc
 * ("Program aborting because of call to pvalloc"); up to there it reports 23744 bytes
 * (= 28744 - 5000) in 10 blocks.
 */
#include "scenario_deep.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>

#define PAGE 4096L

/* Opaque values so the compiler cannot fold the failing calls or warn about them. */
volatile size_t family_huge = SIZE_MAX / 2;
volatile size_t family_bad_alignment = 3;

void* volatile family_keep[16]; /* every kept block, never freed */
int family_nkeep;

static void keep(void* p)
{
    family_keep[family_nkeep++] = p;
}

static void unexpected(const char* what)
{
    fprintf(stderr, "alloc_family: unexpected: %s\n", what);
    exit(3);
}

static void* checked(void* p, const char* what)
{
    if (p == NULL)
        unexpected(what);
    return p;
}

__attribute__((noinline)) void use_malloc(void)
{
    char* p = checked(malloc(1000), "malloc(1000) failed");
    memset(p, 1, 1000);
    keep(p);
}

__attribute__((noinline)) void use_calloc(void)
{
    char* p = checked(calloc(10, 300), "calloc(10, 300) failed");
    keep(p);
    void* q = calloc(family_huge, 4);
    if (q != NULL)
        unexpected("calloc(SIZE_MAX/2, 4) returned a block");
}

__attribute__((noinline)) void use_realloc(void)
{
    char* p = checked(malloc(100), "malloc(100) failed");
    memset(p, 2, 100);
    p = checked(realloc(p, 5000), "realloc(p, 5000) failed");
    memset(p, 2, 5000);
    keep(p);

    char* q = checked(realloc(NULL, 700), "realloc(NULL, 700) failed");
    memset(q, 3, 700);
    keep(q);

    char* r = checked(malloc(300), "malloc(300) failed");
    memset(r, 4, 300);
    scenario_escape(r);
    void* z = realloc(r, 0); /* glibc: frees r, returns NULL */
    if (z != NULL)
        unexpected("realloc(r, 0) returned a block (glibc 2.36 returns NULL)");

    char* s = checked(malloc(400), "malloc(400) failed");
    memset(s, 5, 400);
    void* t = realloc(s, family_huge);
    if (t != NULL)
        unexpected("realloc(s, SIZE_MAX/2) succeeded");
    keep(s);
}

__attribute__((noinline)) void use_reallocarray(void)
{
    char* p = checked(reallocarray(NULL, 20, 50), "reallocarray(NULL, 20, 50) failed");
    memset(p, 6, 1000);
    keep(p);
    void* q = reallocarray(NULL, family_huge, 4);
    if (q != NULL)
        unexpected("reallocarray(NULL, SIZE_MAX/2, 4) returned a block");
}

__attribute__((noinline)) void use_posix_memalign(void)
{
    void* p = NULL;
    if (posix_memalign(&p, 64, 2048) != 0 || p == NULL || ((uintptr_t)p & 63) != 0)
        unexpected("posix_memalign(&p, 64, 2048) failed");
    memset(p, 7, 2048);
    keep(p);
    void* q = NULL;
    int rc = posix_memalign(&q, family_bad_alignment, 100);
    if (rc != EINVAL || q != NULL)
        unexpected("posix_memalign(&q, 3, 100) did not fail with EINVAL");
}

__attribute__((noinline)) void use_aligned_alloc(void)
{
    char* p = checked(aligned_alloc(256, 4096), "aligned_alloc(256, 4096) failed");
    if (((uintptr_t)p & 255) != 0)
        unexpected("aligned_alloc alignment");
    memset(p, 8, 4096);
    keep(p);
}

__attribute__((noinline)) void use_memalign(void)
{
    char* p = checked(memalign(128, 1500), "memalign(128, 1500) failed");
    if (((uintptr_t)p & 127) != 0)
        unexpected("memalign alignment");
    memset(p, 9, 1500);
    keep(p);
}

__attribute__((noinline)) void use_valloc(void)
{
    char* p = checked(valloc(5000), "valloc(5000) failed");
    if (((uintptr_t)p & (PAGE - 1)) != 0)
        unexpected("valloc alignment");
    memset(p, 10, 5000);
    keep(p);
}

size_t family_pvalloc_usable;

__attribute__((noinline)) void use_pvalloc(void)
{
    char* p = checked(pvalloc(5000), "pvalloc(5000) failed");
    if (((uintptr_t)p & (PAGE - 1)) != 0)
        unexpected("pvalloc alignment");
    family_pvalloc_usable = malloc_usable_size(p);
    if (family_pvalloc_usable < 8192)
        unexpected("pvalloc(5000) did not round up to 8192");
    memset(p, 11, 8192);
    keep(p);
}

void* volatile family_maps[8];

/* A macro (not even an inline function) so that the mmap call belongs to use_mmap /
 * use_mremap in the line tables too, with no inlined-subroutine entry in the DWARF. */
#define ANON_PAGES(p, pages)                                                                                           \
    do {                                                                                                               \
        (p) = mmap(NULL, (size_t)((pages)*PAGE), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);          \
        if ((p) == MAP_FAILED)                                                                                         \
            unexpected("anonymous mmap failed");                                                                       \
        memset((p), 12, (size_t)((pages)*PAGE)); /* resident too */                                                    \
    } while (0)

__attribute__((noinline)) void use_mmap(void)
{
    char *a, *b, *c;
    ANON_PAGES(a, 16);
    family_maps[0] = a; /* 65536 kept */

    ANON_PAGES(b, 16);
    if (munmap(b, 4 * PAGE) != 0)
        unexpected("partial munmap failed");
    family_maps[1] = b + 4 * PAGE; /* 12 pages = 49152 kept */

    ANON_PAGES(c, 8);
    if (munmap(c, 8 * PAGE) != 0)
        unexpected("munmap failed"); /* 0 */

    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        unexpected("open(/proc/self/exe) failed");
    char* f = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        unexpected("file mmap failed");
    if (f[0] != 0x7f)
        unexpected("/proc/self/exe is not ELF");
    family_maps[2] = f; /* file-backed, kept, not anonymous */
}

__attribute__((noinline)) void use_mremap(void)
{
    char* a;
    ANON_PAGES(a, 4);
    char* b = mremap(a, 4 * PAGE, 10 * PAGE, MREMAP_MAYMOVE);
    if (b == MAP_FAILED)
        unexpected("mremap failed");
    memset(b, 13, 10 * PAGE);
    family_maps[3] = b; /* 40960 kept */
}

__attribute__((noinline)) void use_free_all(void)
{
    char* p = checked(malloc(777), "malloc(777) failed");
    memset(p, 14, 777);
    scenario_escape(p);
    free(p);
}

struct site {
    const char* name;
    long live;
    int is_mmap;
};

static const struct site kSites[] = {
    {"use_malloc", 1000, 0},       {"use_calloc", 3000, 0},         {"use_realloc", 6100, 0},
    {"use_reallocarray", 1000, 0}, {"use_posix_memalign", 2048, 0}, {"use_aligned_alloc", 4096, 0},
    {"use_memalign", 1500, 0},     {"use_valloc", 5000, 0},         {"use_pvalloc", 5000, 0},
    {"use_free_all", 0, 0},        {"use_mmap", 114688, 1},         {"use_mremap", 40960, 1},
};
#define NSITES ((int)(sizeof kSites / sizeof kSites[0]))
#define PVALLOC_REQUESTED 5000L
#define PVALLOC_ROUNDED 8192L
#define LIVE_HEAP_BLOCKS 11
#define FILE_MMAP_BYTES PAGE

static void totals(long* heap, long* mm)
{
    *heap = 0;
    *mm = 0;
    for (int i = 0; i < NSITES; i++)
        *(kSites[i].is_mmap ? mm : heap) += kSites[i].live;
}

static void print_table(void)
{
    long heap, mm;
    totals(&heap, &mm);
    fprintf(stderr, "alloc_family: expected live bytes after \"done\"\n");
    for (int i = 0; i < NSITES; i++)
        fprintf(stderr, "  %-20s %8ld  (%s)\n", kSites[i].name, kSites[i].live,
                kSites[i].is_mmap ? "anonymous mmap" : "heap");
    fprintf(stderr, "  %-20s %8ld  (%ld with pvalloc rounded to %ld)\n", "total_heap", heap,
            heap - PVALLOC_REQUESTED + PVALLOC_ROUNDED, PVALLOC_ROUNDED);
    fprintf(stderr, "  %-20s %8ld\n", "total_mmap", mm);
    fprintf(stderr, "  live heap blocks %d; file-backed mapping %ld bytes (not counted)\n", LIVE_HEAP_BLOCKS,
            (long)FILE_MMAP_BYTES);
}

static int write_truth(const char* path)
{
    long heap, mm;
    totals(&heap, &mm);
    FILE* f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "{\"sites\": {");
    for (int i = 0; i < NSITES; i++)
        fprintf(f, "%s\"%s\": %ld", i ? ", " : "", kSites[i].name, kSites[i].live);
    /* The same with pvalloc counted as the page-rounded size it really allocates. */
    fprintf(f, "},\n \"sites_pvalloc_rounded\": {");
    for (int i = 0; i < NSITES; i++)
        fprintf(f, "%s\"%s\": %ld", i ? ", " : "", kSites[i].name,
                strcmp(kSites[i].name, "use_pvalloc") == 0 ? PVALLOC_ROUNDED : kSites[i].live);
    fprintf(f, "},\n \"heap_sites\": [");
    for (int i = 0, n = 0; i < NSITES; i++)
        if (!kSites[i].is_mmap)
            fprintf(f, "%s\"%s\"", n++ ? ", " : "", kSites[i].name);
    fprintf(f, "],\n \"mmap_sites\": [");
    for (int i = 0, n = 0; i < NSITES; i++)
        if (kSites[i].is_mmap)
            fprintf(f, "%s\"%s\"", n++ ? ", " : "", kSites[i].name);
    fprintf(f,
            "],\n \"total_heap\": %ld, \"total_heap_pvalloc_rounded\": %ld,\n"
            " \"pvalloc_requested\": %ld, \"pvalloc_rounded\": %ld,\n"
            " \"live_heap_blocks\": %d, \"total_mmap\": %ld, \"file_mmap_bytes\": %ld,\n"
            " \"page_size\": %ld}\n",
            heap, heap - PVALLOC_REQUESTED + PVALLOC_ROUNDED, PVALLOC_REQUESTED, PVALLOC_ROUNDED, LIVE_HEAP_BLOCKS, mm,
            (long)FILE_MMAP_BYTES, PAGE);
    return fclose(f);
}

int main(int argc, char** argv)
{
    const char* truth = NULL;
    if (argc == 3 && strcmp(argv[1], "--truth") == 0) {
        truth = argv[2];
    } else if (argc != 1) {
        fprintf(stderr, "usage: %s [--truth FILE]\n", argv[0]);
        return 2;
    }
    if (sysconf(_SC_PAGESIZE) != PAGE) {
        fprintf(stderr, "alloc_family: page size is not %ld\n", PAGE);
        return 1;
    }
    print_table();
    if (truth != NULL && write_truth(truth) != 0) {
        fprintf(stderr, "alloc_family: cannot write %s: %s\n", truth, strerror(errno));
        return 1;
    }

    scenario_install_sigterm();
    scenario_print_line("ready");
    scenario_wait_for_go();

    use_malloc();
    use_calloc();
    use_realloc();
    use_reallocarray();
    use_posix_memalign();
    use_aligned_alloc();
    use_memalign();
    use_valloc();
    use_pvalloc();
    use_mmap();
    use_mremap();
    use_free_all();

    scenario_print_done(1);
    fprintf(stderr, "alloc_family: pvalloc usable size %zu\n", family_pvalloc_usable);
    scenario_wait_then_exit();
}
