#include "report/format.h"
#include "report/report.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace memsight::report;

TEST(ReportFormat, EscapesHtmlSpecialCharacters)
{
    EXPECT_EQ(escape_html("<script>alert('x')</script> & \"q\""),
              "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
    EXPECT_EQ(escape_html("plain-comm_1"), "plain-comm_1");
}

TEST(ReportFormat, ReplacesControlCharactersAndInvalidUtf8)
{
    // A comm may hold any byte but NUL and '/': newlines, escapes, broken UTF-8.
    EXPECT_EQ(escape_html("a\nb\x1b[31m"), "a\xEF\xBF\xBD"
                                           "b\xEF\xBF\xBD[31m");
    EXPECT_EQ(sanitize("ok\xff\xfe"), "ok\xEF\xBF\xBD\xEF\xBF\xBD");
    EXPECT_EQ(sanitize("caf\xC3\xA9"), "caf\xC3\xA9");                           // valid UTF-8 stays
    EXPECT_EQ(sanitize("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                 // overlong '/' is not valid
    EXPECT_EQ(sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); // a surrogate
}

TEST(ReportFormat, EscapesMarkdownTableCells)
{
    EXPECT_EQ(escape_markdown("a|b"), "a\\|b");
    EXPECT_EQ(escape_markdown("*x* _y_ [z](u) `c` #h \\"), "\\*x\\* \\_y\\_ \\[z\\](u) \\`c\\` \\#h \\\\");
    EXPECT_EQ(escape_markdown("<img src=x onerror=y>"), "&lt;img src=x onerror=y&gt;");
    EXPECT_EQ(escape_markdown("line1\nline2"), "line1\xEF\xBF\xBDline2");
    EXPECT_EQ(escape_markdown("it's"), "it&#39;s"); // the entity gets no backslash
}

TEST(ReportFormat, FormatsBytes)
{
    EXPECT_EQ(bytes(0), "0 B");
    EXPECT_EQ(bytes(512), "512 B");
    EXPECT_EQ(bytes(1536), "1.50 KiB");
    EXPECT_EQ(bytes(20 * 1048576.0), "20.0 MiB");
    EXPECT_EQ(bytes(300 * 1048576.0), "300 MiB");
    EXPECT_EQ(bytes(1.25 * 1073741824.0), "1.25 GiB");
    EXPECT_EQ(bytes(-2 * 1048576.0), "-2.00 MiB");
    EXPECT_EQ(bytes(NAN), "-");
    EXPECT_EQ(rate(3 * 1048576.0), "3.00 MiB/s");
}

TEST(ReportFormat, FormatsDurationsTimesAndCounts)
{
    EXPECT_EQ(duration(45), "45s");
    EXPECT_EQ(duration(720), "12m");
    EXPECT_EQ(duration(750), "12m 30s");
    EXPECT_EQ(duration(3 * 3600 + 20 * 60), "3h 20m");
    EXPECT_EQ(duration(2 * 86400 + 4 * 3600 + 59), "2d 4h");
    EXPECT_EQ(duration(NAN), "-");
    EXPECT_EQ(utc_time(1795976401), "2026-11-29 18:20:01Z");
    EXPECT_EQ(rfc3339(1795976401.9), "2026-11-29T18:20:01Z");
    EXPECT_EQ(count(2.4), "2");
    EXPECT_EQ(count(2.6), "3");
    EXPECT_EQ(percent(0.934), "93%");
    EXPECT_EQ(percent(0.05), "5.0%");
    EXPECT_EQ(ratio(0.5), "0.50");
    EXPECT_EQ(short_id(std::string(64, 'a')), "aaaaaaaaaaaa");
    EXPECT_EQ(short_id(""), "-");
}

TEST(ReportFormat, Base64)
{
    EXPECT_EQ(base64(""), "");
    EXPECT_EQ(base64("f"), "Zg==");
    EXPECT_EQ(base64("fo"), "Zm8=");
    EXPECT_EQ(base64("foo"), "Zm9v");
    EXPECT_EQ(base64("<svg/>"), "PHN2Zy8+");
}

TEST(ReportFormat, SubjectNames)
{
    Subject p{"node-a:9756", "42", "api", std::string(64, 'c'), "", ""};
    EXPECT_EQ(subject_name(p), "api (pid 42, container cccccccccccc)");
    Subject c{"node-a:9756", "", "", std::string(64, 'd'), "", "/docker/x"};
    EXPECT_EQ(subject_name(c), "/docker/x");
}
