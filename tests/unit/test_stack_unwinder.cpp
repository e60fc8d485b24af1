// Unwinding copied user stacks: with this test process's own registers and stack, copied as the BPF program copies
// them at a sampled fault, the CFI unwinder must reach the callers; the frame-pointer walk stays inside the copy.
#include "symbolize/stack_unwinder.h"
#include "symbolize/symbolizer.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace memsight::symbolize {
namespace {

#if defined(__x86_64__)
struct Captured {
    UserStackCopy copy;
    std::vector<uint8_t> bytes;
};

// Byte by byte through a volatile pointer (the compiler must not make it a memcpy call): the raw stack holds the
// redzones of an ASan build's frames, which the kernel's copy reads too and ASan would report.
__attribute__((no_sanitize("address"))) void copy_raw_stack(uint8_t* dst, const volatile uint8_t* src, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        dst[i] = src[i];
}

// The registers (x86_64 DWARF order) and up to `window` bytes above the stack pointer, taken in this function.
__attribute__((noinline)) void capture_registers_and_stack(Captured& out, size_t window)
{
    uint64_t r[17];
    asm volatile("movq %%rax, 0(%0)\n\t"
                 "movq %%rdx, 8(%0)\n\t"
                 "movq %%rcx, 16(%0)\n\t"
                 "movq %%rbx, 24(%0)\n\t"
                 "movq %%rsi, 32(%0)\n\t"
                 "movq %%rdi, 40(%0)\n\t"
                 "movq %%rbp, 48(%0)\n\t"
                 "movq %%rsp, 56(%0)\n\t"
                 "movq %%r8, 64(%0)\n\t"
                 "movq %%r9, 72(%0)\n\t"
                 "movq %%r10, 80(%0)\n\t"
                 "movq %%r11, 88(%0)\n\t"
                 "movq %%r12, 96(%0)\n\t"
                 "movq %%r13, 104(%0)\n\t"
                 "movq %%r14, 112(%0)\n\t"
                 "movq %%r15, 120(%0)\n\t"
                 "leaq 0(%%rip), %%rax\n\t"
                 "movq %%rax, 128(%0)\n\t"
                 :
                 : "r"(r)
                 : "rax", "memory");
    // Clip the copy at the top of this thread's stack, as the BPF program clips at the process's.
    pthread_attr_t attr;
    void* lo = nullptr;
    size_t size = 0;
    pthread_getattr_np(pthread_self(), &attr);
    pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
    const uint64_t top = reinterpret_cast<uint64_t>(lo) + size;
    const uint64_t sp = r[7];
    const size_t len = std::min<uint64_t>(window, top - sp);
    out.bytes.resize(len);
    copy_raw_stack(out.bytes.data(), reinterpret_cast<const volatile uint8_t*>(sp), len);
    std::copy(std::begin(r), std::end(r), out.copy.regs.begin());
    out.copy.tid = static_cast<pid_t>(::gettid());
    out.copy.stack = out.bytes;
}

volatile int sink;

__attribute__((noinline)) void unwind_test_inner(Captured& out, size_t window)
{
    capture_registers_and_stack(out, window);
    sink = 1; // not a tail call
}

__attribute__((noinline)) void unwind_test_outer(Captured& out, size_t window)
{
    unwind_test_inner(out, window);
    sink = 2;
}

std::vector<std::string> functions(ProcessSymbolizer& sym, const std::vector<uint64_t>& ips)
{
    std::vector<std::string> names;
    for (const auto& f : symbolize_stack(&sym, ips))
        names.push_back(f.function);
    return names;
}

bool contains(const std::vector<std::string>& names, const std::string& fn)
{
    return std::any_of(names.begin(), names.end(), [&](const auto& n) { return n.find(fn) != std::string::npos; });
}

TEST(StackUnwinder, CfiReachesTheCallersThroughTheCopy)
{
    Captured c;
    unwind_test_outer(c, 8192);
    ProcessSymbolizer sym(::getpid());
    const auto ips = sym.unwind(c.copy);
    const auto names = functions(sym, ips);
    ASSERT_GE(names.size(), 3u);
    EXPECT_TRUE(contains(names, "capture_registers_and_stack")) << testing::PrintToString(names);
    EXPECT_TRUE(contains(names, "unwind_test_inner")) << testing::PrintToString(names);
    EXPECT_TRUE(contains(names, "unwind_test_outer")) << testing::PrintToString(names);
}

TEST(StackUnwinder, ACopyTooShortEndsTheStackInsteadOfReadingBeyondIt)
{
    Captured c;
    unwind_test_outer(c, 8192);
    ProcessSymbolizer sym(::getpid());
    const size_t full = sym.unwind(c.copy).size();
    c.copy.stack = std::span<const uint8_t>(c.bytes).first(16); // not even the first return address
    const auto ips = sym.unwind(c.copy);
    EXPECT_LT(ips.size(), full);
    EXPECT_GE(ips.size(), 1u); // the faulting instruction itself
}

TEST(StackUnwinder, FallsBackToFramePointersWithoutAViewOfTheProcess)
{
    Captured c;
    unwind_test_outer(c, 8192);
    // A pid that does not exist: no view can be opened.
    StackUnwinder u(UnwinderLimits{.processes = 4, .opens_per_second = 100});
    const auto ips = u.unwind(0x3ffffff0, c.copy);
    ASSERT_FALSE(ips.empty());
    EXPECT_EQ(ips[0], c.copy.regs[16]);
    EXPECT_EQ(u.stats().frame_pointer, 1u);
    EXPECT_EQ(u.stats().cfi, 0u);

    const auto own = u.unwind(::getpid(), c.copy);
    EXPECT_EQ(u.stats().cfi, 1u);
    EXPECT_GE(own.size(), 3u);
}

TEST(StackUnwinder, OpensViewsAtTheConfiguredRateOnly)
{
    Captured c;
    unwind_test_outer(c, 8192);
    StackUnwinder u(UnwinderLimits{.processes = 4, .opens_per_second = 1});
    const auto t0 = StackUnwinder::Clock::now();
    u.unwind(0x3ffffff0, c.copy, t0); // spends the one open (the process does not exist)
    u.unwind(::getpid(), c.copy, t0); // no open left in this second: frame pointers
    EXPECT_EQ(u.stats().opens, 1u);
    EXPECT_EQ(u.stats().cfi, 0u);
    u.unwind(::getpid(), c.copy, t0 + std::chrono::seconds(1));
    EXPECT_EQ(u.stats().opens, 2u);
    EXPECT_EQ(u.stats().cfi, 1u);
    // Kept, and reused without another open.
    u.unwind(::getpid(), c.copy, t0 + std::chrono::seconds(1));
    EXPECT_EQ(u.stats().opens, 2u);
    EXPECT_EQ(u.stats().cfi, 2u);
    u.forget(::getpid());
    EXPECT_EQ(u.stats().cached, 1u); // the nonexistent pid's empty view
}

TEST(StackUnwinder, KeepsViewsOfTheMostRecentlySampledProcessesOnly)
{
    Captured c;
    unwind_test_outer(c, 8192);
    StackUnwinder u(UnwinderLimits{.processes = 2, .opens_per_second = 100});
    for (pid_t p : {0x3ffffff0, 0x3ffffff1, 0x3ffffff2})
        u.unwind(p, c.copy);
    EXPECT_EQ(u.stats().cached, 2u);
}

TEST(StackUnwinder, PrioritizedProcessesAreOpenedWhateverTheRateAndEvictedLast)
{
    Captured c;
    unwind_test_outer(c, 8192);
    StackUnwinder u(UnwinderLimits{.processes = 2, .opens_per_second = 1});
    u.prioritize({::getpid()});
    const auto t0 = StackUnwinder::Clock::now();
    u.unwind(0x3ffffff0, c.copy, t0); // spends the one open
    u.unwind(::getpid(), c.copy, t0); // prioritized: opened anyway
    EXPECT_EQ(u.stats().cfi, 1u);
    u.unwind(0x3ffffff1, c.copy, t0 + std::chrono::seconds(1));
    u.unwind(0x3ffffff2, c.copy, t0 + std::chrono::seconds(2)); // evicts 0x3ffffff1, not the prioritized view
    EXPECT_EQ(u.stats().cached, 2u);
    const auto opens = u.stats().opens;
    u.unwind(::getpid(), c.copy, t0 + std::chrono::seconds(2));
    EXPECT_EQ(u.stats().opens, opens); // still kept
    EXPECT_EQ(u.stats().cfi, 2u);
}
#endif

TEST(FramePointerStack, FollowsTheChainWithinTheCopyOnly)
{
    // A stack at 0x1000: frame at 0x1010 -> saved bp 0x1030, return 0xaaa; frame at 0x1030 -> saved bp 0x2000
    // (outside the copy), return 0xbbb.
    std::vector<uint64_t> words(8, 0);
    words[2] = 0x1030;
    words[3] = 0xaaa;
    words[6] = 0x2000;
    words[7] = 0xbbb;
    UserStackCopy c;
    c.regs[6] = 0x1010;
    c.regs[7] = 0x1000;
    c.regs[16] = 0x999;
    c.stack = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(words.data()), words.size() * 8);
    EXPECT_EQ(frame_pointer_stack(c), (std::vector<uint64_t>{0x999, 0xaaa, 0xbbb}));

    // A chain that points downwards is not followed.
    words[2] = 0x1008;
    EXPECT_EQ(frame_pointer_stack(c), (std::vector<uint64_t>{0x999, 0xaaa}));
}

} // namespace
} // namespace memsight::symbolize
