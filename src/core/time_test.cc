#include "core/time.h"

#include <gtest/gtest.h>

namespace sund {
namespace {

// Verifies: REQ-CORE-001, REQ-CORE-002, REQ-CORE-004
TEST(TimeTest, ParsesDatePrecisionsAsRanges) {
  auto y = ParseFhirDate("2021");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(FormatInstant(y->lo_ms * 1000), "2021-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatInstant(y->hi_ms * 1000), "2021-12-31T23:59:59.999Z");
  auto m = ParseFhirDate("2020-02");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(FormatInstant(m->hi_ms * 1000), "2020-02-29T23:59:59.999Z");
  auto d = ParseFhirDate("2021-03-04");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->hi_ms - d->lo_ms, 86'400'000 - 1);
  auto t = ParseFhirDate("2021-03-04T10:00:00+02:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatInstant(t->lo_ms * 1000), "2021-03-04T08:00:00.000Z");
  EXPECT_EQ(t->hi_ms - t->lo_ms, 999);
  auto ms = ParseFhirDate("2021-03-04T10:00:00.5Z");
  ASSERT_TRUE(ms.ok());
  EXPECT_EQ(ms->hi_ms, ms->lo_ms);
  EXPECT_EQ(FormatInstant(ms->lo_ms * 1000), "2021-03-04T10:00:00.500Z");
}

// Verifies: REQ-CORE-003
TEST(TimeTest, RejectsInvalidDates) {
  for (const char* s : {"", "21", "2021-13", "2021-02-30", "2021-03-04T25:00", "2021-03-04 10:00",
                        "2021-03-04T10:00:00+2", "2021-03-04T10:00:00.Z", "abcd"}) {
    EXPECT_FALSE(ParseFhirDate(s).ok()) << s;
  }
}

// Verifies: REQ-CORE-005
TEST(TimeTest, HttpDateRoundTrip) {
  std::int64_t us = 1'614'852'000'000'000;  // 2021-03-04T10:00:00Z
  EXPECT_EQ(FormatHttpDate(us), "Thu, 04 Mar 2021 10:00:00 GMT");
  auto back = ParseHttpDate("Thu, 04 Mar 2021 10:00:00 GMT");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, us);
  EXPECT_FALSE(ParseHttpDate("yesterday").ok());
}

}  // namespace
}  // namespace sund
