/* seccomp_strict <seconds>
 *
 * A process under a strict seccomp-BPF allowlist (SECCOMP_RET_KILL_PROCESS for every other system call, and for
 * any architecture but x86-64), allocating in a loop: what a hardened service looks like to the deep tier. A
 * uretprobe returns through a trampoline that, on x86-64 since Linux 6.11, makes the `uretprobe` system call; if a
 * filter saw that call, this process would die of SIGSYS the first time a traced malloc returned.
 *
 * Before the filter: malloc/free once (glibc sets its heap up), getpid, SIGTERM's default action is kept (it kills
 * without a system call). Allowed afterwards: read, write, brk, mmap, munmap, mremap, madvise, clock_nanosleep,
 * nanosleep, clock_gettime, futex, getrandom, rt_sigreturn, exit, exit_group.
 *
 * Prints "ready <pid>" once the filter is in place. Then, every ~1 ms, `seccomp_leak_one` <- `main` mallocs 1000
 * bytes (kept, up to 100000 blocks) and `seccomp_churn_one` mallocs and frees 16..512 bytes; every ~100 ms it
 * prints "alive <blocks kept>". After <seconds> it prints "done <blocks kept>" and exits 0. Everything goes
 * through write(2), never stdio. Killed by the filter: SIGSYS (exit status -31 to Python).
 */
#include "scenario_deep.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define SECCOMP_MAX_BLOCKS 100000L

void* seccomp_blocks[SECCOMP_MAX_BLOCKS]; /* never freed */
long seccomp_count;

__attribute__((noinline)) void seccomp_leak_one(void)
{
    if (seccomp_count >= SECCOMP_MAX_BLOCKS)
        return;
    char* p = malloc(1000);
    if (p == NULL)
        _exit(1);
    memset(p, 0x5a, 1000);
    seccomp_blocks[seccomp_count++] = p;
    scenario_escape(p);
}

__attribute__((noinline)) void seccomp_churn_one(uint64_t* rng)
{
    size_t n = scenario_rand_range(rng, 16, 512);
    char* p = malloc(n);
    if (p == NULL)
        _exit(1);
    memset(p, (int)(n & 0xff), n);
    scenario_escape(p);
    free(p);
}

static void put_line(const char* word, long n)
{
    char buf[64];
    int len = snprintf(buf, sizeof buf, "%s %ld\n", word, n); /* snprintf into a stack buffer: no heap */
    ssize_t unused = write(STDOUT_FILENO, buf, (size_t)len);
    (void)unused;
}

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void install_filter(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(__NR_read),
        ALLOW(__NR_write),
        ALLOW(__NR_brk),
        ALLOW(__NR_mmap),
        ALLOW(__NR_munmap),
        ALLOW(__NR_mremap),
        ALLOW(__NR_madvise),
        ALLOW(__NR_clock_nanosleep),
        ALLOW(__NR_nanosleep),
        ALLOW(__NR_clock_gettime), /* the vDSO falls back to it on some clock sources */
        ALLOW(__NR_futex),
        ALLOW(__NR_getrandom), /* glibc's malloc seeds its tcache key with it */
        ALLOW(__NR_rt_sigreturn),
        ALLOW(__NR_exit),
        ALLOW(__NR_exit_group),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        perror("seccomp_strict: seccomp");
        exit(1);
    }
}

int main(int argc, char** argv)
{
    long seconds = argc == 2 ? scenario_parse_num(argv[1], 1, 3600) : -1;
    if (seconds < 0) {
        fprintf(stderr, "usage: %s <seconds 1..3600>\n", argv[0]);
        return 2;
    }
#if !defined(__x86_64__)
    fprintf(stderr, "seccomp_strict: the filter is written for x86-64\n");
    return 2;
#endif
    free(malloc(64)); /* glibc's heap and tcache exist before the filter */
    const long pid = (long)getpid();
    install_filter();
    put_line("ready", pid);

    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start); /* vDSO: no system call */
    for (long i = 1;; ++i) {
        seccomp_leak_one();
        seccomp_churn_one(&rng);
        struct timespec ms = {0, 1000000};
        clock_nanosleep(CLOCK_MONOTONIC, 0, &ms, NULL);
        if (i % 100 == 0) {
            put_line("alive", seccomp_count);
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec >= seconds)
                break;
        }
    }
    put_line("done", seccomp_count);
    return 0;
}
