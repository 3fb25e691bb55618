#include "core/csv.h"

#include <gtest/gtest.h>

namespace sund {
namespace {

// Verifies: REQ-CORE-014
TEST(CsvTest, ReadsQuotedFieldsAndLineEnds) {
  auto t = ParseCsv(
      "\xEF\xBB\xBFwell,compound,note\r\nA01,\"DMSO, 0.1%\",\"say "
      "\"\"hi\"\"\"\n\nB02,x,\"two\nlines\"\n");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->header.size(), 3u);
  EXPECT_EQ(t->header[0], "well");
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0][1], "DMSO, 0.1%");
  EXPECT_EQ(t->rows[0][2], "say \"hi\"");
  EXPECT_EQ(t->rows[1][2], "two\nlines");
  EXPECT_EQ(t->lines, (std::vector<std::size_t>{2, 4}));  // the blank line 3 is no record
  EXPECT_EQ(t->Column("note"), 2u);
  EXPECT_FALSE(t->Column("Note").has_value());
}

// Verifies: REQ-CORE-015
TEST(CsvTest, EmptyTrailingFieldCounts) {
  auto t = ParseCsv("a,b\n1,\n");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->rows.size(), 1u);
  EXPECT_EQ(t->rows[0][1], "");
}

// Verifies: REQ-CORE-016
TEST(CsvTest, RefusesRaggedRowsWithTheLineNumber) {
  auto t = ParseCsv("a,b\n1,2\n3\n");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("line 3"), std::string::npos);
  EXPECT_FALSE(ParseCsv("a\n\"open\n").ok());
  EXPECT_FALSE(ParseCsv("").ok());
}

// Verifies: REQ-CORE-017
TEST(CsvTest, WritesWhatItReads) {
  std::vector<std::string> fields = {"plain", "with,comma", "with \"quote\"", "line\nbreak", ""};
  std::string text = "h1,h2,h3,h4,h5\n" + CsvRecord(fields) + "\n";
  auto t = ParseCsv(text);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->rows.size(), 1u);
  EXPECT_EQ(t->rows[0], fields);
}

}  // namespace
}  // namespace sund
