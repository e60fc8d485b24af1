// cxx_nothrow <iterations> <K_bytes> [--truth FILE]
//
// Deep-tier C++ leak scenario for the nothrow and aligned-nothrow forms of operator new/delete (C++17,
// libstdc++ -> glibc malloc). Protocol as in scenario_deep.h ("ready <pid>", wait for "go", workload,
// "done <iterations>", hold memory until stdin EOF / SIGTERM).
//
// Each iteration (then a 1 ms sleep): main -> handle_batch(i, K), which calls, each from its own noinline
// function (the site), with every pointer kept in a static array and never freed:
//   leak_nothrow_node(i)             new (std::nothrow) Node            operator new(size_t, nothrow_t const&)
//                                     sizeof(Node) == 48
//   leak_nothrow_buffer(K)           new (std::nothrow) char[K]         operator new[](size_t, nothrow_t const&)
//   leak_aligned_nothrow_line(i)     new (std::nothrow) CacheLine       operator new(size_t, align_val_t,
//                                     alignas(64), sizeof == 128          nothrow_t const&)
//   leak_aligned_nothrow_buffer(K)   new (std::align_val_t(64),         operator new[](size_t, align_val_t,
//                                          std::nothrow) char[K]          nothrow_t const&)
// and churn_nothrow(i), which allocates with each of those four forms and releases every block at once with
// the matching explicit nothrow delete (operator delete(p, nothrow), operator delete[](p, nothrow), and the
// align_val_t + nothrow forms): 0 live bytes.
//
// Ground truth after "done": live bytes per site = (successful allocations) x (size); a nothrow new that
// returns NULL (none expected) is not counted. The table goes to stderr and, with --truth FILE, as JSON to
// FILE before "done": {"sites": {"<demangled site>": live bytes, ...}, "live_blocks": n}. The kept pointers
// live in static arrays: nothing else is allocated on the heap during the workload.
//
// Why this scenario exists (verified with objdump on Debian 12's libstdc++): the nothrow forms are thin
// wrappers without a frame pointer that call the throwing forms through the PLT (_ZnwmRKSt9nothrow_t calls
// _Znwm, _ZnwmSt11align_val_tRKSt9nothrow_t calls _ZnwmSt11align_val_t). A frame-pointer walk from the inner
// operator's return therefore skips the function that called nothrow new: unless the nothrow forms are
// probed themselves, these leaks show up under handle_batch (measured: the two aligned-nothrow leaks, 1128000
// bytes for 1000 x 1000, under libstdc++ and under jemalloc, whose own nothrow forms do the same).
#include "scenario_deep.h"

#include <cstddef>
#include <new>

struct Node {
    long id;
    Node* next;
    char payload[32];
};
static_assert(sizeof(Node) == 48, "the ground truth states 48-byte nodes");

struct alignas(64) CacheLine {
    long counters[16];
};
static_assert(sizeof(CacheLine) == 128 && alignof(CacheLine) == 64, "the ground truth states 128-byte lines");

constexpr long kMaxIterations = 1000000;
constexpr std::size_t kAlign = 64;

Node* nothrow_nodes[kMaxIterations];
char* nothrow_buffers[kMaxIterations];
CacheLine* aligned_lines[kMaxIterations];
char* aligned_buffers[kMaxIterations];
long n_nodes, n_buffers, n_lines, n_aligned_buffers, n_failed;

__attribute__((noinline)) Node* leak_nothrow_node(long i)
{
    Node* n = new (std::nothrow) Node{i, nullptr, {}};
    if (n == nullptr) {
        n_failed++;
        return nullptr;
    }
    memset(n->payload, 'n', sizeof n->payload);
    nothrow_nodes[n_nodes++] = n;
    scenario_escape(n);
    return n;
}

__attribute__((noinline)) char* leak_nothrow_buffer(std::size_t k)
{
    char* p = new (std::nothrow) char[k];
    if (p == nullptr) {
        n_failed++;
        return nullptr;
    }
    memset(p, 'b', k);
    nothrow_buffers[n_buffers++] = p;
    scenario_escape(p);
    return p;
}

__attribute__((noinline)) CacheLine* leak_aligned_nothrow_line(long i)
{
    CacheLine* c = new (std::nothrow) CacheLine{};
    if (c == nullptr) {
        n_failed++;
        return nullptr;
    }
    c->counters[0] = i;
    aligned_lines[n_lines++] = c;
    scenario_escape(c);
    return c;
}

__attribute__((noinline)) char* leak_aligned_nothrow_buffer(std::size_t k)
{
    char* p = new (std::align_val_t(kAlign), std::nothrow) char[k];
    if (p == nullptr) {
        n_failed++;
        return nullptr;
    }
    memset(p, 'a', k);
    aligned_buffers[n_aligned_buffers++] = p;
    scenario_escape(p);
    return p;
}

// Every nothrow form, released with the matching nothrow delete: nothing stays.
__attribute__((noinline)) void churn_nothrow(long i)
{
    void* a = ::operator new(200, std::nothrow);
    void* b = ::operator new[](300, std::nothrow);
    void* c = ::operator new(400, std::align_val_t(kAlign), std::nothrow);
    void* d = ::operator new[](500, std::align_val_t(kAlign), std::nothrow);
    scenario_escape(a);
    scenario_escape(b);
    scenario_escape(c);
    scenario_escape(d);
    ::operator delete(a, std::nothrow);
    ::operator delete[](b, std::nothrow);
    ::operator delete(c, std::align_val_t(kAlign), std::nothrow);
    ::operator delete[](d, std::align_val_t(kAlign), std::nothrow);
    scenario_escape(reinterpret_cast<void*>(i));
}

__attribute__((noinline)) void handle_batch(long i, std::size_t k)
{
    leak_nothrow_node(i);
    leak_nothrow_buffer(k);
    leak_aligned_nothrow_line(i);
    leak_aligned_nothrow_buffer(k);
    churn_nothrow(i);
    scenario_escape(nullptr); // keeps the last call from being a tail call
}

int main(int argc, char** argv)
{
    const bool with_truth = argc == 5 && strcmp(argv[3], "--truth") == 0;
    long iterations = argc == 3 || with_truth ? scenario_parse_num(argv[1], 1, kMaxIterations) : -1;
    long k = argc == 3 || with_truth ? scenario_parse_num(argv[2], 1, 64L * SCENARIO_MIB) : -1;
    if (iterations < 0 || k < 0) {
        fprintf(stderr, "usage: %s <iterations 1..%ld> <K_bytes 1..%ld> [--truth FILE]\n", argv[0], kMaxIterations,
                64L * SCENARIO_MIB);
        return 2;
    }
    // Opened before "ready": fopen allocates, and the workload must allocate nothing else.
    FILE* truth = with_truth ? fopen(argv[4], "w") : nullptr;
    if (with_truth && truth == nullptr) {
        fprintf(stderr, "cxx_nothrow: cannot write %s: %s\n", argv[4], strerror(errno));
        return 1;
    }

    scenario_install_sigterm();
    scenario_print_line("ready");
    scenario_wait_for_go();

    for (long i = 0; i < iterations; i++) {
        handle_batch(i, static_cast<std::size_t>(k));
        scenario_sleep_ms(1);
    }

    const long node_bytes = n_nodes * static_cast<long>(sizeof(Node));
    const long buffer_bytes = n_buffers * k;
    const long line_bytes = n_lines * static_cast<long>(sizeof(CacheLine));
    const long aligned_buffer_bytes = n_aligned_buffers * k;
    fprintf(stderr,
            "cxx_nothrow: leak_nothrow_node %ld bytes (%ld x %zu), leak_nothrow_buffer %ld (%ld x %ld), "
            "leak_aligned_nothrow_line %ld (%ld x %zu), leak_aligned_nothrow_buffer %ld (%ld x %ld), "
            "churn_nothrow 0, failed %ld\n",
            node_bytes, n_nodes, sizeof(Node), buffer_bytes, n_buffers, k, line_bytes, n_lines, sizeof(CacheLine),
            aligned_buffer_bytes, n_aligned_buffers, k, n_failed);
    if (truth != nullptr) {
        fprintf(truth,
                "{\"sites\": {\"leak_nothrow_node(long)\": %ld, \"leak_nothrow_buffer(unsigned long)\": %ld, "
                "\"leak_aligned_nothrow_line(long)\": %ld, \"leak_aligned_nothrow_buffer(unsigned long)\": %ld, "
                "\"churn_nothrow(long)\": 0},\n \"live_blocks\": %ld}\n",
                node_bytes, buffer_bytes, line_bytes, aligned_buffer_bytes,
                n_nodes + n_buffers + n_lines + n_aligned_buffers);
        fclose(truth);
    }
    scenario_print_done(iterations);
    scenario_wait_then_exit();
}
