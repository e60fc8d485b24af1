/* implicit_free <rounds>  (linked with jemalloc)
 *
 * Frees through a function the deep tier does not probe, so the tracer sees the same address returned
 * again without a free: an implicit free. Protocol of scenario_deep.h ("ready", "go", "done", hold).
 * After "go", <rounds> times: alloc_block() mallocs 1000 bytes, and the block is released with jemalloc's
 * dallocx() (not probed). jemalloc's thread cache hands the same address back to the next malloc. Then
 * keep_block() mallocs 1000 bytes that stay live.
 * Ground truth after "done": live heap = 1000 bytes in 1 block at keep_block; alloc_block has 0 live bytes,
 * provided the tracer counts an address returned again as an implicit free of the old block (the counter
 * implicit_frees >= rounds - 1 when the address is reused every round, which jemalloc does). */
#include "scenario_deep.h"

void dallocx(void* ptr, int flags); /* jemalloc's non-standard free */

void* kept;

__attribute__((noinline)) void* alloc_block(void)
{
    void* p = malloc(1000);
    if (p == NULL)
        exit(1);
    scenario_escape(p);
    return p;
}

__attribute__((noinline)) void keep_block(void)
{
    kept = malloc(1000);
    if (kept == NULL)
        exit(1);
    scenario_escape(kept);
}

int main(int argc, char** argv)
{
    long rounds = argc == 2 ? scenario_parse_num(argv[1], 1, 1000000) : -1;
    if (rounds < 0) {
        fprintf(stderr, "usage: %s <rounds 1..1000000>\n", argv[0]);
        return 2;
    }
    scenario_install_sigterm();
    scenario_print_line("ready");
    scenario_wait_for_go();
    void* first = NULL;
    long reused = 0;
    for (long i = 0; i < rounds; i++) {
        void* p = alloc_block();
        if (i == 0)
            first = p;
        else
            reused += p == first;
        dallocx(p, 0);
    }
    keep_block();
    fprintf(stderr, "implicit_free: %ld of %ld rounds reused the first address\n", reused, rounds - 1);
    scenario_print_done(rounds);
    scenario_wait_then_exit();
}
