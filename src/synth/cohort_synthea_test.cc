// The cohort check of issue #7 on the Synthea population: a binary of its own, labelled slow
// (loading the bundles takes most of 20 s).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/file_reader.h"
#include "core/time.h"
#include "fhir/model.h"
#include "fhir/search_query.h"
#include "storage/store.h"
#include "synth/cohort.h"
#include "synth/fhir_out.h"
#include "synth/internal/dates.h"
#include "synth/internal/test_store.h"

namespace sund::synth {
namespace {

std::int64_t Ms(const char* date) {
  auto r = ParseFhirDate(date);
  EXPECT_TRUE(r.ok()) << date;
  return r.ok() ? r->lo_ms : 0;
}

const std::int64_t kNow = Ms("2024-06-01T12:00:00Z");
using Row = std::vector<std::string>;

// --- The Synthea population. -------------------------------------------------------------------

// Extracts the example cohort from the Synthea population (120 patients, 92,114 resources),
// loaded through the Store API (only the types extraction reads, 54,828 resources, to keep the
// test short: Claims, ExplanationOfBenefits, DiagnosticReports ... are never scanned), and checks
// counts computed from the bundles independently; then
// generates 1,000 patients from the extracted rows, loads them into a second store and reads
// the cohort back. Skips without SUND_TEST_DATA.
// Verifies: REQ-SYNTH-043, REQ-SYNTH-049, REQ-SYNTH-057
TEST(CohortSyntheaTest, ExtractsTheExampleCohortAndRoundTripsSyntheticPatients) {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr || *data == '\0') {
    GTEST_SKIP() << "SUND_TEST_DATA is not set; it must name the folder holding synthea/";
  }
  std::filesystem::path dir = std::filesystem::path(data) / "synthea";
  std::filesystem::path example =
      std::filesystem::path(SUND_SOURCE_DIR) / "examples/synth/cohort.json";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no Synthea data at " << dir;
  if (!std::filesystem::exists(example)) GTEST_SKIP() << "no " << example;

  testing::TempDir tmp;
  auto store = testing::OpenStoreIn(tmp.path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto load_start = std::chrono::steady_clock::now();
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().string().find(".json") != std::string::npos) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  const std::set<std::string, std::less<>> kTypes = {
      "Patient",    "Consent",           "Condition",           "Observation",
      "Medication", "MedicationRequest", "MedicationStatement", "Encounter"};
  // bzip2 costs more than the writes: decompress a few files ahead on other threads.
  std::deque<std::future<Result<std::string>>> ahead;
  std::size_t next = 0;
  const std::size_t depth = std::max(2u, std::thread::hardware_concurrency());
  std::size_t loaded = 0;
  for (const auto& f : files) {
    while (next < files.size() && ahead.size() < depth) {
      ahead.push_back(std::async(std::launch::async, [path = files[next++].string()] {
        return ReadFileDecompressed(path);
      }));
    }
    Result<std::string> text = ahead.front().get();
    ahead.pop_front();
    ASSERT_TRUE(text.ok()) << f;
    auto n = testing::LoadBundle(**store, *text, /*validate=*/false, kTypes);
    ASSERT_TRUE(n.ok()) << f << ": " << n.status().ToString();
    loaded += *n;
  }
  double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  EXPECT_EQ(loaded, 120u + 1'597u + 42'929u + 326u + 5'087u + 4'769u);

  auto spec = ReadCohortSpecFile(example.string());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  ExtractOptions o;
  o.now_ms = kNow;
  auto t = ExtractCohort(**store, *spec, o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::printf(
      "[ synthea  ] loaded %zu resources in %.1f s; extracted %lld x %zu in %.2f s "
      "(%lld resources read)\n",
      loaded, load_s, static_cast<long long>(t->stats.extracted), t->table.header.size(),
      t->stats.seconds, static_cast<long long>(t->stats.resources_read));
  // Known answers, computed from the bundles with a separate Python script (the same rules: alive
  // and 18 or older on 2021-06-30, Conditions whose onset..abatement overlaps 2016-06-30 ..
  // 2021-06-30, requests authored and HbA1c taken in it): 120 patients, 41 deceased or under 18,
  // no Consents (opt-out takes everyone).
  EXPECT_EQ(t->stats.patients_seen, 120);
  EXPECT_EQ(t->stats.excluded_by_consent, 0);
  EXPECT_EQ(t->stats.excluded_by_population, 41);
  ASSERT_EQ(t->table.rows.size(), 79u);
  auto count = [&](const char* column, const char* value) {
    std::size_t c = *t->table.Column(column);
    return std::count_if(t->table.rows.begin(), t->table.rows.end(),
                         [&](const Row& r) { return r[c] == value; });
  };
  auto sum = [&](const char* column) {
    std::size_t c = *t->table.Column(column);
    long long s = 0;
    for (const Row& r : t->table.rows) s += std::stoll(r[c]);
    return s;
  };
  auto present = [&](const char* column) {
    std::size_t c = *t->table.Column(column);
    return std::count_if(t->table.rows.begin(), t->table.rows.end(),
                         [&](const Row& r) { return !r[c].empty(); });
  };
  EXPECT_EQ(count("diabetes", "1"), 3);
  EXPECT_EQ(count("hypertension", "1"), 24);
  EXPECT_EQ(count("hyperlipidemia", "1"), 9);
  EXPECT_EQ(count("coronary_heart_disease", "1"), 6);
  EXPECT_EQ(count("statin", "1"), 11);
  EXPECT_EQ(count("metformin", "1"), 2);
  EXPECT_EQ(count("antihypertensive", "1"), 27);
  EXPECT_EQ(present("hba1c"), 27);
  EXPECT_LE(sum("encounters"), 1066);  // 1,066 before clamping at 60 per patient
  EXPECT_GT(sum("encounters"), 900);
  EXPECT_EQ(sum("emergency_visits"), 52);
  EXPECT_GT(present("systolic_bp"), 60);  // from the blood-pressure panels' components

  // 1,000 synthetic patients drawn from the extracted rows (a stand-in for a fitted model).
  CsvTable synthetic;
  synthetic.header = t->table.header;
  for (std::size_t i = 0; i < 1000; ++i) {
    synthetic.rows.push_back(t->table.rows[(i * 7919) % t->table.rows.size()]);
  }
  FhirWriterOptions wo;
  wo.seed = 42;
  auto writer = FhirWriter::Create(t->spec, synthetic.header, wo);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  testing::TempDir out;
  auto gen_start = std::chrono::steady_clock::now();
  auto written = WriteFhirBundles(*writer, synthetic, (out.path() / "bundles").string(), 100);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  double gen_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - gen_start).count();
  EXPECT_EQ(written->files, 10u);
  EXPECT_EQ(written->patients, 1000u);
  testing::TempDir second;
  auto store2 = testing::OpenStoreIn(second.path());
  ASSERT_TRUE(store2.ok());
  for (const auto& e : std::filesystem::directory_iterator(out.path() / "bundles")) {
    auto text = ReadFileDecompressed(e.path().string());
    ASSERT_TRUE(text.ok());
    auto n = testing::LoadBundle(**store2, *text, /*validate=*/true);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
  }
  auto back = ExtractCohort(**store2, t->spec, o);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  std::printf("[ synthea  ] generated %zu patients (%zu resources) in %.2f s\n", written->patients,
              written->resources, gen_s);
  EXPECT_EQ(back->stats.patients_seen, 1000);
  ASSERT_EQ(back->table.rows.size(), 1000u);
  // Read back, each synthetic patient is the row it was made from (the order is by id).
  std::multiset<Row> want(synthetic.rows.begin(), synthetic.rows.end());
  std::multiset<Row> got(back->table.rows.begin(), back->table.rows.end());
  EXPECT_TRUE(want == got);
  // And a search in the second store finds the synthetic diabetics.
  auto q = fhir::ParseSearch(fhir::Model::R4(), "Condition",
                             {{"code", "http://snomed.info/sct|44054006"}, {"_total", "accurate"}},
                             true);
  ASSERT_TRUE(q.ok());
  auto page = (*store2)->Search(*q);
  ASSERT_TRUE(page.ok());
  std::size_t dm = *synthetic.Column("diabetes");
  auto diabetics = std::count_if(synthetic.rows.begin(), synthetic.rows.end(),
                                 [&](const Row& r) { return r[dm] == "1"; });
  EXPECT_EQ(page->total.value_or(-1), diabetics);
}

}  // namespace
}  // namespace sund::synth
