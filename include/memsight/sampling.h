/* Exponential gaps for the deep tier's byte sampling, shared by bpf/alloc.bpf.c and the C++ tests so that
 * both run the same arithmetic. From a uniform 32-bit r = m * 2^(32-k) with m in [0.5, 1):
 *   -ln(r / 2^32) = k * ln 2 - ln(m)   (k = leading zero bits of r)
 * -ln(m) comes from a 1025-entry table over m = 0.5 + i/2048, linearly interpolated with the next 16 bits, so
 * gaps are continuous down to 0 (a 1024-quantile table alone has a minimum gap and a lattice of values, which
 * biases small allocations that follow a large one). Values are fixed point with 16 fractional bits. */
#ifndef MEMSIGHT_SAMPLING_H
#define MEMSIGHT_SAMPLING_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MEMSIGHT_LOG_TABLE_SIZE 1025 /* -ln(0.5 + i/2048) * 65536, i = 0..1024 */
#define MEMSIGHT_LN2_Q16 45426       /* ln 2 * 65536 */

static inline __u32 memsight_clz32(__u32 x)
{
    __u32 n = 0;
    if (!x)
        return 32;
    if (!(x & 0xFFFF0000u)) { n += 16; x <<= 16; }
    if (!(x & 0xFF000000u)) { n += 8; x <<= 8; }
    if (!(x & 0xF0000000u)) { n += 4; x <<= 4; }
    if (!(x & 0xC0000000u)) { n += 2; x <<= 2; }
    if (!(x & 0x80000000u)) { n += 1; }
    return n;
}

/* Splits r into the exponent k, the table index and the interpolation fraction (16 bits). */
static inline void memsight_gap_parts(__u32 r, __u32 *k, __u32 *idx, __u32 *frac)
{
    __u32 n = memsight_clz32(r);
    __u32 norm = n >= 32 ? 0x80000000u : r << n; /* r == 0: treat as 2^-32 */
    *k = n >= 32 ? 32 : n;                       /* r/2^32 = (norm/2^32) * 2^-n, norm/2^32 in [0.5, 1) */
    *idx = (norm >> 21) & 1023;
    *frac = (norm >> 5) & 0xFFFF;
}

/* -ln(u) in 1/65536 units, from the two table entries around the index. */
static inline __u64 memsight_gap_q16(__u32 k, __u32 lo_entry, __u32 hi_entry, __u32 frac)
{
    __u64 interp = (__u64)lo_entry - (((__u64)(lo_entry - hi_entry) * frac) >> 16);
    return (__u64)k * MEMSIGHT_LN2_Q16 + interp;
}

#endif
