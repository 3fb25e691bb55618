#include "cells/plate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace sund::cells {
namespace {

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// --- Plate map --------------------------------------------------------------------------------

constexpr char kMap[] =
    "well,compound,concentration,unit,role\n"
    "A1,DMSO,,,negative\n"
    "A02,staurosporine,1,uM,positive\n"
    "b3, cpd-1 ,0.3,uM,Sample\n"
    "P24,cpd-1,1e-2,uM,sample\n";

// Verifies: REQ-CELLS-065, REQ-CELLS-067
TEST(PlateMapTest, ParsesWellsRolesAndConcentrations) {
  Result<PlateMap> map = ParsePlateMap(kMap);
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  ASSERT_EQ(map->entries.size(), 4u);
  const PlateMapEntry& neg = map->entries[0];
  EXPECT_EQ(neg.well, "A01");
  EXPECT_EQ(neg.plate, "");
  EXPECT_EQ(neg.role, WellRole::kNegative);
  EXPECT_EQ(neg.concentration, 0);
  EXPECT_EQ(map->entries[1].role, WellRole::kPositive);
  const PlateMapEntry& sample = map->entries[2];
  EXPECT_EQ(sample.well, "B03");
  EXPECT_EQ(sample.compound, "cpd-1");
  EXPECT_DOUBLE_EQ(sample.concentration, 0.3);
  EXPECT_EQ(sample.unit, "uM");
  EXPECT_EQ(sample.role, WellRole::kSample);
  EXPECT_DOUBLE_EQ(map->entries[3].concentration, 0.01);
  // A blank plate means every plate.
  ASSERT_NE(map->Find("any plate", "B03"), nullptr);
  EXPECT_EQ(map->Find("any plate", "B03")->compound, "cpd-1");
  EXPECT_EQ(map->Find("any plate", "C03"), nullptr);
}

// Verifies: REQ-CELLS-066
TEST(PlateMapTest, NormalisesWellNames) {
  EXPECT_EQ(*NormaliseWell("A1"), "A01");
  EXPECT_EQ(*NormaliseWell("a01"), "A01");
  EXPECT_EQ(*NormaliseWell("P24"), "P24");
  EXPECT_EQ(*NormaliseWell("Z9"), "Z09");
  EXPECT_EQ(*NormaliseWell("AF48"), "AF48");
  for (const char* bad : {"", "A", "1", "A0", "A49", "AG01", "BA01", "A123", "A-1", "A1 x"}) {
    EXPECT_FALSE(NormaliseWell(bad).ok()) << bad;
  }
}

// Verifies: REQ-CELLS-067
TEST(PlateMapTest, PlateColumnScopesEntriesAndOverridesBlankPlate) {
  Result<PlateMap> map = ParsePlateMap(
      "plate,well,compound,concentration,unit,role\n"
      "P2,A01,cpd-9,10,nM,sample\n"
      ",A01,DMSO,,,negative\n"
      "P3,A01,cpd-9,30,nM,sample\n"
      "P1,B01,cpd-9,1,nM,sample\n"
      "P2,B01,cpd-9,3,nM,sample\n");
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ(map->Find("P1", "A01")->role, WellRole::kNegative);
  EXPECT_EQ(map->Find("P2", "A01")->role, WellRole::kSample);
  EXPECT_DOUBLE_EQ(map->Find("P3", "A01")->concentration, 30);
  EXPECT_DOUBLE_EQ(map->Find("P1", "B01")->concentration, 1);
  EXPECT_DOUBLE_EQ(map->Find("P2", "B01")->concentration, 3);
  EXPECT_EQ(map->Find("P3", "B01"), nullptr);
}

// Parses `rows` under the standard header and returns the error message ("" when it parses).
std::string MapError(const std::string& rows) {
  Result<PlateMap> map = ParsePlateMap("well,compound,concentration,unit,role\n" + rows);
  if (map.ok()) return "";
  EXPECT_EQ(map.status().code(), StatusCode::kInvalidArgument);
  return map.status().message();
}

// Verifies: REQ-CELLS-068
TEST(PlateMapTest, RejectsUnknownRoleWithLine) {
  std::string e = MapError("A01,DMSO,,,negative\nA02,x,1,uM,control\n");
  EXPECT_TRUE(Contains(e, "line 3")) << e;
  EXPECT_TRUE(Contains(e, "unknown role 'control'")) << e;
  EXPECT_TRUE(Contains(MapError("A01,DMSO,,,\n"), "unknown role"));
}

// Verifies: REQ-CELLS-068
TEST(PlateMapTest, RejectsBadWellWithLine) {
  std::string e = MapError("Q99,x,1,uM,sample\n");
  EXPECT_TRUE(Contains(e, "line 2")) << e;
  EXPECT_TRUE(Contains(e, "bad well 'Q99'")) << e;
  EXPECT_TRUE(Contains(MapError("A01,x,1,uM,sample\n,x,1,uM,sample\n"), "line 3"));
}

// Verifies: REQ-CELLS-068
TEST(PlateMapTest, RejectsNegativeOrNonNumericConcentration) {
  std::string e = MapError("A01,x,1,uM,sample\nA02,x,-0.5,uM,sample\n");
  EXPECT_TRUE(Contains(e, "line 3")) << e;
  EXPECT_TRUE(Contains(e, "negative")) << e;
  for (const char* bad : {"abc", "1.5uM", "1,5", "inf", "nan", "--1"}) {
    std::string row = std::string("A01,x,\"") + bad + "\",uM,sample\n";
    e = MapError(row);
    EXPECT_TRUE(Contains(e, "line 2")) << bad << ": " << e;
    EXPECT_TRUE(Contains(e, "not a number")) << bad << ": " << e;
  }
  EXPECT_EQ(MapError("A01,x,0,uM,sample\nA02,x,2.5E-3,uM,sample\n"), "");
}

// Verifies: REQ-CELLS-068
TEST(PlateMapTest, RejectsDuplicateWellNamingBothLines) {
  std::string e = MapError("A1,x,1,uM,sample\nB01,x,1,uM,sample\nA01,y,2,uM,sample\n");
  EXPECT_TRUE(Contains(e, "line 4")) << e;
  EXPECT_TRUE(Contains(e, "well A01")) << e;
  EXPECT_TRUE(Contains(e, "already on line 2")) << e;
  // The same well on two plates is no duplicate; twice on one plate is.
  Result<PlateMap> ok = ParsePlateMap(
      "plate,well,compound,concentration,unit,role\nP1,A01,x,1,uM,sample\nP2,A01,x,1,uM,sample\n");
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  Result<PlateMap> dup = ParsePlateMap(
      "plate,well,compound,concentration,unit,role\nP1,A01,x,1,uM,sample\nP1,a1,x,1,uM,sample\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(Contains(dup.status().message(), "of plate 'P1'")) << dup.status().message();
}

// Verifies: REQ-CELLS-068
TEST(PlateMapTest, RejectsMissingColumn) {
  Result<PlateMap> map = ParsePlateMap("well,compound,concentration,role\nA01,x,1,sample\n");
  ASSERT_FALSE(map.ok());
  EXPECT_TRUE(Contains(map.status().message(), "no 'unit' column")) << map.status().message();
}

// Verifies: REQ-CELLS-068
TEST(PlateMapTest, ReadsFileAndReportsMissingFile) {
  std::filesystem::path path = std::filesystem::path(testing::TempDir()) / "plate_map_test.csv";
  {
    std::ofstream out(path, std::ios::binary);
    out << kMap;
  }
  Result<PlateMap> map = ReadPlateMap(path.string());
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ(map->entries.size(), 4u);
  std::filesystem::remove(path);
  Result<PlateMap> missing = ReadPlateMap(path.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// --- Plate statistics -------------------------------------------------------------------------

// Verifies: REQ-CELLS-069
TEST(PlateStatsTest, AggregatesSitesPerWellInPlateAndWellOrder) {
  const double nan = std::nan("");
  Result<std::vector<WellStats>> wells = AggregateWells({
      {"P2", "A1", 7},
      {"P1", "B1", 4},
      {"P1", "A10", 1},
      {"P1", "A1", 10},
      {"P1", "A01", 12},
      {"P1", "a1", 14},
      {"P1", "A1", nan},
      {"P1", "AA1", 3},
      {"P1", "A2", 5},
  });
  ASSERT_TRUE(wells.ok()) << wells.status().ToString();
  std::vector<std::string> order;
  for (const WellStats& w : *wells) order.push_back(w.plate + "/" + w.well);
  EXPECT_EQ(order, (std::vector<std::string>{"P1/A01", "P1/A02", "P1/A10", "P1/B01", "P1/AA01",
                                             "P2/A01"}));
  const WellStats& a1 = (*wells)[0];
  EXPECT_EQ(a1.n, 3);
  EXPECT_EQ(a1.n_missing, 1);
  EXPECT_DOUBLE_EQ(a1.mean, 12);
  EXPECT_DOUBLE_EQ(a1.sd, 2);               // deviations -2, 0, 2: sqrt(8 / 2)
  EXPECT_TRUE(std::isnan((*wells)[1].sd));  // one site

  Result<std::vector<WellStats>> bad = AggregateWells({{"P1", "A1", 1}, {"P1", "X0", 2}});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "bad well 'X0'")) << bad.status().message();
}

// Verifies: REQ-CELLS-070
TEST(PlateStatsTest, ZPrimeAndSsmdMatchHandComputedExample) {
  // negative wells 100, 110, 90, 100: mean 100, squared deviations 0 + 100 + 100 + 0 = 200,
  //   sd = sqrt(200 / 3) = 8.164966
  // positive wells 10, 14, 6, 10: mean 10, squared deviations 0 + 16 + 16 + 0 = 32,
  //   sd = sqrt(32 / 3) = 3.265986
  // Z'   = 1 - 3 (3.265986 + 8.164966) / |10 - 100| = 1 - 34.292856 / 90 = 0.618968
  // SSMD = (10 - 100) / sqrt(32 / 3 + 200 / 3) = -90 / 8.793937 = -10.234324
  // CV   = 100 * 8.164966 / 100 = 8.164966 % and 100 * 3.265986 / 10 = 32.65986 %
  const std::vector<double> neg = {100, 110, 90, 100};
  const std::vector<double> pos = {10, 14, 6, 10};
  ControlQuality q = ComputeControlQuality(neg, pos);
  EXPECT_EQ(q.n_negative, 4);
  EXPECT_EQ(q.n_positive, 4);
  EXPECT_NEAR(q.sd_negative, 8.164966, 1e-6);
  EXPECT_NEAR(q.sd_positive, 3.265986, 1e-6);
  EXPECT_NEAR(q.z_prime, 0.618968, 1e-6);
  EXPECT_NEAR(q.ssmd, -10.234324, 1e-6);
  EXPECT_NEAR(q.cv_negative, 8.164966, 1e-6);
  EXPECT_NEAR(q.cv_positive, 32.65986, 1e-5);

  // The same from per-image values through the plate map: each control well's two sites
  // average to the values above; plate P2 has a single positive well, so no sd and no Z'.
  Result<PlateMap> map = ParsePlateMap(
      "well,compound,concentration,unit,role\n"
      "A01,DMSO,,,negative\nA02,DMSO,,,negative\nA03,DMSO,,,negative\nA04,DMSO,,,negative\n"
      "B01,stau,1,uM,positive\nB02,stau,1,uM,positive\nB03,stau,1,uM,positive\n"
      "B04,stau,1,uM,positive\nC01,cpd,1,uM,sample\n");
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  std::vector<ImageValue> images;
  const char* neg_wells[] = {"A1", "A2", "A3", "A4"};
  const char* pos_wells[] = {"B1", "B2", "B3", "B4"};
  for (int i = 0; i < 4; ++i) {
    images.push_back({"P1", neg_wells[i], neg[i] - 5});
    images.push_back({"P1", neg_wells[i], neg[i] + 5});
    images.push_back({"P1", pos_wells[i], pos[i] - 1});
    images.push_back({"P1", pos_wells[i], pos[i] + 1});
  }
  images.push_back({"P1", "C1", 1000});  // a sample: no part of the quality
  images.push_back({"P2", "A1", 100});
  images.push_back({"P2", "A2", 90});
  images.push_back({"P2", "B1", 10});
  Result<std::vector<WellStats>> wells = AggregateWells(images);
  ASSERT_TRUE(wells.ok()) << wells.status().ToString();
  std::vector<PlateQuality> plates = ComputePlateQuality(*map, *wells);
  ASSERT_EQ(plates.size(), 2u);
  EXPECT_EQ(plates[0].plate, "P1");
  EXPECT_NEAR(plates[0].controls.z_prime, 0.618968, 1e-6);
  EXPECT_NEAR(plates[0].controls.ssmd, -10.234324, 1e-6);
  EXPECT_EQ(plates[1].plate, "P2");
  EXPECT_EQ(plates[1].controls.n_positive, 1);
  EXPECT_TRUE(std::isnan(plates[1].controls.z_prime));
  EXPECT_TRUE(std::isnan(plates[1].controls.ssmd));
}

// Verifies: REQ-CELLS-071
TEST(PlateStatsTest, RobustZOnHandExample) {
  // reference 1, 2, 3, 4, 100: median 3; |deviations| 2, 1, 0, 1, 97 -> MAD = 1;
  // scale 1.4826 * 1 = 1.4826; z(100) = 97 / 1.4826 = 65.425604, z(1) = -2 / 1.4826 = -1.348982,
  // z(3) = 0. The outlier barely moves the median and MAD (a plain z would give 1.78 for 100).
  const std::vector<double> ref = {1, 2, 3, 4, 100};
  std::vector<double> z = RobustZ(ref, ref);
  ASSERT_EQ(z.size(), 5u);
  EXPECT_NEAR(z[0], -1.348982, 1e-6);
  EXPECT_NEAR(z[2], 0, 1e-12);
  EXPECT_NEAR(z[4], 65.425604, 1e-6);
  // Even count: median of 1, 2, 4, 7 is 3; |deviations| 2, 1, 1, 4 -> MAD 1.5.
  const std::vector<double> even = {7, 1, 4, 2};
  const std::vector<double> x = {6};
  EXPECT_NEAR(RobustZ(x, even)[0], 3 / (1.4826 * 1.5), 1e-12);
  // A MAD of 0 leaves z undefined.
  const std::vector<double> flat = {5, 5, 5, 9};
  EXPECT_TRUE(std::isnan(RobustZ(x, flat)[0]));
}

// Verifies: REQ-CELLS-071, REQ-CELLS-072
TEST(PlateStatsTest, NormalisesEachPlateAgainstItsOwnControls) {
  Result<PlateMap> map = ParsePlateMap(
      "well,compound,concentration,unit,role\n"
      "A01,DMSO,,,negative\nA02,DMSO,,,negative\nB01,stau,1,uM,positive\n"
      "C01,cpd,1,uM,sample\nC02,cpd,2,uM,sample\nC03,cpd,3,uM,sample\n");
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  // P1: neg mean 100, pos mean 20. P2: everything doubled.
  std::vector<ImageValue> images;
  for (double scale : {1.0, 2.0}) {
    std::string plate = scale == 1 ? "P1" : "P2";
    for (auto [well, v] : std::vector<std::pair<const char*, double>>{
             {"A1", 90}, {"A2", 110}, {"B1", 20}, {"C1", 60}, {"C2", 40}, {"C3", 50}, {"D1", 80}}) {
      images.push_back({plate, well, v * scale});
    }
  }
  Result<std::vector<WellStats>> wells = AggregateWells(images);
  ASSERT_TRUE(wells.ok());
  std::vector<NormalisedWell> norm = NormaliseWells(*map, *wells);
  ASSERT_EQ(norm.size(), 14u);
  for (const NormalisedWell& w : norm) {
    SCOPED_TRACE(w.plate + "/" + w.well);
    if (w.well == "C01") {
      EXPECT_EQ(w.role, WellRole::kSample);
      EXPECT_NEAR(w.percent_of_negative, 60, 1e-9);  // 100 * 60 / 100
      EXPECT_NEAR(w.percent_inhibition, 50, 1e-9);   // 100 * (100 - 60) / (100 - 20)
      // samples 60, 40, 50: median 50, MAD 10 (both plates scale alike)
      EXPECT_NEAR(w.robust_z, 10 / 14.826, 1e-9);
    }
    if (w.well == "B01") {
      EXPECT_NEAR(w.percent_inhibition, 100, 1e-9);
    }
    if (w.well == "D01") {
      // Not in the map: normalised, but neither control nor sample (else the median moves).
      EXPECT_EQ(w.role, WellRole::kUnmapped);
      EXPECT_NEAR(w.percent_of_negative, 80, 1e-9);
      EXPECT_NEAR(w.robust_z, 30 / 14.826, 1e-9);
    }
  }
}

// --- Dose-response ----------------------------------------------------------------------------

struct Curve {
  double bottom, top, ic50, hill;
  double operator()(double x) const {
    return bottom + (top - bottom) / (1 + std::pow(x / ic50, hill));
  }
};

// Standard normal deviates by Box-Muller from mt19937's raw output (portable, unlike
// std::normal_distribution, whose algorithm differs between standard libraries).
class Normal {
 public:
  explicit Normal(std::uint32_t seed) : gen_(seed) {}
  double operator()() {
    double u1 = (static_cast<double>(gen_()) + 0.5) / 4294967296.0;
    double u2 = (static_cast<double>(gen_()) + 0.5) / 4294967296.0;
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }

 private:
  std::mt19937 gen_;
};

std::vector<DosePoint> Noiseless(const Curve& c, double from, double to, int count) {
  std::vector<DosePoint> pts;
  for (int i = 0; i < count; ++i) {
    double x = from * std::pow(to / from, static_cast<double>(i) / (count - 1));
    pts.push_back({x, c(x)});
  }
  return pts;
}

// 8 half-log concentrations, 3 replicates each, noise sd 5% of the curve's span.
std::vector<DosePoint> Noisy(const Curve& c, std::uint32_t seed) {
  Normal noise(seed);
  std::vector<DosePoint> pts;
  const double sd = 0.05 * std::fabs(c.top - c.bottom);
  for (double x : {0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0}) {
    for (int r = 0; r < 3; ++r) pts.push_back({x, c(x) + sd * noise()});
  }
  return pts;
}

void ExpectRelative(double actual, double expected, double tolerance, const char* what) {
  EXPECT_NEAR(actual, expected, tolerance * std::fabs(expected)) << what;
}

// Verifies: REQ-CELLS-074
TEST(DoseResponseTest, StudentTQuantileMatchesTables) {
  EXPECT_NEAR(StudentTQuantile(0.975, 1), 12.706205, 1e-5);
  EXPECT_NEAR(StudentTQuantile(0.975, 2), 4.302653, 1e-6);
  EXPECT_NEAR(StudentTQuantile(0.975, 5), 2.570582, 1e-6);
  EXPECT_NEAR(StudentTQuantile(0.975, 20), 2.085963, 1e-6);
  EXPECT_NEAR(StudentTQuantile(0.95, 10), 1.812461, 1e-6);
  EXPECT_NEAR(StudentTQuantile(0.025, 20), -2.085963, 1e-6);
  EXPECT_NEAR(StudentTQuantile(0.975, 100000), 1.959987, 1e-5);
}

// Verifies: REQ-CELLS-073
TEST(DoseResponseTest, RecoversNoiselessDecreasingCurve) {
  const Curve truth{5, 95, 0.7, 1.3};
  std::vector<DosePoint> pts = Noiseless(truth, 1e-3, 1e2, 10);
  Result<DoseResponseFit> fit = FitDoseResponse(pts);
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  EXPECT_TRUE(fit->converged);
  ExpectRelative(fit->bottom.value, truth.bottom, 1e-4, "bottom");
  ExpectRelative(fit->top.value, truth.top, 1e-4, "top");
  ExpectRelative(fit->ic50.value, truth.ic50, 1e-4, "ic50");
  ExpectRelative(fit->hill.value, truth.hill, 1e-4, "hill");
  EXPECT_GT(fit->r_squared, 1 - 1e-9);
  EXPECT_EQ(fit->n, 10);
  EXPECT_EQ(fit->dof, 6);
}

// Verifies: REQ-CELLS-073
TEST(DoseResponseTest, RecoversIncreasingCurveAsNegativeHill) {
  const Curve truth{10, 250, 3.0, -2.0};  // activation: rises with concentration
  std::vector<DosePoint> pts = Noiseless(truth, 0.01, 300, 9);
  Result<DoseResponseFit> fit = FitDoseResponse(pts);
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  EXPECT_TRUE(fit->converged);
  ExpectRelative(fit->bottom.value, 10, 1e-4, "bottom");
  ExpectRelative(fit->top.value, 250, 1e-4, "top");
  ExpectRelative(fit->ic50.value, 3.0, 1e-4, "ec50");
  ExpectRelative(fit->hill.value, -2.0, 1e-4, "hill");
}

// Verifies: REQ-CELLS-073
TEST(DoseResponseTest, ReportsTopAboveBottom) {
  // bottom 90, top 10, hill 1.5 is the same curve as bottom 10, top 90, hill -1.5.
  const Curve truth{90, 10, 0.2, 1.5};
  Result<DoseResponseFit> fit = FitDoseResponse(Noiseless(truth, 1e-3, 10, 8));
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  ExpectRelative(fit->top.value, 90, 1e-4, "top");
  ExpectRelative(fit->bottom.value, 10, 1e-4, "bottom");
  ExpectRelative(fit->ic50.value, 0.2, 1e-4, "ic50");
  ExpectRelative(fit->hill.value, -1.5, 1e-4, "hill");
}

// Verifies: REQ-CELLS-074
TEST(DoseResponseTest, NoisyReplicatesGiveIc50WithinTenPercentAndCiCoveringIt) {
  const Curve truth{2, 100, 0.5, 1.2};
  Result<DoseResponseFit> fit = FitDoseResponse(Noisy(truth, 20240611));
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  EXPECT_TRUE(fit->converged);
  EXPECT_EQ(fit->dof, 20);
  ExpectRelative(fit->ic50.value, truth.ic50, 0.10, "ic50");
  EXPECT_LT(fit->ic50.ci_low, truth.ic50);
  EXPECT_GT(fit->ic50.ci_high, truth.ic50);
  // The interval is the back-transformed one on log10 IC50: geometric around the estimate.
  EXPECT_NEAR(fit->ic50.ci_low * fit->ic50.ci_high, fit->ic50.value * fit->ic50.value,
              1e-9 * fit->ic50.value * fit->ic50.value);
  EXPECT_NEAR(std::log10(fit->ic50.ci_high), fit->log10_ic50.ci_high, 1e-12);
  EXPECT_GT(fit->ic50.std_error, 0);
  EXPECT_LT(fit->top.ci_low, fit->top.value);
  EXPECT_GT(fit->r_squared, 0.9);
}

// The covariance s^2 (J^T J)^-1, s^2 = RSS / (n - 4), computed here independently: J by central
// differences of the model in (bottom, top, log10 ic50, hill), the inverse by Gauss-Jordan.
std::array<double, 4> FiniteDifferenceStdErrors(const std::vector<DosePoint>& pts,
                                                std::array<double, 4> theta) {
  auto model = [](const std::array<double, 4>& q, double x) {
    return q[0] + (q[1] - q[0]) / (1 + std::pow(10.0, q[3] * (std::log10(x) - q[2])));
  };
  const std::size_t n = pts.size();
  std::vector<std::array<double, 4>> jac(n);
  double rss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double r = pts[i].response - model(theta, pts[i].concentration);
    rss += r * r;
    for (int j = 0; j < 4; ++j) {
      double h = 1e-6 * std::max(1.0, std::fabs(theta[j]));
      std::array<double, 4> up = theta, down = theta;
      up[j] += h;
      down[j] -= h;
      jac[i][j] = (model(up, pts[i].concentration) - model(down, pts[i].concentration)) / (2 * h);
    }
  }
  double a[4][8] = {};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      for (std::size_t i = 0; i < n; ++i) a[r][c] += jac[i][r] * jac[i][c];
    }
    a[r][4 + r] = 1;
  }
  for (int c = 0; c < 4; ++c) {
    int pivot = c;
    for (int r = c + 1; r < 4; ++r) {
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    }
    std::swap(a[c], a[pivot]);
    double d = a[c][c];
    for (double& v : a[c]) v /= d;
    for (int r = 0; r < 4; ++r) {
      if (r == c) continue;
      double f = a[r][c];
      for (int k = 0; k < 8; ++k) a[r][k] -= f * a[c][k];
    }
  }
  double s2 = rss / static_cast<double>(n - 4);
  return {std::sqrt(s2 * a[0][4]), std::sqrt(s2 * a[1][5]), std::sqrt(s2 * a[2][6]),
          std::sqrt(s2 * a[3][7])};
}

// Verifies: REQ-CELLS-074
TEST(DoseResponseTest, StandardErrorsAndIntervalsMatchIndependentComputation) {
  const Curve truth{2, 100, 0.5, 1.2};
  std::vector<DosePoint> pts = Noisy(truth, 20240611);
  Result<DoseResponseFit> fit = FitDoseResponse(pts);
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  std::array<double, 4> se = FiniteDifferenceStdErrors(
      pts, {fit->bottom.value, fit->top.value, fit->log10_ic50.value, fit->hill.value});
  ExpectRelative(fit->bottom.std_error, se[0], 1e-5, "se bottom");
  ExpectRelative(fit->top.std_error, se[1], 1e-5, "se top");
  ExpectRelative(fit->log10_ic50.std_error, se[2], 1e-5, "se log10 ic50");
  ExpectRelative(fit->hill.std_error, se[3], 1e-5, "se hill");
  // t(0.975, 24 - 4 = 20) = 2.085963 (tables).
  ExpectRelative(fit->hill.ci_high - fit->hill.value, 2.085963 * se[3], 1e-5, "hill ci");
  ExpectRelative(fit->ic50.ci_low, std::pow(10.0, fit->log10_ic50.value - 2.085963 * se[2]), 1e-5,
                 "ic50 ci low");
  ExpectRelative(fit->ic50.ci_high, std::pow(10.0, fit->log10_ic50.value + 2.085963 * se[2]), 1e-5,
                 "ic50 ci high");
  ExpectRelative(fit->ic50.std_error, fit->ic50.value * std::log(10.0) * se[2], 1e-5, "se ic50");
}

// Verifies: REQ-CELLS-074
TEST(DoseResponseTest, Ic50IntervalCoversTruthAboutNinetyFivePercentOfTheTime) {
  // The standard errors and the t quantile together: over 400 simulated experiments the 95%
  // interval should hold the true IC50 in about 95% of them (binomial sd 1.1%).
  const Curve truth{2, 100, 0.5, 1.2};
  int covered = 0;
  int fitted = 0;
  for (std::uint32_t seed = 1; seed <= 400; ++seed) {
    Result<DoseResponseFit> fit = FitDoseResponse(Noisy(truth, seed));
    ASSERT_TRUE(fit.ok()) << fit.status().ToString();
    if (!fit->converged) continue;
    ++fitted;
    if (fit->ic50.ci_low < truth.ic50 && truth.ic50 < fit->ic50.ci_high) ++covered;
  }
  EXPECT_GE(fitted, 398);
  double coverage = static_cast<double>(covered) / fitted;
  EXPECT_GT(coverage, 0.91);
  EXPECT_LT(coverage, 0.99);
}

// Verifies: REQ-CELLS-075
TEST(DoseResponseTest, StepOrFlatDataIsNotReportedAsConverged) {
  // A step between 1 and 10 wants an infinite hill slope; noise around a constant has no
  // transition at all. Neither is a 4PL fit to report as converged, and nothing is NaN.
  std::vector<DosePoint> step;
  for (double x : {0.01, 0.1, 1.0, 10.0, 100.0, 1000.0}) step.push_back({x, x < 5 ? 100.0 : 0.0});
  std::vector<DosePoint> flat;
  Normal noise(7);
  for (double x : {0.01, 0.1, 1.0, 3.0, 10.0, 30.0}) {
    for (int r = 0; r < 2; ++r) flat.push_back({x, 50 + 5 * noise()});
  }
  for (const auto* pts : {&step, &flat}) {
    Result<DoseResponseFit> fit = FitDoseResponse(*pts);
    ASSERT_TRUE(fit.ok()) << fit.status().ToString();
    EXPECT_FALSE(fit->converged) << "hill " << fit->hill.value << " ic50 " << fit->ic50.value;
    for (const Estimate& e : {fit->top, fit->bottom, fit->ic50, fit->log10_ic50, fit->hill}) {
      EXPECT_FALSE(std::isnan(e.value) || std::isnan(e.std_error) || std::isnan(e.ci_low) ||
                   std::isnan(e.ci_high));
    }
  }
}

// Verifies: REQ-CELLS-076
TEST(DoseResponseTest, RefusesTooFewConcentrationsOrBadPoints) {
  const Curve c{0, 100, 1, 1};
  // 4 distinct concentrations, 8 points.
  std::vector<DosePoint> four;
  for (double x : {0.1, 1.0, 10.0, 100.0}) four.push_back({x, c(x)}), four.push_back({x, c(x)});
  Result<DoseResponseFit> fit = FitDoseResponse(four);
  ASSERT_FALSE(fit.ok());
  EXPECT_TRUE(Contains(fit.status().message(), "at least 5 distinct concentrations"))
      << fit.status().message();
  EXPECT_FALSE(FitDoseResponse(std::vector<DosePoint>{}).ok());
  std::vector<DosePoint> five = Noiseless(c, 0.01, 100, 5);
  EXPECT_TRUE(FitDoseResponse(five).ok());
  five[2].concentration = 0;
  fit = FitDoseResponse(five);
  ASSERT_FALSE(fit.ok());
  EXPECT_TRUE(Contains(fit.status().message(), "point 3")) << fit.status().message();
  five[2].concentration = 1;
  five[2].response = std::nan("");
  EXPECT_FALSE(FitDoseResponse(five).ok());
  for (DosePoint& p : five) p.response = 42;
  fit = FitDoseResponse(five);
  ASSERT_FALSE(fit.ok());
  EXPECT_TRUE(Contains(fit.status().message(), "all responses are equal"));
}

// Verifies: REQ-CELLS-073, REQ-CELLS-077
TEST(DoseResponseTest, FitsPerCompoundFromPlateMapAndImages) {
  // One plate: DMSO and a full-effect control, two compounds at 6 concentrations, counts from
  // two sites per well; the fit on percent inhibition recovers each compound's IC50.
  std::string csv = "well,compound,concentration,unit,role\n";
  csv +=
      "A01,DMSO,,,negative\nA02,DMSO,,,negative\nA03,stau,10,uM,positive\nA04,stau,10,uM,"
      "positive\n";
  const double concs[] = {0.01, 0.1, 0.3, 1, 3, 30};
  const Curve cpd1{0, 100, 0.5, -1};  // percent inhibition rising with dose: an inhibitor
  const Curve cpd2{0, 100, 5.0, 1};   // inhibition falling with dose
  std::vector<ImageValue> images;
  auto add = [&](const std::string& well, double count) {
    images.push_back({"P1", well, count - 3});
    images.push_back({"P1", well, count + 3});
  };
  add("A1", 1000);
  add("A2", 1000);
  add("A3", 200);
  add("A4", 200);
  for (int i = 0; i < 6; ++i) {
    std::string b = "B" + std::to_string(i + 1), c = "C" + std::to_string(i + 1);
    csv += b + ",cpd-1," + std::to_string(concs[i]) + ",uM,sample\n";
    csv += c + ",cpd-2," + std::to_string(concs[i]) + ",uM,sample\n";
    // count = neg - NPI / 100 * (neg - pos)
    add(b, 1000 - 8 * cpd1(concs[i]));
    add(c, 1000 - 8 * cpd2(concs[i]));
  }
  Result<PlateMap> map = ParsePlateMap(csv);
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  Result<std::vector<WellStats>> wells = AggregateWells(images);
  ASSERT_TRUE(wells.ok());
  auto points = CollectDosePoints(NormaliseWells(*map, *wells), Readout::kPercentInhibition);
  ASSERT_TRUE(points.ok()) << points.status().ToString();
  ASSERT_EQ(points->size(), 2u);
  ASSERT_EQ(points->at("cpd-1").size(), 6u);
  Result<DoseResponseFit> f1 = FitDoseResponse(points->at("cpd-1"));
  Result<DoseResponseFit> f2 = FitDoseResponse(points->at("cpd-2"));
  ASSERT_TRUE(f1.ok() && f2.ok());
  ExpectRelative(f1->ic50.value, 0.5, 1e-4, "cpd-1");
  ExpectRelative(f2->ic50.value, 5.0, 1e-4, "cpd-2");
  EXPECT_LT(f1->hill.value, 0);  // percent inhibition rises with dose
  EXPECT_GT(f2->hill.value, 0);
}

// Verifies: REQ-CELLS-077
TEST(DoseResponseTest, CollectRefusesOneCompoundInTwoUnits) {
  std::vector<NormalisedWell> wells(2);
  wells[0] = {"P1", "A01", WellRole::kSample, "cpd", 1, "uM", 2, 50, 50, 50, 0};
  wells[1] = {"P1", "A02", WellRole::kSample, "cpd", 100, "nM", 2, 50, 50, 50, 0};
  auto points = CollectDosePoints(wells, Readout::kMean);
  ASSERT_FALSE(points.ok());
  EXPECT_TRUE(Contains(points.status().message(), "'uM' and in 'nM'")) << points.status().message();
  wells[1].unit = "uM";
  points = CollectDosePoints(wells, Readout::kMean);
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(points->at("cpd").size(), 2u);
}

}  // namespace
}  // namespace sund::cells
