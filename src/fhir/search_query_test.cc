// ParseSearch, SubsetResource and NormalizeString as units: what a query string becomes before
// any backend compiles it, and the subsetted views of a resource.
#include "fhir/search_query.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.h"
#include "fhir/search_index.h"
#include "fhir/subset.h"

namespace sund::fhir {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

Result<SearchQuery> Parse(std::string_view type, const Params& params, bool strict = true) {
  return ParseSearch(Model::R4(), type, params, strict);
}

// The single criterion of a search on `type` with one parameter.
SearchCriterion One(std::string_view type, const std::string& name, const std::string& value) {
  auto q = Parse(type, {{name, value}});
  if (!q.ok()) {
    ADD_FAILURE() << name << ": " << q.status().message();
    return {};
  }
  if (q->criteria.size() != 1) {
    ADD_FAILURE() << name << ": " << q->criteria.size() << " criteria";
    return {};
  }
  return std::move(q->criteria[0]);
}

// The error of a search on `type` with one parameter (kOk when it parses).
Status ErrorOf(std::string_view type, const std::string& name, const std::string& value) {
  auto q = Parse(type, {{name, value}});
  return q.ok() ? Status::Ok() : q.status();
}

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

// Verifies: REQ-FHIR-048
TEST(ParseSearchTest, AcceptsTheModifiersOfEachParameterType) {
  SearchCriterion exact = One("Patient", "name:exact", "Ærø");
  EXPECT_EQ(exact.modifier, Modifier::kExact);
  ASSERT_EQ(exact.values.size(), 1u);
  EXPECT_EQ(exact.values[0].raw, "Ærø");
  EXPECT_EQ(exact.values[0].text, "ærø");
  EXPECT_EQ(One("Patient", "name:contains", "sen").modifier, Modifier::kContains);
  EXPECT_EQ(One("Patient", "gender:not", "male").modifier, Modifier::kNot);
  SearchCriterion text = One("Observation", "code:text", "Blood Pressure");
  EXPECT_EQ(text.modifier, Modifier::kText);
  ASSERT_EQ(text.values.size(), 1u);
  EXPECT_EQ(text.values[0].text, "blood pressure");
  SearchCriterion ident = One("Observation", "subject:identifier", "urn:oid:1.2.3|12345");
  EXPECT_EQ(ident.modifier, Modifier::kIdentifier);
  ASSERT_EQ(ident.values.size(), 1u);
  EXPECT_EQ(ident.values[0].system, "urn:oid:1.2.3");
  EXPECT_EQ(ident.values[0].code, "12345");
  EXPECT_EQ(One("Patient", "_profile:below", "http://example.org/fhir").modifier, Modifier::kBelow);
  EXPECT_EQ(One("Patient", "_profile:above", "http://example.org/fhir/a").modifier,
            Modifier::kAbove);
  SearchCriterion typed = One("Observation", "subject:Patient", "p1");
  EXPECT_EQ(typed.modifier, Modifier::kType);
  EXPECT_EQ(typed.type_modifier, "Patient");
  SearchCriterion missing = One("Patient", "birthdate:missing", "true");
  EXPECT_EQ(missing.modifier, Modifier::kMissing);
  ASSERT_EQ(missing.values.size(), 1u);
  EXPECT_TRUE(missing.values[0].missing);
  SearchCriterion not_id = One("Patient", "_id:not", "p1");
  EXPECT_EQ(not_id.special, SpecialParam::kId);
  EXPECT_EQ(not_id.modifier, Modifier::kNot);
}

// Verifies: REQ-FHIR-048
TEST(ParseSearchTest, RejectsModifiersTheParameterTypeDoesNotTake) {
  Status s = ErrorOf("Patient", "name:not", "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "':not' is not supported on string")) << s.message();
  s = ErrorOf("Observation", "code:in", "http://example.org/ValueSet/vs");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "':in' is not supported on token")) << s.message();
  EXPECT_EQ(ErrorOf("Observation", "code:not-in", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorOf("Patient", "identifier:of-type", "x").code(), StatusCode::kInvalidArgument);
  s = ErrorOf("Patient", "name:sounds-like", "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "unknown modifier ':sounds-like'")) << s.message();
  EXPECT_EQ(ErrorOf("Observation", "subject:Colour", "p1").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorOf("Patient", "birthdate:missing", "maybe").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorOf("Patient", "_lastUpdated:missing", "true").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorOf("Patient", "_id:exact", "p1").code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-FHIR-049
TEST(ParseSearchTest, ReadsPrefixesAndTheRangeOfEachValue) {
  constexpr std::int64_t kDayMs = 86'400'000;
  SearchCriterion day = One("Patient", "birthdate", "ge1970-01-02");
  ASSERT_EQ(day.values.size(), 1u);
  EXPECT_EQ(day.values[0].prefix, Prefix::kGe);
  EXPECT_EQ(day.values[0].lo_ms, kDayMs);
  EXPECT_EQ(day.values[0].hi_ms, 2 * kDayMs - 1);
  SearchCriterion year = One("Patient", "birthdate", "1970");
  ASSERT_EQ(year.values.size(), 1u);
  EXPECT_EQ(year.values[0].prefix, Prefix::kEq);
  EXPECT_EQ(year.values[0].lo_ms, 0);
  EXPECT_EQ(year.values[0].hi_ms, 365 * kDayMs - 1);
  SearchCriterion updated = One("Patient", "_lastUpdated", "lt2024-01-01");
  EXPECT_EQ(updated.special, SpecialParam::kLastUpdated);
  EXPECT_EQ(updated.type, SearchParamType::kDate);
  ASSERT_EQ(updated.values.size(), 1u);
  EXPECT_EQ(updated.values[0].prefix, Prefix::kLt);

  // A number covers the range its written precision implies.
  SearchCriterion half = One("RiskAssessment", "probability", "lt0.5");
  ASSERT_EQ(half.values.size(), 1u);
  EXPECT_EQ(half.values[0].prefix, Prefix::kLt);
  EXPECT_DOUBLE_EQ(half.values[0].number, 0.5);
  EXPECT_NEAR(half.values[0].lo, 0.45, 1e-12);
  EXPECT_NEAR(half.values[0].hi, 0.55, 1e-12);
  SearchCriterion hundred = One("RiskAssessment", "probability", "100");
  ASSERT_EQ(hundred.values.size(), 1u);
  EXPECT_NEAR(hundred.values[0].lo, 99.5, 1e-9);
  EXPECT_NEAR(hundred.values[0].hi, 100.5, 1e-9);
  SearchCriterion exponent = One("RiskAssessment", "probability", "1e2");
  ASSERT_EQ(exponent.values.size(), 1u);
  EXPECT_NEAR(exponent.values[0].lo, 50, 1e-9);
  EXPECT_NEAR(exponent.values[0].hi, 150, 1e-9);

  // A quantity in a UCUM unit also carries its canonical form.
  SearchCriterion mass = One("Observation", "value-quantity", "gt5.4|http://unitsofmeasure.org|mg");
  ASSERT_EQ(mass.values.size(), 1u);
  const SearchValue& m = mass.values[0];
  EXPECT_EQ(m.prefix, Prefix::kGt);
  EXPECT_DOUBLE_EQ(m.number, 5.4);
  EXPECT_EQ(m.system, "http://unitsofmeasure.org");
  EXPECT_EQ(m.code, "mg");
  ASSERT_TRUE(m.has_canonical);
  EXPECT_EQ(m.canonical_unit, "g");
  EXPECT_NEAR(m.canonical_number, 0.0054, 1e-12);

  struct Case {
    const char* type;
    const char* name;
    const char* value;
  };
  const Case kMalformed[] = {
      {"Patient", "birthdate", "xx1970"},       {"Patient", "birthdate", "eq"},
      {"RiskAssessment", "probability", "abc"}, {"Observation", "value-quantity", "5.4|mg"},
      {"Patient", "identifier", "|"},           {"Observation", "subject", "Colour/1"},
      {"Observation", "subject", "Patient/"}};
  for (const Case& c : kMalformed) {
    EXPECT_EQ(ErrorOf(c.type, c.name, c.value).code(), StatusCode::kInvalidArgument)
        << c.name << "=" << c.value;
  }
}

// Verifies: REQ-FHIR-049
TEST(ParseSearchTest, ReadsTokensReferencesAlternativesAndEscapes) {
  SearchCriterion system_code = One("Patient", "identifier", "http://example.org/mrn|123");
  ASSERT_EQ(system_code.values.size(), 1u);
  EXPECT_TRUE(system_code.values[0].has_system);
  EXPECT_EQ(system_code.values[0].system, "http://example.org/mrn");
  EXPECT_EQ(system_code.values[0].code, "123");
  SearchCriterion no_system = One("Patient", "identifier", "|123");
  ASSERT_EQ(no_system.values.size(), 1u);
  EXPECT_TRUE(no_system.values[0].has_system);
  EXPECT_EQ(no_system.values[0].system, "");
  EXPECT_EQ(no_system.values[0].code, "123");
  SearchCriterion any_system = One("Patient", "identifier", "123");
  ASSERT_EQ(any_system.values.size(), 1u);
  EXPECT_FALSE(any_system.values[0].has_system);
  EXPECT_EQ(any_system.values[0].code, "123");
  SearchCriterion escaped_bar = One("Patient", "identifier", "a\\|b");
  ASSERT_EQ(escaped_bar.values.size(), 1u);
  EXPECT_FALSE(escaped_bar.values[0].has_system);
  EXPECT_EQ(escaped_bar.values[0].code, "a|b");

  SearchCriterion either = One("Patient", "gender", "male,female");
  ASSERT_EQ(either.values.size(), 2u);
  EXPECT_EQ(either.values[0].code, "male");
  EXPECT_EQ(either.values[1].code, "female");
  SearchCriterion escaped_comma = One("Patient", "name", "a\\,b");
  ASSERT_EQ(escaped_comma.values.size(), 1u);
  EXPECT_EQ(escaped_comma.values[0].raw, "a,b");

  SearchCriterion local = One("Observation", "subject", "Patient/p1/_history/2");
  ASSERT_EQ(local.values.size(), 1u);
  EXPECT_EQ(local.values[0].ref_type, "Patient");
  EXPECT_EQ(local.values[0].ref_id, "p1");
  SearchCriterion bare = One("Observation", "subject", "p1");
  ASSERT_EQ(bare.values.size(), 1u);
  EXPECT_EQ(bare.values[0].ref_type, "");
  EXPECT_EQ(bare.values[0].ref_id, "p1");
  SearchCriterion absolute = One("Observation", "subject", "http://example.org/fhir/Patient/1");
  ASSERT_EQ(absolute.values.size(), 1u);
  EXPECT_EQ(absolute.values[0].url, "http://example.org/fhir/Patient/1");
  EXPECT_EQ(absolute.values[0].ref_id, "");
}

// Verifies: REQ-FHIR-050
TEST(ParseSearchTest, ResolvesChainsToTheirTargetType) {
  SearchCriterion chained = One("Observation", "patient.name", "Testesen");
  ASSERT_NE(chained.param, nullptr);
  EXPECT_EQ(chained.param->code, "patient");
  ASSERT_TRUE(chained.chain.has_value());
  EXPECT_EQ(chained.chain->target_type, "Patient");
  ASSERT_NE(chained.chain->criterion, nullptr);
  ASSERT_NE(chained.chain->criterion->param, nullptr);
  EXPECT_EQ(chained.chain->criterion->param->code, "name");
  ASSERT_EQ(chained.chain->criterion->values.size(), 1u);
  EXPECT_EQ(chained.chain->criterion->values[0].text, "testesen");
  // Observation.subject may be a Patient or a Location, both with a name: the type decides.
  Status s = ErrorOf("Observation", "subject.name", "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "ambiguous")) << s.message();
  SearchCriterion typed = One("Observation", "subject:Location.name", "x");
  ASSERT_TRUE(typed.chain.has_value());
  EXPECT_EQ(typed.chain->target_type, "Location");

  s = ErrorOf("Observation", "code.name", "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "not a reference parameter")) << s.message();
  EXPECT_EQ(ErrorOf("Observation", "subject:Colour.name", "x").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorOf("Observation", "_id.name", "x").code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-FHIR-050
TEST(ParseSearchTest, ReadsReverseChains) {
  SearchCriterion has = One("Patient", "_has:Observation:patient:code", "http://loinc.org|8480-6");
  EXPECT_EQ(has.param, nullptr);
  ASSERT_TRUE(has.reverse_chain.has_value());
  EXPECT_EQ(has.reverse_chain->source_type, "Observation");
  ASSERT_NE(has.reverse_chain->reference_param, nullptr);
  EXPECT_EQ(has.reverse_chain->reference_param->code, "patient");
  ASSERT_NE(has.reverse_chain->criterion, nullptr);
  ASSERT_NE(has.reverse_chain->criterion->param, nullptr);
  EXPECT_EQ(has.reverse_chain->criterion->param->code, "code");
  ASSERT_EQ(has.reverse_chain->criterion->values.size(), 1u);
  EXPECT_EQ(has.reverse_chain->criterion->values[0].system, "http://loinc.org");
  EXPECT_EQ(has.reverse_chain->criterion->values[0].code, "8480-6");

  Status s = ErrorOf("Patient", "_has:Observation:code:code", "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "is not a reference parameter")) << s.message();
  s = ErrorOf("Patient", "_has:Colour:patient:code", "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "unknown resource type")) << s.message();
  s = ErrorOf("Patient", "_has:Observation", "x");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "_has:Type:reference:parameter")) << s.message();
}

// Verifies: REQ-FHIR-051
TEST(ParseSearchTest, ReadsCompositesAndAnswersNotImplementedForTheUnsupported) {
  SearchCriterion c = One("Observation", "code-value-quantity",
                          "http://loinc.org|8480-6$gt100|http://unitsofmeasure.org|mm[Hg]");
  EXPECT_EQ(c.type, SearchParamType::kComposite);
  ASSERT_EQ(c.values.size(), 1u);
  ASSERT_EQ(c.values[0].components.size(), 2u);
  const SearchValue& code = c.values[0].components[0];
  EXPECT_EQ(code.system, "http://loinc.org");
  EXPECT_EQ(code.code, "8480-6");
  const SearchValue& value = c.values[0].components[1];
  EXPECT_EQ(value.prefix, Prefix::kGt);
  EXPECT_DOUBLE_EQ(value.number, 100);
  EXPECT_EQ(value.code, "mm[Hg]");
  EXPECT_TRUE(value.has_canonical);
  EXPECT_EQ(One("Observation", "code-value-quantity", "a$1,b$2").values.size(), 2u);
  SearchCriterion missing = One("Observation", "code-value-quantity:missing", "true");
  ASSERT_EQ(missing.values.size(), 1u);
  EXPECT_TRUE(missing.values[0].missing);

  Status s = ErrorOf("Observation", "code-value-quantity", "http://loinc.org|8480-6");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "joined by '$'")) << s.message();

  // Special parameters and three-component composites: 501, not 400.
  EXPECT_EQ(ErrorOf("Location", "near", "59.9|10.7|10|km").code(), StatusCode::kNotImplemented);
  EXPECT_EQ(ErrorOf("MolecularSequence", "chromosome-variant-coordinate", "1$gt100$lt200").code(),
            StatusCode::kNotImplemented);
  auto lenient = Parse("Location", {{"near", "59.9|10.7|10|km"}}, /*strict=*/false);
  EXPECT_EQ(lenient.status().code(), StatusCode::kNotImplemented);
}

// Verifies: REQ-FHIR-052
TEST(ParseSearchTest, UnknownParametersAreErrorsOnlyWhenStrict) {
  auto strict = Parse("Patient", {{"colour", "blue"}}, /*strict=*/true);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(strict.status().message(), "unknown search parameter 'colour' for Patient"))
      << strict.status().message();
  EXPECT_FALSE(Contains(strict.status().message(), "blue"));

  auto lenient = Parse("Patient", {{"colour", "blue"}, {"gender", "male"}}, /*strict=*/false);
  ASSERT_TRUE(lenient.ok()) << lenient.status().message();
  EXPECT_EQ(lenient->unknown_params, (std::vector<std::string>{"colour"}));
  ASSERT_EQ(lenient->criteria.size(), 1u);
  EXPECT_EQ(lenient->criteria[0].param->code, "gender");

  // Across all types, a parameter is read by its shared definition.
  auto all = Parse("", {{"patient", "Patient/p1"}});
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->type, "");
  ASSERT_EQ(all->criteria.size(), 1u);
  EXPECT_EQ(all->criteria[0].type, SearchParamType::kReference);
  ASSERT_EQ(all->criteria[0].values.size(), 1u);
  EXPECT_EQ(all->criteria[0].values[0].ref_id, "p1");
}

// Verifies: REQ-FHIR-053
TEST(ParseSearchTest, ReadsTheResultParameters) {
  SearchLimits limits;
  limits.default_count = 10;
  limits.max_count = 50;
  auto q = ParseSearch(Model::R4(), "Patient",
                       {{"_sort", "-birthdate,_id"},
                        {"_count", "500"},
                        {"_include", "Patient:organization"},
                        {"_include", "Patient:general-practitioner:Practitioner"},
                        {"_revinclude:iterate", "Observation:patient"},
                        {"_summary", "data"},
                        {"_elements", "name,birthDate"},
                        {"_total", "accurate"},
                        {"_offset", "40"},
                        {"_format", "json"}},
                       /*strict=*/true, limits);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_TRUE(q->criteria.empty());
  EXPECT_EQ(q->count, 50);  // capped at the maximum
  ASSERT_EQ(q->sort.size(), 2u);
  ASSERT_NE(q->sort[0].param, nullptr);
  EXPECT_EQ(q->sort[0].param->code, "birthdate");
  EXPECT_TRUE(q->sort[0].descending);
  EXPECT_EQ(q->sort[1].special, SpecialParam::kId);
  EXPECT_FALSE(q->sort[1].descending);
  ASSERT_EQ(q->includes.size(), 2u);
  EXPECT_EQ(q->includes[0].source_type, "Patient");
  ASSERT_NE(q->includes[0].param, nullptr);
  EXPECT_EQ(q->includes[0].param->code, "organization");
  EXPECT_FALSE(q->includes[0].iterate);
  EXPECT_EQ(q->includes[1].target_type, "Practitioner");
  ASSERT_EQ(q->revincludes.size(), 1u);
  EXPECT_EQ(q->revincludes[0].source_type, "Observation");
  EXPECT_TRUE(q->revincludes[0].iterate);
  EXPECT_EQ(q->summary, SummaryMode::kData);
  EXPECT_EQ(q->elements, (std::vector<std::string>{"name", "birthDate"}));
  EXPECT_EQ(q->total, TotalMode::kAccurate);
  EXPECT_EQ(q->offset, 40);

  auto defaults = ParseSearch(Model::R4(), "Patient", {}, /*strict=*/true, limits);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->count, 10);
  EXPECT_EQ(defaults->summary, SummaryMode::kNone);
  EXPECT_EQ(defaults->total, TotalMode::kNone);
  auto count = Parse("Patient", {{"_summary", "count"}});
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->summary, SummaryMode::kCount);
  auto all_includes = Parse("Observation", {{"_include", "*"}});
  ASSERT_TRUE(all_includes.ok());
  ASSERT_EQ(all_includes->includes.size(), 1u);
  EXPECT_EQ(all_includes->includes[0].source_type, "*");

  const std::vector<Params> bad = {
      {{"_count", "-1"}},
      {{"_count", "ten"}},
      {{"_offset", "-5"}},
      {{"_sort", "colour"}},
      {{"_sort", "code-value-quantity"}},
      {{"_include", "Observation:code"}},
      {{"_include", "Colour:patient"}},
      {{"_include", "Observation:patient:Colour"}},
      {{"_include", "Observation"}},
      {{"_revinclude", "*"}},
      {{"_summary", "maybe"}},
      {{"_total", "some"}},
      {{"_cursor", "abc"}},
      {{"_cursor", "5"}, {"_offset", "1"}},
      {{"_cursor", "5"}, {"_sort", "_id"}},
  };
  for (const auto& params : bad) {
    auto r = Parse("Observation", params);
    ASSERT_FALSE(r.ok()) << params[0].first << "=" << params[0].second;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << params[0].first;
  }
  EXPECT_FALSE(Parse("", {{"_sort", "birthdate"}}).ok());  // a sort key needs a type
}

// ------------------------------------------------------------------------------------------
// SubsetResource

constexpr const char* kPatient =
    R"({"resourceType":"Patient","id":"p1",)"
    R"("meta":{"versionId":"2","tag":[{"system":"http://example.org/tags","code":"test"}]},)"
    R"("text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">T</div>"},)"
    R"("extension":[{"url":"http://example.org/ext","valueString":"x"}],)"
    R"("identifier":[{"system":"http://example.org/mrn","value":"0000"}],)"
    R"("name":[{"family":"Testesen","given":["Test"]}],"gender":"female",)"
    R"("birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"http://example.org/t",)"
    R"("valueDateTime":"1970-01-01T10:00:00Z"}]},"deceasedBoolean":false,)"
    R"("maritalStatus":{"text":"ugift"},"multipleBirthInteger":2,)"
    R"("generalPractitioner":[{"reference":"Practitioner/pr1"}]})";

constexpr const char* kObservation =
    R"({"resourceType":"Observation","id":"o1","status":"final",)"
    R"("code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},)"
    R"("subject":{"reference":"Patient/p1"},"effectiveDateTime":"2021-03-04T10:00:00Z",)"
    R"("valueQuantity":{"value":37.50,"unit":"Cel","system":"http://unitsofmeasure.org",)"
    R"("code":"Cel"},"note":[{"text":"n"}]})";

std::vector<std::string> Keys(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  std::vector<std::string> keys;
  if (d.HasParseError() || !d.IsObject()) return keys;
  for (const auto& m : d.GetObject()) keys.emplace_back(json::View(m.name));
  return keys;
}

// The codes of meta.tag, in order.
std::vector<std::string> Tags(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  std::vector<std::string> codes;
  const rapidjson::Value* meta = json::Find(d, "meta");
  const rapidjson::Value* tags = meta == nullptr ? nullptr : json::Find(*meta, "tag");
  if (tags == nullptr || !tags->IsArray()) return codes;
  for (const auto& t : tags->GetArray()) codes.emplace_back(json::GetString(t, "code"));
  return codes;
}

// Verifies: REQ-FHIR-054
TEST(SubsetResourceTest, SummaryModesKeepTheirElements) {
  std::string summary = SubsetResource(kPatient, SummaryMode::kTrue, {});
  EXPECT_EQ(Keys(summary),
            (std::vector<std::string>{"resourceType", "id", "meta", "identifier", "name", "gender",
                                      "birthDate", "_birthDate", "deceasedBoolean"}));
  EXPECT_EQ(Tags(summary), (std::vector<std::string>{"test", "SUBSETTED"}));

  std::string data = SubsetResource(kPatient, SummaryMode::kData, {});
  EXPECT_EQ(Keys(data), (std::vector<std::string>{"resourceType", "id", "meta", "extension",
                                                  "identifier", "name", "gender", "birthDate",
                                                  "_birthDate", "deceasedBoolean", "maritalStatus",
                                                  "multipleBirthInteger", "generalPractitioner"}));
  EXPECT_EQ(Tags(data), (std::vector<std::string>{"test", "SUBSETTED"}));

  EXPECT_EQ(Keys(SubsetResource(kPatient, SummaryMode::kText, {})),
            (std::vector<std::string>{"resourceType", "id", "meta", "text"}));
  // Mandatory elements stay in the text view; a resource without meta gets one for the tag.
  std::string text = SubsetResource(kObservation, SummaryMode::kText, {});
  EXPECT_EQ(Keys(text), (std::vector<std::string>{"resourceType", "id", "status", "code", "meta"}));
  EXPECT_EQ(Tags(text), (std::vector<std::string>{"SUBSETTED"}));

  // No subsetting: the stored bytes unchanged, without the tag.
  EXPECT_EQ(SubsetResource(kPatient, SummaryMode::kNone, {}), kPatient);
  EXPECT_EQ(SubsetResource(kPatient, SummaryMode::kFalse, {}), kPatient);
}

// Verifies: REQ-FHIR-054
TEST(SubsetResourceTest, ElementsKeepTheNamedAndMandatoryElements) {
  std::string patient = SubsetResource(kPatient, SummaryMode::kNone, {"name", "birthDate"});
  EXPECT_EQ(Keys(patient), (std::vector<std::string>{"resourceType", "id", "meta", "name",
                                                     "birthDate", "_birthDate"}));
  EXPECT_EQ(Tags(patient), (std::vector<std::string>{"test", "SUBSETTED"}));

  // A choice element is named by its stem; numbers keep the digits they were written with.
  std::string obs = SubsetResource(kObservation, SummaryMode::kNone, {"value"});
  EXPECT_EQ(Keys(obs), (std::vector<std::string>{"resourceType", "id", "status", "code",
                                                 "valueQuantity", "meta"}));
  EXPECT_NE(obs.find("\"value\":37.50"), std::string::npos) << obs;
}

// ------------------------------------------------------------------------------------------
// NormalizeString (string search matching)

// Verifies: REQ-FHIR-055
TEST(NormalizeStringTest, FoldsCaseAndAccentsOfLatin1Letters) {
  EXPECT_EQ(NormalizeString("TeStEsEn 42"), "testesen 42");
  EXPECT_EQ(NormalizeString("ÉLÉONORE Müller"), "eleonore muller");
  EXPECT_EQ(NormalizeString("ÀÁÂÃÄ àáâãä ÈÍÓÚÝ ÇÑ çñ ÿ"), "aaaaa aaaaa eiouy cn cn y");
  EXPECT_EQ(NormalizeString("Straße"), "strasse");
  // Danish and Norwegian letters stay letters of their own, lower-cased.
  EXPECT_EQ(NormalizeString("ÆØÅ æøå"), "æøå æøå");
  // Signs of Latin-1 are not letters.
  EXPECT_EQ(NormalizeString("2×3÷1"), "2×3÷1");
}

// The documented limit: letters beyond Latin-1 keep their case and accents.
// Verifies: REQ-FHIR-056
TEST(NormalizeStringTest, KeepsLettersBeyondLatin1AsWritten) {
  EXPECT_EQ(NormalizeString("Łódź"), "Łodź");
  EXPECT_EQ(NormalizeString("ΣΩΜΑ"), "ΣΩΜΑ");
  EXPECT_EQ(NormalizeString("Дом"), "Дом");
}

}  // namespace
}  // namespace sund::fhir
