// SMART on FHIR enforcement through the HTTP API on a real stack with an auth::AuthServer
// (docs/auth.md, "Scopes and what they allow"; src/api/access.h): 401 without a valid token,
// patient/ scopes bound to the token's patient compartment in reads, searches, includes,
// totals, history, $everything, writes and Bundles, granular scopes, system/ and user/ type
// grants. Each test seeds two patients A and B through a system token and then checks what a
// narrower token can see and change, verifying the stored data with the system token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "api/app_grants.h"
#include "api_fixture.h"
#include "core/crypto.h"
#include "fhir/resource.h"

namespace sund::itest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr std::string_view kCategory = "http://terminology.hl7.org/CodeSystem/observation-category";

std::string PatientJson(std::string_view id, std::string_view family) {
  return R"({"resourceType":"Patient","id":")" + std::string(id) + R"(","name":[{"family":")" +
         std::string(family) + R"("}]})";
}

// An Observation of `patient` in `category`; `extra` adds members (",\"focus\":...").
std::string ObservationJson(std::string_view id, std::string_view patient,
                            std::string_view category, int value, std::string_view extra = {}) {
  std::string out = R"({"resourceType":"Observation",)";
  if (!id.empty()) out += R"("id":")" + std::string(id) + R"(",)";
  out += R"("status":"final","category":[{"coding":[{"system":")" + std::string(kCategory) +
         R"(","code":")" + std::string(category) +
         R"("}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)" +
         R"("subject":{"reference":"Patient/)" + std::string(patient) +
         R"("},"valueQuantity":{"value":)" + std::to_string(value) + "}" + std::string(extra) + "}";
  return out;
}

// A new Observation (no id) carrying identifier urn:test|`marker`, to find it afterwards.
std::string MarkedObservation(std::string_view patient, std::string_view marker) {
  return ObservationJson(
      "", patient, "vital-signs", 70,
      R"(,"identifier":[{"system":"urn:test","value":")" + std::string(marker) + R"("}])");
}

std::string EncounterJson(std::string_view id, std::string_view patient) {
  return R"({"resourceType":"Encounter","id":")" + std::string(id) +
         R"(","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/)" +
         R"(v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/)" + std::string(patient) +
         R"("},"participant":[{"individual":{"reference":"Practitioner/doc"}}]})";
}

// "Type/id" from a fullUrl ".../fhir/Type/id".
std::string RefOfFullUrl(std::string_view url) {
  std::size_t id_at = url.rfind('/');
  if (id_at == std::string_view::npos || id_at == 0) return std::string(url);
  std::size_t type_at = url.rfind('/', id_at - 1);
  return std::string(url.substr(type_at == std::string_view::npos ? 0 : type_at + 1));
}

// The "Type/id" of every entry of a Bundle, from its fullUrl (history entries of deletions
// carry no resource).
std::multiset<std::string> FullUrlRefs(const rapidjson::Value& bundle) {
  std::multiset<std::string> out;
  const rapidjson::Value* entries = json::Find(bundle, "entry");
  if (entries == nullptr || !entries->IsArray()) return out;
  for (const auto& e : entries->GetArray()) out.insert(RefOfFullUrl(json::GetString(e, "fullUrl")));
  return out;
}

std::set<std::string> AsSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// The response.status of Bundle entry `i`.
std::string EntryStatus(const rapidjson::Value& bundle, rapidjson::SizeType i) {
  const rapidjson::Value* entries = json::Find(bundle, "entry");
  if (entries == nullptr || !entries->IsArray() || entries->Size() <= i) return {};
  const rapidjson::Value* response = json::Find((*entries)[i], "response");
  return response == nullptr ? std::string() : std::string(json::GetString(*response, "status"));
}

// What lies in Patient A's compartment after seeding.
const std::set<std::string>& CompartmentOfA() {
  static const auto* kSet = new std::set<std::string>{"Patient/pa", "Observation/a-vital",
                                                      "Observation/a-lab", "Encounter/a-enc"};
  return *kSet;
}

class AccessTest : public ApiTest {
 protected:
  bool WithAuth() const override { return true; }

  void SetUp() override {
    ApiTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_NE(stack_->auth(), nullptr);
    system_ = Bearer(Mint("system/*.cruds"));
    Seed();
  }

  // Patients A (pa) and B (pb); a vital-signs and a laboratory Observation each; an Encounter
  // each with the shared Practitioner/doc; a Condition of B. Two references cross between the
  // two: b-vital has A as its focus (not a compartment parameter) and a-lab is derived from
  // b-lab, so that following any reference would bring B's data to A. b-vital has two versions.
  void Seed() {
    SeedPut("Patient", "pa", PatientJson("pa", "Andersen"));
    SeedPut("Patient", "pb", PatientJson("pb", "Bertelsen"));
    SeedPut("Practitioner", "doc",
            R"({"resourceType":"Practitioner","id":"doc","name":[{"family":"Doktorsen"}]})");
    SeedPut("Observation", "b-lab", ObservationJson("b-lab", "pb", "laboratory", 187));
    SeedPut("Observation", "a-vital", ObservationJson("a-vital", "pa", "vital-signs", 61));
    SeedPut("Observation", "a-lab",
            ObservationJson("a-lab", "pa", "laboratory", 62,
                            R"(,"derivedFrom":[{"reference":"Observation/b-lab"}])"));
    SeedPut("Observation", "b-vital",
            ObservationJson("b-vital", "pb", "vital-signs", 186,
                            R"(,"focus":[{"reference":"Patient/pa"}])"));
    ApiResponse u = Put("/fhir/Observation/b-vital",
                        ObservationJson("b-vital", "pb", "vital-signs", 185,
                                        R"(,"focus":[{"reference":"Patient/pa"}])"),
                        system_);
    EXPECT_EQ(u.status, 200) << u.body;
    SeedPut("Encounter", "a-enc", EncounterJson("a-enc", "pa"));
    SeedPut("Encounter", "b-enc", EncounterJson("b-enc", "pb"));
    SeedPut("Condition", "b-cond",
            R"({"resourceType":"Condition","id":"b-cond","code":{"text":"Bertelsen-syndrom"},)"
            R"("subject":{"reference":"Patient/pb"}})");
  }

  void SeedPut(std::string_view type, std::string_view id, const std::string& json) {
    ApiResponse r = Put("/fhir/" + std::string(type) + "/" + std::string(id), json, system_);
    EXPECT_EQ(r.status, 201) << type << "/" << id << ": " << r.body.substr(0, 300);
  }

  std::string Mint(std::string_view scope, std::string_view patient = {},
                   std::string_view audience = {}, std::string_view fhir_user = {}) {
    auth::MintRequest m;
    m.fhir_user = std::string(fhir_user);
    m.audience = audience.empty() ? stack_->base_url() : std::string(audience);
    m.scope = std::string(scope);
    m.patient = std::string(patient);
    auto token = stack_->auth()->Mint(m);
    EXPECT_TRUE(token.ok()) << token.status().ToString();
    return token.ok() ? *token : std::string();
  }

  static http::Headers Bearer(const std::string& token) {
    return MakeHeaders({{"Authorization", "Bearer " + token}});
  }

  // Headers of a patient/ token for A.
  http::Headers PatientA(std::string_view scope = "patient/*.rs") {
    return Bearer(Mint(scope, "pa"));
  }

  // Match entries of every page from `target` (follows next links), as "Type/id".
  std::vector<std::string> Matches(const std::string& target, const http::Headers& h) {
    std::vector<std::string> out;
    std::string next = target;
    for (int pages = 0; !next.empty(); ++pages) {
      if (pages == 100) {
        ADD_FAILURE() << "more than 100 pages from " << target;
        break;
      }
      ApiResponse r = Get(next, h);
      if (r.status != 200) {
        ADD_FAILURE() << next << ": " << r.status << " " << r.body.substr(0, 300);
        break;
      }
      for (auto& ref : EntryRefs(r.json)) out.push_back(std::move(ref));
      next = LinkUrl(r.json, "next");
    }
    return out;
  }

  // Bundle.total of `query` + _total=accurate, under `h`; -1 on failure.
  std::int64_t Total(std::string_view query, const http::Headers& h) {
    std::string target = "/fhir/" + EncodeQuery(query);
    target += target.find('?') == std::string::npos ? "?_total=accurate" : "&_total=accurate";
    ApiResponse r = Get(target, h);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body.substr(0, 300);
    if (r.status != 200 || !r.json.IsObject() || !r.json.HasMember("total") ||
        !r.json["total"].IsInt64()) {
      return -1;
    }
    return r.json["total"].GetInt64();
  }

  // How many resources match `query` in the store as a whole (system token).
  std::int64_t StoredCount(std::string_view query) { return Total(query, system_); }

  // The stored current version of type/id (system token); the test fails unless it exists.
  ApiResponse Stored(std::string_view type, std::string_view id) {
    ApiResponse r = Get("/fhir/" + std::string(type) + "/" + std::string(id), system_);
    EXPECT_EQ(r.status, 200) << type << "/" << id << ": " << r.body.substr(0, 300);
    return r;
  }

  static std::string SubjectOf(const ApiResponse& r) {
    const rapidjson::Value* subject = json::Find(r.json, "subject");
    return subject == nullptr ? std::string() : std::string(json::GetString(*subject, "reference"));
  }

  http::Headers system_;
};

// --- Authentication ----------------------------------------------------------------------

// Verifies: REQ-API-099
TEST_F(AccessTest, NoTokenAnswers401WithBareBearerChallenge) {
  for (std::string target : {"/fhir/Patient/pa", "/fhir/Observation", "/fhir/_history"}) {
    ApiResponse r = Get(target);
    EXPECT_EQ(r.status, 401) << target;
    EXPECT_EQ(r.Header("WWW-Authenticate"), "Bearer realm=\"sund\"") << target;
    EXPECT_TRUE(r.IsOperationOutcome()) << target << ": " << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr("Andersen"))) << target;
  }
  ApiResponse post = Post("/fhir/Observation", MarkedObservation("pa", "anon"));
  EXPECT_EQ(post.status, 401);
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|anon"), 0);
}

// Verifies: REQ-API-099
TEST_F(AccessTest, GarbageTokenAnswers401InvalidToken) {
  for (const char* token : {"not-a-jwt", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}) {
    ApiResponse r = Get("/fhir/Patient/pa", Bearer(token));
    EXPECT_EQ(r.status, 401) << token;
    std::string challenge = r.Header("WWW-Authenticate");
    EXPECT_THAT(challenge, StartsWith("Bearer realm=\"sund\"")) << token;
    EXPECT_THAT(challenge, HasSubstr("error=\"invalid_token\"")) << token;
    EXPECT_TRUE(r.IsOperationOutcome()) << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr("Andersen")));
  }
}

// Verifies: REQ-API-099
TEST_F(AccessTest, TokenForAnotherAudienceAnswers401) {
  std::string other = Mint("system/*.cruds", {}, "http://other.example/fhir");
  ASSERT_FALSE(other.empty());
  ApiResponse r = Get("/fhir/Patient/pa", Bearer(other));
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_THAT(r.Header("WWW-Authenticate"), HasSubstr("error=\"invalid_token\""));
  EXPECT_THAT(r.body, Not(HasSubstr("Andersen")));
  // The same scopes for this server's base work (the audience is what differs).
  EXPECT_EQ(Get("/fhir/Patient/pa", Bearer(Mint("system/*.cruds"))).status, 200);
}

// Verifies: REQ-API-100
TEST_F(AccessTest, MetadataIsPublicAndNamesAbsoluteOAuthEndpoints) {
  ApiResponse r = Get("/fhir/metadata");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(json::GetString(r.json, "resourceType"), "CapabilityStatement");
  const rapidjson::Value* rest = json::Find(r.json, "rest");
  ASSERT_TRUE(rest != nullptr && rest->IsArray() && !rest->Empty());
  const rapidjson::Value* security = json::Find((*rest)[0], "security");
  ASSERT_NE(security, nullptr) << r.body.substr(0, 500);
  const rapidjson::Value* extensions = json::Find(*security, "extension");
  ASSERT_TRUE(extensions != nullptr && extensions->IsArray());
  const rapidjson::Value* oauth = nullptr;
  for (const auto& e : extensions->GetArray()) {
    if (json::GetString(e, "url") ==
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris") {
      oauth = &e;
    }
  }
  ASSERT_NE(oauth, nullptr);
  std::string authorize, token;
  const rapidjson::Value* uris = json::Find(*oauth, "extension");
  ASSERT_TRUE(uris != nullptr && uris->IsArray());
  for (const auto& u : uris->GetArray()) {
    if (json::GetString(u, "url") == "authorize") authorize = json::GetString(u, "valueUri");
    if (json::GetString(u, "url") == "token") token = json::GetString(u, "valueUri");
  }
  std::string origin = "http://127.0.0.1:" + std::to_string(stack_->port());
  EXPECT_EQ(authorize, origin + "/oauth2/authorize");
  EXPECT_EQ(token, origin + "/oauth2/token");
}

// --- patient/ scopes: reads and searches ---------------------------------------------------

// Verifies: REQ-API-101
TEST_F(AccessTest, PatientTokenReadsItsPatientButNotAnother) {
  http::Headers a = PatientA();
  ApiResponse own = Get("/fhir/Patient/pa", a);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_THAT(own.body, HasSubstr("Andersen"));
  EXPECT_EQ(Get("/fhir/Observation/a-lab", a).status, 200);

  for (std::string target :
       {"/fhir/Patient/pb", "/fhir/Observation/b-vital", "/fhir/Observation/b-vital/_history/1",
        "/fhir/Condition/b-cond", "/fhir/Encounter/b-enc"}) {
    ApiResponse r = Get(target, a);
    EXPECT_EQ(r.status, 404) << target << ": " << r.body;
    EXPECT_TRUE(r.IsOperationOutcome()) << target << ": " << r.body;
    for (const char* secret : {"Bertelsen", "valueQuantity", "laboratory", "vital-signs"}) {
      EXPECT_THAT(r.body, Not(HasSubstr(secret))) << target;
    }
  }
  // 404 as for a resource that does not exist at all.
  EXPECT_EQ(Get("/fhir/Observation/no-such-one", a).status, 404);
}

// Verifies: REQ-API-102
TEST_F(AccessTest, PatientTokenSearchesAndCountsOnlyItsCompartment) {
  http::Headers a = PatientA();
  // Pages of one: no page carries B's data, and paging ends after A's two.
  EXPECT_THAT(Matches("/fhir/Observation?_count=1", a),
              UnorderedElementsAre("Observation/a-vital", "Observation/a-lab"));
  EXPECT_EQ(Total("Observation", a), 2);
  EXPECT_EQ(StoredCount("Observation"), 4);
  ApiResponse count = Get("/fhir/Observation?_summary=count", a);
  ASSERT_EQ(count.status, 200) << count.body;
  EXPECT_EQ(count.json["total"].GetInt64(), 2);

  ApiResponse other =
      Get("/fhir/" + EncodeQuery("Observation?subject=Patient/pb&_total=accurate"), a);
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(other.json["total"].GetInt64(), 0);
  EXPECT_THAT(EntryRefs(other.json), IsEmpty());
  EXPECT_EQ(Total("Observation?focus=Patient/pa", a), 0);  // b-vital's focus is A
  EXPECT_EQ(Total("Observation?value-quantity=185", a), 0);
  EXPECT_EQ(Total("Condition", a), 0);
  EXPECT_EQ(Total("Encounter", a), 1);
  EXPECT_THAT(Matches("/fhir/Patient", a), UnorderedElementsAre("Patient/pa"));
  EXPECT_EQ(Total("Patient?name=Bertelsen", a), 0);
  // POST _search takes the same path.
  ApiResponse post =
      client_->Send("POST", "/fhir/Observation/_search", "_total=accurate",
                    MakeHeaders({{"Authorization", std::string(a.Get("Authorization"))},
                                 {"Content-Type", "application/x-www-form-urlencoded"}}));
  ASSERT_EQ(post.status, 200) << post.body;
  EXPECT_EQ(post.json["total"].GetInt64(), 2);
  EXPECT_THAT(EntryRefs(post.json),
              UnorderedElementsAre("Observation/a-vital", "Observation/a-lab"));
}

// Verifies: REQ-API-103
TEST_F(AccessTest, PatientTokenIncludesStayInTheCompartment) {
  http::Headers a = PatientA();
  ApiResponse enc = Get("/fhir/Encounter?_include=Encounter:subject", a);
  ASSERT_EQ(enc.status, 200) << enc.body;
  EXPECT_THAT(EntryRefs(enc.json), UnorderedElementsAre("Encounter/a-enc"));
  EXPECT_THAT(EntryRefs(enc.json, "include"), UnorderedElementsAre("Patient/pa"));

  ApiResponse rev = Get("/fhir/Patient?_revinclude=Observation:subject", a);
  ASSERT_EQ(rev.status, 200) << rev.body;
  EXPECT_THAT(EntryRefs(rev.json), UnorderedElementsAre("Patient/pa"));
  EXPECT_THAT(EntryRefs(rev.json, "include"),
              UnorderedElementsAre("Observation/a-vital", "Observation/a-lab"));

  // b-vital refers to A (focus) and a-lab to b-lab: neither brings B's data in.
  ApiResponse focus = Get("/fhir/Patient?_revinclude=Observation:focus", a);
  ASSERT_EQ(focus.status, 200) << focus.body;
  EXPECT_THAT(EntryRefs(focus.json, "include"), IsEmpty());
  ApiResponse derived = Get("/fhir/Observation?_include=Observation:derived-from", a);
  ASSERT_EQ(derived.status, 200) << derived.body;
  EXPECT_THAT(EntryRefs(derived.json, "include"), IsEmpty());
  for (const auto* r : {&enc, &rev, &focus, &derived}) {
    EXPECT_THAT(r->body, Not(HasSubstr("Bertelsen")));
    // (a-lab's derivedFrom names b-lab: A's own data may name it, but not carry it.)
    EXPECT_THAT(r->body, Not(HasSubstr(R"("id":"b-vital")")));
    EXPECT_THAT(r->body, Not(HasSubstr(R"("id":"b-lab")")));
  }

  // The control: with a system token these links do reach B's resources.
  EXPECT_THAT(
      EntryRefs(Get("/fhir/Patient?_revinclude=Observation:focus", system_).json, "include"),
      UnorderedElementsAre("Observation/b-vital"));
  EXPECT_THAT(
      EntryRefs(Get("/fhir/Observation?_id=a-lab&_include=Observation:derived-from", system_).json,
                "include"),
      UnorderedElementsAre("Observation/b-lab"));
}

// Verifies: REQ-API-103
TEST_F(AccessTest, SharedPractitionerIsReadableAndIncludable) {
  http::Headers a = PatientA();
  ApiResponse read = Get("/fhir/Practitioner/doc", a);
  EXPECT_EQ(read.status, 200) << read.body;
  EXPECT_THAT(read.body, HasSubstr("Doktorsen"));
  EXPECT_THAT(Matches("/fhir/Practitioner", a), UnorderedElementsAre("Practitioner/doc"));

  ApiResponse inc = Get("/fhir/Encounter?_include=Encounter:participant", a);
  ASSERT_EQ(inc.status, 200) << inc.body;
  EXPECT_THAT(EntryRefs(inc.json), UnorderedElementsAre("Encounter/a-enc"));
  EXPECT_THAT(EntryRefs(inc.json, "include"), UnorderedElementsAre("Practitioner/doc"));

  // From the practitioner back: only A's Encounter (B's names the same practitioner).
  ApiResponse rev = Get("/fhir/Practitioner?_revinclude=Encounter:participant", a);
  ASSERT_EQ(rev.status, 200) << rev.body;
  EXPECT_THAT(EntryRefs(rev.json), UnorderedElementsAre("Practitioner/doc"));
  EXPECT_THAT(EntryRefs(rev.json, "include"), UnorderedElementsAre("Encounter/a-enc"));
  ApiResponse iter = Get(
      "/fhir/Practitioner?_revinclude=Encounter:participant&_include:iterate=Encounter:subject", a);
  ASSERT_EQ(iter.status, 200) << iter.body;
  EXPECT_THAT(EntryRefs(iter.json, "include"),
              UnorderedElementsAre("Encounter/a-enc", "Patient/pa"));
}

// Verifies: REQ-API-104
TEST_F(AccessTest, PatientTokenEverythingIsBoundToThePatient) {
  http::Headers a = PatientA();
  ApiResponse b = Get("/fhir/Patient/pb/$everything", a);
  EXPECT_EQ(b.status, 404) << b.body;
  EXPECT_THAT(b.body, Not(HasSubstr("Bertelsen")));

  ApiResponse r = Get("/fhir/Patient/pa/$everything", a);
  ASSERT_EQ(r.status, 200) << r.body;
  std::set<std::string> refs = AsSet(EntryRefs(r.json));
  for (const auto& ref : CompartmentOfA()) EXPECT_TRUE(refs.count(ref)) << ref;
  std::set<std::string> allowed = CompartmentOfA();
  allowed.insert("Practitioner/doc");
  for (const auto& ref : refs) EXPECT_TRUE(allowed.count(ref)) << "unexpected " << ref;
  EXPECT_THAT(r.body, Not(HasSubstr("Bertelsen")));
  EXPECT_EQ(r.json["total"].GetInt64(), static_cast<std::int64_t>(r.json["entry"].Size()));
}

// Verifies: REQ-API-101, REQ-API-104
TEST_F(AccessTest, PatientTokenHistoryIsBoundToTheCompartment) {
  http::Headers a = PatientA();
  ApiResponse sys = Get("/fhir/_history", a);
  ASSERT_EQ(sys.status, 200) << sys.body;
  std::multiset<std::string> refs = FullUrlRefs(sys.json);
  for (const auto& ref : CompartmentOfA()) EXPECT_TRUE(refs.count(ref)) << ref;
  for (const auto& ref : refs) EXPECT_TRUE(CompartmentOfA().count(ref)) << "unexpected " << ref;
  EXPECT_THAT(sys.body, Not(HasSubstr("Bertelsen")));

  ApiResponse type = Get("/fhir/Observation/_history", a);
  ASSERT_EQ(type.status, 200) << type.body;
  EXPECT_THAT(FullUrlRefs(type.json),
              UnorderedElementsAre("Observation/a-vital", "Observation/a-lab"));
  // The control: B's Observation has two versions in the whole history.
  EXPECT_EQ(
      FullUrlRefs(Get("/fhir/Observation/_history", system_).json).count("Observation/b-vital"),
      2u);

  for (std::string target : {"/fhir/Observation/b-vital/_history", "/fhir/Patient/pb/_history"}) {
    ApiResponse r = Get(target, a);
    EXPECT_EQ(r.status, 404) << target << ": " << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr("valueQuantity"))) << target;
  }
  EXPECT_EQ(Get("/fhir/Observation/a-vital/_history", a).status, 200);
}

// --- patient/ scopes: writes -----------------------------------------------------------------

// Verifies: REQ-API-105
TEST_F(AccessTest, PatientReadScopesDoNotCreate) {
  ApiResponse r = Post("/fhir/Observation", MarkedObservation("pa", "ro"), PatientA());
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_TRUE(r.IsOperationOutcome()) << r.body;
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|ro"), 0);
}

// Verifies: REQ-API-106
TEST_F(AccessTest, PatientWriteScopesCreateOnlyInTheCompartment) {
  http::Headers a = PatientA("patient/*.cruds");
  ApiResponse own = Post("/fhir/Observation", MarkedObservation("pa", "own"), a);
  EXPECT_EQ(own.status, 201) << own.body;
  ApiResponse other = Post("/fhir/Observation", MarkedObservation("pb", "other"), a);
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_TRUE(other.IsOperationOutcome()) << other.body;
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|own"), 1);
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|other"), 0);
  EXPECT_EQ(StoredCount("Observation?subject=Patient/pb"), 2);
  // An update that creates (a client id) is held to the same rule.
  ApiResponse put_new =
      Put("/fhir/Observation/new-b", ObservationJson("new-b", "pb", "laboratory", 1), a);
  EXPECT_EQ(put_new.status, 403) << put_new.body;
  EXPECT_EQ(Get("/fhir/Observation/new-b", system_).status, 404);
}

// Verifies: REQ-API-106
TEST_F(AccessTest, UpdateAndDeleteOfAnotherPatientsResourceAnswer404) {
  http::Headers a = PatientA("patient/*.cruds");
  for (std::string_view subject : {"pa", "pb"}) {
    ApiResponse put =
        Put("/fhir/Observation/b-vital", ObservationJson("b-vital", subject, "vital-signs", 1), a);
    EXPECT_EQ(put.status, 404) << subject << ": " << put.body;
    EXPECT_THAT(put.body, Not(HasSubstr("Bertelsen")));
  }
  ApiResponse del = Delete("/fhir/Observation/b-vital", a);
  EXPECT_EQ(del.status, 404) << del.body;
  ApiResponse patch = Patch("/fhir/Observation/b-vital",
                            R"([{"op":"replace","path":"/status","value":"cancelled"}])", a);
  EXPECT_EQ(patch.status, 404) << patch.body;

  ApiResponse stored = Stored("Observation", "b-vital");
  EXPECT_EQ(stored.VersionId(), "2");
  EXPECT_EQ(SubjectOf(stored), "Patient/pb");
  EXPECT_EQ(json::GetString(stored.json, "status"), "final");
  // The same token does update and delete A's own.
  ApiResponse own =
      Put("/fhir/Observation/a-vital", ObservationJson("a-vital", "pa", "vital-signs", 63), a);
  EXPECT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(Delete("/fhir/Observation/a-lab", a).status, 204);
  EXPECT_EQ(Get("/fhir/Observation/a-lab", system_).status, 410);
}

// Verifies: REQ-API-106
TEST_F(AccessTest, PatchCannotMoveAResourceToAnotherPatient) {
  http::Headers a = PatientA("patient/*.cruds");
  ApiResponse move =
      Patch("/fhir/Observation/a-vital",
            R"([{"op":"replace","path":"/subject/reference","value":"Patient/pb"}])", a);
  EXPECT_EQ(move.status, 403) << move.body;
  ApiResponse stored = Stored("Observation", "a-vital");
  EXPECT_EQ(stored.VersionId(), "1");
  EXPECT_EQ(SubjectOf(stored), "Patient/pa");
  // A patch that stays with A goes through.
  ApiResponse ok = Patch("/fhir/Observation/a-vital",
                         R"([{"op":"replace","path":"/status","value":"amended"}])", a);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Stored("Observation", "a-vital").VersionId(), "2");
}

std::string TwoPatientBundle(std::string_view type, std::string_view marker) {
  return R"({"resourceType":"Bundle","type":")" + std::string(type) + R"(","entry":[)" +
         R"({"request":{"method":"POST","url":"Observation"},"resource":)" +
         MarkedObservation("pa", std::string(marker) + "-a") + "}," +
         R"({"request":{"method":"POST","url":"Observation"},"resource":)" +
         MarkedObservation("pb", std::string(marker) + "-b") + "}]}";
}

// Verifies: REQ-API-107
TEST_F(AccessTest, TransactionWithAnotherPatientsEntryFailsAsAWhole) {
  ApiResponse r = Post("/fhir", TwoPatientBundle("transaction", "tx"), PatientA("patient/*.cruds"));
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_TRUE(r.IsOperationOutcome()) << r.body;
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|tx-a"), 0);
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|tx-b"), 0);
  // The control: the same transaction under the system token writes both.
  EXPECT_EQ(Post("/fhir", TwoPatientBundle("transaction", "tx"), system_).status, 200);
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|tx-a"), 1);
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|tx-b"), 1);
}

// Verifies: REQ-API-107
TEST_F(AccessTest, BatchRefusesOnlyTheOtherPatientsEntry) {
  ApiResponse r = Post("/fhir", TwoPatientBundle("batch", "bt"), PatientA("patient/*.cruds"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(EntryStatus(r.json, 0), StartsWith("201"));
  EXPECT_THAT(EntryStatus(r.json, 1), StartsWith("403"));
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|bt-a"), 1);
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|bt-b"), 0);
}

// Verifies: REQ-API-107
TEST_F(AccessTest, BundleEntriesCannotTouchAnotherPatientsResources) {
  http::Headers a = PatientA("patient/*.cruds");
  ApiResponse r = Post("/fhir",
                       R"({"resourceType":"Bundle","type":"batch","entry":[
      {"request":{"method":"PUT","url":"Observation/b-vital"},"resource":)" +
                           ObservationJson("b-vital", "pa", "vital-signs", 1) + R"(},
      {"request":{"method":"DELETE","url":"Observation/b-lab"}},
      {"request":{"method":"GET","url":"Observation/b-lab"}}]})",
                       a);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(EntryStatus(r.json, 0), StartsWith("404"));
  EXPECT_THAT(EntryStatus(r.json, 1), StartsWith("404"));
  EXPECT_THAT(EntryStatus(r.json, 2), StartsWith("403"));  // reads in Bundles need user/ or system/
  EXPECT_THAT(r.body, Not(HasSubstr("valueQuantity")));
  EXPECT_EQ(Stored("Observation", "b-vital").VersionId(), "2");
  EXPECT_EQ(Stored("Observation", "b-lab").VersionId(), "1");
}

// A PATCH entry is checked on its result, as a PATCH request is.
// Verifies: REQ-API-106, REQ-API-107
TEST_F(AccessTest, BundlePatchCannotMoveAResourceToAnotherPatient) {
  http::Headers a = PatientA("patient/*.cruds");
  std::string patch_entry =
      R"({"request":{"method":"PATCH","url":"Observation/a-vital"},"resource":)"
      R"([{"op":"replace","path":"/subject/reference","value":"Patient/pb"}]})";
  ApiResponse batch =
      Post("/fhir", R"({"resourceType":"Bundle","type":"batch","entry":[)" + patch_entry + "]}", a);
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_THAT(EntryStatus(batch.json, 0), StartsWith("403"));
  ApiResponse tx =
      Post("/fhir",
           R"({"resourceType":"Bundle","type":"transaction","entry":[)" + patch_entry + "]}", a);
  EXPECT_EQ(tx.status, 403) << tx.body;
  ApiResponse stored = Stored("Observation", "a-vital");
  EXPECT_EQ(stored.VersionId(), "1");
  EXPECT_EQ(SubjectOf(stored), "Patient/pa");
}

// Verifies: REQ-API-108
TEST_F(AccessTest, ConditionalCreateIsRefusedUnderPatientScopes) {
  http::Headers a = PatientA("patient/*.cruds");
  a.Set("If-None-Exist", "identifier=urn:test|cc");
  ApiResponse r = Post("/fhir/Observation", MarkedObservation("pa", "cc"), a);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_TRUE(r.IsOperationOutcome()) << r.body;
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|cc"), 0);
  // Conditional update and delete alike.
  ApiResponse put = Put("/fhir/" + EncodeQuery("Observation?identifier=urn:test|cc"),
                        MarkedObservation("pa", "cc"), PatientA("patient/*.cruds"));
  EXPECT_EQ(put.status, 403) << put.body;
  ApiResponse del =
      Delete("/fhir/" + EncodeQuery("Observation?subject=Patient/pb"), PatientA("patient/*.cruds"));
  EXPECT_EQ(del.status, 403) << del.body;
  EXPECT_EQ(StoredCount("Observation?subject=Patient/pb"), 2);
}

// --- Granular scopes -------------------------------------------------------------------------

// Verifies: REQ-API-109
TEST_F(AccessTest, GranularScopeLimitsSearchesAndReads) {
  http::Headers v = PatientA(
      "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
      "observation-category|vital-signs");
  EXPECT_THAT(Matches("/fhir/Observation", v), UnorderedElementsAre("Observation/a-vital"));
  EXPECT_EQ(Total("Observation", v), 1);
  EXPECT_EQ(Total("Observation?category=laboratory", v), 0);
  ApiResponse lab = Get("/fhir/Observation/a-lab", v);
  EXPECT_EQ(lab.status, 404) << lab.body;
  EXPECT_THAT(lab.body, Not(HasSubstr("valueQuantity")));
  EXPECT_EQ(Get("/fhir/Observation/a-vital", v).status, 200);
  EXPECT_EQ(Get("/fhir/Observation/b-vital", v).status, 404);
  ApiResponse cond = Get("/fhir/Condition", v);
  EXPECT_EQ(cond.status, 403) << cond.body;
  EXPECT_TRUE(cond.IsOperationOutcome()) << cond.body;
  EXPECT_THAT(cond.body, Not(HasSubstr("Bertelsen")));
  EXPECT_EQ(Get("/fhir/Patient/pa", v).status, 403);
}

// --- system/ and user/ scopes --------------------------------------------------------------

// Verifies: REQ-API-110
TEST_F(AccessTest, SystemTypeScopeGrantsOnlyItsTypeAndPermissions) {
  http::Headers obs = Bearer(Mint("system/Observation.rs"));
  EXPECT_THAT(AsSet(Matches("/fhir/Observation", obs)),
              (std::set<std::string>{"Observation/a-vital", "Observation/a-lab",
                                     "Observation/b-vital", "Observation/b-lab"}));
  ApiResponse patients = Get("/fhir/Patient", obs);
  EXPECT_EQ(patients.status, 403) << patients.body;
  EXPECT_TRUE(patients.IsOperationOutcome());
  EXPECT_EQ(Get("/fhir/Patient/pa", obs).status, 403);
  ApiResponse create = Post("/fhir/Observation", MarkedObservation("pa", "sys-ro"), obs);
  EXPECT_EQ(create.status, 403) << create.body;
  EXPECT_EQ(StoredCount("Observation?identifier=urn:test|sys-ro"), 0);
}

// user/ scopes are not bound to a compartment: without Consents, the Danish base policy lets a
// practitioner see every patient's data for treatment (ConsentTest below narrows it).
// Verifies: REQ-CON-047
TEST_F(AccessTest, UserScopesWithoutConsentsGrantTheTypesAsAWhole) {
  http::Headers u = Bearer(Mint("user/*.rs"));
  ApiResponse b = Get("/fhir/Patient/pb", u);
  EXPECT_EQ(b.status, 200) << b.body;
  EXPECT_THAT(b.body, HasSubstr("Bertelsen"));
  EXPECT_EQ(Get("/fhir/Observation/b-vital", u).status, 200);
  EXPECT_EQ(Total("Observation", u), 4);
  EXPECT_EQ(Total("Condition", u), 1);
  EXPECT_EQ(Post("/fhir/Observation", MarkedObservation("pb", "user-ro"), u).status, 403);
}

// --- Consent (api/consent_gate.h) on the same stack: the Danish base policy, Consents written
// through the API, practitioners identified by their token's fhirUser.

constexpr std::string_view kDenyDoc =
    R"({"resourceType":"Consent","id":"c-b","status":"active",)"
    R"("scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",)"
    R"("code":"patient-privacy"}]},"category":[{"text":"negativ samtykke"}],)"
    R"("patient":{"reference":"Patient/pb"},)"
    R"("provision":{"type":"deny","actor":[{"role":{"coding":[{"system":)"
    R"("http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"PRCP"}]},)"
    R"("reference":{"reference":"Practitioner/doc"}}]}})";

// B blocks their laboratory results for everyone (a data class: the per-resource path).
constexpr std::string_view kDenyLab =
    R"({"resourceType":"Consent","id":"c-lab","status":"active",)"
    R"("scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",)"
    R"("code":"patient-privacy"}]},"category":[{"text":"negativ samtykke"}],)"
    R"("patient":{"reference":"Patient/pb"},)"
    R"("provision":{"type":"deny","class":[{"system":)"
    R"("http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}})";

class ConsentTest : public AccessTest {
 protected:
  http::Headers Doc(std::string_view practitioner = "doc") {
    return Bearer(Mint("user/*.rs", {}, {}, "Practitioner/" + std::string(practitioner)));
  }
  void PutConsent(std::string_view id, std::string_view json) {
    ApiResponse r = Put("/fhir/Consent/" + std::string(id), json, system_);
    ASSERT_TRUE(r.status == 201 || r.status == 200) << r.body;
  }
  std::set<std::string> Refs(const std::string& target, const http::Headers& h,
                             std::string_view mode) {
    ApiResponse r = Get(target, h);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body.substr(0, 300);
    auto v = EntryRefs(r.json, mode);
    return {v.begin(), v.end()};
  }
};

// Verifies: REQ-CON-048, REQ-CON-049
TEST_F(ConsentTest, BlockedPractitionerSeesNothingOfThePatientInEntriesIncludesOrTotals) {
  PutConsent("c-b", kDenyDoc);
  http::Headers doc = Doc();
  // Matches and totals, on every page.
  EXPECT_THAT(AsSet(Matches("/fhir/Observation?_count=1", doc)),
              UnorderedElementsAre("Observation/a-vital", "Observation/a-lab"));
  EXPECT_EQ(Total("Observation", doc), 2);
  EXPECT_EQ(Total("Condition", doc), 0);
  EXPECT_EQ(Total("Patient", doc), 1);
  // _include and _revinclude.
  EXPECT_THAT(Refs("/fhir/Encounter?_include=Encounter:subject", doc, "include"),
              UnorderedElementsAre("Patient/pa"));
  auto rev = Refs("/fhir/Patient?_revinclude=Observation:subject", doc, "include");
  EXPECT_THAT(rev, UnorderedElementsAre("Observation/a-vital", "Observation/a-lab"));
  // b-vital names A as its focus but is B's: it stays hidden from A's $everything too, and so
  // does b-lab, which a-lab was derived from.
  EXPECT_EQ(Get("/fhir/Observation/b-lab", doc).status, 404);
  EXPECT_EQ(Get("/fhir/Patient/pb", doc).status, 404);
  EXPECT_EQ(Get("/fhir/Observation/b-vital/_history/1", doc).status, 404);
  EXPECT_EQ(Get("/fhir/Patient/pb/$everything", doc).status, 404);
  auto everything = Refs("/fhir/Patient/pa/$everything", doc, "match");
  EXPECT_EQ(everything.count("Observation/b-vital"), 0u);
  EXPECT_EQ(everything.count("Observation/b-lab"), 0u);
  EXPECT_EQ(everything.count("Observation/a-lab"), 1u);
  // History, system-wide and per instance.
  ApiResponse h = Get("/fhir/_history?_count=100", doc);
  ASSERT_EQ(h.status, 200);
  for (const auto& ref : FullUrlRefs(h.json)) {
    EXPECT_THAT(ref, Not(::testing::AnyOf("Patient/pb", "Observation/b-lab", "Observation/b-vital",
                                          "Encounter/b-enc", "Condition/b-cond")));
  }
  // An instance history of which every version is withheld answers as an unknown id would
  // (an empty 200 would tell that the resource exists), with _since too.
  EXPECT_EQ(Get("/fhir/Observation/b-vital/_history", doc).status, 404);
  EXPECT_EQ(Get("/fhir/Observation/b-vital/_history?_since=2000-01-01", doc).status, 404);
  EXPECT_EQ(Get("/fhir/Observation/no-such-id/_history", doc).status, 404);
  // A visible resource with nothing in the period: an empty history, not 404.
  ApiResponse none = Get("/fhir/Observation/a-lab/_history?_since=2999-01-01", doc);
  EXPECT_EQ(none.status, 200);
  EXPECT_THAT(FullUrlRefs(none.json), IsEmpty());
  // Reads inside a batch would bypass the filter: refused.
  ApiResponse batch = Post("/fhir",
                           R"({"resourceType":"Bundle","type":"batch","entry":[{"request":)"
                           R"({"method":"GET","url":"Observation/b-lab"}}]})",
                           doc);
  EXPECT_EQ(batch.status, 200);
  EXPECT_EQ(EntryStatus(batch.json, 0).substr(0, 3), "403") << batch.body;
  // Another practitioner is not blocked.
  EXPECT_EQ(Total("Observation", Doc("other")), 4);
  EXPECT_EQ(Get("/fhir/Observation/b-lab", Doc("other")).status, 200);
}

// Verifies: REQ-CON-050
TEST_F(ConsentTest, ADeniedDataClassIsFilteredPerResource) {
  PutConsent("c-lab", kDenyLab);
  http::Headers doc = Doc();
  EXPECT_THAT(
      AsSet(Matches("/fhir/Observation?_count=2", doc)),
      UnorderedElementsAre("Observation/a-vital", "Observation/a-lab", "Observation/b-vital"));
  EXPECT_EQ(Total("Observation", doc), 3);
  EXPECT_EQ(Total("Observation?category=laboratory", doc), 1);
  // Matches are decided after the query; whenever a page, a total or an include could then
  // still reveal a denied one, the denied matches are listed in the query and it runs again.
  // Full pages, totals on a first page of several, counts, and no include reached only
  // through a denied match:
  ApiResponse first = Get("/fhir/Observation?_count=2&_total=accurate", doc);
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(EntryRefs(first.json).size(), 2u) << first.body;
  EXPECT_EQ(first.json["total"].GetInt64(), 3);
  ApiResponse count = Get("/fhir/Observation?_summary=count", doc);
  ASSERT_EQ(count.status, 200);
  EXPECT_EQ(count.json["total"].GetInt64(), 3);
  EXPECT_THAT(
      Refs("/fhir/Observation?category=laboratory&_include=Observation:subject", doc, "include"),
      UnorderedElementsAre("Patient/pa"));
  EXPECT_EQ(Total("Observation?subject=Patient/pb", doc), 1);
  EXPECT_EQ(Get("/fhir/Observation/b-lab", doc).status, 404);
  EXPECT_EQ(Get("/fhir/Observation/b-vital", doc).status, 200);
  EXPECT_EQ(Get("/fhir/Patient/pb", doc).status, 200);
}

// App grants are Consents (api/app_grants.h). A grant's Consent, as the authorization server
// writes it on the consent screen, is accepted by the engine; withdrawing it through the API
// (inactive, or deleted) revokes the grant before the answer; a Consent cannot revoke another
// patient's grant; revoking the grant in the authorization server sets its Consent inactive.
// Verifies: REQ-CON-054
TEST_F(ConsentTest, AppGrantConsentsAndTheirGrantsAreWithdrawnTogether) {
  auth::AuthServer& auth = *stack_->auth();
  auth::Client app;
  app.client_id = "min-app";
  app.name = "Min App";
  ASSERT_TRUE(auth.db().AddClient(app).ok());
  auth::User citizen;
  citizen.username = "borger-b";
  citizen.fhir_user = "Patient/pb";
  ASSERT_TRUE(auth.db().AddUser(citizen).ok());
  auto grant = [&](std::string patient) {
    auth::Grant g;
    g.grant_id = crypto::RandomToken(16);
    g.user_id = citizen.id;
    g.client_id = app.client_id;
    g.scope = "launch/patient patient/Observation.rs patient/Patient.r offline_access";
    g.patient = std::move(patient);
    g.created = SystemClock::Get().NowMicros() / 1'000'000;
    g.expires = g.created + 3600;
    EXPECT_TRUE(auth.db().AddGrant(g).ok());
    ApiResponse put = Put("/fhir/Consent/" + api::AppGrantConsentId(g.grant_id),
                          api::AppGrantConsentJson(g, app, citizen), system_);
    EXPECT_EQ(put.status, 201) << put.body;
    return g;
  };
  auto revoked = [&](const auth::Grant& g) {
    auto stored = auth.db().GetGrant(g.grant_id);
    return stored.ok() && stored->revoked;
  };
  auth::Grant withdrawn = grant("pb");
  auth::Grant deleted = grant("pb");
  auth::Grant kept = grant("pb");
  auth::Grant by_auth = grant("pb");
  auth::Grant other = grant("pa");
  ApiResponse consent = Stored("Consent", api::AppGrantConsentId(kept.grant_id));
  EXPECT_THAT(consent.body, ::testing::HasSubstr(R"("code":"Observation")"));
  EXPECT_THAT(consent.body, ::testing::HasSubstr(R"("value":"min-app")"));
  // The patient themself may see it, and the practitioner's view of pb is unchanged.
  EXPECT_EQ(Get("/fhir/Observation/b-lab", Doc()).status, 200);

  // Status inactive through the API: revoked before the answer.
  std::string id = api::AppGrantConsentId(withdrawn.grant_id);
  ApiResponse current = Stored("Consent", id);
  std::string inactive(current.body);
  inactive.replace(inactive.find(R"("status":"active")"), 17, R"("status":"inactive")");
  EXPECT_EQ(Put("/fhir/Consent/" + id, inactive, system_).status, 200);
  EXPECT_TRUE(revoked(withdrawn));
  EXPECT_FALSE(revoked(kept));
  // Deleted: revoked too.
  EXPECT_EQ(Delete("/fhir/Consent/" + api::AppGrantConsentId(deleted.grant_id), system_).status,
            204);
  EXPECT_TRUE(revoked(deleted));
  EXPECT_FALSE(revoked(kept));
  // A Consent of pb that names pa's grant does not revoke it.
  std::string forged = api::AppGrantConsentJson(other, app, citizen);
  forged.replace(forged.find(api::AppGrantConsentId(other.grant_id)),
                 api::AppGrantConsentId(other.grant_id).size(), "forged");
  forged.replace(forged.find("Patient/pa"), 10, "Patient/pb");
  forged.replace(forged.find(R"("status":"active")"), 17, R"("status":"inactive")");
  EXPECT_EQ(Put("/fhir/Consent/forged", forged, system_).status, 201);
  EXPECT_FALSE(revoked(other));
  // Revoked in the authorization server: the Consent says so.
  ASSERT_TRUE(auth.RevokeGrant(by_auth.grant_id, "test").ok());
  EXPECT_THAT(Stored("Consent", api::AppGrantConsentId(by_auth.grant_id)).body,
              ::testing::HasSubstr(R"("status":"inactive")"));
  EXPECT_FALSE(revoked(kept));
}

// The research filter later modules use: only patients with an active research Consent that
// permits; a deny, an expired permit or a privacy Consent does not opt anyone in.
// Verifies: REQ-CON-055
TEST_F(ConsentTest, ResearchPatientsAreThoseWhoseResearchConsentPermits) {
  auto research = [](std::string id, std::string patient, std::string provision) {
    return R"({"resourceType":"Consent","id":")" + id +
           R"(","status":"active","scope":{"coding":[{"system":)"
           R"("http://terminology.hl7.org/CodeSystem/consentscope","code":"research"}]},)"
           R"("category":[{"text":"forskning"}],"patient":{"reference":"Patient/)" +
           patient + R"("},"provision":)" + provision + "}";
  };
  std::int64_t now_ms = SystemClock::Get().NowMicros() / 1000;
  auto none = stack_->consent()->ResearchPatients(now_ms);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  PutConsent("r-a", research("r-a", "pa", R"({"type":"permit"})"));
  PutConsent("r-b", research("r-b", "pb", R"({"type":"deny"})"));
  PutConsent("c-b", kDenyDoc);
  auto in = stack_->consent()->ResearchPatients(now_ms);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_THAT(*in, ElementsAre("pa"));
  PutConsent("r-a",
             research("r-a", "pa", R"({"type":"permit","period":{"end":"2020-01-01T00:00:00Z"}})"));
  auto expired = stack_->consent()->ResearchPatients(now_ms);
  ASSERT_TRUE(expired.ok());
  EXPECT_TRUE(expired->empty());
}

// Verifies: REQ-CON-051
TEST_F(ConsentTest, AChangedConsentTakesEffectOnTheNextRequest) {
  http::Headers doc = Doc();
  EXPECT_EQ(Get("/fhir/Observation/b-lab", doc).status, 200);
  PutConsent("c-b", kDenyDoc);
  EXPECT_EQ(Get("/fhir/Observation/b-lab", doc).status, 404);
  std::string inactive(kDenyDoc);
  inactive.replace(inactive.find("\"active\""), 8, "\"inactive\"");
  PutConsent("c-b", inactive);
  EXPECT_EQ(Get("/fhir/Observation/b-lab", doc).status, 200);
  PutConsent("c-b", kDenyDoc);
  EXPECT_EQ(Get("/fhir/Observation/b-lab", doc).status, 404);
  EXPECT_EQ(Delete("/fhir/Consent/c-b", system_).status, 204);
  EXPECT_EQ(Get("/fhir/Observation/b-lab", doc).status, 200);
}

// Verifies: REQ-AUD-051, REQ-CON-053
TEST_F(ConsentTest, BreakTheGlassNeedsAReasonAndIsAuditedForThePatient) {
  PutConsent("c-b", kDenyDoc);
  http::Headers glass = Doc();
  glass.Set("X-Break-Glass-Reason", "bevidstløs ved indlæggelse");
  ApiResponse r = Get("/fhir/Observation/b-lab", glass);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Total("Observation", glass), 4);
  http::Headers no_reason = Doc();
  no_reason.Set("X-Purpose-Of-Use", "ETREAT");
  ApiResponse refused = Get("/fhir/Observation/b-lab", no_reason);
  EXPECT_EQ(refused.status, 400) << refused.body;
  // B's log names the override, its reason and the Consent it overrode.
  auto records = stack_->audit()->RecordsForPatient("pb", 100);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  bool found = false;
  for (const auto& s : *records) {
    const audit::Record& rec = s.record;
    if (rec.action != audit::Action::kRead || rec.purpose != "ETREAT") continue;
    found = true;
    EXPECT_EQ(rec.outcome, 200);
    EXPECT_EQ(rec.actor.user_id, "Practitioner/doc");
    EXPECT_EQ(rec.actor.role, "practitioner");
    EXPECT_THAT(rec.detail, HasSubstr("bevidstløs ved indlæggelse"));
    EXPECT_THAT(rec.detail, StartsWith("break-the-glass override"));
    EXPECT_THAT(rec.consent_basis, ::testing::Contains("Consent/c-b"));
    EXPECT_THAT(rec.resources, ::testing::Contains("Observation/b-lab/_history/1"));
  }
  EXPECT_TRUE(found) << "no break-the-glass record for B";
}

// Verifies: REQ-AUD-049, REQ-AUD-050, REQ-CON-052
TEST_F(ConsentTest, EveryRequestIsAuditedAndAConsentMustBeReadable) {
  std::int64_t before = stack_->audit()->Size();
  EXPECT_EQ(Get("/fhir/Observation/a-vital", Doc()).status, 200);
  EXPECT_EQ(Get("/fhir/Observation?subject=Patient/pa", Doc()).status, 200);
  EXPECT_EQ(Get("/fhir/Observation/a-vital").status, 401);
  EXPECT_EQ(stack_->audit()->Size(), before + 3);
  auto records = stack_->audit()->RecordsForPatient("pa", 10);
  ASSERT_TRUE(records.ok());
  ASSERT_GE(records->size(), 2u);
  EXPECT_EQ((*records)[0].record.action, audit::Action::kSearch);
  EXPECT_EQ((*records)[0].record.query, "subject=Patient/pa");
  EXPECT_EQ((*records)[1].record.action, audit::Action::kRead);
  EXPECT_EQ((*records)[1].record.purpose, "TREAT");
  // A Consent the engine cannot read is refused, so that every stored Consent counts.
  std::string bad(kDenyDoc);
  bad.replace(bad.find("\"deny\""), 6, "\"maybe\"");
  ApiResponse r = Put("/fhir/Consent/c-bad", bad, system_);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_THAT(r.body, HasSubstr("OperationOutcome"));
}

// A Consent that the engine cannot read but that is stored all the same (written before
// validation existed, or below the API as the importer writes): its patient's data is closed to
// everyone but the patient (fail closed), and so is collecting from their devices, while other
// patients are unaffected.
// Verifies: REQ-CON-058
TEST_F(ConsentTest, AStoredConsentThatCannotBeReadClosesItsPatientsData) {
  // Active patient-privacy without a provision: valid FHIR, but nothing the engine can decide on.
  auto bad = fhir::ParseResource(
      R"({"resourceType":"Consent","id":"c-unreadable","status":"active",)"
      R"("scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",)"
      R"("code":"patient-privacy"}]},"category":[{"text":"negativ samtykke"}],)"
      R"("patient":{"reference":"Patient/pb"}})");
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  auto written = stack_->engine().Update("Consent", "c-unreadable", std::move(bad).value());
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  http::Headers doc = Doc();
  EXPECT_EQ(Get("/fhir/Observation/b-lab", doc).status, 404);
  EXPECT_EQ(Get("/fhir/Patient/pb", doc).status, 404);
  EXPECT_THAT(AsSet(Matches("/fhir/Observation?_count=1", doc)),
              UnorderedElementsAre("Observation/a-vital", "Observation/a-lab"));
  EXPECT_EQ(Total("Observation", doc), 2);
  EXPECT_EQ(Total("Condition", doc), 0);
  EXPECT_EQ(Get("/fhir/Observation/a-lab", doc).status, 200);
  // The patient themself still reads their data.
  http::Headers citizen = Bearer(Mint("patient/*.rs", "pb", {}, "Patient/pb"));
  EXPECT_EQ(Get("/fhir/Observation/b-lab", citizen).status, 200);
  // Home monitoring may not collect for them either.
  std::int64_t now_ms = SystemClock::Get().NowMicros() / 1000;
  auto b = stack_->consent()->AllowsCollection("pb", ObservationJson("", "pb", "vital-signs", 70),
                                               "dev-1", now_ms);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_FALSE(*b);
  auto a = stack_->consent()->AllowsCollection("pa", ObservationJson("", "pa", "vital-signs", 70),
                                               "dev-1", now_ms);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(*a);
}

// Verifies: REQ-AUD-052, REQ-AUD-053
TEST_F(ConsentTest, CitizensReadTheirOwnAuditLogAndAuditorsGetProofs) {
  EXPECT_EQ(Get("/fhir/Observation/a-vital", Doc()).status, 200);
  http::Headers citizen = Bearer(Mint("patient/*.rs", "pa", {}, "Patient/pa"));
  ApiResponse own = Get("/fhir/AuditEvent?patient=Patient/pa", citizen);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_THAT(own.body, HasSubstr("\"resourceType\":\"AuditEvent\""));
  EXPECT_THAT(own.body, HasSubstr("Practitioner/doc"));
  EXPECT_EQ(Get("/fhir/AuditEvent?patient=Patient/pb", citizen).status, 403);
  EXPECT_EQ(Get("/fhir/AuditEvent?patient=Patient/pa", Doc()).status, 403);
  EXPECT_EQ(Get("/fhir/AuditEvent?patient=Patient/pa", Bearer(Mint("system/AuditEvent.rs"))).status,
            200);
  // Proofs are public (hashes only).
  std::int64_t size = stack_->audit()->Size();
  ASSERT_TRUE(stack_->audit()->Checkpoint().ok());
  ApiResponse cps = Get("/audit/checkpoints");
  EXPECT_EQ(cps.status, 200) << cps.body;
  EXPECT_THAT(cps.body, HasSubstr("sund-audit-checkpoint"));
  ApiResponse inc = Get("/audit/proof/inclusion?seq=0&tree_size=" + std::to_string(size));
  EXPECT_EQ(inc.status, 200) << inc.body;
  EXPECT_THAT(inc.body, HasSubstr("\"leaf_hash\""));
  EXPECT_EQ(Get("/audit/proof/consistency?size1=1&size2=" + std::to_string(size)).status, 200);
  EXPECT_EQ(Get("/audit/proof/inclusion?seq=0&tree_size=" + std::to_string(size + 1000)).status,
            400);
  EXPECT_EQ(Get("/audit/key").status, 200);
}

}  // namespace
}  // namespace sund::itest
