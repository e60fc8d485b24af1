/* exit_midway <ms>
 *
 * Deep-tier scenario: a leaking process that exits on its own in the middle of a tracing
 * session. Prints "ready <pid>", waits for the line "go" on stdin (EOF before it: exit 0),
 * then for <ms> milliseconds (CLOCK_MONOTONIC) calls
 *   main -> leak_before_exit(): malloc(1000), memset, kept in a static array
 * once per iteration with a 1 ms sleep in between, prints "done <n>" (n = blocks leaked)
 * and exits 0 immediately: it does NOT wait for stdin EOF.
 * Ground truth: n * 1000 bytes leaked in leak_before_exit at the moment of exit, n <= ms
 * (typically ms * 0.9 or so, as each sleep overshoots); then the process is gone.
 */
#include "scenario_deep.h"

#define EXIT_MIDWAY_MAX_BLOCKS 1000000L

void* exit_midway_blocks[EXIT_MIDWAY_MAX_BLOCKS];
long exit_midway_count;

__attribute__((noinline)) void leak_before_exit(void)
{
    char* p = malloc(1000);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    memset(p, 0x5a, 1000);
    exit_midway_blocks[exit_midway_count++] = p;
    scenario_escape(p);
}

int main(int argc, char** argv)
{
    long ms = argc == 2 ? scenario_parse_num(argv[1], 1, EXIT_MIDWAY_MAX_BLOCKS) : -1;
    if (ms < 0) {
        fprintf(stderr, "usage: %s <ms 1..%ld>\n", argv[0], EXIT_MIDWAY_MAX_BLOCKS);
        return 2;
    }

    scenario_install_sigterm();
    scenario_print_line("ready");
    scenario_wait_for_go();

    long end = scenario_now_ms() + ms;
    while (scenario_now_ms() < end && exit_midway_count < EXIT_MIDWAY_MAX_BLOCKS) {
        leak_before_exit();
        scenario_sleep_ms(1);
    }

    scenario_print_done(exit_midway_count);
    fprintf(stderr, "exit_midway: leaked %ld bytes in leak_before_exit, exiting\n", exit_midway_count * 1000L);
    return 0;
}
