#include "cells/analysis.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/csv.h"
#include "core/file_reader.h"

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

std::string DataDir() {
  const char* d = std::getenv("SUND_TEST_DATA");
  return d == nullptr ? std::string() : std::string(d);
}

CsvTable ReadTable(const std::string& path) {
  auto text = ReadFileDecompressed(path);
  EXPECT_TRUE(text.ok()) << path;
  auto t = ParseCsv(text.ok() ? *text : std::string("x\n"));
  EXPECT_TRUE(t.ok()) << path;
  return t.ok() ? *t : CsvTable{};
}

double Num(const CsvTable& t, const std::vector<std::string>& row, const std::string& col) {
  auto c = t.Column(col);
  return c ? std::atof(row[*c].c_str()) : NAN;
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// CellProfiler's ExampleHuman pipeline (examples/cells/examplehuman.json) against CellProfiler
// 4.0.6's own output: the parity check, tightened (the code reproduces CellProfiler's
// arithmetic, so a drift shows long before 5 %).
// Verifies: REQ-CELLS-008, REQ-CELLS-025, REQ-CELLS-035, REQ-CELLS-046
TEST(AnalysisTest, ExampleHumanMatchesCellProfiler) {
  std::string data = DataDir();
  if (data.empty()) GTEST_SKIP() << "SUND_TEST_DATA is not set (../shared/data)";
  std::string ref = data + "/cellprofiler-examplehuman";
  auto text =
      ReadFileDecompressed(std::string(SUND_SOURCE_DIR) + "/examples/cells/examplehuman.json");
  ASSERT_TRUE(text.ok());
  auto pipeline = ParsePipeline(*text);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().ToString();
  auto sets = ScanFolder(
      ref, "^(?P<Plate>.*)_(?P<Well>[A-P][0-9]{2})f(?P<Site>[0-9]{2})d(?P<Channel>[0-9])",
      {{"0", "DNA"}, {"1", "PH3"}, {"2", "cellbody"}});
  ASSERT_TRUE(sets.ok() && sets->size() == 1);
  fs::path out = fs::temp_directory_path() / "sund-cells-examplehuman";
  fs::remove_all(out);
  AnalyzeOptions o;
  o.out_dir = out.string();
  o.progress = false;
  auto summary = Analyze(*pipeline, *sets, o);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->failed, 0);
  const std::map<std::string, int> expected = {
      {"Nuclei", 289}, {"PH3", 22}, {"Cells", 289}, {"Cytoplasm", 289}};
  for (const auto& [name, count] : expected) {
    SCOPED_TRACE(name);
    CsvTable ours = ReadTable((out / (name + ".csv")).string());
    CsvTable theirs = ReadTable(ref + "/" + name + ".csv");
    EXPECT_EQ(static_cast<int>(ours.rows.size()), count);
    // Every column we write is one CellProfiler writes, under the same name.
    for (const auto& c : ours.header) EXPECT_TRUE(theirs.Column(c).has_value()) << c;
    // Objects matched by centre (within 2 px, one to one).
    std::vector<bool> used(ours.rows.size(), false);
    std::map<std::string, std::vector<double>> diffs;
    int matched = 0;
    for (const auto& r : theirs.rows) {
      double x = Num(theirs, r, "Location_Center_X"), y = Num(theirs, r, "Location_Center_Y");
      int best = -1;
      double best_d = 2.0;
      for (std::size_t i = 0; i < ours.rows.size(); ++i) {
        if (used[i]) continue;
        double d = std::hypot(Num(ours, ours.rows[i], "Location_Center_X") - x,
                              Num(ours, ours.rows[i], "Location_Center_Y") - y);
        if (d < best_d) best_d = d, best = static_cast<int>(i);
      }
      if (best < 0) continue;
      used[best] = true;
      ++matched;
      for (const char* c : {"AreaShape_Area", "AreaShape_Perimeter", "Intensity_MeanIntensity_DNA",
                            "AreaShape_Solidity", "AreaShape_MajorAxisLength",
                            "Intensity_IntegratedIntensity_PH3"}) {
        if (!theirs.Column(c)) continue;
        double a = Num(theirs, r, c), b = Num(ours, ours.rows[best], c);
        diffs[c].push_back(std::abs(a - b) / std::max(std::abs(a), 1e-12));
      }
    }
    EXPECT_GE(matched, count * 95 / 100);
    for (const auto& [c, d] : diffs) EXPECT_LT(Median(d), 1e-6) << c;
  }
  // Image.csv: the counts and the thresholds CellProfiler reports.
  CsvTable image = ReadTable((out / "Image.csv").string());
  CsvTable cp_image = ReadTable(ref + "/Image.csv");
  ASSERT_EQ(image.rows.size(), 1u);
  for (const char* c : {"Count_Nuclei", "Count_PH3", "Count_Cells", "Count_Cytoplasm"}) {
    EXPECT_EQ(Num(image, image.rows[0], c), Num(cp_image, cp_image.rows[0], c)) << c;
  }
  for (const char* c : {"Threshold_FinalThreshold_Nuclei", "Threshold_FinalThreshold_PH3",
                        "Threshold_FinalThreshold_Cells"}) {
    EXPECT_NEAR(Num(image, image.rows[0], c), Num(cp_image, cp_image.rows[0], c), 1e-6) << c;
  }
  EXPECT_EQ(image.Column("Metadata_Well").has_value(), true);
  EXPECT_TRUE(fs::exists(out / "pipeline.json"));
  EXPECT_TRUE(fs::exists(out / "overlays" / "1_DNA.png"));
  fs::remove_all(out);
}

class AnalysisFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           (std::string("sund-cells-analysis-") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "img");
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A 128 x 128 8-bit image with `n` bright discs on a dim background.
  void Nuclei(const std::string& name, int n) {
    cv::Mat m(128, 128, CV_8U, cv::Scalar(10));
    for (int i = 0; i < n; ++i) {
      cv::circle(m, cv::Point(20 + (i % 4) * 28, 20 + (i / 4) * 28), 7, cv::Scalar(200), -1);
    }
    ASSERT_TRUE(cv::imwrite((dir_ / "img" / name).string(), m));
  }
  fs::path dir_;
};

// The bad-input corpus: each bad image fails alone with its reason, the run goes on.
// Verifies: REQ-CELLS-002, REQ-CELLS-003, REQ-CELLS-011, REQ-CELLS-043, REQ-CELLS-045
TEST_F(AnalysisFilesTest, BadImagesFailAloneAndAreListed) {
  Nuclei("a_good.png", 5);
  Nuclei("z_good.png", 3);
  { std::ofstream(dir_ / "img" / "b_empty.tif"); }  // 0 bytes
  cv::Mat black(64, 64, CV_8U, cv::Scalar(0));
  ASSERT_TRUE(cv::imwrite((dir_ / "img" / "c_black.png").string(), black));
  cv::Mat colour(64, 64, CV_8UC3, cv::Scalar(10, 80, 200));
  ASSERT_TRUE(cv::imwrite((dir_ / "img" / "d_rgb.png").string(), colour));
  {
    cv::Mat m(128, 128, CV_16U, cv::Scalar(500));
    ASSERT_TRUE(cv::imwrite((dir_ / "whole.tif").string(), m));
    std::ifstream in(dir_ / "whole.tif", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir_ / "img" / "e_truncated.tif", std::ios::binary)
        << bytes.substr(0, bytes.size() / 2);
  }
  auto sets = ScanFolderSingleChannel((dir_ / "img").string(), "DNA");
  ASSERT_TRUE(sets.ok());
  ASSERT_EQ(sets->size(), 6u);
  AnalyzeOptions o;
  o.out_dir = (dir_ / "out").string();
  o.progress = false;
  o.overlays = false;
  auto summary = Analyze(DefaultPipeline("DNA"), *sets, o);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->failed, 4);
  EXPECT_EQ(summary->objects["Nuclei"], 8);
  CsvTable failures = ReadTable((dir_ / "out" / "failures.csv").string());
  ASSERT_EQ(failures.rows.size(), 4u);
  std::map<std::string, std::string> why;
  for (const auto& r : failures.rows) why[r[1]] = r[2];
  EXPECT_NE(why["b_empty"].find("empty file"), std::string::npos) << why["b_empty"];
  EXPECT_NE(why["c_black"].find("blank image"), std::string::npos) << why["c_black"];
  EXPECT_NE(why["d_rgb"].find("3 different planes"), std::string::npos) << why["d_rgb"];
  EXPECT_NE(why["e_truncated"].find("not a readable image"), std::string::npos)
      << why["e_truncated"];
  CsvTable image = ReadTable((dir_ / "out" / "Image.csv").string());
  ASSERT_EQ(image.rows.size(), 2u);
  EXPECT_EQ(image.rows[0][0], "1");  // ImageNumber: the position in the list of image sets
  EXPECT_EQ(image.rows[1][0], "6");
  EXPECT_EQ(Num(image, image.rows[0], "Count_Nuclei"), 5);
  EXPECT_EQ(Num(image, image.rows[1], "Count_Nuclei"), 3);
}

// Verifies: REQ-CELLS-045, REQ-CELLS-047, REQ-CELLS-048
TEST_F(AnalysisFilesTest, ShardsMergeIntoTheWholeRun) {
  for (int i = 0; i < 5; ++i) Nuclei("n" + std::to_string(i) + ".png", i + 1);
  auto sets = ScanFolderSingleChannel((dir_ / "img").string(), "DNA");
  ASSERT_TRUE(sets.ok());
  Pipeline p = DefaultPipeline("DNA");
  AnalyzeOptions o;
  o.progress = false;
  o.overlays = false;
  o.out_dir = (dir_ / "whole").string();
  ASSERT_TRUE(Analyze(p, *sets, o).ok());
  std::vector<std::string> parts;
  o.shards = 3;
  for (int k = 1; k <= 3; ++k) {
    o.shard = k;
    o.out_dir = (dir_ / ("part" + std::to_string(k))).string();
    auto s = Analyze(p, *sets, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    parts.push_back(o.out_dir);
  }
  ASSERT_TRUE(MergeShards({parts[2], parts[0], parts[1]}, (dir_ / "merged").string()).ok());
  for (const char* f : {"Image.csv", "Nuclei.csv"}) {
    CsvTable whole = ReadTable((dir_ / "whole" / f).string());
    CsvTable merged = ReadTable((dir_ / "merged" / f).string());
    EXPECT_EQ(whole.header, merged.header) << f;
    ASSERT_EQ(whole.rows.size(), merged.rows.size()) << f;
    // Everything but the execution times agrees.
    for (std::size_t r = 0; r < whole.rows.size(); ++r) {
      for (std::size_t c = 0; c < whole.header.size(); ++c) {
        if (whole.header[c].starts_with("ExecutionTime_")) continue;
        EXPECT_EQ(whole.rows[r][c], merged.rows[r][c]) << f << " " << whole.header[c];
      }
    }
  }
  // Parts of another pipeline do not merge.
  Pipeline other = DefaultPipeline("DNA");
  other.steps[0].primary_options.threshold.correction_factor = 1.2;
  o.shard = 1;
  o.shards = 1;
  o.out_dir = (dir_ / "other").string();
  ASSERT_TRUE(Analyze(other, *sets, o).ok());
  EXPECT_FALSE(MergeShards({parts[0], o.out_dir}, (dir_ / "bad").string()).ok());
}

// A part given twice, or parts of two different splits, hold the same image sets: merging them
// would double rows, so the merge refuses and writes nothing.
// Verifies: REQ-CELLS-100
TEST_F(AnalysisFilesTest, MergeRefusesAnImageNumberInTwoParts) {
  for (int i = 0; i < 3; ++i) Nuclei("n" + std::to_string(i) + ".png", i + 1);
  auto sets = ScanFolderSingleChannel((dir_ / "img").string(), "DNA");
  ASSERT_TRUE(sets.ok());
  ASSERT_EQ(sets->size(), 3u);
  const Pipeline p = DefaultPipeline("DNA");
  AnalyzeOptions o;
  o.progress = false;
  o.overlays = false;
  auto run = [&](int shard, int shards) {
    o.shard = shard;
    o.shards = shards;
    o.out_dir = (dir_ / ("part" + std::to_string(shard) + "of" + std::to_string(shards))).string();
    auto s = Analyze(p, *sets, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return o.out_dir;
  };
  const std::string half1 = run(1, 2);   // image set 1
  const std::string half2 = run(2, 2);   // image sets 2 and 3
  const std::string third2 = run(2, 3);  // image set 2
  // The control: the two halves merge.
  ASSERT_TRUE(MergeShards({half1, half2}, (dir_ / "merged").string()).ok());
  EXPECT_EQ(ReadTable((dir_ / "merged" / "Image.csv").string()).rows.size(), 3u);

  Status overlap = MergeShards({half1, half2, third2}, (dir_ / "overlap").string());
  ASSERT_FALSE(overlap.ok());
  EXPECT_EQ(overlap.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(overlap.message().find("ImageNumber 2 is also in"), std::string::npos)
      << overlap.message();
  EXPECT_FALSE(fs::exists(dir_ / "overlap" / "Image.csv"));

  Status twice = MergeShards({half1, half1}, (dir_ / "twice").string());
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.message().find("ImageNumber 1 is also in"), std::string::npos) << twice.message();
  EXPECT_FALSE(fs::exists(dir_ / "twice" / "Image.csv"));
}

// Image.csv's header is fixed by its first row: a metadata key that only a later image set has
// (or only another shard's) must still be a column, blank where a set lacks it.
// Verifies: REQ-CELLS-101
TEST_F(AnalysisFilesTest, MetadataKeyOfALaterImageSetIsKept) {
  Nuclei("a.png", 2);
  Nuclei("b.png", 3);
  std::vector<ImageSet> sets(2);
  sets[0].channels["DNA"] = ChannelFile{(dir_ / "img" / "a.png").string(), -1};
  sets[0].metadata["Plate"] = "P1";
  sets[1].channels["DNA"] = ChannelFile{(dir_ / "img" / "b.png").string(), -1};
  sets[1].metadata["Plate"] = "P1";
  sets[1].metadata["Well"] = "B02";
  const Pipeline p = DefaultPipeline("DNA");
  AnalyzeOptions o;
  o.progress = false;
  o.overlays = false;
  o.out_dir = (dir_ / "whole").string();
  auto summary = Analyze(p, sets, o);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->failed, 0);
  CsvTable image = ReadTable((dir_ / "whole" / "Image.csv").string());
  ASSERT_EQ(image.rows.size(), 2u);
  auto well = image.Column("Metadata_Well");
  ASSERT_TRUE(well.has_value());
  EXPECT_EQ(image.rows[0][*well], "");
  EXPECT_EQ(image.rows[1][*well], "B02");

  // Shard 1/2 holds only the first set and still has the column, so the parts merge.
  std::vector<std::string> parts;
  o.shards = 2;
  for (int k = 1; k <= 2; ++k) {
    o.shard = k;
    o.out_dir = (dir_ / ("part" + std::to_string(k))).string();
    ASSERT_TRUE(Analyze(p, sets, o).ok());
    parts.push_back(o.out_dir);
  }
  EXPECT_TRUE(ReadTable(parts[0] + "/Image.csv").Column("Metadata_Well").has_value());
  Status merged = MergeShards(parts, (dir_ / "merged").string());
  ASSERT_TRUE(merged.ok()) << merged.ToString();
  CsvTable all = ReadTable((dir_ / "merged" / "Image.csv").string());
  ASSERT_EQ(all.rows.size(), 2u);
  auto merged_well = all.Column("Metadata_Well");
  ASSERT_TRUE(merged_well.has_value());
  EXPECT_EQ(all.rows[1][*merged_well], "B02");
}

// RelateObjects: each child's parent is the object covering it (0 outside every parent), and
// each parent counts its children.
// Verifies: REQ-CELLS-102
TEST_F(AnalysisFilesTest, RelateObjectsCountsChildrenPerParent) {
  cv::Mat dna(128, 128, CV_8U, cv::Scalar(10));
  cv::circle(dna, cv::Point(40, 40), 14, cv::Scalar(200), -1);
  cv::circle(dna, cv::Point(90, 90), 14, cv::Scalar(200), -1);
  ASSERT_TRUE(cv::imwrite((dir_ / "img" / "dna.png").string(), dna));
  cv::Mat spot(128, 128, CV_8U, cv::Scalar(10));
  const std::vector<cv::Point> spots = {{35, 36}, {46, 44}, {90, 90}, {110, 20}};
  for (const cv::Point& c : spots) cv::circle(spot, c, 3, cv::Scalar(200), -1);
  ASSERT_TRUE(cv::imwrite((dir_ / "img" / "spot.png").string(), spot));

  auto primary = [](const std::string& name, const std::string& image, int min_d, int max_d) {
    Step s;
    s.kind = StepKind::kPrimary;
    s.name = name;
    s.image = image;
    s.primary_options.min_diameter = min_d;
    s.primary_options.max_diameter = max_d;
    s.primary_options.unclump = UnclumpMethod::kNone;
    s.primary_options.threshold.method = ThresholdMethod::kOtsu;
    return s;
  };
  Pipeline p;
  p.steps.push_back(primary("Nuclei", "DNA", 10, 60));
  p.steps.push_back(primary("Spots", "Spot", 2, 12));
  Step relate;
  relate.kind = StepKind::kRelate;
  relate.parent = "Nuclei";
  relate.child = "Spots";
  p.steps.push_back(relate);

  ImageSet set;
  set.channels["DNA"] = ChannelFile{(dir_ / "img" / "dna.png").string(), -1};
  set.channels["Spot"] = ChannelFile{(dir_ / "img" / "spot.png").string(), -1};
  ModelCache models(std::vector<std::string>{});
  auto r = RunPipeline(p, set, models);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ObjectResult* nuclei = r->Find("Nuclei");
  const ObjectResult* found = r->Find("Spots");
  ASSERT_NE(nuclei, nullptr);
  ASSERT_NE(found, nullptr);
  ASSERT_EQ(nuclei->labels.count, 2);
  ASSERT_EQ(found->labels.count, 4);
  const std::vector<double>* children = nuclei->table.Find("Children_Spots_Count");
  const std::vector<double>* parent = found->table.Find("Parent_Nuclei");
  ASSERT_NE(children, nullptr);
  ASSERT_NE(parent, nullptr);
  const std::int32_t upper = nuclei->labels.at(40, 40);
  const std::int32_t lower = nuclei->labels.at(90, 90);
  ASSERT_GT(upper, 0);
  ASSERT_GT(lower, 0);
  ASSERT_NE(upper, lower);
  EXPECT_EQ((*children)[upper - 1], 2);
  EXPECT_EQ((*children)[lower - 1], 1);
  const std::vector<double> expected_parent = {
      static_cast<double>(upper), static_cast<double>(upper), static_cast<double>(lower), 0.0};
  for (std::size_t i = 0; i < spots.size(); ++i) {
    const std::int32_t k = found->labels.at(spots[i].x, spots[i].y);
    ASSERT_GT(k, 0) << i;
    EXPECT_EQ((*parent)[k - 1], expected_parent[i]) << i;
  }
}

// Verifies: REQ-CELLS-033, REQ-CELLS-047
TEST(AnalysisShardTest, ShardsCoverEverySetOnce) {
  std::size_t covered = 0;
  std::size_t prev = 0;
  for (int k = 1; k <= 7; ++k) {
    auto [lo, hi] = ShardRange(100, k, 7);
    EXPECT_EQ(lo, prev);
    covered += hi - lo;
    prev = hi;
  }
  EXPECT_EQ(covered, 100u);
  EXPECT_EQ(FormatValue(NAN), "nan");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(289), "289");
}

}  // namespace
}  // namespace sund::cells
