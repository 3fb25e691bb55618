#include "fhir/search_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/file_reader.h"
#include "core/json.h"

namespace sund::fhir {
namespace {

std::string Describe(const IndexEntry& e) {
  return e.param->code + "|" + std::to_string(static_cast<int>(e.type)) + "|" + e.text + "|" +
         e.raw + "|" + e.system + "|" + e.code + "|" + e.ref_type + "|" + e.ref_id + "|" + e.url +
         "|" + e.unit + "|" + e.canonical_unit + "|" + std::to_string(e.number) + "|" +
         std::to_string(e.canonical_value) + "|" + std::to_string(e.lo_ms) + "|" +
         std::to_string(e.hi_ms) + "|" + e.system2 + "|" + e.code2 + "|" + std::to_string(e.lo2) +
         "|" + std::to_string(e.hi2);
}

std::vector<std::string> Described(const std::vector<IndexEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(Describe(e));
  std::sort(out.begin(), out.end());
  return out;
}

// Verifies: REQ-FHIR-027
TEST(ExtractorTest, ExtractsTypedEntries) {
  rapidjson::Document d;
  d.Parse(R"({"resourceType":"Observation","id":"o1","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8310-5","display":"Body temp"}]},
      "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2021-03-04",
      "valueQuantity":{"value":37.5,"unit":"Cel","system":"http://unitsofmeasure.org","code":"Cel"}})");
  auto entries = Extractor::R4().Extract("Observation", d);
  auto has = [&](const char* code, SearchParamType type) {
    return std::any_of(entries.begin(), entries.end(), [&](const IndexEntry& e) {
      return e.param->code == code && e.type == type;
    });
  };
  EXPECT_TRUE(has("code", SearchParamType::kToken));
  EXPECT_TRUE(has("subject", SearchParamType::kReference));
  EXPECT_TRUE(has("patient", SearchParamType::kReference));
  EXPECT_TRUE(has("date", SearchParamType::kDate));
  EXPECT_TRUE(has("value-quantity", SearchParamType::kQuantity));
  EXPECT_TRUE(has("code-value-quantity", SearchParamType::kComposite));
  EXPECT_FALSE(has("_id", SearchParamType::kToken));  // answered from the resource table
}

// The fast path for plain path expressions must give exactly what FHIRPath gives, for every
// resource of the Synthea set.
// Verifies: REQ-FHIR-028
TEST(ExtractorTest, FastPathsAgreeWithFhirPathOnSynthea) {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set";
  std::filesystem::path dir = std::filesystem::path(data) / "synthea";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no Synthea data in " << dir;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".bz2") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  files.resize(std::min<std::size_t>(files.size(), 12));  // both infrastructure files + 10 patients
  Extractor slow(Model::R4(), /*fast_paths=*/false);
  const Extractor& fast = Extractor::R4();
  int resources = 0;
  for (const auto& f : files) {
    auto text = ReadFileDecompressed(f);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    rapidjson::Document b;
    b.Parse(text->data(), text->size());
    const rapidjson::Value* entries = json::Find(b, "entry");
    ASSERT_NE(entries, nullptr);
    for (const auto& e : entries->GetArray()) {
      const rapidjson::Value* r = json::Find(e, "resource");
      ASSERT_NE(r, nullptr);
      std::string type(json::GetString(*r, "resourceType"));
      ASSERT_EQ(Described(fast.Extract(type, *r)), Described(slow.Extract(type, *r)))
          << type << "/" << json::GetString(*r, "id");
      ++resources;
    }
  }
  EXPECT_GT(resources, 1000);
}

}  // namespace
}  // namespace sund::fhir
