#include "fl/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/csv.h"
#include "core/splitmix.h"

namespace sund::fl {
namespace {

CsvTable Table(std::string_view text) {
  auto t = ParseCsv(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

constexpr std::string_view kSmall =
    "age,grp,score,outcome\n"
    "30,b,1.5,yes\n"
    "50,a,2.5,no\n"
    ",c,3.5,yes\n"  // age missing
    "40,a,,no\n"    // score missing
    "60,b,4.5,\n";  // outcome missing: dropped

FeatureSpec SmallSpec() {
  FeatureSpec s;
  s.features = {"age", "grp", "score"};
  s.target = "outcome";
  s.positive = "yes";
  return s;
}

// Verifies: REQ-FL-045
TEST(EncodingTest, OneHotsDropFirstStandardisesAndAddsMissingIndicators) {
  auto enc = FitEncoding(Table(kSmall), SmallSpec());
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  EXPECT_EQ(enc->ColumnNames(), (std::vector<std::string>{"age", "age:missing", "grp=b", "grp=c",
                                                          "score", "score:missing"}));
  // Means and population sds over the rows with an outcome.
  const EncodedFeature& age = enc->features[0];
  EXPECT_EQ(age.kind, FeatureKind::kNumeric);
  EXPECT_DOUBLE_EQ(age.mean, 40.0);
  EXPECT_DOUBLE_EQ(age.sd, std::sqrt(200.0 / 3.0));
  EXPECT_EQ(enc->features[1].categories, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_DOUBLE_EQ(enc->features[2].mean, 2.5);

  auto d = BuildDataset(Table(kSmall), *enc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->rows, 4u);
  EXPECT_EQ(d->dropped_outcome, 1u);
  EXPECT_EQ(d->y, (std::vector<double>{1, 0, 1, 0}));
  // Row 0: age 30 -> (30 - 40) / sd; grp b -> [1, 0]; score 1.5 -> -1 / sd.
  EXPECT_DOUBLE_EQ(d->at(0, 0), -10.0 / age.sd);
  EXPECT_EQ(d->at(0, 1), 0.0);
  EXPECT_EQ(d->at(0, 2), 1.0);
  EXPECT_EQ(d->at(0, 3), 0.0);
  // Row 1: grp a is the reference: all zeros.
  EXPECT_EQ(d->at(1, 2), 0.0);
  EXPECT_EQ(d->at(1, 3), 0.0);
  // Row 2: age missing -> the mean (0) and the indicator; grp c.
  EXPECT_EQ(d->at(2, 0), 0.0);
  EXPECT_EQ(d->at(2, 1), 1.0);
  EXPECT_EQ(d->at(2, 3), 1.0);
  // Row 3: score missing.
  EXPECT_EQ(d->at(3, 4), 0.0);
  EXPECT_EQ(d->at(3, 5), 1.0);
  EXPECT_EQ(d->imputed, 0u);
}

// Verifies: REQ-FL-046
TEST(EncodingTest, DropMissingIsCompleteCase) {
  FeatureSpec spec = SmallSpec();
  spec.drop_missing = true;
  auto enc = FitEncoding(Table(kSmall), spec);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->ColumnNames(), (std::vector<std::string>{"age", "grp=b", "score"}));
  EXPECT_DOUBLE_EQ(enc->features[0].mean, 40.0);  // rows 30 and 50
  auto d = BuildDataset(Table(kSmall), *enc);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rows, 2u);
  EXPECT_EQ(d->dropped_outcome, 1u);
  EXPECT_EQ(d->dropped_feature, 2u);
}

// Verifies: REQ-FL-047
TEST(EncodingTest, LevelsSetTheReferenceAndMakeNumbersCategorical) {
  FeatureSpec spec = SmallSpec();
  spec.levels["grp"] = {"c", "a", "b"};
  spec.levels["score"] = {"1.5", "2.5", "3.5", "4.5"};
  auto enc = FitEncoding(Table(kSmall), spec);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  EXPECT_EQ(enc->ColumnNames(),
            (std::vector<std::string>{"age", "age:missing", "grp=a", "grp=b", "score=2.5",
                                      "score=3.5", "score=4.5", "score:missing"}));
  spec.levels["grp"] = {"a", "b"};  // c is present in the data
  auto bad = FitEncoding(Table(kSmall), spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("grp"), std::string::npos);
}

// Verifies: REQ-FL-048
TEST(EncodingTest, JsonRoundTripsExactlyAndFingerprintFollowsTheSchema) {
  auto enc = FitEncoding(Table(kSmall), SmallSpec());
  ASSERT_TRUE(enc.ok());
  std::string json = EncodingToJson(*enc);
  auto back = ParseEncoding(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EncodingToJson(*back), json);
  EXPECT_EQ(back->features[0].sd, enc->features[0].sd);  // bit for bit
  EXPECT_EQ(back->spec.features, SmallSpec().features);
  EXPECT_EQ(SchemaFingerprint(*back), SchemaFingerprint(*enc));
  EXPECT_EQ(SchemaFingerprint(*enc).size(), 64u);

  // Any change to what a node would compute changes the fingerprint.
  Encoding renamed = *enc;
  renamed.features[2].name = "score2";
  EXPECT_NE(SchemaFingerprint(renamed), SchemaFingerprint(*enc));
  Encoding shifted = *enc;
  shifted.features[0].mean = std::nextafter(shifted.features[0].mean, 100.0);
  EXPECT_NE(SchemaFingerprint(shifted), SchemaFingerprint(*enc));
  Encoding reordered = *enc;
  std::swap(reordered.features[1].categories[1], reordered.features[1].categories[2]);
  EXPECT_NE(SchemaFingerprint(reordered), SchemaFingerprint(*enc));
  Encoding other_target = *enc;
  other_target.spec.positive = "no";
  EXPECT_NE(SchemaFingerprint(other_target), SchemaFingerprint(*enc));
}

// Verifies: REQ-FL-049
TEST(EncodingTest, ParseRejectsBrokenEncodings) {
  EXPECT_FALSE(ParseEncoding("[]").ok());
  EXPECT_FALSE(ParseEncoding(R"({"version":2,"target":"y","positive":"1",
      "features":[{"name":"a","type":"numeric","mean":0,"sd":1}]})")
                   .ok());
  EXPECT_FALSE(ParseEncoding(R"({"version":1,"target":"y","positive":"1",
      "features":[{"name":"a","type":"numeric","mean":0,"sd":0}]})")
                   .ok());
  EXPECT_FALSE(ParseEncoding(R"({"version":1,"target":"y","positive":"1",
      "features":[{"name":"a","type":"categorical","categories":["x","x"]}]})")
                   .ok());
  EXPECT_FALSE(ParseEncoding(R"({"version":1,"target":"y",
      "features":[{"name":"a","type":"numeric","mean":0,"sd":1}]})")
                   .ok());  // no positive value
  auto ok = ParseEncoding(R"({"version":1,"time":"t","event":"e",
      "features":[{"name":"a","type":"numeric","mean":0.5,"sd":2}]})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->spec.event_value, "1");
}

// Verifies: REQ-FL-050
TEST(DatasetTest, ErrorsNameTheColumnAndLineNotTheValue) {
  auto enc = FitEncoding(Table(kSmall), SmallSpec());
  ASSERT_TRUE(enc.ok());
  auto unknown =
      BuildDataset(Table("age,grp,score,outcome\n30,a,1,no\n31,secretvalue,2,no\n"), *enc);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'grp', line 3"), std::string::npos);
  EXPECT_EQ(unknown.status().message().find("secretvalue"), std::string::npos);
  auto not_number = BuildDataset(Table("age,grp,score,outcome\nold,a,1,no\n"), *enc);
  ASSERT_FALSE(not_number.ok());
  EXPECT_NE(not_number.status().message().find("line 2"), std::string::npos);
  EXPECT_NE(not_number.status().message().find("age"), std::string::npos);
  auto missing_column = BuildDataset(Table("age,grp,outcome\n1,a,no\n"), *enc);
  EXPECT_FALSE(missing_column.ok());
}

// Verifies: REQ-FL-050
TEST(DatasetTest, ImputesWithoutIndicatorWhereTheEncodingHasNone) {
  FeatureSpec spec = SmallSpec();
  spec.drop_missing = true;
  spec.levels["grp"] = {"a", "b", "c"};
  auto enc = FitEncoding(Table(kSmall), spec);
  ASSERT_TRUE(enc.ok());
  enc->spec.drop_missing = false;  // as if given in a task
  auto d = BuildDataset(Table(kSmall), *enc);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rows, 4u);
  EXPECT_EQ(d->imputed, 2u);
}

// Verifies: REQ-FL-051
TEST(DatasetTest, SurvivalOutcome) {
  CsvTable t = Table("t,e,x\n5,1,1\n3,0,2\n4,1.0,3\n,1,4\n2,2,5\n");
  FeatureSpec spec;
  spec.features = {"x"};
  spec.time = "t";
  spec.event = "e";
  auto enc = FitEncoding(t, spec);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  auto d = BuildDataset(t, *enc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->rows, 4u);
  EXPECT_EQ(d->dropped_outcome, 1u);
  EXPECT_EQ(d->time, (std::vector<double>{5, 3, 4, 2}));
  EXPECT_EQ(d->event, (std::vector<double>{1, 0, 1, 0}));
  EXPECT_TRUE(d->has_survival());
  EXPECT_FALSE(d->has_binary());
  auto bad = BuildDataset(Table("t,e,x\nsoon,1,1\n"), *enc);
  EXPECT_FALSE(bad.ok());
}

// Verifies: REQ-FL-052
TEST(DatasetTest, OriginalScaleUndoesTheStandardisation) {
  auto enc = FitEncoding(Table(kSmall), SmallSpec());
  ASSERT_TRUE(enc.ok());
  // eta = b0 + sum b_j z_j must equal c0 + sum c_j x_j on the original values.
  std::vector<double> coef = {0.3, -0.7, 0.2, 1.1, -0.4, 0.9, 0.05};
  std::vector<double> raw = OriginalScale(*enc, coef, /*intercept=*/true);
  auto d = BuildDataset(Table(kSmall), *enc);
  ASSERT_TRUE(d.ok());
  // Row 0: age 30, grp b, score 1.5.
  double eta_std = coef[0];
  for (std::size_t j = 0; j < d->cols(); ++j) eta_std += coef[j + 1] * d->at(0, j);
  double eta_raw = raw[0] + raw[1] * 30 + raw[3] * 1 + raw[5] * 1.5;
  EXPECT_NEAR(eta_std, eta_raw, 1e-12);
}

Dataset Labelled(std::size_t n, double positive_share, std::uint64_t seed) {
  Dataset d;
  d.columns = {"x"};
  SplitMix64 rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    d.x.push_back(static_cast<double>(i));
    d.y.push_back(rng.Uniform() < positive_share ? 1.0 : 0.0);
  }
  d.rows = n;
  return d;
}

double PositiveShare(const Dataset& d) {
  double s = 0;
  for (double v : d.y) s += v;
  return s / static_cast<double>(d.rows);
}

// Verifies: REQ-FL-053
TEST(SplitTest, TrainTestIsStratifiedAndReproducible) {
  Dataset d = Labelled(1000, 0.3, 1);
  TrainTest a = SplitTrainTest(d, 0.3, 42);
  TrainTest b = SplitTrainTest(d, 0.3, 42);
  EXPECT_EQ(a.test.x, b.test.x);
  EXPECT_EQ(a.train.rows + a.test.rows, 1000u);
  EXPECT_NEAR(static_cast<double>(a.test.rows), 300, 1);
  EXPECT_NEAR(PositiveShare(a.test), PositiveShare(d), 0.005);
  TrainTest c = SplitTrainTest(d, 0.3, 43);
  EXPECT_NE(a.test.x, c.test.x);
}

// Verifies: REQ-FL-053
TEST(SplitTest, IidNodesPartitionTheRows) {
  Dataset d = Labelled(1000, 0.4, 2);
  auto nodes = SplitNodes(d, 4, {}, 7);
  ASSERT_TRUE(nodes.ok());
  std::multiset<double> seen;
  for (const auto& n : *nodes) {
    EXPECT_EQ(n.rows, 250u);
    EXPECT_NEAR(PositiveShare(n), 0.4, 0.1);
    seen.insert(n.x.begin(), n.x.end());
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(std::set<double>(seen.begin(), seen.end()).size(), 1000u);
}

// Verifies: REQ-FL-053
TEST(SplitTest, DirichletSplitIsLabelSkewedAndReproducible) {
  Dataset d = Labelled(2000, 0.5, 3);
  SplitOptions o;
  o.mode = SplitMode::kLabelSkew;
  o.alpha = 0.1;
  o.min_rows = 20;
  auto a = SplitNodes(d, 5, o, 11);
  auto b = SplitNodes(d, 5, o, 11);
  auto c = SplitNodes(d, 5, o, 12);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok() && c.ok());
  double lo = 1, hi = 0;
  std::size_t total = 0;
  for (std::size_t k = 0; k < a->size(); ++k) {
    const Dataset& n = (*a)[k];
    EXPECT_GE(n.rows, 20u);
    EXPECT_EQ(n.x, (*b)[k].x);
    lo = std::min(lo, PositiveShare(n));
    hi = std::max(hi, PositiveShare(n));
    total += n.rows;
  }
  EXPECT_EQ(total, 2000u);
  EXPECT_GT(hi - lo, 0.6) << "alpha 0.1 should give nodes dominated by one label";
  bool differs = false;
  for (std::size_t k = 0; k < a->size(); ++k) differs |= (*a)[k].x != (*c)[k].x;
  EXPECT_TRUE(differs);

  // A large alpha is close to iid.
  o.alpha = 1000;
  auto iid_like = SplitNodes(d, 5, o, 11);
  ASSERT_TRUE(iid_like.ok());
  for (const auto& n : *iid_like) EXPECT_NEAR(PositiveShare(n), PositiveShare(d), 0.08);
}

// Verifies: REQ-FL-053
TEST(SplitTest, RejectsImpossibleSplits) {
  Dataset d = Labelled(50, 0.5, 4);
  SplitOptions o;
  o.min_rows = 20;
  EXPECT_FALSE(SplitNodes(d, 3, o, 1).ok());
  EXPECT_FALSE(SplitNodes(d, 0, {}, 1).ok());
  o.min_rows = 1;
  o.mode = SplitMode::kLabelSkew;
  o.alpha = 0;
  EXPECT_FALSE(SplitNodes(d, 2, o, 1).ok());
}

// Verifies: REQ-FL-053
TEST(SplitTest, ConcatStratifiesByPart) {
  Dataset d = Labelled(10, 0.5, 5);
  auto parts = SplitNodes(d, 2, SplitOptions{.min_rows = 1}, 3);
  ASSERT_TRUE(parts.ok());
  Dataset all = Concat(*parts, /*stratify=*/true);
  EXPECT_EQ(all.rows, 10u);
  EXPECT_EQ(all.strata, (std::vector<std::int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(all.y.size(), 10u);
}

}  // namespace
}  // namespace sund::fl
