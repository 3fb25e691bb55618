#include "synth/evaluate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>

namespace sund::synth {
namespace {

CsvTable Table(std::string_view text) {
  auto t = ParseCsv(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return *t;
}

Evaluation MustEvaluate(const CsvTable& real, const CsvTable* holdout, const CsvTable& synthetic,
                        const EvaluateOptions& options = {}) {
  auto e = Evaluate(real, holdout, synthetic, options);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? *e : Evaluation{};
}

// Verifies: REQ-SYNTH-024
TEST(EvaluateTest, OneAndTwoWayTvdByHand) {
  const CsvTable real = Table("a,b\nx,1\nx,2\ny,1\ny,2\n");
  const CsvTable syn = Table("a,b\nx,1\nx,1\nx,1\ny,2\n");
  Evaluation e = MustEvaluate(real, nullptr, syn);
  // a: real x .5 y .5, synthetic x .75 y .25; b likewise.
  EXPECT_NEAR(e.marginals[0].tvd, 0.25, 1e-12);
  EXPECT_NEAR(e.marginals[1].tvd, 0.25, 1e-12);
  EXPECT_NEAR(e.tvd1, 0.25, 1e-12);
  // Joint: real .25 in each of four cells; synthetic (x,1) .75, (y,2) .25.
  ASSERT_TRUE(e.tvd2.has_value());
  EXPECT_NEAR(*e.tvd2, 0.5 * (0.5 + 0.25 + 0.25 + 0), 1e-12);
  ASSERT_EQ(e.pairs.size(), 1u);
  EXPECT_NEAR(e.pairs[0].tvd, 0.5, 1e-12);
}

// Verifies: REQ-SYNTH-024
TEST(EvaluateTest, MissingAndUnknownValuesHaveCellsOfTheirOwn) {
  const CsvTable real = Table("a,b\nx,1\nx,2\ny,1\ny,2\n");
  const CsvTable syn = Table("a,b\nx,1\nx,3\nz,1\n,abc\n");
  Evaluation e = MustEvaluate(real, nullptr, syn);
  // a: real x .5 y .5; synthetic x .5, other .25, missing .25.
  EXPECT_NEAR(e.marginals[0].tvd, 0.5 * (0 + 0.5 + 0.25 + 0.25), 1e-12);
  // b: real 1 .5 2 .5; synthetic 1 .5, other ("3", "abc") .5.
  EXPECT_NEAR(e.marginals[1].tvd, 0.5, 1e-12);
  const Marginal& m = e.marginals[0];
  ASSERT_EQ(m.labels, (std::vector<std::string>{"x", "y", "(missing)", "(other)"}));
  EXPECT_NEAR(m.synthetic[2], 0.25, 1e-12);
  EXPECT_NEAR(m.synthetic[3], 0.25, 1e-12);
}

// Verifies: REQ-SYNTH-025
TEST(EvaluateTest, MatchesColumnsByNameAndReadsDates) {
  const CsvTable real = Table("d,k\n2020-01-01,a\n2020-01-02,b\n");
  const CsvTable syn = Table("k,extra,d\nb,1,2020-01-02\na,2,not a date\n");
  Evaluation e = MustEvaluate(real, nullptr, syn);
  ASSERT_EQ(e.columns, (std::vector<std::string>{"d", "k"}));
  EXPECT_EQ(e.kinds[0], ColumnKind::kDate);
  EXPECT_EQ(e.marginals[0].labels[0], "2020-01-01");
  EXPECT_NEAR(e.marginals[0].tvd, 0.5, 1e-12);  // one date shared, one unreadable
  EXPECT_NEAR(e.marginals[1].tvd, 0.0, 1e-12);
  EXPECT_EQ(e.exact_copy_rate, 0.5);  // the first synthetic row repeats the second real one
}

// Verifies: REQ-SYNTH-025
TEST(EvaluateTest, ManyDistinctNumbersUseEqualFrequencyBins) {
  std::string real = "v\n", syn = "v\n";
  for (int i = 0; i < 1000; ++i) real += std::to_string(i) + "\n";
  for (int i = 0; i < 1000; ++i) syn += std::to_string(i < 500 ? i / 10 : 2000) + "\n";
  EvaluateOptions options;
  options.bins = 10;
  Evaluation e = MustEvaluate(Table(real), nullptr, Table(syn), options);
  const Marginal& m = e.marginals[0];
  ASSERT_EQ(m.labels.size(), 12u);  // 10 bins, missing, other
  EXPECT_EQ(m.labels[0], "[0, 100)");
  EXPECT_EQ(m.labels[9], "[900, 999]");
  for (int b = 0; b < 10; ++b) EXPECT_NEAR(m.real[b], 0.1, 1e-12);
  EXPECT_NEAR(m.synthetic[0], 0.5, 1e-12);   // 0..49
  EXPECT_NEAR(m.synthetic[11], 0.5, 1e-12);  // 2000 is above the real range
  EXPECT_NEAR(m.tvd, 0.5 * (0.4 + 0.9 * 1 + 0.5), 1e-12);
}

// Verifies: REQ-SYNTH-026
TEST(EvaluateTest, CramersVByHand) {
  EXPECT_NEAR(CramersV({10, 20, 30, 40}, 2, 2), 0.0890870806374748, 1e-12);
  EXPECT_NEAR(CramersV({12, 3, 5, 2, 9, 4}, 2, 3), 0.5274852990754725, 1e-12);
  // An empty row changes nothing.
  EXPECT_NEAR(CramersV({10, 20, 0, 0, 30, 40}, 3, 2), 0.0890870806374748, 1e-12);
  EXPECT_NEAR(CramersV({10, 0, 0, 10}, 2, 2), 1.0, 1e-12);
  EXPECT_EQ(CramersV({5, 5, 0, 0}, 2, 2), 0.0);  // one row: undefined, 0
}

// Verifies: REQ-SYNTH-026
TEST(EvaluateTest, PearsonByHandAndPairwiseComplete) {
  const double nan = std::nan("");
  EXPECT_NEAR(Pearson({1, 2, 3, 4, 5}, {2, 4, 5, 4, 5}), 0.7745966692414834, 1e-12);
  EXPECT_NEAR(Pearson({1, 2, nan, 3, 4, 5, 6}, {2, 4, 7, 5, 4, 5, nan}), 0.7745966692414834, 1e-12);
  EXPECT_EQ(Pearson({1, 1, 1}, {1, 2, 3}), 0.0);
}

// Verifies: REQ-SYNTH-026
TEST(EvaluateTest, AssociationsPearsonForNumbersCramersVOtherwise) {
  const CsvTable real = Table("x,y,c\n1,2,a\n2,4,a\n3,5,b\n4,4,b\n5,5,b\n");
  const CsvTable syn = Table("x,y,c\n1,5,a\n2,4,b\n3,5,a\n4,2,b\n5,4,a\n");
  Evaluation e = MustEvaluate(real, nullptr, syn);
  ASSERT_EQ(e.pairs.size(), 3u);
  EXPECT_TRUE(e.pairs[0].pearson);
  EXPECT_NEAR(e.pairs[0].assoc_real, 0.7745966692414834, 1e-12);
  EXPECT_FALSE(e.pairs[1].pearson);  // x and c: Cramér's V on x's values
  EXPECT_NEAR(e.pairs[1].assoc_real, 1.0, 1e-12);
  EXPECT_NEAR(e.assoc_real[0 * 3 + 1], e.pairs[0].assoc_real, 0);
  EXPECT_NEAR(e.assoc_synthetic[1 * 3 + 0], e.pairs[0].assoc_synthetic, 0);
  double diff = 0;
  for (const PairFigures& p : e.pairs) diff += std::fabs(p.assoc_real - p.assoc_synthetic);
  ASSERT_TRUE(e.corr_diff.has_value());
  EXPECT_NEAR(*e.corr_diff, diff / 3, 1e-12);
}

// Verifies: REQ-SYNTH-027
TEST(EvaluateTest, AucCountsTiesHalf) {
  auto auc = Auc({0.1, 0.4, 0.35, 0.8, 0.4}, {false, false, true, true, true});
  ASSERT_TRUE(auc.has_value());
  EXPECT_NEAR(*auc, 4.5 / 6, 1e-12);
  EXPECT_NEAR(*Auc({1, 1, 1, 1}, {true, false, true, false}), 0.5, 1e-12);
  EXPECT_FALSE(Auc({1, 2}, {true, true}).has_value());
}

// Verifies: REQ-SYNTH-029
TEST(EvaluateTest, GowerDistancesByHand) {
  // n ranges 0..10, m 1..5 in the real data; m may be missing.
  const CsvTable train = Table("c,n,m\na,0,1\nb,10,5\na,4,\n");
  const CsvTable holdout = Table("c,n,m\na,5,1\nb,2,3\na,20,\n");
  const CsvTable syn = Table("c,n,m\nb,2,\n");
  Evaluation e = MustEvaluate(train, &holdout, syn);
  // To the training rows: (1 + .2 + 1)/3, (0 + .8 + 1)/3, (1 + .2 + 0)/3.
  ASSERT_EQ(e.dcr_train.size(), 1u);
  EXPECT_NEAR(e.dcr_train[0], 1.2 / 3, 1e-6);
  ASSERT_TRUE(e.nndr.has_value());
  EXPECT_NEAR(*e.nndr, (1.2 / 3) / (1.8 / 3), 1e-6);
  // To the holdout rows: (1 + .3 + 1)/3, (0 + 0 + 1)/3, (1 + min(1, 1.8) + 0)/3.
  EXPECT_NEAR(e.dcr_holdout[0], 1.0 / 3, 1e-6);
  EXPECT_EQ(e.dcr_share, 0.0);
  const std::vector<double> members = {2.2 / 3, 1.8 / 3, 1.2 / 3};
  const std::vector<double> non_members = {2.3 / 3, 1.0 / 3, 2.0 / 3};
  ASSERT_EQ(e.mia_members.size(), 3u);
  ASSERT_EQ(e.mia_nonmembers.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(e.mia_members[i], members[i], 1e-6);
    EXPECT_NEAR(e.mia_nonmembers[i], non_members[i], 1e-6);
  }
  ASSERT_TRUE(e.mia_auc.has_value());
  EXPECT_NEAR(*e.mia_auc, 5.0 / 9, 1e-9);
}

// Training and holdout rows that never coincide.
struct Split {
  CsvTable train, holdout;
  std::string train_text, holdout_text;
};

Split DisjointTables() {
  Split s;
  s.train_text = "a,b,c\n";
  s.holdout_text = "a,b,c\n";
  for (int i = 0; i < 50; ++i) {
    const std::string a = std::to_string(i % 10), b(1, static_cast<char>('p' + i / 10));
    s.train_text += a + "," + b + "," + std::to_string(2 * i) + "\n";
    s.holdout_text += a + "," + b + "," + std::to_string(2 * i + 1) + "\n";
  }
  s.train = Table(s.train_text);
  s.holdout = Table(s.holdout_text);
  return s;
}

// Verifies: REQ-SYNTH-029
TEST(EvaluateTest, CopiesOfTrainingRowsAreCaught) {
  const Split s = DisjointTables();
  Evaluation e = MustEvaluate(s.train, &s.holdout, s.train);
  EXPECT_EQ(e.exact_copy_rate, 1.0);
  EXPECT_EQ(e.dcr_share, 1.0);
  ASSERT_TRUE(e.mia_auc.has_value());
  EXPECT_GT(*e.mia_auc, 0.99);
  EXPECT_EQ(e.nndr, 0.0);
  EXPECT_EQ(e.tvd1, 0.0);
  EXPECT_EQ(e.tvd2, 0.0);
}

// Verifies: REQ-SYNTH-029
TEST(EvaluateTest, CopiesOfHoldoutRowsLeakNothing) {
  const Split s = DisjointTables();
  Evaluation e = MustEvaluate(s.train, &s.holdout, s.holdout);
  EXPECT_EQ(e.exact_copy_rate, 0.0);
  EXPECT_EQ(e.dcr_share, 0.0);
  ASSERT_TRUE(e.mia_auc.has_value());
  EXPECT_LT(*e.mia_auc, 0.5);
}

// Verifies: REQ-SYNTH-029
TEST(EvaluateTest, ExactCopiesCompareNumbersAsNumbers) {
  const CsvTable train = Table("a,b\n1,x\n2,y\n");
  const CsvTable syn = Table("a,b\n1.0,x\n2,x\n1,q\n");
  Evaluation e = MustEvaluate(train, nullptr, syn);
  ASSERT_TRUE(e.exact_copy_rate.has_value());
  EXPECT_NEAR(*e.exact_copy_rate, 1.0 / 3, 1e-12);
  EXPECT_FALSE(e.dcr_share.has_value());
  EXPECT_FALSE(e.mia_auc.has_value());
}

// A table where `label` is yes when x plus a bonus for group u exceeds 1 (about a third).
std::string LabelledTable(int rows, std::uint64_t seed, bool shuffle_labels = false) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::string t = "g,x,label\n";
  const char* groups[] = {"u", "v", "w"};
  for (int i = 0; i < rows; ++i) {
    const int g = static_cast<int>(rng() % 3);
    const double x = u(rng) * 1.2;
    bool yes = x + (g == 0 ? 0.4 : 0.0) > 1.0;
    if (shuffle_labels) yes = u(rng) < 0.3;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", x);
    t += std::string(groups[g]) + "," + buf + "," + (yes ? "yes" : "no") + "\n";
  }
  return t;
}

// Verifies: REQ-SYNTH-028
TEST(EvaluateTest, TrainSyntheticTestReal) {
  const CsvTable train = Table(LabelledTable(400, 1));
  const CsvTable holdout = Table(LabelledTable(400, 2));
  EvaluateOptions options;
  options.target = "label";
  Evaluation good = MustEvaluate(train, &holdout, Table(LabelledTable(400, 3)), options);
  EXPECT_EQ(good.positive, "yes");  // the less frequent
  ASSERT_TRUE(good.trtr_auc && good.tstr_auc && good.trtr_accuracy && good.tstr_accuracy);
  EXPECT_GT(*good.trtr_auc, 0.97);
  EXPECT_GT(*good.tstr_auc, 0.97);
  EXPECT_GT(*good.trtr_accuracy, 0.9);
  Evaluation noise = MustEvaluate(train, &holdout, Table(LabelledTable(400, 3, true)), options);
  ASSERT_TRUE(noise.tstr_auc.has_value());
  EXPECT_LT(*noise.tstr_auc, 0.7);
  EXPECT_NEAR(*noise.trtr_auc, *good.trtr_auc, 1e-12);
  // One class only in the synthetic data: a constant prediction.
  Evaluation one = MustEvaluate(train, &holdout, Table("g,x,label\nu,0.5,no\nv,0.7,no\n"), options);
  EXPECT_EQ(one.tstr_auc, 0.5);
  // Without a holdout, nothing to test on.
  Evaluation none = MustEvaluate(train, nullptr, train, options);
  EXPECT_FALSE(none.tstr_auc.has_value());
  EXPECT_FALSE(none.trtr_auc.has_value());
  // A positive class named explicitly (one-vs-rest on a 3-valued column).
  options.target = "g";
  options.positive = "w";
  Evaluation g = MustEvaluate(train, &holdout, train, options);
  EXPECT_EQ(g.positive, "w");
  ASSERT_TRUE(g.tstr_auc.has_value());
}

// Verifies: REQ-SYNTH-030
TEST(EvaluateTest, SameSeedSameFiguresWhateverTheThreads) {
  const CsvTable train = Table(LabelledTable(300, 5));
  const CsvTable holdout = Table(LabelledTable(300, 6));
  const CsvTable syn = Table(LabelledTable(300, 7));
  EvaluateOptions options;
  options.privacy_sample = 50;
  options.target = "label";
  options.threads = 1;
  Evaluation a = MustEvaluate(train, &holdout, syn, options);
  options.threads = 3;
  Evaluation b = MustEvaluate(train, &holdout, syn, options);
  EXPECT_EQ(a.dcr_train, b.dcr_train);
  EXPECT_EQ(a.dcr_holdout, b.dcr_holdout);
  EXPECT_EQ(a.mia_members, b.mia_members);
  EXPECT_EQ(a.mia_nonmembers, b.mia_nonmembers);
  EXPECT_EQ(a.nndr, b.nndr);
  EXPECT_EQ(a.dcr_share, b.dcr_share);
  EXPECT_EQ(a.mia_auc, b.mia_auc);
  EXPECT_EQ(a.tstr_auc, b.tstr_auc);
  EXPECT_EQ(a.tvd2, b.tvd2);
  EXPECT_EQ(a.dcr_train.size(), 50u);
  options.seed = 2;
  Evaluation c = MustEvaluate(train, &holdout, syn, options);
  EXPECT_NE(a.dcr_train, c.dcr_train);
}

// Verifies: REQ-SYNTH-031
TEST(EvaluateTest, ErrorsNameColumnsNeverValues) {
  const CsvTable real = Table("a,secret\nx,Jensen\ny,Hansen\n");
  const CsvTable syn = Table("a,secret\nx,Jensen\n");
  auto expect_error = [](const Result<Evaluation>& r, std::string_view says) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find("Jensen"), std::string::npos);
    EXPECT_EQ(r.status().message().find("Hansen"), std::string::npos);
  };
  expect_error(Evaluate(real, nullptr, Table("a\nx\n")), "synthetic table has no column 'secret'");
  const CsvTable no_b = Table("a\nx\n");
  expect_error(Evaluate(real, &no_b, syn), "holdout table has no column 'secret'");
  expect_error(Evaluate(Table("a,secret\n"), nullptr, syn), "real table has no rows");
  expect_error(Evaluate(real, nullptr, Table("a,secret\n")), "synthetic table has no rows");
  EvaluateOptions options;
  options.target = "nope";
  expect_error(Evaluate(real, nullptr, syn, options), "'nope' is not a column");
  const CsvTable three = Table("a,t\nx,Jensen\ny,Hansen\nz,Olsen\n");
  options.target = "t";
  expect_error(Evaluate(three, nullptr, three, options), "name the positive class");
  options.positive = "Larsen";
  expect_error(Evaluate(three, nullptr, three, options), "positive class is not a value");
  options.target = "a";
  options.positive = "";
  const CsvTable one_value = Table("a,b\nx,1\nx,2\n");
  expect_error(Evaluate(one_value, nullptr, one_value, options), "fewer than two values");
  options = {};
  options.bins = 1;
  expect_error(Evaluate(real, nullptr, syn, options), "bins");
}

// Verifies: REQ-SYNTH-032
TEST(EvaluateTest, JsonHasEveryFigureAndNullsWhereNotComputed) {
  const CsvTable real = Table("a,b\nx,1\nx,2\ny,1\ny,2\n");
  std::string json = EvaluationJson(MustEvaluate(real, nullptr, real));
  for (const char* key :
       {"\"tvd1\":0.0", "\"tvd2\":0.0", "\"corr_diff\":0.0", "\"tstr_auc\":null",
        "\"trtr_auc\":null", "\"dcr_share\":null", "\"mia_auc\":null", "\"exact_copy_rate\":1.0",
        "\"nndr\":", "\"tstr_accuracy\":null", "\"trtr_accuracy\":null", "\"rows_real\":4",
        "\"rows_holdout\":0", "\"rows_synthetic\":4", "\"columns\":2",
        "\"column_tvd\":[{\"column\":\"a\",\"kind\":\"categorical\",\"tvd\":0.0}"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  }
}

// Verifies: REQ-SYNTH-033
TEST(EvaluateTest, ReportShowsTheFiguresAndEscapesNames) {
  const CsvTable train = Table("<b>,n\nx,1\nx,2\ny,3\ny,4\nx,5\ny,6\n");
  const CsvTable holdout = Table("<b>,n\nx,2\ny,2\nx,6\ny,1\n");
  const CsvTable syn = Table("<b>,n\nx,1\nx,1\ny,4\ny,6\nz,7\n");
  Evaluation e = MustEvaluate(train, &holdout, syn);
  const std::string html = EvaluationReportHtml(e, "Cohort <2024> & co");
  EXPECT_NE(html.find("<title>Cohort &lt;2024&gt; &amp; co</title>"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  char tvd1[32];
  std::snprintf(tvd1, sizeof tvd1, "%.4g", e.tvd1);
  EXPECT_NE(html.find(std::string(">") + tvd1 + "<"), std::string::npos) << tvd1;
  for (const char* part :
       {"1-way TVD", "2-way TVD", "DCR share", "membership-inference AUC", "exact copies", "NNDR",
        "<svg", "Real data: association", "Synthetic data: association", "nearest holdout row"}) {
    EXPECT_NE(html.find(part), std::string::npos) << part;
  }
  // Self-contained: no scripts, no external resources.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
}

// ---- Adult: the literature's reference points ---------------------------------------------------

Result<CsvTable> Adult() {
  const char* dir = std::getenv("SUND_TEST_DATA");
  if (dir == nullptr) return InvalidArgument("unset");
  return ReadCsvFile(std::string(dir) + "/tabular/adult.csv");
}

// Verifies: REQ-SYNTH-034
TEST(EvaluateAdultTest, ReproducesTheLiteraturesTwoWayTvd) {
  if (std::getenv("SUND_TEST_DATA") == nullptr) {
    GTEST_SKIP() << "SUND_TEST_DATA is not set (the folder holding tabular/adult.csv)";
  }
  auto adult = Adult();
  ASSERT_TRUE(adult.ok()) << adult.status().ToString();
  std::vector<std::size_t> order(adult->rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  CsvTable a, b;
  a.header = b.header = adult->header;
  for (std::size_t i = 0; i < order.size(); ++i) {
    (i < order.size() / 2 ? a : b).rows.push_back(adult->rows[order[i]]);
  }
  // Real data, half against half: the noise floor.
  auto t0 = std::chrono::steady_clock::now();
  Evaluation halves = MustEvaluate(a, nullptr, b);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(halves.tvd2.has_value());
  EXPECT_GE(*halves.tvd2, 0.025);
  EXPECT_LE(*halves.tvd2, 0.035);
  std::printf("adult half vs half: tvd1 %.4f tvd2 %.4f corr_diff %.4f nndr %.3f, %.2f s\n",
              halves.tvd1, *halves.tvd2, *halves.corr_diff, *halves.nndr, seconds);

  // Every column sampled independently from the real marginals.
  CsvTable independent;
  independent.header = adult->header;
  independent.rows.resize(adult->rows.size(), std::vector<std::string>(adult->header.size()));
  for (std::size_t c = 0; c < adult->header.size(); ++c) {
    for (auto& row : independent.rows) row[c] = adult->rows[rng() % adult->rows.size()][c];
  }
  Evaluation indep = MustEvaluate(*adult, nullptr, independent);
  ASSERT_TRUE(indep.tvd2.has_value());
  EXPECT_GE(*indep.tvd2, 0.07);
  EXPECT_LE(*indep.tvd2, 0.09);
  std::printf("adult independent columns: tvd2 %.4f\n", *indep.tvd2);

  // Everything at once: half A trained on, half B held out, independent columns as synthetic.
  EvaluateOptions options;
  options.target = "income>50K";
  t0 = std::chrono::steady_clock::now();
  Evaluation full = MustEvaluate(a, &b, independent, options);
  const double full_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(full.trtr_auc && full.tstr_auc && full.dcr_share && full.mia_auc);
  EXPECT_GT(*full.trtr_auc, 0.85);  // logistic regression on Adult: about 0.90
  EXPECT_LT(*full.tstr_auc, *full.trtr_auc);
  EXPECT_NEAR(*full.dcr_share, 0.5, 0.06);
  EXPECT_NEAR(*full.mia_auc, 0.5, 0.05);
  std::printf(
      "adult half A / holdout B / independent synthetic: trtr_auc %.4f tstr_auc %.4f trtr_acc "
      "%.4f dcr_share %.3f mia_auc %.3f exact %.4f nndr %.3f, %.2f s\n",
      *full.trtr_auc, *full.tstr_auc, *full.trtr_accuracy, *full.dcr_share, *full.mia_auc,
      *full.exact_copy_rate, *full.nndr, full_seconds);
}

}  // namespace
}  // namespace sund::synth
