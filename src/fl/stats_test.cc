#include "fl/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "core/json.h"
#include "synth/dp.h"
#include "synth/schema.h"

namespace sund::fl {
namespace {

CsvTable Table(std::string_view text) {
  auto t = ParseCsv(text);
  EXPECT_TRUE(t.ok());
  return *t;
}

rapidjson::Document Released(const CsvTable& t, std::string_view query) {
  auto r = ParseStatsRequest(query);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  auto local = ComputeLocalStats(t, *r);
  EXPECT_TRUE(local.ok()) << local.status().ToString();
  rapidjson::Document d;
  d.Parse(FinalizeStats(MergeStats({*local}), *r).c_str());
  return d;
}

// Verifies: REQ-FL-038, REQ-FL-039
TEST(StatsTest, HandComputedFiguresAndSuppression) {
  CsvTable t = Table(
      "age,sex,bmi\n21,f,20\n25,m,22\n33,f,\n35,f,30\n38,m,31\n41,f,28\n45,m,27\n52,f,26\n"
      "55,f,33\n61,m,35\n");
  auto d = Released(t, R"({"id": "x", "queries": [
    {"name": "n", "type": "count"},
    {"name": "women", "type": "count", "where": {"sex": "m"}},
    {"name": "bmi", "type": "mean", "column": "bmi"},
    {"name": "age", "type": "histogram", "column": "age", "edges": [20, 40, 70]},
    {"name": "sex", "type": "table", "rows": "sex", "columns": "sex"},
    {"name": "q", "type": "quantiles", "column": "age", "probabilities": [0.5],
     "min": 0, "max": 100, "resolution": 1}]})");
  const auto& r = d["results"];
  EXPECT_EQ(r["n"]["count"].GetDouble(), 10);
  EXPECT_TRUE(r["women"]["count"].IsNull());  // 4 men: under 5, suppressed
  EXPECT_EQ(r["bmi"]["n"].GetDouble(), 9);
  EXPECT_NEAR(r["bmi"]["mean"].GetDouble(), 252.0 / 9, 1e-12);
  // Sample variance by hand: sum of squares 7248, n 9.
  EXPECT_NEAR(r["bmi"]["variance"].GetDouble(), (7248 - 252.0 * 252 / 9) / 8, 1e-9);
  EXPECT_TRUE(r["bmi"]["missing"].IsNull());  // 1 missing: suppressed
  EXPECT_EQ(r["age"]["bins"][0]["count"].GetDouble(), 5);
  EXPECT_EQ(r["age"]["bins"][1]["count"].GetDouble(), 5);
  EXPECT_EQ(r["sex"]["cells"].Size(), 2u);
  EXPECT_EQ(r["sex"]["cells"][0]["count"].GetDouble(), 6);  // f|f
  EXPECT_TRUE(r["sex"]["cells"][1]["count"].IsNull());      // m|m = 4
  EXPECT_TRUE(r["sex"]["cells"][1]["suppressed"].GetBool());
  EXPECT_NEAR(r["q"]["quantiles"][0]["value"].GetDouble(), 38.0, 1.0);
}

// Verifies: REQ-FL-038
TEST(StatsTest, KaplanMeierByHand) {
  CsvTable t = Table("t,e\n1,1\n2,1\n2,0\n3,1\n4,0\n5,1\n6,0\n7,1\n8,0\n9,0\n10,0\n");
  auto d = Released(t, R"({"suppress_below": 1, "queries": [{"name": "km", "type": "kaplan_meier",
    "time": "t", "event": "e", "times": [1, 2, 3, 5]}]})");
  const auto& p = d["results"]["km"]["groups"][0]["points"];
  EXPECT_NEAR(p[0]["survival"].GetDouble(), 10.0 / 11, 1e-12);
  EXPECT_NEAR(p[1]["survival"].GetDouble(), 10.0 / 11 * 9 / 10, 1e-12);
  EXPECT_NEAR(p[2]["survival"].GetDouble(), 10.0 / 11 * 9 / 10 * 7 / 8, 1e-12);
  EXPECT_NEAR(p[3]["survival"].GetDouble(), 10.0 / 11 * 9 / 10 * 7 / 8 * 5 / 6, 1e-12);
  EXPECT_EQ(p[3]["at_risk"].GetDouble(), 5);
}

// Below suppress_below rows a mean, its variance and a quantile are not released, and a
// Kaplan-Meier estimate is not released where fewer than that are still at risk; at exactly
// suppress_below they are.
// Verifies: REQ-FL-077
TEST(StatsTest, SuppressesSmallMeansAndKaplanMeierTails) {
  CsvTable t = Table(
      "t,e,x,y,g\n1,1,1,1,a\n2,1,2,2,a\n2,0,3,3,a\n3,1,4,4,a\n4,0,5,,b\n5,1,,,b\n6,0,,,b\n"
      "7,1,,,b\n8,0,,,b\n9,0,,,b\n10,0,,,b\n");
  auto d = Released(t, R"({"id": "x", "queries": [
    {"name": "x", "type": "mean", "column": "x"},
    {"name": "y", "type": "mean", "column": "y"},
    {"name": "qx", "type": "quantiles", "column": "x", "probabilities": [0.5],
     "min": 0, "max": 10, "resolution": 1},
    {"name": "qy", "type": "quantiles", "column": "y", "probabilities": [0.5],
     "min": 0, "max": 10, "resolution": 1},
    {"name": "km", "type": "kaplan_meier", "time": "t", "event": "e", "times": [5, 7]},
    {"name": "km_g", "type": "kaplan_meier", "time": "t", "event": "e", "times": [1],
     "group": "g"}]})");
  const auto& r = d["results"];
  // x: 5 values, released; y: 4 values, withheld (its 7 missing are released).
  EXPECT_EQ(r["x"]["n"].GetDouble(), 5);
  EXPECT_NEAR(r["x"]["mean"].GetDouble(), 3.0, 1e-12);
  EXPECT_NEAR(r["x"]["variance"].GetDouble(), 2.5, 1e-12);
  EXPECT_TRUE(r["y"]["n"].IsNull());
  EXPECT_TRUE(r["y"]["mean"].IsNull());
  EXPECT_TRUE(r["y"]["variance"].IsNull());
  EXPECT_TRUE(r["y"]["sd"].IsNull());
  EXPECT_EQ(r["y"]["missing"].GetDouble(), 7);
  EXPECT_TRUE(r["qx"]["quantiles"][0]["value"].IsNumber());
  EXPECT_TRUE(r["qy"]["quantiles"][0]["value"].IsNull());
  // All 11 rows: 5 still at risk after time 5 (released), 3 after time 7 (withheld).
  const auto& km = r["km"]["groups"][0];
  EXPECT_EQ(km["n"].GetDouble(), 11);
  EXPECT_EQ(km["points"][0]["at_risk"].GetDouble(), 5);
  EXPECT_NEAR(km["points"][0]["survival"].GetDouble(), 10.0 / 11 * 9 / 10 * 7 / 8 * 5 / 6, 1e-12);
  EXPECT_TRUE(km["points"][1]["at_risk"].IsNull());
  EXPECT_TRUE(km["points"][1]["survival"].IsNull());
  // By group: a has 4 rows (withheld, its curve too), b has 7.
  const auto& groups = r["km_g"]["groups"];
  ASSERT_EQ(groups.Size(), 2u);
  EXPECT_STREQ(groups[0]["group"].GetString(), "a");
  EXPECT_TRUE(groups[0]["n"].IsNull());
  EXPECT_TRUE(groups[0]["points"][0]["survival"].IsNull());
  EXPECT_STREQ(groups[1]["group"].GetString(), "b");
  EXPECT_EQ(groups[1]["n"].GetDouble(), 7);
  EXPECT_EQ(groups[1]["points"][0]["survival"].GetDouble(), 1.0);
}

// Verifies: REQ-FL-041
TEST(StatsTest, BadQueriesAreNamed) {
  EXPECT_FALSE(ParseStatsRequest("[]").ok());
  EXPECT_FALSE(ParseStatsRequest(R"({"queries": []})").ok());
  auto bad = ParseStatsRequest(R"({"queries": [{"name": "h", "type": "histogram",
    "column": "a", "edges": [3, 1]}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("h: edges"), std::string::npos);
  EXPECT_FALSE(ParseStatsRequest(R"({"queries": [{"name": "x", "type": "median"}]})").ok());
  auto r = ParseStatsRequest(R"({"queries": [{"name": "m", "type": "mean", "column": "z"}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(ComputeLocalStats(Table("a\n1\n"), *r).ok());
  auto text = ComputeLocalStats(Table("z\n1\nabc\n"), *r);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message().find("abc"), std::string::npos);  // never the value
}

// Issue #8's check: the federated figures (nodes' sums added) equal the pooled ones, with
// suppression applied, on the clinical tables.
// Verifies: REQ-FL-040
TEST(StatsTest, FederatedEqualsPooledOnTheClinicalTables) {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set (../shared/data)";
  struct Case {
    const char* file;
    const char* query;
  };
  const Case cases[] = {
      {"pima_diabetes.csv", R"({"id": "pima", "queries": [
        {"name": "n", "type": "count"},
        {"name": "glucose", "type": "mean", "column": "glucose"},
        {"name": "age", "type": "histogram", "column": "age", "edges": [20, 30, 40, 50, 60, 90]},
        {"name": "mass", "type": "quantiles", "column": "mass", "probabilities": [0.1, 0.5, 0.9],
         "min": 10, "max": 70, "resolution": 0.1},
        {"name": "outcome", "type": "table", "rows": "diabetes", "columns": "pregnant"}]})"},
      {"colon.csv", R"({"id": "colon", "queries": [
        {"name": "rx", "type": "table", "rows": "rx", "columns": "status", "where": {"etype": "1"}},
        {"name": "recurrence", "type": "kaplan_meier", "time": "time", "event": "status",
         "group": "rx", "times": [365, 730, 1095, 1825], "where": {"etype": "1"}}]})"},
      {"pbc.csv", R"({"id": "pbc", "queries": [
        {"name": "bili", "type": "mean", "column": "bili"},
        {"name": "stage", "type": "table", "rows": "stage", "columns": "status"},
        {"name": "survival", "type": "kaplan_meier", "time": "time", "event": "status",
         "event_value": "2", "group": "trt", "times": [1000, 2000, 3000]}]})"},
      {"lung.csv", R"({"id": "lung", "queries": [
        {"name": "sex", "type": "table", "rows": "sex", "columns": "ph.ecog"},
        {"name": "age", "type": "mean", "column": "age"}]})"},
  };
  for (const auto& c : cases) {
    auto table = synth::ReadCsvFile(std::string(data) + "/tabular/" + c.file);
    ASSERT_TRUE(table.ok()) << c.file;
    auto req = ParseStatsRequest(c.query);
    ASSERT_TRUE(req.ok()) << c.file << ": " << req.status().ToString();
    auto pooled = ComputeLocalStats(*table, *req);
    ASSERT_TRUE(pooled.ok()) << c.file << ": " << pooled.status().ToString();
    // Three nodes of unequal size.
    std::vector<CsvTable> nodes(3);
    for (auto& n : nodes) n.header = table->header;
    for (std::size_t i = 0; i < table->rows.size(); ++i) {
      nodes[i % 7 < 4 ? 0 : (i % 7 < 6 ? 1 : 2)].rows.push_back(table->rows[i]);
    }
    std::vector<LocalStats> parts;
    for (const auto& n : nodes) {
      auto p = ComputeLocalStats(n, *req);
      ASSERT_TRUE(p.ok());
      // Through the wire form, as a node sends it.
      auto wire = ParseLocalStats(LocalStatsToJson(*p), req->queries.size());
      ASSERT_TRUE(wire.ok()) << wire.status().ToString();
      parts.push_back(*wire);
    }
    rapidjson::Document a, b;
    a.Parse(FinalizeStats(MergeStats(parts), *req).c_str());
    b.Parse(FinalizeStats(*pooled, *req).c_str());
    ASSERT_TRUE(a.IsObject() && b.IsObject());
    // Equal up to the order of floating-point additions.
    std::function<void(const rapidjson::Value&, const rapidjson::Value&, std::string)> same =
        [&](const rapidjson::Value& x, const rapidjson::Value& y, std::string path) {
          ASSERT_EQ(x.GetType(), y.GetType()) << c.file << path;
          if (x.IsObject()) {
            ASSERT_EQ(x.MemberCount(), y.MemberCount()) << c.file << path;
            for (auto it = x.MemberBegin(); it != x.MemberEnd(); ++it) {
              std::string k(it->name.GetString());
              ASSERT_TRUE(y.HasMember(k.c_str())) << c.file << path << "." << k;
              same(it->value, y[k.c_str()], path + "." + k);
            }
          } else if (x.IsArray()) {
            ASSERT_EQ(x.Size(), y.Size()) << c.file << path;
            for (rapidjson::SizeType i = 0; i < x.Size(); ++i) {
              same(x[i], y[i], path + "[" + std::to_string(i) + "]");
            }
          } else if (x.IsNumber()) {
            EXPECT_NEAR(x.GetDouble(), y.GetDouble(), 1e-9 * (1 + std::fabs(y.GetDouble())))
                << c.file << path;
          } else if (x.IsString()) {
            EXPECT_STREQ(x.GetString(), y.GetString()) << c.file << path;
          }
        };
    same(a, b, "");
  }
}

// Verifies: REQ-FL-042
TEST(StatsTest, PrivacyRefusesDataDefinedCellsAndUnboundedMeans) {
  auto table = ParseStatsRequest(R"({"id": "x", "privacy": {"epsilon": 1},
    "queries": [{"name": "t", "type": "table", "rows": "a", "columns": "b"}]})");
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.status().message().find("not released under privacy"), std::string::npos);
  auto mean = ParseStatsRequest(R"({"id": "x", "privacy": {"epsilon": 1},
    "queries": [{"name": "m", "type": "mean", "column": "a"}]})");
  ASSERT_FALSE(mean.ok());
  EXPECT_NE(mean.status().message().find("min"), std::string::npos);
  EXPECT_FALSE(ParseStatsRequest(R"({"id": "x", "privacy": {"epsilon": 0},
    "queries": [{"name": "n", "type": "count"}]})")
                   .ok());
}

// Verifies: REQ-FL-043
TEST(StatsTest, NoiseCoversThePublicDomainAndClampsMeans) {
  auto r = ParseStatsRequest(R"({"id": "x", "privacy": {"epsilon": 1, "delta": 1e-6},
    "queries": [{"name": "h", "type": "histogram", "column": "a", "edges": [0, 1, 2, 3]},
                {"name": "m", "type": "mean", "column": "a", "min": 0, "max": 3}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto csv = ParseCsv("a\n0.5\n0.5\n2.5\n7\n");
  ASSERT_TRUE(csv.ok());
  auto exact = ComputeLocalStats(*csv, *r);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->sums[1].at("sum"), 0.5 + 0.5 + 2.5 + 3);  // 7 clamped to max
  std::mt19937_64 rng(11);
  LocalStats noisy = *exact;
  AddStatsNoise(noisy, *r, rng);
  // Every bin is released, the empty one ([1, 2)) too, and counts stay whole and >= 0.
  for (const char* k : {"bin:0", "bin:1", "bin:2", "below", "above", "missing"}) {
    ASSERT_TRUE(noisy.sums[0].count(k)) << k;
    double v = noisy.sums[0].at(k);
    EXPECT_GE(v, 0);
    EXPECT_EQ(v, std::round(v));
  }
  std::string released = FinalizeStats(noisy, *r);
  EXPECT_NE(released.find("\"privacy\":{\"epsilon\":1.0"), std::string::npos) << released;
}

// Verifies: REQ-FL-044
TEST(StatsTest, NoiseHasTheAccountedScale) {
  // 100 counts of 1,000 rows share epsilon 1: each gets rho / 100, far from the clamp at 0.
  std::string query = R"({"id": "x", "privacy": {"epsilon": 1, "delta": 1e-6}, "queries": [)";
  for (int i = 0; i < 100; ++i) {
    query +=
        (i ? "," : "") + std::string(R"({"type": "count", "name": "n)") + std::to_string(i) + "\"}";
  }
  auto r = ParseStatsRequest(query + "]}");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string csv = "a\n";
  for (int i = 0; i < 1000; ++i) csv += "1\n";
  auto exact = ComputeLocalStats(*ParseCsv(csv), *r);
  ASSERT_TRUE(exact.ok());
  const double sigma = synth::GaussianSigma(synth::CdpRho(1, 1e-6) / 100, 1.0);
  std::mt19937_64 rng(5);
  double sum = 0, sumsq = 0;
  int count = 0;
  for (int run = 0; run < 20; ++run) {
    LocalStats noisy = *exact;
    AddStatsNoise(noisy, *r, rng);
    for (const auto& q : noisy.sums) {
      double d = q.at("n") - 1000;
      sum += d;
      sumsq += d * d;
      ++count;
    }
  }
  // 2,000 draws: the standard deviation to within about 5% (rounding adds 1/12 to the variance).
  double sd = std::sqrt(sumsq / count - (sum / count) * (sum / count));
  EXPECT_NEAR(sd, std::sqrt(sigma * sigma + 1.0 / 12), 0.08 * sigma);
  EXPECT_NEAR(sum / count, 0, 4 * sigma / std::sqrt(count));
}

}  // namespace
}  // namespace sund::fl
