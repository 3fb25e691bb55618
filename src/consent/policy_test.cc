#include "consent/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/time.h"

namespace sund::consent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kScopePrivacy[] =
    R"({"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",)"
    R"("code":"patient-privacy"}]})";

// A Consent of Patient/p1 with the given status and root provision (raw JSON).
std::string WithProvision(const std::string& provision, const std::string& status = "active") {
  return R"({"resourceType":"Consent","id":"c1","meta":{"versionId":"3"},"status":")" + status +
         R"(","scope":)" + kScopePrivacy + R"(,"patient":{"reference":"Patient/p1"},"provision":)" +
         provision + "}";
}

std::int64_t Ms(const char* date) {
  auto r = ParseFhirDate(date);
  EXPECT_TRUE(r.ok()) << date;
  return r.ok() ? r->lo_ms : 0;
}

// Verifies: REQ-CON-001, REQ-CON-004, REQ-CON-005
TEST(ParseConsentTest, ReadsEveryElement) {
  const std::string json = R"({
    "resourceType": "Consent", "id": "c1", "meta": {"versionId": "3"},
    "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
    "patient": {"reference": "Patient/p1"},
    "dateTime": "2024-01-02T10:00:00Z",
    "provision": {
      "type": "permit",
      "period": {"start": "2024-01-01", "end": "2024-12-31"},
      "provision": [{
        "type": "deny",
        "actor": [
          {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
           "reference": {"reference": "Practitioner/dr-a"}},
          {"reference": {"reference": "Organization/org-2"}},
          {"reference": {"reference": "CareTeam/ct-9/_history/2"}},
          {"reference": {"reference": "Device/dev-app"}},
          {"reference": {"identifier": {"system": "urn:sund:client-id", "value": "app-x"}}}
        ],
        "action": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access"}]},
                   {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "disclose"}]}],
        "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
        "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}],
        "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Condition"},
                  {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}],
        "code": [{"coding": [{"system": "http://snomed.info/sct", "code": "86406008"}]}],
        "dataPeriod": {"start": "2015", "end": "2016"},
        "data": [{"meaning": "instance", "reference": {"reference": "Observation/o1"}},
                 {"meaning": "dependents", "reference": {"reference": "Encounter/e1"}}],
        "provision": [{"class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}]}]
      }]
    }
  })";
  auto r = ParseConsentJson(json);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Consent& c = *r;
  EXPECT_EQ(c.id, "c1");
  EXPECT_EQ(c.version_id, "3");
  EXPECT_EQ(c.status, ConsentStatus::kActive);
  EXPECT_EQ(c.scope, ConsentScope::kPatientPrivacy);
  EXPECT_EQ(c.patient_id, "p1");
  ASSERT_TRUE(c.date_time_ms.has_value());
  EXPECT_EQ(*c.date_time_ms, Ms("2024-01-02T10:00:00Z"));
  ASSERT_TRUE(c.provision.has_value());
  const Provision& root = *c.provision;
  EXPECT_EQ(root.type, Effect::kPermit);
  ASSERT_TRUE(root.period.has_value());
  EXPECT_EQ(root.period->lo_ms, Ms("2024-01-01"));
  EXPECT_EQ(root.period->hi_ms, Ms("2025-01-01") - 1);  // end "2024-12-31" covers the whole day
  ASSERT_EQ(root.provisions.size(), 1u);
  const Provision& deny = root.provisions[0];
  EXPECT_EQ(deny.type, Effect::kDeny);
  ASSERT_EQ(deny.actors.size(), 5u);
  EXPECT_EQ(deny.actors[0].kind, ActorKind::kPractitioner);
  EXPECT_EQ(deny.actors[0].id, "dr-a");
  EXPECT_THAT(
      deny.actors[0].role,
      ElementsAre(Coding{"http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PRCP"}));
  EXPECT_EQ(deny.actors[1].kind, ActorKind::kOrganization);
  EXPECT_EQ(deny.actors[2].kind, ActorKind::kCareTeam);
  EXPECT_EQ(deny.actors[2].id, "ct-9");  // version suffix cut off
  EXPECT_EQ(deny.actors[3].kind, ActorKind::kDevice);
  EXPECT_EQ(deny.actors[4].kind, ActorKind::kClient);
  EXPECT_EQ(deny.actors[4].id, "app-x");
  EXPECT_EQ(deny.actions, static_cast<std::uint8_t>(Action::kAccess) |
                              static_cast<std::uint8_t>(Action::kDisclose));
  EXPECT_THAT(deny.security_labels,
              ElementsAre(Coding{"http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"}));
  EXPECT_THAT(deny.purposes, ElementsAre(Coding{std::string(kActReasonSystem), "TREAT"}));
  EXPECT_THAT(deny.classes,
              ElementsAre(Coding{std::string(kResourceTypesSystem), "Condition"},
                          Coding{"http://terminology.hl7.org/CodeSystem/observation-category",
                                 "laboratory"}));
  EXPECT_THAT(deny.codes, ElementsAre(Coding{"http://snomed.info/sct", "86406008"}));
  ASSERT_TRUE(deny.data_period.has_value());
  EXPECT_EQ(deny.data_period->lo_ms, Ms("2015"));
  EXPECT_EQ(deny.data_period->hi_ms, Ms("2017") - 1);
  EXPECT_THAT(deny.data, ElementsAre(DataItem{DataMeaning::kInstance, "Observation", "o1"},
                                     DataItem{DataMeaning::kDependents, "Encounter", "e1"}));
  ASSERT_EQ(deny.provisions.size(), 1u);
  // A nested provision without a type is the opposite exception of its parent.
  EXPECT_EQ(deny.provisions[0].type, Effect::kPermit);
  EXPECT_THAT(deny.provisions[0].actors, IsEmpty());
}

struct StatusRow {
  const char* status;
  ConsentStatus want;
};

class ParseConsentStatusTest : public ::testing::TestWithParam<StatusRow> {};

// Verifies: REQ-CON-002
TEST_P(ParseConsentStatusTest, ReadsStatus) {
  auto r = ParseConsentJson(WithProvision(R"({"type":"deny"})", GetParam().status));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, GetParam().want);
  EXPECT_EQ(ConsentStatusName(r->status), GetParam().status);
}

INSTANTIATE_TEST_SUITE_P(AllCodes, ParseConsentStatusTest,
                         ::testing::Values(StatusRow{"draft", ConsentStatus::kDraft},
                                           StatusRow{"proposed", ConsentStatus::kProposed},
                                           StatusRow{"active", ConsentStatus::kActive},
                                           StatusRow{"rejected", ConsentStatus::kRejected},
                                           StatusRow{"inactive", ConsentStatus::kInactive},
                                           StatusRow{"entered-in-error",
                                                     ConsentStatus::kEnteredInError}));

// Verifies: REQ-CON-003
TEST(ParseConsentTest, ReadsScopes) {
  for (auto [code, want] : std::vector<std::pair<std::string, ConsentScope>>{
           {"patient-privacy", ConsentScope::kPatientPrivacy},
           {"research", ConsentScope::kResearch},
           {"treatment", ConsentScope::kTreatment},
           {"adr", ConsentScope::kAdr}}) {
    std::string json =
        R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":)"
        R"("http://terminology.hl7.org/CodeSystem/consentscope","code":")" +
        code + R"("}]},"patient":{"reference":"Patient/p1"},"provision":{"type":"permit"}})";
    auto r = ParseConsentJson(json);
    ASSERT_TRUE(r.ok()) << code << ": " << r.status().ToString();
    EXPECT_EQ(r->scope, want) << code;
    EXPECT_EQ(ConsentScopeName(r->scope), code);
  }
  // A scope coded only in another system is kept as kOther (it decides nothing).
  auto other = ParseConsentJson(
      R"({"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"urn:x",)"
      R"("code":"y"}]},"patient":{"reference":"Patient/p1"}})");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->scope, ConsentScope::kOther);
  EXPECT_FALSE(other->provision.has_value());
}

// Verifies: REQ-CON-014
TEST(ParseConsentTest, DraftWithoutProvisionIsAccepted) {
  auto r =
      ParseConsentJson(R"({"resourceType":"Consent","status":"draft","scope":)" +
                       std::string(kScopePrivacy) + R"(,"patient":{"reference":"Patient/p1"}})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->provision.has_value());
}

// Verifies: REQ-CON-004
TEST(ParseConsentTest, NestedUntypedUnderDenyIsPermit) {
  auto r = ParseConsentJson(WithProvision(R"({"type":"deny","provision":[{}]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->provision->provisions[0].type, Effect::kPermit);
}

// Verifies: REQ-CON-006
TEST(ParseConsentTest, DepthLimitAllowsEightLevels) {
  std::string p = R"({"type":"deny"})";
  for (int i = 1; i < kMaxProvisionDepth; ++i) p = R"({"type":"permit","provision":[)" + p + "]}";
  auto ok = ParseConsentJson(WithProvision(p));
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
  std::string deeper = R"({"type":"permit","provision":[)" + p + "]}";
  auto bad = ParseConsentJson(WithProvision(deeper));
  EXPECT_EQ(bad.status().code(), StatusCode::kUnprocessable);
  EXPECT_THAT(bad.status().message(), HasSubstr("nest too deeply"));
}

// Verifies: REQ-CON-006
TEST(ParseConsentTest, SizeLimit) {
  std::string kids;
  for (int i = 0; i < kMaxProvisionsPerConsent; ++i) kids += std::string(i ? "," : "") + "{}";
  auto bad = ParseConsentJson(WithProvision(R"({"type":"deny","provision":[)" + kids + "]}"));
  EXPECT_EQ(bad.status().code(), StatusCode::kUnprocessable);
  EXPECT_THAT(bad.status().message(), HasSubstr("too many provisions"));
}

// Malformed Consents: each row is rejected with the stated code and a message naming the
// element. None may crash, whatever the JSON types.
struct MalformedRow {
  const char* name;
  std::string json;
  StatusCode code;
  const char* message;
};

void PrintTo(const MalformedRow& r, std::ostream* os) { *os << r.name; }

class ParseConsentMalformedTest : public ::testing::TestWithParam<MalformedRow> {};

// Verifies: REQ-CON-007, REQ-CON-008, REQ-CON-009, REQ-CON-010, REQ-CON-011, REQ-CON-012
// Verifies: REQ-CON-013, REQ-CON-014
TEST_P(ParseConsentMalformedTest, Rejects) {
  const MalformedRow& row = GetParam();
  auto r = ParseConsentJson(row.json);
  ASSERT_FALSE(r.ok()) << row.name;
  EXPECT_EQ(r.status().code(), row.code) << row.name << ": " << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(row.message)) << row.name;
}

std::string Full(const std::string& before_provision, const std::string& provision) {
  return R"({"resourceType":"Consent",)" + before_provision + R"(,"provision":)" + provision + "}";
}

const std::string kHead = R"("status":"active","scope":)" + std::string(kScopePrivacy) +
                          R"(,"patient":{"reference":"Patient/p1"})";

INSTANTIATE_TEST_SUITE_P(
    Table, ParseConsentMalformedTest,
    ::testing::Values(
        MalformedRow{"not_json", "{", StatusCode::kInvalidArgument, "JSON"},
        MalformedRow{"array", "[]", StatusCode::kInvalidArgument, "JSON object"},
        MalformedRow{"wrong_resource_type", R"({"resourceType":"Patient"})",
                     StatusCode::kInvalidArgument, "resourceType must be Consent"},
        MalformedRow{"status_missing",
                     R"({"resourceType":"Consent","scope":{"coding":[]},"patient":{}})",
                     StatusCode::kUnprocessable, "Consent.status: is required"},
        MalformedRow{"status_number", R"({"resourceType":"Consent","status":1})",
                     StatusCode::kInvalidArgument, "Consent.status must be a string"},
        MalformedRow{"status_unknown", R"({"resourceType":"Consent","status":"on"})",
                     StatusCode::kUnprocessable, "unknown status code"},
        MalformedRow{"scope_missing",
                     R"({"resourceType":"Consent","status":"active","patient":{}})",
                     StatusCode::kUnprocessable, "Consent.scope: is required"},
        MalformedRow{"scope_string",
                     R"({"resourceType":"Consent","status":"active","scope":"research"})",
                     StatusCode::kInvalidArgument, "Consent.scope must be a CodeableConcept"},
        MalformedRow{"scope_unknown_code",
                     R"({"resourceType":"Consent","status":"active","scope":{"coding":[{)"
                     R"("system":"http://terminology.hl7.org/CodeSystem/consentscope",)"
                     R"("code":"everything"}]}})",
                     StatusCode::kUnprocessable, "unknown consentscope code"},
        MalformedRow{"coding_not_array",
                     R"({"resourceType":"Consent","status":"active","scope":{"coding":{}}})",
                     StatusCode::kInvalidArgument, "Consent.scope.coding must be an array"},
        MalformedRow{"patient_missing",
                     R"({"resourceType":"Consent","status":"active","scope":)" +
                         std::string(kScopePrivacy) + "}",
                     StatusCode::kUnprocessable, "Consent.patient: is required"},
        MalformedRow{"patient_not_patient",
                     R"({"resourceType":"Consent","status":"active","scope":)" +
                         std::string(kScopePrivacy) +
                         R"(,"patient":{"reference":"Practitioner/x"}})",
                     StatusCode::kUnprocessable, "must refer to a Patient"},
        MalformedRow{"patient_absolute",
                     R"({"resourceType":"Consent","status":"active","scope":)" +
                         std::string(kScopePrivacy) +
                         R"(,"patient":{"reference":"https://x.org/fhir/Patient/p1"}})",
                     StatusCode::kUnprocessable, "relative reference"},
        MalformedRow{"active_without_provision",
                     R"({"resourceType":"Consent","status":"active","scope":)" +
                         std::string(kScopePrivacy) + R"(,"patient":{"reference":"Patient/p1"}})",
                     StatusCode::kUnprocessable, "needs a provision"},
        MalformedRow{"provision_array", Full(kHead, "[]"), StatusCode::kInvalidArgument,
                     "Consent.provision must be an object"},
        MalformedRow{"type_unknown", Full(kHead, R"({"type":"maybe"})"), StatusCode::kUnprocessable,
                     "Consent.provision.type: must be deny or permit"},
        MalformedRow{"untyped_under_untyped_root", Full(kHead, R"({"provision":[{}]})"),
                     StatusCode::kUnprocessable, "Consent.provision.provision[0].type"},
        MalformedRow{"period_bad_date",
                     Full(kHead, R"({"type":"deny","period":{"start":"yesterday"}})"),
                     StatusCode::kUnprocessable, "Consent.provision.period.start"},
        MalformedRow{"period_reversed",
                     Full(kHead, R"({"type":"deny","period":{"start":"2025","end":"2024"}})"),
                     StatusCode::kUnprocessable, "start is after end"},
        MalformedRow{"period_string", Full(kHead, R"({"type":"deny","period":"2024"})"),
                     StatusCode::kInvalidArgument, "Consent.provision.period must be a Period"},
        MalformedRow{"actor_not_array", Full(kHead, R"({"type":"deny","actor":{}})"),
                     StatusCode::kInvalidArgument, "Consent.provision.actor must be an array"},
        MalformedRow{"actor_without_reference", Full(kHead, R"({"type":"deny","actor":[{}]})"),
                     StatusCode::kUnprocessable, "an actor needs a reference"},
        MalformedRow{
            "actor_group",
            Full(kHead, R"({"type":"deny","actor":[{"reference":{"reference":"Group/g"}}]})"),
            StatusCode::kUnprocessable, "Group is not supported"},
        MalformedRow{
            "actor_unknown_type",
            Full(kHead, R"({"type":"deny","actor":[{"reference":{"reference":"Nope/g"}}]})"),
            StatusCode::kUnprocessable, "unknown resource type"},
        MalformedRow{
            "actor_bad_id",
            Full(kHead,
                 R"({"type":"deny","actor":[{"reference":{"reference":"Practitioner/a b"}}]})"),
            StatusCode::kUnprocessable, "invalid resource id"},
        MalformedRow{"actor_contained",
                     Full(kHead, R"({"type":"deny","actor":[{"reference":{"reference":"#x"}}]})"),
                     StatusCode::kUnprocessable, "relative reference"},
        MalformedRow{"actor_other_identifier",
                     Full(kHead, R"({"type":"deny","actor":[{"reference":{"identifier":)"
                                 R"({"system":"urn:oid:1.2","value":"x"}}}]})"),
                     StatusCode::kUnprocessable, "urn:sund:client-id"},
        MalformedRow{"actor_client_without_value",
                     Full(kHead, R"({"type":"deny","actor":[{"reference":{"identifier":)"
                                 R"({"system":"urn:sund:client-id"}}}]})"),
                     StatusCode::kUnprocessable, "client id (value) is missing"},
        MalformedRow{"actor_reference_number",
                     Full(kHead, R"({"type":"deny","actor":[{"reference":{"reference":7}}]})"),
                     StatusCode::kInvalidArgument, "must be a string"},
        MalformedRow{"action_unknown_code",
                     Full(kHead, R"({"type":"deny","action":[{"coding":[{"system":)"
                                 R"("http://terminology.hl7.org/CodeSystem/consentaction",)"
                                 R"("code":"delete"}]}]})"),
                     StatusCode::kUnprocessable, "unknown consentaction code"},
        MalformedRow{"action_other_system_only",
                     Full(kHead, R"({"type":"deny","action":[{"coding":[{"system":"urn:x",)"
                                 R"("code":"access"}]}]})"),
                     StatusCode::kUnprocessable, "needs a code from"},
        MalformedRow{"action_text_only",
                     Full(kHead, R"({"type":"deny","action":[{"text":"reading"}]})"),
                     StatusCode::kUnprocessable, "at least one coding"},
        MalformedRow{"label_without_code",
                     Full(kHead, R"({"type":"deny","securityLabel":[{"system":"urn:x"}]})"),
                     StatusCode::kUnprocessable, "a Coding needs a code"},
        MalformedRow{"label_string", Full(kHead, R"({"type":"deny","securityLabel":["R"]})"),
                     StatusCode::kInvalidArgument, "must be a Coding object"},
        MalformedRow{"purpose_code_number",
                     Full(kHead, R"({"type":"deny","purpose":[{"code":5}]})"),
                     StatusCode::kInvalidArgument, "Consent.provision.purpose[0].code"},
        MalformedRow{"class_unknown_resource_type",
                     Full(kHead, R"({"type":"deny","class":[{"system":)"
                                 R"("http://hl7.org/fhir/resource-types","code":"Observashun"}]})"),
                     StatusCode::kUnprocessable, "Consent.provision.class[0]: unknown resource"},
        MalformedRow{"code_not_concept", Full(kHead, R"({"type":"deny","code":[true]})"),
                     StatusCode::kInvalidArgument, "must be a CodeableConcept"},
        MalformedRow{
            "data_without_meaning",
            Full(kHead, R"({"type":"deny","data":[{"reference":{"reference":"Observation/o1"}}]})"),
            StatusCode::kUnprocessable, "meaning: is required"},
        MalformedRow{"data_unknown_meaning",
                     Full(kHead, R"({"type":"deny","data":[{"meaning":"all",)"
                                 R"("reference":{"reference":"Observation/o1"}}]})"),
                     StatusCode::kUnprocessable, "must be instance, related"},
        MalformedRow{"data_identifier_only",
                     Full(kHead, R"({"type":"deny","data":[{"meaning":"instance",)"
                                 R"("reference":{"identifier":{"value":"x"}}}]})"),
                     StatusCode::kUnprocessable, "needs a relative reference"},
        MalformedRow{"nested_not_array", Full(kHead, R"({"type":"deny","provision":{}})"),
                     StatusCode::kInvalidArgument, "Consent.provision.provision must be an array"},
        MalformedRow{"nested_wrong_element_type",
                     Full(kHead, R"({"type":"deny","provision":[{"type":"permit","class":[{)"
                                 R"("system":"http://hl7.org/fhir/resource-types","code":1}]}]})"),
                     StatusCode::kInvalidArgument, "Consent.provision.provision[0].class[0].code"},
        MalformedRow{"meta_string", R"({"resourceType":"Consent","meta":"x","status":"active"})",
                     StatusCode::kInvalidArgument, "Consent.meta must be an object"},
        MalformedRow{"id_invalid", R"({"resourceType":"Consent","id":"a/b","status":"active"})",
                     StatusCode::kUnprocessable, "Consent.id"},
        MalformedRow{"date_time_bad",
                     R"({"resourceType":"Consent","status":"active","scope":)" +
                         std::string(kScopePrivacy) +
                         R"(,"patient":{"reference":"Patient/p1"},"dateTime":"2024-13-01"})",
                     StatusCode::kUnprocessable, "Consent.dateTime"}),
    [](const ::testing::TestParamInfo<MalformedRow>& info) { return info.param.name; });

// Verifies: REQ-CON-015
TEST(ParseConsentTest, ErrorMessagesDoNotEchoValues) {
  auto r = ParseConsentJson(
      Full(kHead, R"({"type":"deny","actor":[{"reference":{"reference":"Secret/Jensen"}}]})"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::Not(HasSubstr("Jensen")));
}

// Verifies: REQ-CON-016
TEST(ActionFromCodeTest, KnowsTheFiveCodes) {
  for (const char* code : {"access", "collect", "use", "disclose", "correct"}) {
    auto a = ActionFromCode(code);
    ASSERT_TRUE(a.has_value()) << code;
    EXPECT_EQ(ActionName(*a), code);
  }
  EXPECT_FALSE(ActionFromCode("read").has_value());
}

}  // namespace
}  // namespace sund::consent
