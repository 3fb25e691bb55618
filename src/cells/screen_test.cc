#include "cells/screen.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cells/analysis.h"
#include "cells/manifest.h"
#include "cells/pipeline.h"
#include "core/csv.h"

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::path(testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

CsvTable ReadTable(const fs::path& path) {
  Result<CsvTable> t = ParseCsv(ReadText(path));
  EXPECT_TRUE(t.ok()) << path << ": " << t.status().ToString();
  return t.ok() ? *t : CsvTable{};
}

// The value of `column` in the first row whose `key_column` is `key`.
std::string Cell(const CsvTable& t, const std::string& key_column, const std::string& key,
                 const std::string& column) {
  auto k = t.Column(key_column);
  auto c = t.Column(column);
  if (!k || !c) return "<no column>";
  for (const auto& row : t.rows) {
    if (row[*k] == key) return row[*c];
  }
  return "<no row>";
}

double CellNumber(const CsvTable& t, const std::string& key_column, const std::string& key,
                  const std::string& column) {
  return std::stod(Cell(t, key_column, key, column));
}

std::size_t Occurrences(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t i = s.find(part); i != std::string::npos; i = s.find(part, i + 1)) ++n;
  return n;
}

// Three negative wells (two sites each), three positive wells, one sample well whose second
// site has no value, and a well the plate map does not name.
constexpr char kImageCsv[] =
    "ImageNumber,Count_Nuclei,Metadata_Plate,Metadata_Site,Metadata_Well\n"
    "1,100,P1,1,A01\n"
    "2,110,P1,2,A01\n"
    "3,90,P1,1,B01\n"
    "4,100,P1,2,B01\n"
    "5,100,P1,1,C01\n"
    "6,100,P1,2,C01\n"
    "7,10,P1,1,A12\n"
    "8,12,P1,2,A12\n"
    "9,8,P1,1,B12\n"
    "10,10,P1,2,B12\n"
    "11,10,P1,1,C12\n"
    "12,10,P1,2,C12\n"
    "13,50,P1,1,A2\n"
    "14,nan,P1,2,A02\n"
    "15,1000,P1,1,H05\n";

constexpr char kPlateMap[] =
    "well,compound,concentration,unit,role\n"
    "A01,DMSO,,,negative\n"
    "B01,DMSO,,,negative\n"
    "C01,DMSO,,,negative\n"
    "A12,staurosporine,1,uM,positive\n"
    "B12,staurosporine,1,uM,positive\n"
    "C12,staurosporine,1,uM,positive\n"
    "A02,cpd-1,0.3,uM,sample\n"
    "D07,cpd-1,1,uM,sample\n";

// Verifies: REQ-CELLS-069, REQ-CELLS-070, REQ-CELLS-072, REQ-CELLS-079
TEST(ScreenTest, WritesWellValuesAndHandComputedZPrime) {
  fs::path dir = FreshDir("sund-screen-hand");
  WriteFile(dir / "Image.csv", kImageCsv);
  Result<PlateMap> map = ParsePlateMap(kPlateMap);
  ASSERT_TRUE(map.ok()) << map.status().ToString();

  Result<ScreenResult> r = AnalyzeScreen(dir.string(), *map, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->readout, "Count_Nuclei");  // the only Count_ column, without pipeline.json
  EXPECT_EQ(r->images, 15);
  ASSERT_EQ(r->unmapped_wells, std::vector<std::string>{"P1/H05"});
  EXPECT_EQ(r->unmapped_images, 1);
  ASSERT_EQ(r->wells_without_images.size(), 1u);
  EXPECT_EQ(r->wells_without_images[0].well, "D07");

  CsvTable wells = ReadTable(dir / "Wells.csv");
  EXPECT_EQ(wells.header, (std::vector<std::string>{
                              "plate", "well", "role", "compound", "concentration", "unit", "n",
                              "mean", "percent_of_negative", "percent_inhibition", "robust_z"}));
  ASSERT_EQ(wells.rows.size(), 8u);
  // Neg well means 105, 95, 100 -> mean_neg 100; pos well means 11, 9, 10 -> mean_pos 10.
  EXPECT_DOUBLE_EQ(CellNumber(wells, "well", "A01", "mean"), 105);
  EXPECT_EQ(Cell(wells, "well", "A01", "role"), "negative");
  // A02: one finite site (50): POC = 100 * 50 / 100 = 50; NPI = 100 * (100 - 50) / 90.
  EXPECT_EQ(Cell(wells, "well", "A02", "n"), "1");
  EXPECT_DOUBLE_EQ(CellNumber(wells, "well", "A02", "mean"), 50);
  EXPECT_DOUBLE_EQ(CellNumber(wells, "well", "A02", "percent_of_negative"), 50);
  EXPECT_NEAR(CellNumber(wells, "well", "A02", "percent_inhibition"), 5000.0 / 90, 1e-9);
  EXPECT_EQ(Cell(wells, "well", "A02", "compound"), "cpd-1");
  EXPECT_EQ(Cell(wells, "well", "A02", "unit"), "uM");
  EXPECT_DOUBLE_EQ(CellNumber(wells, "well", "A02", "concentration"), 0.3);
  // The unmapped well is listed, but its 1000 moves no statistic (it would as a control).
  EXPECT_EQ(Cell(wells, "well", "H05", "role"), "unmapped");

  CsvTable plates = ReadTable(dir / "Plates.csv");
  ASSERT_EQ(plates.rows.size(), 1u);
  // sd_neg = sqrt((5^2 + 5^2 + 0^2) / 2) = 5; sd_pos = sqrt((1 + 1 + 0) / 2) = 1;
  // Z' = 1 - 3 (5 + 1) / |10 - 100| = 1 - 18 / 90 = 0.8;
  // SSMD = (10 - 100) / sqrt(5^2 + 1^2) = -90 / sqrt(26).
  EXPECT_NEAR(CellNumber(plates, "plate", "P1", "z_prime"), 0.8, 1e-12);
  EXPECT_NEAR(CellNumber(plates, "plate", "P1", "ssmd"), -90 / std::sqrt(26.0), 1e-12);
  EXPECT_DOUBLE_EQ(CellNumber(plates, "plate", "P1", "mean_negative"), 100);
  EXPECT_DOUBLE_EQ(CellNumber(plates, "plate", "P1", "sd_negative"), 5);
  EXPECT_DOUBLE_EQ(CellNumber(plates, "plate", "P1", "cv_negative"), 5);
  EXPECT_EQ(Cell(plates, "plate", "P1", "n_positive"), "3");
  EXPECT_EQ(Cell(plates, "plate", "P1", "quality"), "good");

  // cpd-1 has one concentration: no curve, and DoseResponse.csv says why.
  CsvTable dose = ReadTable(dir / "DoseResponse.csv");
  ASSERT_EQ(dose.rows.size(), 1u);
  EXPECT_EQ(Cell(dose, "compound", "cpd-1", "ic50"), "");
  EXPECT_NE(Cell(dose, "compound", "cpd-1", "error"), "");
  EXPECT_EQ(Cell(dose, "compound", "cpd-1", "readout"), "percent_of_negative");
}

// P1's controls overlap (Z' = 1 - 3 (40 + 20) / 70 < 0), P2's barely separate
// (Z' = 1 - 3 (10 + 10) / 80 = 0.25), P3 has one well per control (Z' undefined).
// Verifies: REQ-CELLS-110
TEST(ScreenTest, PlateVerdictsFollowZPrime) {
  EXPECT_EQ(PlateVerdict(0.5), "good");
  EXPECT_EQ(PlateVerdict(0.49), "marginal");
  EXPECT_EQ(PlateVerdict(0.0), "marginal");
  EXPECT_EQ(PlateVerdict(-0.01), "fail");
  EXPECT_EQ(PlateVerdict(NAN), "n/a");

  fs::path dir = FreshDir("sund-screen-verdicts");
  WriteFile(dir / "Image.csv",
            "ImageNumber,Count_Nuclei,Metadata_Plate,Metadata_Well\n"
            "1,100,P1,A01\n2,60,P1,B01\n3,140,P1,C01\n"
            "4,10,P1,A12\n5,50,P1,B12\n6,30,P1,C12\n"
            "7,100,P2,A01\n8,90,P2,B01\n9,110,P2,C01\n"
            "10,10,P2,A12\n11,20,P2,B12\n12,30,P2,C12\n"
            "13,100,P3,A01\n14,10,P3,A12\n");
  Result<PlateMap> map = ParsePlateMap(kPlateMap);
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  Result<ScreenResult> r = AnalyzeScreen(dir.string(), *map, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  CsvTable plates = ReadTable(dir / "Plates.csv");
  ASSERT_EQ(plates.rows.size(), 3u);
  EXPECT_NEAR(CellNumber(plates, "plate", "P1", "z_prime"), 1 - 18.0 / 7, 1e-12);
  EXPECT_EQ(Cell(plates, "plate", "P1", "quality"), "fail");
  EXPECT_NEAR(CellNumber(plates, "plate", "P2", "z_prime"), 0.25, 1e-12);
  EXPECT_EQ(Cell(plates, "plate", "P2", "quality"), "marginal");
  EXPECT_EQ(Cell(plates, "plate", "P3", "z_prime"), "nan");
  EXPECT_EQ(Cell(plates, "plate", "P3", "quality"), "n/a");
}

// Verifies: REQ-CELLS-080
TEST(ScreenTest, ImagesWithoutPlateMetadataAreAClearError) {
  fs::path dir = FreshDir("sund-screen-nometa");
  WriteFile(dir / "Image.csv", "ImageNumber,Count_Nuclei,FileName_DNA\n1,10,a.png\n2,12,b.png\n");
  Result<PlateMap> map = ParsePlateMap(kPlateMap);
  ASSERT_TRUE(map.ok());
  Result<ScreenResult> r = AnalyzeScreen(dir.string(), *map, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("Metadata_Plate"), std::string::npos);
  EXPECT_NE(r.status().message().find("manifest"), std::string::npos);

  // A blank well in one image set names that image set.
  WriteFile(dir / "Image.csv",
            "ImageNumber,Count_Nuclei,Metadata_Plate,Metadata_Well\n1,10,P1,A01\n2,12,P1,\n");
  r = AnalyzeScreen(dir.string(), *map, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("image set 2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("Metadata_Well"), std::string::npos);

  // An unknown readout column is named.
  ScreenOptions o;
  o.readout = "Count_Cells";
  r = AnalyzeScreen(dir.string(), *map, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Count_Cells"), std::string::npos);
}

// --- The end-to-end check: synthetic images with a known IC50 ----------------------------

// A 256x256 8-bit image of `n` bright, non-touching discs of radius 6 (domed, as nuclei are) on a
// dim, noisy background: discs sit on a jittered 11x11 grid with 21 px spacing, away from the
// border.
cv::Mat SyntheticNuclei(int n, std::mt19937& rng) {
  cv::Mat signal(256, 256, CV_32F, cv::Scalar(0));
  std::vector<int> slots(121);
  for (int i = 0; i < 121; ++i) slots[i] = i;
  std::shuffle(slots.begin(), slots.end(), rng);
  std::uniform_int_distribution<int> jitter(-2, 2);
  for (int k = 0; k < n && k < 121; ++k) {
    cv::Point centre(23 + 21 * (slots[k] % 11) + jitter(rng),
                     23 + 21 * (slots[k] / 11) + jitter(rng));
    cv::circle(signal, centre, 6, cv::Scalar(1), cv::FILLED, cv::LINE_AA);
  }
  cv::GaussianBlur(signal, signal, cv::Size(0, 0), 1.5);
  cv::Mat noise(256, 256, CV_32F);
  cv::randn(noise, 0, 3);  // seeded by cv::theRNG() below
  cv::Mat image = 20 + 190 * signal + noise;
  cv::Mat out;
  image.convertTo(out, CV_8U);
  return out;
}

// Verifies: REQ-CELLS-014, REQ-CELLS-078, REQ-CELLS-079
TEST(ScreenTest, RecoversKnownIc50FromSynthesisedImages) {
  constexpr double kIc50 = 0.4;  // uM
  constexpr double kHill = 1.2;
  constexpr double kN0 = 80;  // nuclei per site without compound
  constexpr int kSites = 2;
  fs::path dir = FreshDir("sund-screen-e2e");
  fs::create_directories(dir / "images");
  std::mt19937 rng(20240611);
  cv::theRNG().state = 20240611;
  std::uniform_int_distribution<int> control_jitter(-3, 3);
  std::uniform_int_distribution<int> sample_jitter(-1, 1);
  std::uniform_int_distribution<int> residual(0, 2);

  std::string map = "plate,well,compound,concentration,unit,role\n";
  std::string manifest = "Metadata_Plate,Metadata_Well,Metadata_Site,FileName_DNA\n";
  double true_negative_sum = 0;
  int negative_images = 0;
  auto add_well = [&](const std::string& well, auto count_of_site) {
    for (int site = 1; site <= kSites; ++site) {
      int n = count_of_site();
      std::string file = well + "_s" + std::to_string(site) + ".png";
      ASSERT_TRUE(cv::imwrite((dir / "images" / file).string(), SyntheticNuclei(n, rng)));
      manifest += "P1," + well + "," + std::to_string(site) + "," + file + "\n";
    }
  };
  const std::string rows = "ABCDEFGH";
  for (int r = 0; r < 8; ++r) {
    std::string neg = std::string(1, rows[r]) + "01";
    std::string pos = std::string(1, rows[r]) + "12";
    map += "P1," + neg + ",DMSO,,,negative\n";
    map += "P1," + pos + ",staurosporine,10,uM,positive\n";
    add_well(neg, [&] {
      int n = static_cast<int>(kN0) + control_jitter(rng);
      true_negative_sum += n;
      ++negative_images;
      return n;
    });
    add_well(pos, [&] { return residual(rng); });
  }
  // 8 concentrations, 3-fold apart (0.01 to 21.87 uM), in 3 replicate wells (rows A-C).
  for (int k = 0; k < 8; ++k) {
    double c = 0.01 * std::pow(3.0, k);
    double expected = kN0 / (1 + std::pow(c / kIc50, kHill));
    for (int r = 0; r < 3; ++r) {
      std::string well = std::string(1, rows[r]) + (k + 2 < 10 ? "0" : "") + std::to_string(k + 2);
      char conc[32];
      std::snprintf(conc, sizeof conc, "%.17g", c);
      map += "P1," + well + ",cpd-A," + conc + ",uM,sample\n";
      add_well(well, [&] {
        return std::max(0, static_cast<int>(std::lround(expected)) + sample_jitter(rng));
      });
    }
  }
  WriteFile(dir / "images" / "manifest.csv", manifest);
  WriteFile(dir / "plate_map.csv", map);

  Result<std::vector<ImageSet>> sets = ReadManifest((dir / "images" / "manifest.csv").string());
  ASSERT_TRUE(sets.ok()) << sets.status().ToString();
  ASSERT_EQ(sets->size(), 40u * kSites);
  AnalyzeOptions ao;
  ao.out_dir = (dir / "results").string();
  ao.overlays = false;
  ao.progress = false;
  // The default pipeline with a lower bound on the threshold, as CellProfiler users set it for
  // sparse wells: an automatic threshold of an image with a few nuclei (the positive control,
  // the highest doses) otherwise falls into the background noise and counts noise as nuclei.
  Pipeline pipeline = DefaultPipeline("DNA");
  pipeline.steps[0].primary_options.threshold.lower_bound = 0.15;
  Result<AnalyzeSummary> summary = Analyze(pipeline, *sets, ao);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  ASSERT_EQ(summary->failed, 0);

  Result<PlateMap> plate_map = ReadPlateMap((dir / "plate_map.csv").string());
  ASSERT_TRUE(plate_map.ok()) << plate_map.status().ToString();
  Result<ScreenResult> r = AnalyzeScreen(ao.out_dir, *plate_map, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->readout, "Count_Nuclei");  // from pipeline.json
  EXPECT_TRUE(r->unmapped_wells.empty());

  // Segmentation counted the control discs (a check that localises a failure below).
  ASSERT_EQ(r->plates.size(), 1u);
  const ControlQuality& q = r->plates[0].controls;
  EXPECT_NEAR(q.mean_negative, true_negative_sum / negative_images, 0.05 * kN0);
  EXPECT_GT(q.z_prime, 0.5) << "Z' " << q.z_prime;

  ASSERT_EQ(r->compounds.size(), 1u);
  const CompoundResponse& c = r->compounds[0];
  EXPECT_EQ(c.compound, "cpd-A");
  EXPECT_EQ(c.points.size(), 24u);
  ASSERT_TRUE(c.fitted) << c.error;
  EXPECT_TRUE(c.fit.converged);
  EXPECT_NEAR(c.fit.ic50.value, kIc50, 0.1 * kIc50)
      << "hill " << c.fit.hill.value << ", top " << c.fit.top.value << ", bottom "
      << c.fit.bottom.value;
  EXPECT_LT(c.fit.ic50.ci_low, kIc50);
  EXPECT_GT(c.fit.ic50.ci_high, kIc50);

  ReportInput in;
  in.screen = *r;
  in.analysis = *summary;
  ASSERT_TRUE(WriteReport(ao.out_dir, in).ok());
  EXPECT_TRUE(fs::exists(dir / "results" / "report.html"));
}

// --- report.html --------------------------------------------------------------------------------

// Verifies: REQ-CELLS-081, REQ-CELLS-082
TEST(ScreenTest, ReportIsSelfContainedAccessibleAndEscaped) {
  fs::path dir = FreshDir("sund-screen-report");
  const std::string evil = "<script>alert('x')</script>";
  // Two plates; cpd-1 at 6 concentrations (fitted), the evil compound at 2 (not fitted).
  std::string image =
      "ImageNumber,Count_Nuclei,ExecutionTime_01IdentifyPrimaryObjects,"
      "FileName_DNA,Metadata_Plate,Metadata_Well\n";
  std::string map =
      "well,compound,concentration,unit,role\n"
      "A01,DMSO,,,negative\nB01,DMSO,,,negative\nC01,DMSO,,,negative\n"
      "A12,ref,5,uM,positive\nB12,ref,5,uM,positive\nC12,ref,5,uM,positive\n";
  int number = 0;
  auto add = [&](const std::string& plate, const std::string& well, double count) {
    ++number;
    image += std::to_string(number) + "," + std::to_string(count) + ",0.25,img" +
             std::to_string(number) + ".png," + plate + "," + well + "\n";
  };
  for (const char* plate : {"P1", "P2"}) {
    for (const char* w : {"A01", "B01", "C01"}) add(plate, w, 100 + number % 3);
    for (const char* w : {"A12", "B12", "C12"}) add(plate, w, 5 + number % 2);
    for (int k = 0; k < 6; ++k) {
      double c = std::pow(10.0, k - 3);
      add(plate, "D0" + std::to_string(k + 2), 100 / (1 + c / 0.1) + 5);
    }
    add(plate, "E02", 70);
    add(plate, "E03", 40);
  }
  for (int k = 0; k < 6; ++k) {
    map += "D0" + std::to_string(k + 2) + ",cpd-1," + std::to_string(std::pow(10.0, k - 3)) +
           ",uM,sample\n";
  }
  map += "E02,\"" + evil + "\",1,uM,sample\nE03,\"" + evil + "\",2,uM,sample\n";
  WriteFile(dir / "Image.csv", image);
  WriteFile(dir / "plate_map.csv", map);
  WriteFile(dir / "failures.csv",
            "ImageNumber,ImageSet,Error\n99,P1/H12/1,DNA: cannot read <b>bad.tif</b>\n");
  fs::create_directories(dir / "overlays");
  WriteFile(dir / "overlays" / "1_DNA.png", "");
  WriteFile(dir / "overlays" / "2_DNA.png", "");

  Result<ScreenResult> r = RunScreen(dir.string(), (dir / "plate_map.csv").string(), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->plates.size(), 2u);
  ASSERT_EQ(r->compounds.size(), 2u);
  EXPECT_NE(ScreenSummaryText(*r).find("plate P2: Z'"), std::string::npos);

  ASSERT_TRUE(fs::exists(dir / "report.html"));
  std::string html = ReadText(dir / "report.html");
  // One chart per plate and per compound, each named for screen readers.
  EXPECT_EQ(Occurrences(html, "<svg"), 4u);
  EXPECT_EQ(Occurrences(html, "<svg role=\"img\" aria-labelledby="), 4u);
  EXPECT_NE(html.find("Plate P1: Count_Nuclei per well"), std::string::npos);
  EXPECT_NE(html.find("<th scope=\"col\""), std::string::npos);
  // Nothing fetched from the network, no scripts at all.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  // The run summary, the verdicts and the overlays.
  EXPECT_NE(html.find("cannot read &lt;b&gt;bad.tif&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find(">good<"), std::string::npos);
  EXPECT_NE(html.find("<img src=\"overlays/1_DNA.png\""), std::string::npos);
  EXPECT_NE(html.find("IC50"), std::string::npos);
}

// Verifies: REQ-CELLS-083
TEST(ScreenTest, ReportWithoutPlateMapShowsCountsAndOverlays) {
  fs::path dir = FreshDir("sund-screen-nomap");
  WriteFile(dir / "Image.csv",
            "ImageNumber,Count_Nuclei,FileName_DNA\n1,17,a.png\n2,23,b.png\n3,31,c.png\n");
  fs::create_directories(dir / "overlays");
  for (int i = 1; i <= 30; ++i) WriteFile(dir / "overlays" / (std::to_string(i) + "_DNA.png"), "");

  Result<ScreenResult> r = RunScreen(dir.string(), "", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->plates.empty());
  std::string html = ReadText(dir / "report.html");
  EXPECT_EQ(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">31</td>"), std::string::npos);  // a count per image set
  EXPECT_NE(html.find("<td class=\"n\">71</td>"), std::string::npos);  // the total
  EXPECT_EQ(Occurrences(html, "<img "), 12u);                          // at most 12 thumbnails
  EXPECT_NE(html.find("src=\"overlays/30_DNA.png\""), std::string::npos);
}

}  // namespace
}  // namespace sund::cells
