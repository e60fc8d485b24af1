// cxx_leaker <iterations> <K_bytes>
//
// Deep-tier C++ leak scenario (C++17, libstdc++; operator new -> glibc malloc). Protocol
// as in scenario_deep.h ("ready <pid>", wait for "go", workload, "done <iterations>",
// hold memory until stdin EOF / SIGTERM).
//
// Each iteration (then a 1 ms sleep): main -> process_message(i, K), which calls
//   - Session::remember(K)  (member function): new char[K], memset, pointer kept in a
//     static array, never deleted;
//   - make_widget(i): new Widget (sizeof(Widget) == 64, printed on stderr), kept in a
//     static array, never deleted;
//   - churn_temporaries(i): a std::vector<int> of 256 ints (1024 bytes) and std::strings
//     of 100 and 200 characters (beyond the small-string buffer, so heap-allocated), all
//     destroyed before it returns.
// Ground truth after "done": iterations * K live bytes allocated in Session::remember
// (mangled _ZN7Session8rememberEm) and iterations * 64 live bytes in make_widget
// (_Z11make_widgetl); churn_temporaries: 0 live bytes; nothing else allocated during the
// workload. The kept pointers live in static arrays (no container growth on the heap).
//
// Attribution caveat (verified with tracefs uprobes): libstdc++'s operator new has no
// frame pointer, so a frame-pointer stack taken inside glibc malloc skips the function
// that called operator new: both leaks then appear under process_message. Probing
// operator new / new[] themselves (_Znwm, _Znam in libstdc++.so.6; deletes _ZdlPv, _ZdaPv,
// _ZdlPvm, where sized delete calls unsized delete) attributes them to Session::remember
// and make_widget exactly.
#include "scenario_deep.h"

#include <cstddef>
#include <numeric>
#include <string>
#include <vector>

struct Widget {
    long id;
    double weight;
    char label[48];
};
static_assert(sizeof(Widget) == 64, "the ground truth states 64-byte widgets");

constexpr long kMaxIterations = 1000000;

char* cxx_records[kMaxIterations];   // never deleted
Widget* cxx_widgets[kMaxIterations]; // never deleted
long cxx_count;

class Session {
public:
    __attribute__((noinline)) char* remember(std::size_t k);
};

char* Session::remember(std::size_t k)
{
    char* p = new char[k];
    memset(p, 0x5a, k);
    cxx_records[cxx_count] = p;
    scenario_escape(p);
    return p;
}

Session cxx_session;

__attribute__((noinline)) Widget* make_widget(long i)
{
    Widget* w = new Widget{i, 1.5 * static_cast<double>(i), {}};
    memset(w->label, 'w', sizeof w->label);
    cxx_widgets[cxx_count] = w;
    scenario_escape(w);
    return w;
}

__attribute__((noinline)) long churn_temporaries(long i)
{
    std::vector<int> v(256);
    std::iota(v.begin(), v.end(), static_cast<int>(i));
    scenario_escape(v.data());
    std::string s(100, 'a');
    std::string t = s + s; // 200 characters
    scenario_escape(&s[0]);
    scenario_escape(&t[0]);
    return static_cast<long>(v[255]) + static_cast<long>(t.size());
}

__attribute__((noinline)) void process_message(long i, std::size_t k)
{
    cxx_session.remember(k);
    make_widget(i);
    cxx_count++;
    churn_temporaries(i);
    scenario_escape(nullptr); // keeps the last call from being a tail call
}

int main(int argc, char** argv)
{
    long iterations = argc == 3 ? scenario_parse_num(argv[1], 1, kMaxIterations) : -1;
    long k = argc == 3 ? scenario_parse_num(argv[2], 1, 64L * SCENARIO_MIB) : -1;
    if (iterations < 0 || k < 0) {
        fprintf(stderr, "usage: %s <iterations 1..%ld> <K_bytes 1..%ld>\n", argv[0], kMaxIterations,
                64L * SCENARIO_MIB);
        return 2;
    }
    fprintf(stderr, "cxx_leaker: sizeof(Widget) = %zu\n", sizeof(Widget));

    scenario_install_sigterm();
    scenario_print_line("ready");
    scenario_wait_for_go();

    for (long i = 0; i < iterations; i++) {
        process_message(i, static_cast<std::size_t>(k));
        scenario_sleep_ms(1);
    }

    scenario_print_done(iterations);
    fprintf(stderr,
            "cxx_leaker: Session::remember %ld bytes (%ld x %ld), make_widget %ld bytes "
            "(%ld x %zu)\n",
            cxx_count * k, cxx_count, k, cxx_count * static_cast<long>(sizeof(Widget)), cxx_count, sizeof(Widget));
    scenario_wait_then_exit();
}
