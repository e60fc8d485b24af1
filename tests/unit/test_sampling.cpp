// Tests for the deep tier's byte sampling (bpf/alloc.bpf.c with the tables from userspace/loader/alloc_probes):
// the shapes of make_weight_table() and make_log_table(), and a numeric check that the scheme is unbiased. The
// simulation below is a line-by-line copy of the BPF logic (take_sample's per-thread countdown drawn from
// memsight/sampling.h's interpolated gap, weights() with x_q10 = size * 1024 / T, the table lookup and the
// >= 16384 cutoff, all in the same integer arithmetic), driven by a fixed-seed RNG in place of
// bpf_get_prandom_u32().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "loader/alloc_probes.h"
#include "memsight/alloc_events.h"
#include "memsight/sampling.h"

namespace memsight::loader {
namespace {

double f_exact(double x)
{
    return x == 0 ? 1.0 : x / -std::expm1(-x);
}

// ---- The BPF program's sampling, in userspace ----
class BpfSampler {
public:
    // `continuous_gap`: draw the gap from a true exponential instead of the table (the control experiment).
    BpfSampler(uint64_t sample_bytes, uint32_t seed, bool continuous_gap = false)
        : sample_bytes_(sample_bytes), weight_table_(make_weight_table()), log_table_(make_log_table()), rng_(seed),
          continuous_(continuous_gap)
    {
    }

    // take_sample(): per-thread countdown, -1 until first use.
    bool take_sample(uint64_t size)
    {
        if (sample_bytes_ <= 1)
            return true;
        if (countdown_ < 0)
            countdown_ = draw_gap();
        countdown_ -= static_cast<int64_t>(size);
        if (countdown_ > 0)
            return false;
        countdown_ = draw_gap();
        return true;
    }

    // weights(): bytes = size / P(sampled), objects = 1 / P in 1/1024 units.
    void weights(uint64_t size, uint64_t* w_bytes, uint64_t* w_count_q10) const
    {
        if (sample_bytes_ <= 1 || size == 0) {
            *w_bytes = size;
            *w_count_q10 = 1024;
            return;
        }
        const uint64_t x_q10 = size * 1024 / sample_bytes_;
        if (x_q10 >= MEMSIGHT_WEIGHT_TABLE_SIZE) {
            *w_bytes = size;
            *w_count_q10 = 1024;
            return;
        }
        const uint64_t fq = weight_table_[static_cast<uint32_t>(x_q10)];
        *w_bytes = (sample_bytes_ * fq) >> 16;
        *w_count_q10 = *w_bytes * 1024 / size;
    }

private:
    int64_t draw_gap()
    {
        if (continuous_)
            return static_cast<int64_t>(std::floor(static_cast<double>(sample_bytes_) * exp_(rng_))) + 1;
        uint32_t k, idx, frac;
        memsight_gap_parts(static_cast<uint32_t>(rng_()), &k, &idx, &frac);
        const uint64_t q = memsight_gap_q16(k, log_table_[idx], log_table_[idx + 1], frac);
        return static_cast<int64_t>((sample_bytes_ * q) >> 16) + 1;
    }

    uint64_t sample_bytes_;
    std::vector<uint32_t> weight_table_;
    std::vector<uint32_t> log_table_;
    int64_t countdown_ = -1;
    std::mt19937 rng_; // stands in for bpf_get_prandom_u32()
    bool continuous_ = false;
    std::exponential_distribution<double> exp_{1.0};
};

struct Estimate {
    double true_bytes = 0, true_count = 0;
    double est_bytes = 0, est_count = 0;
    uint64_t samples = 0;
    double bytes_bias() const { return est_bytes / true_bytes - 1; }
    double count_bias() const { return est_count / true_count - 1; }
};

// Runs `n` allocations with sizes from `next_size` through the sampler; sums the weights of sampled ones.
template <class SizeFn>
Estimate simulate(uint64_t sample_bytes, uint64_t n, uint32_t seed, SizeFn next_size, bool continuous_gap = false)
{
    BpfSampler s(sample_bytes, seed, continuous_gap);
    Estimate e;
    uint64_t est_count_q10 = 0;
    for (uint64_t i = 0; i < n; ++i) {
        const uint64_t size = next_size();
        e.true_bytes += static_cast<double>(size);
        e.true_count += 1;
        if (!s.take_sample(size))
            continue;
        uint64_t wb = 0, wc = 0;
        s.weights(size, &wb, &wc);
        e.est_bytes += static_cast<double>(wb);
        est_count_q10 += wc;
        ++e.samples;
    }
    e.est_count = static_cast<double>(est_count_q10) / 1024.0;
    return e;
}

// Sizes log-uniform in [16, 64 KiB]: every size class from tiny to 16x a 4 KiB period is represented.
struct MixedSizes {
    explicit MixedSizes(uint32_t seed) : rng(seed) {}
    uint64_t operator()() { return static_cast<uint64_t>(std::exp(dist(rng))); }
    std::mt19937_64 rng;
    std::uniform_real_distribution<double> dist{std::log(16.0), std::log(65536.0)};
};

// Sizes uniform in [16, 64 KiB] (bytes dominated by the large ones).
struct UniformSizes {
    explicit UniformSizes(uint32_t seed) : rng(seed) {}
    uint64_t operator()() { return dist(rng); }
    std::mt19937_64 rng;
    std::uniform_int_distribution<uint64_t> dist{16, 65536};
};

void report(const char* what, uint64_t T, const Estimate& e)
{
    std::printf("[ sampling ] %-28s T=%-6llu samples=%-8llu bytes bias %+.4f%%  count bias %+.4f%%\n", what,
                static_cast<unsigned long long>(T), static_cast<unsigned long long>(e.samples), 100 * e.bytes_bias(),
                100 * e.count_bias());
}

// ---- Tables ----

TEST(LogTable, EndpointsAndMonotone)
{
    const auto t = make_log_table();
    ASSERT_EQ(t.size(), static_cast<size_t>(MEMSIGHT_LOG_TABLE_SIZE));
    EXPECT_EQ(t.front(), static_cast<uint32_t>(std::lround(std::log(2.0) * 65536))); // -ln(0.5)
    EXPECT_EQ(t.back(), 0u);                                                         // -ln(1)
    for (size_t i = 1; i < t.size(); ++i)
        ASSERT_LT(t[i], t[i - 1]) << "at " << i;
}

TEST(GapDraw, IsAContinuousExponentialWithMeanOne)
{
    // Every 32-bit input on a fine grid: mean 1, second moment 2, survival e^-x, and gaps reach down to 0.
    const auto t = make_log_table();
    double sum = 0, m2 = 0, smallest = 1e9;
    std::vector<double> xs = {0.01, 0.1, 0.5, 1.0, 2.0, 5.0};
    std::vector<double> above(xs.size(), 0);
    const uint64_t n = 1u << 22;
    for (uint64_t i = 0; i < n; ++i) {
        const uint32_t r = static_cast<uint32_t>(i * 1024 + 511); // stratified over the whole 32-bit range
        uint32_t k, idx, frac;
        memsight_gap_parts(r, &k, &idx, &frac);
        const double g = static_cast<double>(memsight_gap_q16(k, t[idx], t[idx + 1], frac)) / 65536.0;
        EXPECT_NEAR(g, -std::log((static_cast<double>(r)) / 4294967296.0), 2e-4) << r;
        sum += g;
        m2 += g * g;
        smallest = std::min(smallest, g);
        for (size_t j = 0; j < xs.size(); ++j)
            above[j] += g > xs[j] ? 1 : 0;
        if (HasFailure())
            return;
    }
    EXPECT_NEAR(sum / n, 1.0, 1e-3);
    EXPECT_NEAR(m2 / n, 2.0, 5e-3);
    EXPECT_LT(smallest, 2.0 / 65536); // down to the fixed-point resolution: no minimum gap
    for (size_t j = 0; j < xs.size(); ++j)
        EXPECT_NEAR(above[j] / n, std::exp(-xs[j]), 1e-3) << xs[j];
}

TEST(GapDraw, ZeroInputIsTheLargestGap)
{
    const auto t = make_log_table();
    uint32_t k, idx, frac;
    memsight_gap_parts(0, &k, &idx, &frac);
    EXPECT_EQ(k, 32u);
    EXPECT_NEAR(static_cast<double>(memsight_gap_q16(k, t[idx], t[idx + 1], frac)) / 65536.0,
                32 * std::log(2.0) + std::log(2.0), 1e-3);
}

TEST(WeightTable, SizeAndFirstEntry)
{
    const auto t = make_weight_table();
    ASSERT_EQ(t.size(), static_cast<size_t>(MEMSIGHT_WEIGHT_TABLE_SIZE));
    // f(x) ~ 1 + x/2 near 0. The entry stands for x in [0, 1/1024): between f(0) = 1 and f(1/1024) = 1 + 1/2048
    // (the implementation takes the bucket's midpoint, f(0.5/1024) = 1 + 1/4096).
    EXPECT_GE(t[0], 65536u);
    EXPECT_LE(t[0], static_cast<uint32_t>(std::lround(65536 * (1 + 1.0 / 2048))));
    EXPECT_NEAR(t[0], 65536 * (1 + 1.0 / 2048), 17) << "~ 65536 * (1 + 1/2048)";
}

TEST(WeightTable, MonotoneIncreasing)
{
    const auto t = make_weight_table();
    for (size_t i = 1; i < t.size(); ++i)
        ASSERT_GT(t[i], t[i - 1]) << "at " << i;
}

TEST(WeightTable, MatchesXOverOneMinusExpMinusX)
{
    const auto t = make_weight_table();
    for (size_t i : {0u, 1u, 10u, 100u, 512u, 1023u, 1024u, 2048u, 4096u, 8192u, 16383u}) {
        // Whichever point of the bucket [i, i+1)/1024 the table stands for, it is within the bucket's f range.
        const double lo = f_exact(static_cast<double>(i) / 1024), hi = f_exact(static_cast<double>(i + 1) / 1024);
        EXPECT_GE(t[i] / 65536.0, lo - 1.0 / 65536) << i;
        EXPECT_LE(t[i] / 65536.0, hi + 1.0 / 65536) << i;
    }
    EXPECT_NEAR(t[1024] / 65536.0, 1 / (1 - std::exp(-1.0)), 1e-3); // f(1) = 1.582
}

TEST(WeightTable, ApproachesXAtTheTopEnd)
{
    const auto t = make_weight_table();
    const size_t last = t.size() - 1;
    const double x = (static_cast<double>(last) + 0.5) / 1024;
    EXPECT_NEAR(t[last] / 65536.0 / x, 1.0, 1e-5) << "f(x)/x = 1/(1-e^-x) -> 1 at x = 16";
    // And the weight is continuous across the BPF cutoff (size >= 16 T: weight = size).
    const uint64_t T = 4096;
    BpfSampler s(T, 1);
    uint64_t below = 0, at = 0, c = 0;
    s.weights(16 * T - 1, &below, &c);
    s.weights(16 * T, &at, &c);
    EXPECT_NEAR(static_cast<double>(below), static_cast<double>(16 * T - 1), 16 * T * 1e-4);
    EXPECT_EQ(at, 16 * T);
    EXPECT_EQ(c, 1024u);
}

TEST(WeightSampling, ExactModeCountsEverything)
{
    auto e = simulate(1, 100000, 1, MixedSizes(2));
    EXPECT_EQ(e.samples, 100000u);
    EXPECT_DOUBLE_EQ(e.est_bytes, e.true_bytes);
    EXPECT_DOUBLE_EQ(e.est_count, e.true_count);
}

TEST(WeightSampling, WeightOfOneSampleIsSizeOverProbability)
{
    for (uint64_t T : {4096ull, 65536ull}) {
        BpfSampler s(T, 1);
        for (uint64_t size : {16ull, 100ull, 1000ull, 4096ull, 10000ull, 65535ull}) {
            if (size >= 16 * T)
                continue;
            uint64_t wb = 0, wc = 0;
            s.weights(size, &wb, &wc);
            const double p = -std::expm1(-static_cast<double>(size) / static_cast<double>(T));
            EXPECT_NEAR(static_cast<double>(wb), size / p, size / p * 1e-3) << "T " << T << " size " << size;
            EXPECT_NEAR(wc / 1024.0, 1 / p, 1 / p * 2e-3) << "T " << T << " size " << size;
        }
    }
}

TEST(WeightSampling, MixedSizesUnbiasedT4096)
{
    const uint64_t T = 4096;
    auto e = simulate(T, 2'000'000, 11, MixedSizes(12));
    report("log-uniform 16..64K", T, e);
    EXPECT_NEAR(e.bytes_bias(), 0, 0.01);
    EXPECT_NEAR(e.count_bias(), 0, 0.02);
    auto u = simulate(T, 2'000'000, 13, UniformSizes(14));
    report("uniform 16..64K", T, u);
    EXPECT_NEAR(u.bytes_bias(), 0, 0.01);
    EXPECT_NEAR(u.count_bias(), 0, 0.02);
}

TEST(WeightSampling, MixedSizesUnbiasedT65536)
{
    const uint64_t T = 65536;
    // Log-uniform sizes put many tiny allocations in the count (weight ~T/size each): the count estimate's own
    // standard error is ~1.6% over 2 M allocations at this T, so this run uses 10 M (~0.7%).
    auto e = simulate(T, 10'000'000, 21, MixedSizes(22));
    report("log-uniform 16..64K", T, e);
    EXPECT_NEAR(e.bytes_bias(), 0, 0.01);
    EXPECT_NEAR(e.count_bias(), 0, 0.02);
    auto u = simulate(T, 2'000'000, 23, UniformSizes(24));
    report("uniform 16..64K", T, u);
    EXPECT_NEAR(u.bytes_bias(), 0, 0.01);
    EXPECT_NEAR(u.count_bias(), 0, 0.02);
}

TEST(WeightSampling, SingleSizeClassUnbiased)
{
    for (uint64_t T : {4096ull, 65536ull}) {
        for (uint64_t size : {16ull, 1000ull, 4096ull, 50000ull}) {
            // Enough allocations for ~40000 expected samples (capped), and a 4-sigma bound on what is left.
            const double p = -std::expm1(-static_cast<double>(size) / static_cast<double>(T));
            const uint64_t n = std::clamp<uint64_t>(static_cast<uint64_t>(40000 / p), 2'000'000, 20'000'000);
            const double tol = std::max(0.02, 4.0 / std::sqrt(static_cast<double>(n) * p));
            auto e = simulate(T, n, static_cast<uint32_t>(T + size), [size] { return size; });
            char what[64];
            std::snprintf(what, sizeof what, "single size %llu", static_cast<unsigned long long>(size));
            report(what, T, e);
            EXPECT_NEAR(e.bytes_bias(), 0, tol) << "T " << T << " size " << size;
            EXPECT_NEAR(e.count_bias(), 0, tol) << "T " << T << " size " << size;
        }
    }
}

Estimate pooled(uint64_t T, bool continuous_gap)
{
    Estimate total;
    for (uint32_t seed = 0; seed < 10; ++seed) {
        auto e = simulate(T, 2'000'000, 1000 + seed, MixedSizes(2000 + seed), continuous_gap);
        total.true_bytes += e.true_bytes;
        total.true_count += e.true_count;
        total.est_bytes += e.est_bytes;
        total.est_count += e.est_count;
        total.samples += e.samples;
    }
    report(continuous_gap ? "pooled 10 x, exponential gap" : "pooled 10 x log-uniform", T, total);
    return total;
}

TEST(WeightSampling, PooledOverSeedsBiasIsTiny)
{
    // Ten independent runs pooled (20 M allocations): any systematic bias would show far below 1%.
    for (uint64_t T : {4096ull, 65536ull}) {
        const Estimate total = pooled(T, false);
        EXPECT_NEAR(total.bytes_bias(), 0, 0.003) << "T " << T;
        // Count standard error: ~0.12% at T = 4096, ~0.5% at T = 65536.
        EXPECT_NEAR(total.count_bias(), 0, T == 4096 ? 0.005 : 0.015) << "T " << T;
    }
    // Control at T = 65536 with a true exponential gap, same seeds (for comparison in the output).
    const Estimate control = pooled(65536, true);
    EXPECT_NEAR(control.bytes_bias(), 0, 0.003);
    EXPECT_NEAR(control.count_bias(), 0, 0.015);
}

// A loop that makes a big allocation and then a small one (read a buffer, then keep a small record): returns
// estimated / true bytes of the small allocations (counts are the same ratio: one size).
double small_after_big_ratio(uint64_t T, uint64_t big, uint64_t small, bool continuous_gap, uint64_t pairs = 2'000'000)
{
    BpfSampler s(T, 5, continuous_gap);
    double small_true = 0, small_est = 0;
    for (uint64_t i = 0; i < pairs; ++i) {
        s.take_sample(big);
        small_true += static_cast<double>(small);
        if (s.take_sample(small)) {
            uint64_t wb = 0, wc = 0;
            s.weights(small, &wb, &wc);
            small_est += static_cast<double>(wb);
        }
    }
    std::printf("[ sampling ] %s gap, T=%-6llu %7llu B then %3llu B: small bytes estimate / truth = %.4f\n",
                continuous_gap ? "exponential" : "log_table  ", static_cast<unsigned long long>(T),
                static_cast<unsigned long long>(big), static_cast<unsigned long long>(small), small_est / small_true);
    return small_est / small_true;
}

TEST(WeightSampling, SmallAfterBigWithContinuousGapIsUnbiased)
{
    // Control: with a true exponential countdown the weights make the same patterns unbiased, so any bias in
    // the next test comes from the gap's discretization, not from weights().
    EXPECT_NEAR(small_after_big_ratio(65536, 1 << 20, 16, true), 1.0, 0.15);
    EXPECT_NEAR(small_after_big_ratio(65536, 65536, 32, true), 1.0, 0.15);
    EXPECT_NEAR(small_after_big_ratio(4096, 65536, 32, true), 1.0, 0.05);
}

TEST(WeightSampling, SmallAfterBigIsUnbiased)
{
    // A gap table of 1024 quantiles alone had a minimum gap (~T/2048) and a lattice of values, which made a small
    // allocation right after a sampled big one never (or too often) sampled; the interpolated, exponent-split
    // draw of memsight/sampling.h has neither.
    const double never = small_after_big_ratio(65536, 1 << 20, 16, false); // 1 MiB always sampled, then 16 B
    const double lattice = small_after_big_ratio(65536, 65536, 32, false); // 64 KiB then 32 B
    const double mild = small_after_big_ratio(4096, 65536, 32, false);     // same at T = 4096
    EXPECT_NEAR(mild, 1.0, 0.05);
    EXPECT_NEAR(never, 1.0, 0.15);
    EXPECT_NEAR(lattice, 1.0, 0.15);
}

} // namespace
} // namespace memsight::loader
