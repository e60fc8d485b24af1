/* churner <iterations> <live_set>
 *
 * Deep-tier negative control: steady-state churn, nothing grows. Protocol as in
 * scenario_deep.h ("ready <pid>", wait for "go", workload, "done <iterations>", hold the
 * memory until stdin EOF / SIGTERM).
 *
 * Workload: a ring of <live_set> slots (a static array). Iteration i calls
 *   main -> churn_step(slot = i % live_set) -> free(old block) ; replace_block(size)
 * where replace_block mallocs size bytes (xorshift64 with a fixed seed, 16..4096) and
 * writes them. The first <live_set> iterations fill the ring (free(NULL)); after that each
 * iteration frees one block and allocates one, always from the same stack
 * (replace_block <- churn_step <- main). Sleeps 1 ms every 100 iterations.
 *
 * Ground truth: exactly one allocation site (replace_block); its live blocks = min(i,
 * live_set) and, once the ring is full, its live bytes stay bounded in
 * [16, 4096] * live_set (a stationary sum, mean ~2056 * live_set) with no trend: no site
 * grows over time. After "done" the ring is kept: live blocks = live_set, live bytes = the
 * exact sum printed on stderr ("churner: live <blocks> blocks <bytes> bytes"). Total
 * allocations = iterations, total frees = iterations - live_set (iterations >= live_set).
 */
#include "scenario_deep.h"

#define CHURNER_MAX_LIVE_SET 1000000L

void* churner_ring[CHURNER_MAX_LIVE_SET];
size_t churner_sizes[CHURNER_MAX_LIVE_SET];

__attribute__((noinline)) void* replace_block(size_t n)
{
    char* p = malloc(n);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    memset(p, (int)(n & 0xff), n);
    scenario_escape(p);
    return p;
}

__attribute__((noinline)) void churn_step(long slot, uint64_t* rng)
{
    free(churner_ring[slot]);
    size_t n = scenario_rand_range(rng, 16, 4096);
    churner_ring[slot] = replace_block(n);
    churner_sizes[slot] = n;
}

int main(int argc, char** argv)
{
    long iterations = argc == 3 ? scenario_parse_num(argv[1], 1, 1000000000L) : -1;
    long live_set = argc == 3 ? scenario_parse_num(argv[2], 1, CHURNER_MAX_LIVE_SET) : -1;
    if (iterations < 0 || live_set < 0 || iterations < live_set) {
        fprintf(stderr,
                "usage: %s <iterations 1..1000000000> <live_set 1..%ld> (iterations >= "
                "live_set)\n",
                argv[0], CHURNER_MAX_LIVE_SET);
        return 2;
    }

    scenario_install_sigterm();
    scenario_print_line("ready");
    scenario_wait_for_go();

    uint64_t rng = SCENARIO_XORSHIFT_SEED;
    for (long i = 0; i < iterations; i++) {
        churn_step(i % live_set, &rng);
        if ((i + 1) % 100 == 0)
            scenario_sleep_ms(1);
    }

    scenario_print_done(iterations);
    long bytes = 0;
    for (long s = 0; s < live_set; s++)
        bytes += (long)churner_sizes[s];
    fprintf(stderr, "churner: live %ld blocks %ld bytes\n", live_set, bytes);
    scenario_wait_then_exit();
}
