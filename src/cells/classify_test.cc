#include "cells/classify.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/csv.h"

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::vector<std::string> Names(const std::string& prefix, int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(prefix + std::to_string(i));
  return v;
}

// Two classes told apart by feature `informative` alone (means 0 and 5, unit variance); the other
// features are unit-variance noise.
TrainingSet TwoClasses(int rows, int features, int informative, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  TrainingSet set;
  set.features = Names("f", features);
  set.classes = {"negative", "positive"};
  for (int i = 0; i < rows; ++i) {
    int y = i % 2;
    std::vector<double> row(features);
    for (auto& v : row) v = noise(rng);
    row[informative] += 5.0 * y;
    set.x.push_back(row);
    set.y.push_back(y);
  }
  return set;
}

int ArgMax(const std::vector<double>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

// --- RandomForest ------------------------------------------------------------------------------

// Verifies: REQ-CELLS-084, REQ-CELLS-086
TEST(RandomForestTest, SeparatesTwoClassesOnTheOneInformativeFeature) {
  TrainingSet set = TwoClasses(300, 20, 7, 11);
  Result<CrossValidation> cv = CrossValidate(set, {}, 5);
  ASSERT_TRUE(cv.ok()) << cv.status().ToString();
  EXPECT_GT(cv->accuracy, 0.95);
  EXPECT_EQ(cv->folds, 5);
  ASSERT_EQ(cv->confusion.size(), 2u);
  EXPECT_EQ(cv->confusion[0][0] + cv->confusion[0][1], 150);
  EXPECT_EQ(cv->confusion[1][0] + cv->confusion[1][1], 150);
  for (int c = 0; c < 2; ++c) {
    EXPECT_GT(cv->precision[c], 0.9);
    EXPECT_GT(cv->recall[c], 0.9);
  }
  Result<RandomForest> forest = RandomForest::Train(set);
  ASSERT_TRUE(forest.ok()) << forest.status().ToString();
  EXPECT_EQ(forest->trees(), 100);
  const auto& imp = forest->importance();
  ASSERT_EQ(imp.size(), 20u);
  EXPECT_EQ(ArgMax(imp), 7);
  // The informative feature carries most of the impurity decrease.
  EXPECT_GT(imp[7], 0.5);
  double sum = 0;
  for (double v : imp) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-9);
  // Unseen cells far on either side.
  std::vector<double> low(20, 0.0), high(20, 0.0);
  high[7] = 5.0;
  EXPECT_EQ(forest->Predict(low).label, 0);
  EXPECT_EQ(forest->Predict(high).label, 1);
  EXPECT_GT(forest->Predict(high).probabilities[1], 0.8);
}

// Verifies: REQ-CELLS-084, REQ-CELLS-086
TEST(RandomForestTest, ThreeClasses) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 1.0);
  TrainingSet set;
  set.features = Names("m", 8);
  set.classes = {"interphase", "mitotic", "apoptotic"};
  for (int i = 0; i < 450; ++i) {
    int y = i % 3;
    std::vector<double> row(8);
    for (auto& v : row) v = noise(rng);
    // Class 1 is high on m2, class 2 is low on m5; class 0 is neither.
    if (y == 1) row[2] += 4.5;
    if (y == 2) row[5] -= 4.5;
    set.x.push_back(row);
    set.y.push_back(y);
  }
  Result<CrossValidation> cv = CrossValidate(set, {});
  ASSERT_TRUE(cv.ok()) << cv.status().ToString();
  EXPECT_GT(cv->accuracy, 0.9);
  ASSERT_EQ(cv->confusion.size(), 3u);
  int total = 0;
  for (int t = 0; t < 3; ++t) {
    int row = 0;
    for (int p = 0; p < 3; ++p) row += cv->confusion[t][p];
    EXPECT_EQ(row, 150);
    total += row;
    EXPECT_GT(cv->recall[t], 0.85) << set.classes[t];
    EXPECT_GT(cv->precision[t], 0.85) << set.classes[t];
  }
  EXPECT_EQ(total, 450);
  int agree = 0;
  for (std::size_t i = 0; i < set.y.size(); ++i) agree += cv->predicted[i] == set.y[i];
  EXPECT_DOUBLE_EQ(cv->accuracy, agree / 450.0);

  Result<RandomForest> forest = RandomForest::Train(set);
  ASSERT_TRUE(forest.ok());
  std::vector<double> mitotic(8, 0.0);
  mitotic[2] = 4.5;
  std::vector<double> apoptotic(8, 0.0);
  apoptotic[5] = -4.5;
  EXPECT_EQ(forest->Predict(std::vector<double>(8, 0.0)).label, 0);
  EXPECT_EQ(forest->Predict(mitotic).label, 1);
  EXPECT_EQ(forest->Predict(apoptotic).label, 2);
  // The two informative features rank first.
  std::vector<double> imp = forest->importance();
  std::vector<int> order = {0, 1, 2, 3, 4, 5, 6, 7};
  std::sort(order.begin(), order.end(), [&](int a, int b) { return imp[a] > imp[b]; });
  EXPECT_TRUE((order[0] == 2 && order[1] == 5) || (order[0] == 5 && order[1] == 2));
}

// Verifies: REQ-CELLS-085
TEST(RandomForestTest, CrossValidationFoldsAreStratified) {
  // 7 rare cells among 93 common ones: with 5 folds, every fold holds one or two rare cells and
  // 18 or 19 common ones.
  TrainingSet set = TwoClasses(100, 4, 0, 2);
  for (int i = 0; i < 100; ++i) set.y[i] = i < 7 ? 1 : 0;
  Result<CrossValidation> cv = CrossValidate(set, {}, 5);
  ASSERT_TRUE(cv.ok());
  ASSERT_EQ(cv->fold.size(), 100u);
  std::vector<std::vector<int>> per_fold(5, std::vector<int>(2, 0));
  for (int i = 0; i < 100; ++i) {
    ASSERT_GE(cv->fold[i], 0);
    ASSERT_LT(cv->fold[i], 5);
    ++per_fold[cv->fold[i]][set.y[i]];
  }
  for (const auto& f : per_fold) {
    EXPECT_GE(f[1], 1);
    EXPECT_LE(f[1], 2);
    EXPECT_GE(f[0], 18);
    EXPECT_LE(f[0], 19);
  }
}

// Verifies: REQ-CELLS-084
TEST(RandomForestTest, SolvesXorThatOneSplitCannot) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  TrainingSet set;
  set.features = {"a", "b", "noise1", "noise2"};
  set.classes = {"same", "different"};
  for (int i = 0; i < 400; ++i) {
    std::vector<double> row = {u(rng), u(rng), u(rng), u(rng)};
    set.x.push_back(row);
    set.y.push_back((row[0] > 0) != (row[1] > 0) ? 1 : 0);
  }
  Result<CrossValidation> forest_cv = CrossValidate(set, {});
  ASSERT_TRUE(forest_cv.ok()) << forest_cv.status().ToString();
  EXPECT_GT(forest_cv->accuracy, 0.9);
  // Stumps (one split per tree) cannot separate it, so the test above needs depth.
  ForestOptions stumps;
  stumps.max_depth = 1;
  Result<CrossValidation> stump_cv = CrossValidate(set, stumps);
  ASSERT_TRUE(stump_cv.ok());
  EXPECT_LT(stump_cv->accuracy, 0.7);
  Result<RandomForest> forest = RandomForest::Train(set);
  ASSERT_TRUE(forest.ok());
  EXPECT_EQ(forest->Predict(std::vector<double>{0.5, 0.5, 0, 0}).label, 0);
  EXPECT_EQ(forest->Predict(std::vector<double>{-0.5, -0.5, 0, 0}).label, 0);
  EXPECT_EQ(forest->Predict(std::vector<double>{0.5, -0.5, 0, 0}).label, 1);
  EXPECT_EQ(forest->Predict(std::vector<double>{-0.5, 0.5, 0, 0}).label, 1);
}

// Verifies: REQ-CELLS-087
TEST(RandomForestTest, SameSeedSameForestWhateverTheThreads) {
  TrainingSet set = TwoClasses(200, 10, 3, 21);
  for (auto& row : set.x) row[3] += 0.5 * row[4];  // overlap, so that trees grow deep
  ForestOptions one;
  one.threads = 1;
  one.trees = 30;
  ForestOptions four = one;
  four.threads = 4;
  Result<RandomForest> a = RandomForest::Train(set, one);
  Result<RandomForest> b = RandomForest::Train(set, four);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ToJson(), b->ToJson());
  ForestOptions other = one;
  other.seed = 2;
  Result<RandomForest> c = RandomForest::Train(set, other);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->ToJson(), c->ToJson());
  Result<CrossValidation> cv1 = CrossValidate(set, one);
  Result<CrossValidation> cv2 = CrossValidate(set, four);
  ASSERT_TRUE(cv1.ok() && cv2.ok());
  EXPECT_EQ(cv1->predicted, cv2->predicted);
}

// Verifies: REQ-CELLS-088
TEST(RandomForestTest, JsonRoundTripPredictsIdentically) {
  TrainingSet set = TwoClasses(200, 6, 1, 8);
  for (std::size_t i = 0; i < set.x.size(); i += 7) set.x[i][2] = kNaN;
  set.x[3][0] = std::numeric_limits<double>::infinity();
  set.x[4][0] = -std::numeric_limits<double>::infinity();
  ForestOptions options;
  options.trees = 25;
  options.seed = 0xFFFFFFFFFFFFFFFFull;
  Result<RandomForest> forest = RandomForest::Train(set, options);
  ASSERT_TRUE(forest.ok());
  const std::string json = forest->ToJson();
  Result<RandomForest> loaded = RandomForest::FromJson(json);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->features(), forest->features());
  EXPECT_EQ(loaded->classes(), forest->classes());
  EXPECT_EQ(loaded->importance(), forest->importance());
  EXPECT_EQ(loaded->options().seed, options.seed);
  EXPECT_EQ(loaded->ToJson(), json);
  // New cells, NaN and infinities among them: the same probabilities, bit for bit.
  TrainingSet fresh = TwoClasses(500, 6, 1, 99);
  std::vector<double> x;
  for (std::size_t i = 0; i < fresh.x.size(); ++i) {
    if (i % 5 == 0) fresh.x[i][i % 6] = kNaN;
    if (i % 11 == 0) fresh.x[i][1] = std::numeric_limits<double>::infinity();
    x.insert(x.end(), fresh.x[i].begin(), fresh.x[i].end());
  }
  Predictions p1 = forest->PredictRows(x);
  Predictions p2 = loaded->PredictRows(x);
  EXPECT_EQ(p1.labels, p2.labels);
  EXPECT_EQ(p1.probabilities, p2.probabilities);
  // PredictRows agrees with Predict.
  for (std::size_t i = 0; i < fresh.x.size(); i += 37) {
    Prediction one = forest->Predict(fresh.x[i]);
    EXPECT_EQ(one.label, p1.labels[i]);
    EXPECT_EQ(one.probabilities[1], p1.probabilities[2 * i + 1]);
  }
}

// Verifies: REQ-CELLS-089
TEST(RandomForestTest, RejectsBrokenModels) {
  TrainingSet set = TwoClasses(60, 3, 0, 4);
  ForestOptions options;
  options.trees = 2;
  Result<RandomForest> forest = RandomForest::Train(set, options);
  ASSERT_TRUE(forest.ok());
  const std::string json = forest->ToJson();
  EXPECT_FALSE(RandomForest::FromJson("{").ok());
  EXPECT_FALSE(RandomForest::FromJson("[]").ok());
  EXPECT_FALSE(RandomForest::FromJson(R"({"format":"other","version":1})").ok());
  // A child pointing back at the root would loop for ever.
  std::string cyclic = json;
  std::size_t at = cyclic.find("\"child\":[") + 9;
  std::size_t end = cyclic.find(',', at);
  cyclic.replace(at, end - at, "0");
  Result<RandomForest> bad = RandomForest::FromJson(cyclic);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "tree 0 node 0")) << bad.status().ToString();
  std::string bad_feature = json;
  at = bad_feature.find("\"feature\":[") + 11;
  end = bad_feature.find(',', at);
  bad_feature.replace(at, end - at, "3");
  bad = RandomForest::FromJson(bad_feature);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "feature index out of range"));
}

// Verifies: REQ-CELLS-085, REQ-CELLS-090
TEST(RandomForestTest, RejectsBadTrainingSets) {
  TrainingSet set = TwoClasses(20, 3, 0, 4);
  TrainingSet one_class = set;
  one_class.classes = {"only"};
  std::fill(one_class.y.begin(), one_class.y.end(), 0);
  EXPECT_FALSE(RandomForest::Train(one_class).ok());
  TrainingSet ragged = set;
  ragged.x[5].pop_back();
  Result<RandomForest> r = RandomForest::Train(ragged);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "row 5"));
  TrainingSet label = set;
  label.y[2] = 2;
  EXPECT_FALSE(RandomForest::Train(label).ok());
  ForestOptions no_trees;
  no_trees.trees = 0;
  EXPECT_FALSE(RandomForest::Train(set, no_trees).ok());
  EXPECT_FALSE(CrossValidate(set, {}, 1).ok());
  EXPECT_FALSE(CrossValidate(set, {}, 21).ok());
}

// Verifies: REQ-CELLS-091
TEST(RandomForestTest, NanValuesAreRoutedNotFatal) {
  // Class 1's cells lack feature "a" (NaN) 80% of the time; class 0's never do. Feature "b"
  // overlaps, so the NaNs carry the signal.
  std::mt19937_64 rng(17);
  std::normal_distribution<double> noise(0.0, 1.0);
  TrainingSet set;
  set.features = {"a", "b"};
  set.classes = {"intact", "broken"};
  for (int i = 0; i < 300; ++i) {
    int y = i % 2;
    double a = noise(rng);
    if (y == 1 && i % 10 != 1) a = kNaN;
    set.x.push_back({a, noise(rng) + 0.5 * y});
    set.y.push_back(y);
  }
  Result<RandomForest> forest = RandomForest::Train(set);
  ASSERT_TRUE(forest.ok()) << forest.status().ToString();
  Prediction nan_cell = forest->Predict(std::vector<double>{kNaN, 0.25});
  EXPECT_EQ(nan_cell.label, 1);
  EXPECT_GT(nan_cell.probabilities[1], 0.7);
  Prediction value_cell = forest->Predict(std::vector<double>{0.1, 0.25});
  EXPECT_EQ(value_cell.label, 0);
  EXPECT_NEAR(nan_cell.probabilities[0] + nan_cell.probabilities[1], 1.0, 1e-12);
  Prediction all_nan = forest->Predict(std::vector<double>{kNaN, kNaN});
  EXPECT_TRUE(std::isfinite(all_nan.probabilities[0]));
  Result<CrossValidation> cv = CrossValidate(set, {});
  ASSERT_TRUE(cv.ok());
  EXPECT_GT(cv->accuracy, 0.85);
}

// Verifies: REQ-CELLS-091
TEST(RandomForestTest, NanUnseenInTrainingGoesToTheLargerSide) {
  // One feature, 200 cells of class 0 below 0 and 100 of class 1 above: every tree splits on it;
  // a NaN, never seen in training, follows the larger (class 0) side.
  TrainingSet set;
  set.features = {"only"};
  set.classes = {"many", "few"};
  for (int i = 0; i < 300; ++i) {
    int y = i % 3 == 0 ? 1 : 0;
    set.x.push_back({y ? 1.0 + i * 0.01 : -1.0 - i * 0.01});
    set.y.push_back(y);
  }
  Result<RandomForest> forest = RandomForest::Train(set);
  ASSERT_TRUE(forest.ok());
  Prediction p = forest->Predict(std::vector<double>{kNaN});
  EXPECT_EQ(p.label, 0);
  EXPECT_DOUBLE_EQ(p.probabilities[0], 1.0);
  EXPECT_EQ(forest->Predict(std::vector<double>{2.0}).label, 1);
}

// Verifies: REQ-CELLS-091
TEST(RandomForestTest, NanGoesToTheSideThatSeparatesBest) {
  // Class 1 is low or missing, class 0 high: a single split separates them only if it sends NaN
  // to the left, with the low values.
  TrainingSet set;
  set.features = {"v"};
  set.classes = {"high", "low or missing"};
  for (int i = 0; i < 120; ++i) {
    const int kind = i % 3;  // 0: high, 1: low, 2: missing
    set.x.push_back({kind == 0 ? 10.0 + i : kind == 1 ? -10.0 - i : kNaN});
    set.y.push_back(kind == 0 ? 0 : 1);
  }
  ForestOptions stumps;
  stumps.max_depth = 1;
  Result<RandomForest> forest = RandomForest::Train(set, stumps);
  ASSERT_TRUE(forest.ok());
  for (double v : {kNaN, -50.0, -20.0}) {
    Prediction p = forest->Predict(std::vector<double>{v});
    EXPECT_EQ(p.label, 1) << v;
    EXPECT_DOUBLE_EQ(p.probabilities[1], 1.0) << v;
  }
  EXPECT_DOUBLE_EQ(forest->Predict(std::vector<double>{50.0}).probabilities[0], 1.0);
}

// Verifies: REQ-CELLS-092
TEST(RandomForestTest, FeaturesPerSplitDefaultsToTheSquareRoot) {
  TrainingSet set = TwoClasses(200, 20, 3, 6);
  for (auto& row : set.x) row[3] += 1.5 * row[9];  // overlap, so that the choice matters
  ForestOptions sqrt_default;
  sqrt_default.trees = 20;
  ForestOptions four = sqrt_default;
  four.features_per_split = 4;
  ForestOptions all = sqrt_default;
  all.features_per_split = 20;
  Result<RandomForest> a = RandomForest::Train(set, sqrt_default);
  Result<RandomForest> b = RandomForest::Train(set, four);
  Result<RandomForest> c = RandomForest::Train(set, all);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  std::vector<double> x;
  for (const auto& row : set.x) x.insert(x.end(), row.begin(), row.end());
  EXPECT_EQ(a->PredictRows(x).probabilities, b->PredictRows(x).probabilities);
  EXPECT_EQ(a->importance(), b->importance());
  // Every feature at every split: the informative one takes nearly all the importance.
  EXPECT_GT(c->importance()[3], a->importance()[3]);
}

// Verifies: REQ-CELLS-096
TEST(RandomForestTest, MapColumnsNamesWhatIsMissing) {
  TrainingSet set = TwoClasses(40, 3, 0, 4);
  set.features = {"Intensity_MeanIntensity_GFP", "AreaShape_Area", "Texture_X"};
  Result<RandomForest> forest = RandomForest::Train(set);
  ASSERT_TRUE(forest.ok());
  Result<std::vector<std::size_t>> cols =
      forest->MapColumns({"ImageNumber", "Texture_X", "AreaShape_Area", "ObjectNumber",
                          "Intensity_MeanIntensity_GFP"});
  ASSERT_TRUE(cols.ok());
  EXPECT_EQ(*cols, (std::vector<std::size_t>{4, 2, 1}));
  cols = forest->MapColumns({"ImageNumber", "Texture_X", "AreaShape_Area"});
  ASSERT_FALSE(cols.ok());
  EXPECT_TRUE(Contains(cols.status().message(), "'Intensity_MeanIntensity_GFP'"))
      << cols.status().ToString();
}

// --- Files: LoadTrainingSet, ClassifyObjects ---------------------------------------------------

class ClassifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sund-cells-classify-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::binary) << text;
    return Path(name);
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path dir_;
};

// Verifies: REQ-CELLS-093
TEST_F(ClassifyTest, LoadsLabelledRowsAndSkipsIdentityColumns) {
  std::string objects = Write("Nuclei.csv",
                              "ImageNumber,ObjectNumber,Location_Center_X,Parent_Cells,"
                              "Number_Object_Number,Metadata_Well,AreaShape_Area,Intensity_X\n"
                              "1,1,10.5,1,1,A01,120,0.5\n"
                              "1,2,20.5,2,2,A01,80,nan\n"
                              "2,1,30.5,1,1,B02,95,\n"
                              "2,2,40.5,2,2,B02,300,1e-3\n");
  std::string labels = Write("labels.csv",
                             "imagenumber_ignored,ImageNumber,ObjectNumber,class\n"
                             "x,2,2,big\n"
                             "x,1,2,small\n"
                             "x,1,1,big\n");
  Result<TrainingSet> set = LoadTrainingSet(objects, labels);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->features, (std::vector<std::string>{"AreaShape_Area", "Intensity_X"}));
  EXPECT_EQ(set->classes, (std::vector<std::string>{"big", "small"}));
  EXPECT_EQ(set->y, (std::vector<int>{0, 1, 0}));
  ASSERT_EQ(set->x.size(), 3u);
  EXPECT_EQ(set->x[0], (std::vector<double>{300, 1e-3}));
  EXPECT_EQ(set->x[1][0], 80);
  EXPECT_TRUE(std::isnan(set->x[1][1]));
  EXPECT_EQ(set->objects[2], (std::pair<std::int64_t, std::int64_t>{1, 1}));

  // An explicit list takes exactly those columns, and a text column among them is an error.
  set = LoadTrainingSet(objects, labels, {"Intensity_X"});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->features, (std::vector<std::string>{"Intensity_X"}));
  set = LoadTrainingSet(objects, labels, {"Metadata_Well"});
  ASSERT_FALSE(set.ok());
  EXPECT_TRUE(Contains(set.status().message(), "Nuclei.csv line 2: column 'Metadata_Well'"))
      << set.status().ToString();
}

// Verifies: REQ-CELLS-094
TEST_F(ClassifyTest, LoadErrorsNameTheProblem) {
  std::string objects = Write("Cells.csv",
                              "ImageNumber,ObjectNumber,AreaShape_Area\n"
                              "1,1,10\n"
                              "1,2,20\n");
  Result<TrainingSet> r =
      LoadTrainingSet(objects, Write("a.csv", "ImageNumber,ObjectNumber,Class\n1,1,a\n1,3,b\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(),
                       "a.csv line 3: object (ImageNumber 1, ObjectNumber 3) is not in Cells.csv"))
      << r.status().ToString();
  r = LoadTrainingSet(objects, Write("b.csv", "ImageNumber,ObjectNumber,Class\n1,1,a\n1,2,a\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "two classes"));
  r = LoadTrainingSet(objects, Write("c.csv", "ImageNumber,ObjectNumber,Class\n1,1,a\n1,1,b\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "labelled twice"));
  r = LoadTrainingSet(objects, Write("d.csv", "ImageNumber,ObjectNumber\n1,1\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "Class"));
  r = LoadTrainingSet(objects, Write("e.csv", "ImageNumber,ObjectNumber,Class\n1,1,a\n1,2,b\n"),
                      {"AreaShape_Area", "Intensity_MeanIntensity_GFP"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "'Intensity_MeanIntensity_GFP'"))
      << r.status().ToString();
  r = LoadTrainingSet(Path("absent.csv"), Path("e.csv"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

// A CSV of cells for the localisation example: a protein (GFP) is nuclear in some cells and
// cytoplasmic in others. Its ratio of nuclear to cytoplasmic mean intensity decides the class,
// with noise; the cells' expression levels vary tenfold, so neither intensity alone does.
struct Cells {
  std::string csv;
  std::vector<int> truth;  // 0 nuclear, 1 cytoplasmic
};

Cells LocalisationCells(int images, int per_image, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  Cells out;
  out.csv =
      "ImageNumber,ObjectNumber,Location_Center_X,Location_Center_Y,AreaShape_Area,"
      "AreaShape_Eccentricity,Intensity_MeanIntensity_DNA,Nuclei_Intensity_MeanIntensity_GFP,"
      "Cytoplasm_Intensity_MeanIntensity_GFP,Intensity_StdIntensity_GFP\n";
  for (int image = 1; image <= images; ++image) {
    for (int object = 1; object <= per_image; ++object) {
      const int y = (object * 7 + image) % 5 < 2 ? 0 : 1;  // 40% nuclear
      const double log_ratio = (y == 0 ? 0.7 : -0.7) + 0.3 * n01(rng);
      const double expression = 0.05 * std::exp(0.6 * n01(rng));
      const double nuclear = expression * std::exp(log_ratio / 2);
      const double cytoplasm = expression * std::exp(-log_ratio / 2);
      std::ostringstream row;
      row.precision(17);
      row << image << ',' << object << ',' << 500 * std::abs(n01(rng)) << ','
          << 500 * std::abs(n01(rng)) << ',' << 900 + 150 * n01(rng) << ',' << 0.6 + 0.1 * n01(rng)
          << ',' << 0.2 + 0.03 * n01(rng) << ',' << nuclear << ',' << cytoplasm << ','
          << 0.3 * expression * std::exp(0.2 * n01(rng)) << '\n';
      out.csv += row.str();
      out.truth.push_back(y);
    }
  }
  return out;
}

// Verifies: REQ-CELLS-084, REQ-CELLS-086, REQ-CELLS-088, REQ-CELLS-093, REQ-CELLS-095
TEST_F(ClassifyTest, NuclearVersusCytoplasmicLocalisation) {
  Cells training = LocalisationCells(4, 100, 1);
  std::string objects = Write("Cells.csv", training.csv);
  std::string labels = "ImageNumber,ObjectNumber,Class\n";
  // The user labelled every other cell.
  for (int image = 1; image <= 4; ++image) {
    for (int object = 1; object <= 100; object += 2) {
      labels += std::to_string(image) + "," + std::to_string(object) + "," +
                (training.truth[(image - 1) * 100 + object - 1] == 0 ? "nuclear" : "cytoplasmic") +
                "\n";
    }
  }
  Result<TrainingSet> set = LoadTrainingSet(objects, Write("labels.csv", labels));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->x.size(), 200u);
  EXPECT_EQ(set->features.size(), 6u);  // Location_* left out
  Result<CrossValidation> cv = CrossValidate(*set, {});
  ASSERT_TRUE(cv.ok());
  EXPECT_GT(cv->accuracy, 0.9);

  Result<RandomForest> forest = RandomForest::Train(*set);
  ASSERT_TRUE(forest.ok());
  // The two GFP intensities carry the decision.
  std::vector<std::string> top;
  std::vector<double> imp = forest->importance();
  for (int i = 0; i < 2; ++i) {
    std::size_t best = std::max_element(imp.begin(), imp.end()) - imp.begin();
    top.push_back(forest->features()[best]);
    imp[best] = -1;
  }
  std::sort(top.begin(), top.end());
  EXPECT_EQ(top, (std::vector<std::string>{"Cytoplasm_Intensity_MeanIntensity_GFP",
                                           "Nuclei_Intensity_MeanIntensity_GFP"}));

  // Applied, after a JSON round trip, to a new experiment.
  Write("model.json", forest->ToJson());
  Result<RandomForest> model = RandomForest::FromJson(Read(Path("model.json")));
  ASSERT_TRUE(model.ok());
  Cells fresh = LocalisationCells(3, 150, 2);
  fs::create_directories(dir_ / "run2");
  std::string fresh_csv = Path("run2/Cells.csv");
  std::ofstream(fresh_csv, std::ios::binary) << fresh.csv;
  Result<ClassifySummary> summary = ClassifyObjects(*model, fresh_csv, Path("out"));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->objects, 450);
  EXPECT_EQ(summary->classes_csv, Path("out/Cells_classes.csv"));
  Result<CsvTable> classes = ParseCsv(Read(summary->classes_csv));
  ASSERT_TRUE(classes.ok());
  EXPECT_EQ(classes->header,
            (std::vector<std::string>{"ImageNumber", "ObjectNumber", "Class", "Probability"}));
  ASSERT_EQ(classes->rows.size(), 450u);
  int correct = 0;
  for (std::size_t i = 0; i < 450; ++i) {
    const auto& row = classes->rows[i];
    EXPECT_EQ(row[0], std::to_string(i / 150 + 1));
    EXPECT_EQ(row[1], std::to_string(i % 150 + 1));
    correct += row[2] == (fresh.truth[i] == 0 ? "nuclear" : "cytoplasmic");
    double prob = std::stod(row[3]);
    EXPECT_GE(prob, 0.5);
    EXPECT_LE(prob, 1.0);
  }
  EXPECT_GT(correct, 0.9 * 450);
  Result<CsvTable> counts = ParseCsv(Read(summary->counts_csv));
  ASSERT_TRUE(counts.ok());
  // Classes are numbered as the labels first name them: cell (1, 1) is cytoplasmic.
  EXPECT_EQ(counts->header,
            (std::vector<std::string>{"ImageNumber", "Count_cytoplasmic", "Count_nuclear"}));
  ASSERT_EQ(counts->rows.size(), 3u);
  std::int64_t total_nuclear = 0;
  const std::size_t nuclear_col = 2;
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(counts->rows[r][0], std::to_string(r + 1));
    EXPECT_EQ(std::stoi(counts->rows[r][1]) + std::stoi(counts->rows[r][2]), 150);
    total_nuclear += std::stoi(counts->rows[r][nuclear_col]);
  }
  const std::size_t nuclear_class =
      std::find(model->classes().begin(), model->classes().end(), "nuclear") -
      model->classes().begin();
  EXPECT_EQ(total_nuclear, summary->per_class[nuclear_class]);
  // About 40% of the cells are nuclear.
  EXPECT_NEAR(total_nuclear / 450.0, 0.4, 0.06);
}

// Verifies: REQ-CELLS-096
TEST_F(ClassifyTest, MissingFeatureColumnIsAClearError) {
  TrainingSet set = TwoClasses(40, 2, 0, 4);
  set.features = {"AreaShape_Area", "Intensity_MeanIntensity_GFP"};
  Result<RandomForest> forest = RandomForest::Train(set);
  ASSERT_TRUE(forest.ok());
  std::string csv = Write("Nuclei.csv", "ImageNumber,ObjectNumber,AreaShape_Area\n1,1,3\n");
  Result<ClassifySummary> r = ClassifyObjects(*forest, csv);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "Nuclei.csv"));
  EXPECT_TRUE(Contains(r.status().message(), "'Intensity_MeanIntensity_GFP'"))
      << r.status().ToString();
  EXPECT_FALSE(Contains(r.status().message(), "'AreaShape_Area'"));
}

// Verifies: REQ-CELLS-095, REQ-CELLS-097
TEST_F(ClassifyTest, ReadsLargeTablesInBlocksWithTheFileLineNumbers) {
  // Over 4 MiB of CSV, so that it is parsed in several blocks; a quoted field with a line break
  // and CRLF line ends on the way; a bad value far down must be reported on its own line.
  TrainingSet set = TwoClasses(60, 2, 0, 4);
  set.features = {"A", "B"};
  Result<RandomForest> forest = RandomForest::Train(set);
  ASSERT_TRUE(forest.ok());
  std::string csv = "ImageNumber,ObjectNumber,Note,A,B\r\n";
  const int rows = 160000;
  std::size_t line = 2;
  for (int i = 1; i <= rows; ++i) {
    std::string note = i % 1000 == 0 ? "\"two\nlines, quoted\"" : "plain-note";
    csv += std::to_string(i % 50 + 1) + "," + std::to_string(i) + "," + note + "," +
           (i % 2 ? "5.25" : "-0.5") + ",0.125\r\n";
    line += i % 1000 == 0 ? 2 : 1;
  }
  std::string good = Write("Big.csv", csv);
  ASSERT_GT(csv.size(), std::size_t{4} << 20);
  Result<ClassifySummary> r = ClassifyObjects(*forest, good);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->objects, rows);
  EXPECT_EQ(r->per_class[1], rows / 2);
  Result<CsvTable> counts = ParseCsv(Read(r->counts_csv));
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->rows.size(), 50u);

  csv += "7,999999,note,oops,1\r\n";
  r = ClassifyObjects(*forest, Write("Bad.csv", csv));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "Bad.csv: line " + std::to_string(line) +
                                                 ": column 'A' holds a value that is not a number"))
      << r.status().ToString();
  csv += "7,1000000,\"unclosed,1,1\r\n";
  r = ClassifyObjects(*forest, Write("Worse.csv", csv));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "CSV line " + std::to_string(line + 1)))
      << r.status().ToString();
}

// Verifies: REQ-CELLS-098
TEST(ClassCountsTest, SumsClassesPerWell) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "sund-classify-per-well";
  fs::create_directories(dir);
  std::ofstream(dir / "Image.csv") << "ImageNumber,Count_Nuclei,Metadata_Plate,Metadata_Well\n"
                                      "1,10,P1,A01\n2,12,P1,A01\n3,5,P1,B02\n";
  std::ofstream(dir / "Nuclei_class_counts.csv") << "ImageNumber,Count_nuclear,Count_cytoplasmic\n"
                                                    "1,3,7\n2,5,7\n3,5,0\n";
  auto path =
      ClassCountsPerWell((dir / "Nuclei_class_counts.csv").string(), (dir / "Image.csv").string());
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  std::ifstream in(*path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text,
            "Metadata_Plate,Metadata_Well,Images,Count_nuclear,Count_cytoplasmic,"
            "Fraction_nuclear,Fraction_cytoplasmic\n"
            "P1,A01,2,8,14,0.36363636363636365,0.6363636363636364\n"
            "P1,B02,1,5,0,1,0\n");
  std::ofstream(dir / "NoWells.csv") << "ImageNumber,Count_Nuclei\n1,10\n";
  EXPECT_FALSE(
      ClassCountsPerWell((dir / "Nuclei_class_counts.csv").string(), (dir / "NoWells.csv").string())
          .ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sund::cells
