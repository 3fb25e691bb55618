#include "http/query.h"

#include <gtest/gtest.h>

#include "http/message.h"

namespace sund::http {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Verifies: REQ-HTTP-002
TEST(ParseQueryTest, KeepsOrderAndRepeats) {
  EXPECT_EQ(ParseQuery("a=1&b=2&a=3"), (Pairs{{"a", "1"}, {"b", "2"}, {"a", "3"}}));
}

// Verifies: REQ-HTTP-002
TEST(ParseQueryTest, DecodesPlusAndPercent) {
  EXPECT_EQ(ParseQuery("name=J%C3%B8rgen+Hansen&x%3Dy=a%26b"),
            (Pairs{{"name", "J\xC3\xB8rgen Hansen"}, {"x=y", "a&b"}}));
}

// Verifies: REQ-HTTP-002
TEST(ParseQueryTest, EmptyPiecesAndMissingValues) {
  EXPECT_EQ(ParseQuery(""), Pairs{});
  EXPECT_EQ(ParseQuery("&&"), Pairs{});
  EXPECT_EQ(ParseQuery("a&b=&=c"), (Pairs{{"a", ""}, {"b", ""}, {"", "c"}}));
  EXPECT_EQ(ParseQuery("a=1=2"), (Pairs{{"a", "1=2"}}));
}

// Verifies: REQ-HTTP-003
TEST(PercentDecodeTest, InvalidEscapesStayLiteral) {
  EXPECT_EQ(PercentDecode("100%", false), "100%");
  EXPECT_EQ(PercentDecode("%4", false), "%4");
  EXPECT_EQ(PercentDecode("%zz%41", false), "%zzA");
  EXPECT_EQ(PercentDecode("%%41", false), "%A");
}

// Verifies: REQ-HTTP-003
TEST(PercentDecodeTest, PlusOnlyWhenAsked) {
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("a%2Bb", true), "a+b");
}

// Verifies: REQ-HTTP-003
TEST(PercentDecodeTest, DecodesNulAndHighBytes) {
  EXPECT_EQ(PercentDecode("a%00b%ff", false), std::string("a\0b\xff", 4));
}

// Verifies: REQ-HTTP-004
TEST(PercentEncodeTest, EncodesAllButUnreserved) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("a b/c?d=e&f"), "a%20b%2Fc%3Fd%3De%26f");
  EXPECT_EQ(PercentEncode("\xC3\xB8"), "%C3%B8");
}

// Verifies: REQ-HTTP-004
TEST(PercentEncodeTest, RoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(PercentDecode(PercentEncode(all), false), all);
  EXPECT_EQ(PercentDecode(PercentEncode(all), true), all);
}

// Verifies: REQ-HTTP-001
TEST(HeadersTest, CaseInsensitiveOrderedWithRepeats) {
  Headers h;
  h.Add("Content-Type", "text/plain");
  h.Add("Set-Cookie", "a=1");
  h.Add("set-cookie", "b=2");
  EXPECT_EQ(h.Get("content-type"), "text/plain");
  EXPECT_EQ(h.Get("SET-COOKIE"), "a=1");
  EXPECT_TRUE(h.Has("Set-Cookie"));
  EXPECT_FALSE(h.Has("Location"));
  EXPECT_EQ(h.Get("Location"), "");
  ASSERT_EQ(h.all().size(), 3u);
  EXPECT_EQ(h.all()[2].second, "b=2");

  h.Set("SET-COOKIE", "c=3");
  ASSERT_EQ(h.all().size(), 2u);
  EXPECT_EQ(h.all()[1], (std::pair<std::string, std::string>{"Set-Cookie", "c=3"}));
  h.Set("Location", "/x");
  EXPECT_EQ(h.all().back().first, "Location");
  EXPECT_EQ(h.Remove("content-TYPE"), 1u);
  EXPECT_FALSE(h.Has("Content-Type"));
}

}  // namespace
}  // namespace sund::http
