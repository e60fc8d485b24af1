/* bench_pairs <pairs> [depth]: a malloc-heavy churn for the deep-tier overhead benchmark.
 * Prints "ready <pid>", waits for a line "go" on stdin (so a tracer can attach first), then does <pairs>
 * malloc+free pairs over a ring of 256 live blocks with sizes 16..1024 (fixed-seed xorshift), and prints
 * "ns_per_pair <x>". With depth > 0 the pairs run `depth` calls below main (32-byte frames), so the
 * allocation stacks are that much deeper: a stack walk's cost grows with depth. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t state = 88172645463325252ull;
static uint64_t xorshift(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void* ring[256];

static void churn(long pairs)
{
    for (long i = 0; i < pairs; ++i) {
        const size_t slot = (size_t)i & 255;
        free(ring[slot]);
        ring[slot] = malloc(16 + xorshift() % 1009);
        *(volatile char*)ring[slot] = 1;
    }
}

/* `depth` nested calls, then the churn; the volatile local keeps each frame real. */
__attribute__((noinline)) static void nest(int depth, long pairs)
{
    volatile int keep = depth;
    if (depth <= 0)
        churn(pairs);
    else
        nest(depth - 1, pairs);
    (void)keep;
}

int main(int argc, char** argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: bench_pairs <pairs> [depth]\n");
        return 2;
    }
    const long pairs = atol(argv[1]);
    const int depth = argc == 3 ? atoi(argv[2]) : 0;
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin) || strncmp(line, "go", 2) != 0)
        return 0;
    const double start = now_ns();
    if (depth > 0)
        nest(depth, pairs);
    else
        churn(pairs);
    const double elapsed = now_ns() - start;
    printf("ns_per_pair %.1f\n", elapsed / (double)pairs);
    for (int i = 0; i < 256; ++i)
        free(ring[i]);
    return 0;
}
