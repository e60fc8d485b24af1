/* threads_churn <threads> <pairs_per_thread> <hold>
 *
 * Deep-tier concurrency scenario (protocol in scenario_deep.h). After "go", <threads> threads run at once, each
 * in hold_ring(): <pairs_per_thread> times free the oldest of its <hold> blocks and malloc a new one of
 * 16..2063 bytes (xorshift64, one fixed seed per thread), so blocks of different threads are allocated and
 * freed concurrently, often on the same heap pages. Then "done <held bytes>" (the total size of the blocks
 * the rings hold; also on stderr with the block count).
 * Ground truth after "done": exactly <threads> * <hold> blocks are live, all allocated in hold_ring, and their
 * bytes are the printed total; everything else the threads allocated is freed.
 */
#include "scenario_deep.h"

#include <pthread.h>

#define MAX_THREADS 64
#define MAX_HOLD 100000

static long pairs_per_thread;
static long hold;
static long held_bytes[MAX_THREADS];

__attribute__((noinline)) static void hold_ring(long id, void** ring, size_t* size)
{
    uint64_t rng = 0x9e3779b97f4a7c15ULL + (uint64_t)id;
    for (long i = 0; i < pairs_per_thread; i++) {
        const long k = i % hold;
        free(ring[k]);
        size[k] = 16 + scenario_xorshift64(&rng) % 2048;
        ring[k] = malloc(size[k]);
        if (!ring[k]) {
            perror("malloc");
            exit(1);
        }
        memset(ring[k], 0x5a, 8);
        scenario_escape(ring[k]);
    }
    long total = 0;
    for (long k = 0; k < hold; k++)
        total += (long)size[k];
    held_bytes[id] = total;
}

/* The ring's own arrays come from worker, not hold_ring, so hold_ring's site holds exactly the ring's blocks. */
static void* worker(void* arg)
{
    void** ring = calloc((size_t)hold, sizeof(void*));
    size_t* size = calloc((size_t)hold, sizeof(size_t));
    if (!ring || !size) {
        perror("calloc");
        exit(1);
    }
    hold_ring((long)arg, ring, size);
    return NULL;
}

int main(int argc, char** argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: threads_churn <threads> <pairs_per_thread> <hold>\n");
        return 2;
    }
    const long threads = atol(argv[1]);
    pairs_per_thread = atol(argv[2]);
    hold = atol(argv[3]);
    if (threads < 1 || threads > MAX_THREADS || hold < 1 || hold > MAX_HOLD || pairs_per_thread < hold) {
        fprintf(stderr, "threads_churn: 1 <= threads <= %d, 1 <= hold <= %d, pairs >= hold\n", MAX_THREADS, MAX_HOLD);
        return 2;
    }
    scenario_install_sigterm();
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    scenario_wait_for_go();

    pthread_t tid[MAX_THREADS];
    for (long t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, worker, (void*)t) != 0) {
            fprintf(stderr, "threads_churn: pthread_create failed\n");
            return 1;
        }
    long total = 0;
    for (long t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        total += held_bytes[t];
    }
    scenario_print_done(total);
    fprintf(stderr, "threads_churn: held %ld in %ld blocks\n", total, threads * hold);
    scenario_wait_then_exit();
}
