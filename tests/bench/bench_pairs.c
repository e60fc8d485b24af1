/* bench_pairs <pairs>: a malloc-heavy churn for the deep-tier overhead benchmark.
 * Prints "ready <pid>", waits for a line "go" on stdin (so a tracer can attach first), then does <pairs>
 * malloc+free pairs over a ring of 256 live blocks with sizes 16..1024 (fixed-seed xorshift), and prints
 * "ns_per_pair <x>". */
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

int main(int argc, char** argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_pairs <pairs>\n");
        return 2;
    }
    const long pairs = atol(argv[1]);
    void* ring[256] = {0};
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin) || strncmp(line, "go", 2) != 0)
        return 0;
    const double start = now_ns();
    for (long i = 0; i < pairs; ++i) {
        const size_t slot = (size_t)i & 255;
        free(ring[slot]);
        ring[slot] = malloc(16 + xorshift() % 1009);
        *(volatile char*)ring[slot] = 1;
    }
    const double elapsed = now_ns() - start;
    printf("ns_per_pair %.1f\n", elapsed / (double)pairs);
    for (int i = 0; i < 256; ++i)
        free(ring[i]);
    return 0;
}
