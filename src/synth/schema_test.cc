#include "synth/schema.h"

#include <gtest/gtest.h>

namespace sund::synth {
namespace {

CsvTable Table(std::string_view text) {
  auto t = ParseCsv(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

// Verifies: REQ-SYNTH-001
TEST(SchemaTest, InfersKindsRangesAndMissing) {
  InferOptions numbers;
  numbers.few_values = 0;
  auto s =
      InferSchema(Table("a,b,c,d\n1,1.25,x,2020-01-31\n3,,y,2021-02-01T10:00\n-2,7,x,\n"), numbers);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->columns.size(), 4u);
  EXPECT_EQ(s->columns[0].kind, ColumnKind::kInteger);
  EXPECT_EQ(s->columns[0].lower, -2);
  EXPECT_EQ(s->columns[0].upper, 3);
  EXPECT_TRUE(s->columns[0].PerValueBins());
  EXPECT_EQ(s->columns[1].kind, ColumnKind::kContinuous);
  EXPECT_EQ(s->columns[1].decimals, 2);
  EXPECT_TRUE(s->columns[1].missing);
  EXPECT_EQ(s->columns[2].kind, ColumnKind::kCategorical);
  EXPECT_EQ(s->columns[2].categories, (std::vector<std::string>{"x", "y"}));
  EXPECT_FALSE(s->columns[2].missing);
  EXPECT_EQ(s->columns[3].kind, ColumnKind::kDate);
  EXPECT_EQ(FormatDays(static_cast<std::int64_t>(s->columns[3].upper)), "2021-02-01");
  EXPECT_TRUE(s->from_data);
}

// Verifies: REQ-SYNTH-002
TEST(SchemaTest, NumbersWithFewScatteredValuesAreCategories) {
  auto s = InferSchema(Table("karno,dose,stage\n90,0.5,1\n100,0,2\n50,1,3\n60,0,4\n70,0.5,2\n"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->columns[0].kind, ColumnKind::kCategorical);
  EXPECT_EQ(s->columns[0].categories, (std::vector<std::string>{"50", "60", "70", "90", "100"}));
  EXPECT_EQ(s->columns[1].kind, ColumnKind::kCategorical);
  EXPECT_EQ(s->columns[1].categories, (std::vector<std::string>{"0", "0.5", "1"}));
  EXPECT_EQ(s->columns[2].kind, ColumnKind::kInteger);  // 1..4: a dense range
  InferOptions numbers;
  numbers.few_values = 0;
  EXPECT_EQ(InferSchema(Table("k\n90\n100\n50\n"), numbers)->columns[0].kind, ColumnKind::kInteger);
}

// Verifies: REQ-SYNTH-003
TEST(SchemaTest, AllMissingColumnIsAClearError) {
  auto s = InferSchema(Table("a,b\n1,\n2,\n"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("'b' has no values"), std::string::npos);
}

// Verifies: REQ-SYNTH-003
TEST(SchemaTest, TooManyCategoriesIsAClearError) {
  std::string text = "id\n";
  for (int i = 0; i < 10000; ++i) text += "p" + std::to_string(i) + "\n";
  auto s = InferSchema(Table(text));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("more than 1000 distinct"), std::string::npos);
}

// Verifies: REQ-SYNTH-004
TEST(SchemaTest, RoundTripsThroughJson) {
  InferOptions numbers;
  numbers.few_values = 0;
  auto s = InferSchema(Table("a,b,c,d\n1,1.25,x,2020-01-31\n300,,y,2021-02-01\n"), numbers);
  ASSERT_TRUE(s.ok());
  auto back = ParseSchema(SchemaToJson(*s));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->columns.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(back->columns[i].kind, s->columns[i].kind);
    EXPECT_EQ(back->columns[i].lower, s->columns[i].lower);
    EXPECT_EQ(back->columns[i].upper, s->columns[i].upper);
    EXPECT_EQ(back->columns[i].categories, s->columns[i].categories);
    EXPECT_EQ(back->columns[i].missing, s->columns[i].missing);
  }
  EXPECT_FALSE(back->from_data);
  EXPECT_FALSE(back->columns[0].PerValueBins());  // 300 values > 32 bins
}

// Verifies: REQ-SYNTH-005
TEST(SchemaTest, ReadsPrivatePgmDomainFiles) {
  auto s = ParseSchema(R"({"age": 85, "sex": 2})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->columns[0].name, "age");
  EXPECT_EQ(s->columns[0].upper, 84);
  EXPECT_TRUE(s->columns[0].PerValueBins());
  EXPECT_FALSE(ParseSchema(R"({"age": -1})").ok());
  EXPECT_FALSE(ParseSchema(R"({"columns":[{"name":"x","type":"integer","min":5,"max":1}]})").ok());
  EXPECT_FALSE(ParseSchema(R"({"columns":[{"name":"x","type":"categorical"}]})").ok());
  EXPECT_FALSE(ParseSchema("[1,2]").ok());
}

// Verifies: REQ-SYNTH-006
TEST(SchemaTest, ParsesAndWritesValues) {
  Column c;
  c.name = "d";
  c.kind = ColumnKind::kDate;
  auto v = ParseValue(c, "1999-12-31");
  ASSERT_TRUE(v.ok() && v->has_value());
  std::string out;
  AppendValue(c, **v + 0.7, out);
  EXPECT_EQ(out, "1999-12-31");
  EXPECT_FALSE(ParseValue(c, "1999-02-30").ok());
  EXPECT_FALSE(ParseDays("2001-02-29"));
  EXPECT_TRUE(ParseDays("2000-02-29"));
  Column n;
  n.name = "n";
  n.kind = ColumnKind::kContinuous;
  n.decimals = 1;
  out.clear();
  AppendValue(n, 2.25, out);
  EXPECT_EQ(out, "2.2");
  EXPECT_FALSE(ParseValue(n, "abc").ok());
  auto empty = ParseValue(n, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  for (std::int64_t d : {-719468LL, -1LL, 0LL, 11016LL, 2932896LL}) {
    EXPECT_EQ(ParseDays(FormatDays(d)), d);
  }
}

// Verifies: REQ-SYNTH-007
TEST(SchemaTest, RejectsNonUtf8AndEmptyFiles) {
  std::string dir = ::testing::TempDir();
  auto write = [&](const std::string& name, std::string_view bytes) {
    std::string p = dir + "/" + name;
    FILE* f = std::fopen(p.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    return p;
  };
  auto bad = ReadCsvFile(write("latin1.csv", "a,b\n1,x\n2,\xe6\xf8\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 3 is not UTF-8"), std::string::npos);
  EXPECT_FALSE(ReadCsvFile(write("empty.csv", "")).ok());
  EXPECT_FALSE(ReadCsvFile(write("header.csv", "a,b\n")).ok());
  auto ragged = ReadCsvFile(write("ragged.csv", "a,b\n1,2\n3\n"));
  ASSERT_FALSE(ragged.ok());
  EXPECT_TRUE(ReadCsvFile(write("ok.csv", "a,b\n1,\xc3\xa6\n")).ok());
}

}  // namespace
}  // namespace sund::synth
