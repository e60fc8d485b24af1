// Python stacks: tagged frames, weaving into native stacks, and the 3.11+ location table.
#include "python/frames.h"

#include <gtest/gtest.h>

#include <array>

using namespace memsight::python;

TEST(PythonFrames, EncodeDecode)
{
    // Code object at 0x7f1234567890, instructions from +0x40, the 1234th code unit (2 bytes each).
    const uint64_t e = memsight_py_frame_entry(0x7f12'3456'7890, 0x7f12'3456'7890 + 0x40 + 2 * 1234, 0x40);
    EXPECT_TRUE(is_python_frame(e));
    EXPECT_EQ(decode_frame(e).code, 0x7f12'3456'7890u);
    EXPECT_EQ(decode_frame(e).instr_units, 1234u);
    EXPECT_EQ(decode_frame(memsight_py_frame_entry(0x1000, 0x1000, 0x40)).instr_units, 0u); // before the first
    EXPECT_FALSE(is_python_frame(0x7fff'ffff'f000)); // user addresses never carry the tag
    EXPECT_EQ(memsight_py_frame_entry(0x7f12'3456'7891, 0, 0), 0u);  // not 8-byte aligned: not a code object
    EXPECT_EQ(memsight_py_frame_entry(0, 0, 0), 0u);
    EXPECT_EQ(memsight_py_frame_entry(uint64_t{1} << 47, 0, 0), 0u); // beyond user space
    EXPECT_EQ(memsight_py_frame_entry(0x1000, 0x1000 + 2 * (1u << 19), 0), 0u); // beyond the offset's bits
}

TEST(PythonFrames, WeaveReplacesEvalLoopFrames)
{
    StackSource src;
    src.eval_start = 0x5000;
    src.eval_end = 0x6000;
    src.bpf.code_adaptive = 0x40;
    // Three Python frames, innermost first; py[1] and py[2] are each the outermost of one eval-loop call.
    const std::array<memsight_py_frame, 3> py{{{0x10000, 0x10000 + 0x40 + 2 * 7},
                                                {0x20000, 0x20000 + 0x40 + 2 * 3},
                                                {0x30000, 0x30000 + 0x40}}};
    const std::vector<uint64_t> native{0x1000, 0x5010, 0x2000, 0x5020, 0x3000};
    const auto out = weave(native, py, 0b110, src);
    ASSERT_EQ(out.size(), 6u);
    EXPECT_EQ(out[0], 0x1000u);
    EXPECT_EQ(decode_frame(out[1]).code, 0x10000u);
    EXPECT_EQ(decode_frame(out[1]).instr_units, 7u);
    EXPECT_EQ(decode_frame(out[2]).code, 0x20000u);
    EXPECT_EQ(out[3], 0x2000u);
    EXPECT_EQ(decode_frame(out[4]).code, 0x30000u);
    EXPECT_EQ(decode_frame(out[4]).instr_units, 0u);
    EXPECT_EQ(out[5], 0x3000u);
}

TEST(PythonFrames, WeaveKeepsFramesTheNativeStackDidNotReach)
{
    StackSource src;
    src.eval_start = 0x5000;
    src.eval_end = 0x6000;
    const std::array<memsight_py_frame, 2> py{{{0x10000, 0x10000}, {0x20000, 0x20000}}};
    const auto out = weave({0x1000, 0x2000}, py, 0, src); // the copy ended before the eval loop
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[1], 0x2000u);
    EXPECT_TRUE(is_python_frame(out[2]));
    EXPECT_TRUE(is_python_frame(out[3]));
    // The first native frame is the faulting instruction itself, not a return address: no step back.
    EXPECT_EQ(weave({0x5000}, py, 0, src).size(), 2u);
}

TEST(PythonFrames, LineTable)
{
    // firstlineno 10; entries (CPython's Objects/locations.md):
    const std::vector<uint8_t> t{
        0x81, 0x05,                   // short form, 2 units: line 10
        0xDA, 0x01, 0x02,             // one-line form code 11 (+1), 3 units: line 11
        0xE8, 0x0A,                   // no-column form, +5 (svarint 10), 1 unit: line 16
        0xF8,                         // no location, 1 unit
        0xF0, 0x07, 0x00, 0x01, 0x02, // long form, -3 (svarint 7), 1 unit: line 13
    };
    EXPECT_EQ(line_of(t, 10, 0), 10);
    EXPECT_EQ(line_of(t, 10, 1), 10);
    EXPECT_EQ(line_of(t, 10, 2), 11);
    EXPECT_EQ(line_of(t, 10, 4), 11);
    EXPECT_EQ(line_of(t, 10, 5), 16);
    EXPECT_EQ(line_of(t, 10, 6), std::nullopt);
    EXPECT_EQ(line_of(t, 10, 7), 13);
    EXPECT_EQ(line_of(t, 10, 8), std::nullopt); // past the table
    // A multi-byte varint: +100 is svarint 200 = 0b11'001000 -> 0x48 (more), 0x03.
    EXPECT_EQ(line_of(std::vector<uint8_t>{0xE8, 0x48, 0x03}, 1, 0), 101);
    EXPECT_EQ(line_of(std::vector<uint8_t>{0x05}, 1, 0), std::nullopt);       // not an entry's first byte
    EXPECT_EQ(line_of(std::vector<uint8_t>{0xF0, 0x07}, 10, 0), std::nullopt); // cut short
}
