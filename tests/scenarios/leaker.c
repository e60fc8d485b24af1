/* leaker <iterations> <K_bytes> <churn_per_iter>
 *
 * Deep-tier leak scenario (protocol in scenario_deep.h: "ready <pid>", wait for the line
 * "go" on stdin, workload, "done <iterations>", hold memory until stdin EOF / SIGTERM).
 *
 * Workload, once per iteration, then a 1 ms sleep (so a session sees a growing series):
 *   - main -> handle_request -> parse_record -> leak_one_record(K): malloc(K), memset,
 *     pointer stored in a static (BSS) array that is never freed;
 *   - churn_per_iter times churn_one(): malloc(16..512 bytes, xorshift64 with a fixed
 *     seed), write every byte, free.
 * Ground truth after "done": live leaked bytes = iterations * K exactly, all allocated in
 * leak_one_record (stack leak_one_record <- parse_record <- handle_request <- main), in
 * `iterations` blocks; every churn allocation is freed (churn_one: 0 live bytes).
 * The pointer array is static, so no other heap allocation happens during the workload.
 * Under valgrind the leaked blocks are "still reachable" (the array points at them).
 *
 * The same source is linked three ways: leaker (glibc malloc), leaker_jemalloc
 * (-ljemalloc) and leaker_tcmalloc (-ltcmalloc). The allocator that malloc resolved to is
 * printed on stderr ("leaker: allocator <name>"); a build that expected another one
 * (MEMSIGHT_EXPECT_ALLOCATOR) exits 1 before "ready".
 */
#include "scenario_deep.h"

#include <dlfcn.h>

#define LEAKER_MAX_ITERATIONS 1000000L

void* leaker_blocks[LEAKER_MAX_ITERATIONS]; /* never freed */
long leaker_count;

__attribute__((noinline)) void leak_one_record(size_t k)
{
    char* p = malloc(k);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    memset(p, 0x5a, k);
    leaker_blocks[leaker_count++] = p;
    scenario_escape(p);
}

__attribute__((noinline)) void parse_record(size_t k)
{
    leak_one_record(k);
    scenario_escape(NULL); /* keeps the call above from being a tail call */
}

__attribute__((noinline)) void handle_request(size_t k)
{
    parse_record(k);
    scenario_escape(NULL);
}

__attribute__((noinline)) void churn_one(uint64_t* rng)
{
    size_t n = scenario_rand_range(rng, 16, 512);
    char* p = malloc(n);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    memset(p, (int)(n & 0xff), n);
    scenario_escape(p);
    free(p);
}

int main(int argc, char** argv)
{
    long iterations = argc == 4 ? scenario_parse_num(argv[1], 1, LEAKER_MAX_ITERATIONS) : -1;
    long k = argc == 4 ? scenario_parse_num(argv[2], 1, 64L * SCENARIO_MIB) : -1;
    long churn = argc == 4 ? scenario_parse_num(argv[3], 0, 1000000) : -1;
    if (iterations < 0 || k < 0 || churn < 0) {
        fprintf(stderr, "usage: %s <iterations 1..%ld> <K_bytes 1..%ld> <churn_per_iter 0..1000000>\n", argv[0],
                LEAKER_MAX_ITERATIONS, 64L * SCENARIO_MIB);
        return 2;
    }

    const char* allocator = SCENARIO_ALLOCATOR_NAME();
    fprintf(stderr, "leaker: allocator %s\n", allocator);
#ifdef MEMSIGHT_EXPECT_ALLOCATOR
    if (strcmp(allocator, MEMSIGHT_EXPECT_ALLOCATOR) != 0) {
        fprintf(stderr, "leaker: expected allocator %s, got %s\n", MEMSIGHT_EXPECT_ALLOCATOR, allocator);
        return 1;
    }
#endif

    scenario_install_sigterm();
    scenario_print_line("ready");
    scenario_wait_for_go();

    uint64_t rng = SCENARIO_XORSHIFT_SEED;
    for (long i = 0; i < iterations; i++) {
        handle_request((size_t)k);
        for (long c = 0; c < churn; c++)
            churn_one(&rng);
        scenario_sleep_ms(1);
    }

    scenario_print_done(iterations);
    fprintf(stderr, "leaker: %ld blocks of %ld bytes leaked in leak_one_record = %ld bytes\n", leaker_count, k,
            leaker_count * k);
    scenario_wait_then_exit();
}
