// A FHIR Consent as the API receives it (PUT or POST Consent, the portals' consent screens):
// read into the consent engine's model, compiled, then decided for a few fixed requests on two
// fixed resources of the patient. The search filter must say what the decision says (the
// property consent/engine_test.cc's SearchFilterTest checks on its own Consents).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "consent/engine.h"
#include "consent/facts.h"
#include "consent/policy.h"
#include "fhir/resource.h"
#include "fuzz_input.h"

namespace {

namespace consent = sund::consent;

constexpr std::int64_t kNow = 1'795'000'000'000;  // 2026-11-18 (ms since the epoch)

// Resources of Patient/p1 with something for every kind of criterion to match: codes, class
// codings, security labels, a date, references and an author.
constexpr std::string_view kObservation =
    R"({"resourceType":"Observation","id":"o1","meta":{"security":[{"system":)"
    R"("http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},)"
    R"("status":"final","category":[{"coding":[{"system":)"
    R"("http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],)"
    R"("code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},)"
    R"("subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},)"
    R"("effectiveDateTime":"2015-06-10","performer":[{"reference":"Practitioner/dr-b"}],)"
    R"("valueQuantity":{"value":7.1,"unit":"%"}})";
constexpr std::string_view kCondition =
    R"({"resourceType":"Condition","id":"c-psy","meta":{"security":[{"system":)"
    R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]},)"
    R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"35489007"}]},)"
    R"("subject":{"reference":"Patient/p1"},"onsetDateTime":"2022-01-10",)"
    R"("recorder":{"reference":"Practitioner/dr-a"}})";

struct Fixture {
  sund::Result<rapidjson::Document> observation = sund::fhir::ParseJson(kObservation);
  sund::Result<rapidjson::Document> condition = sund::fhir::ParseJson(kCondition);
  std::vector<consent::ResourceFacts> resources;
  std::vector<consent::Request> requests;

  Fixture() {
    // The facts hold views into the documents above, which live as long as the fixture.
    if (observation.ok()) resources.push_back(consent::ExtractFacts(*observation));
    if (condition.ok()) resources.push_back(consent::ExtractFacts(*condition));

    consent::Request dr;
    dr.user = consent::UserKind::kPractitioner;
    dr.practitioner = "dr-a";
    dr.organizations = {"org-1"};
    dr.care_teams = {"ct-1"};
    dr.now_ms = kNow;
    requests.push_back(dr);

    consent::Request emergency = dr;  // break-the-glass
    emergency.purpose = "ETREAT";
    emergency.break_glass_reason = "unconscious in the emergency department";
    requests.push_back(emergency);

    consent::Request app;  // research through an app
    app.user = consent::UserKind::kSystem;
    app.client_id = "app-1";
    app.device = "dev-app";
    app.action = consent::Action::kUse;
    app.purpose = "HRESCH";
    app.now_ms = kNow;
    requests.push_back(app);

    consent::Request related;
    related.user = consent::UserKind::kRelatedPerson;
    related.related_person = "rp-1";
    related.action = consent::Action::kDisclose;
    related.now_ms = kNow;
    requests.push_back(related);

    consent::Request self;
    self.user = consent::UserKind::kPatientSelf;
    self.patient = "p1";
    self.client_id = "citizen-portal";
    self.now_ms = kNow;
    requests.push_back(self);
  }
};

std::vector<std::string> Related(std::string_view, std::string_view) {
  return {"Observation/o1", "Encounter/e1"};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = consent::ParseConsentJson(sund::fuzz::AsView(data, size));
  if (!parsed.ok()) return 0;
  static const Fixture fixture;
  std::vector<consent::Consent> consents = {*parsed};
  auto policy = consent::Engine::Compile(parsed->patient_id, consents, Related);
  if (!policy.ok()) return 0;
  for (const consent::Engine& engine :
       {consent::Engine(consent::BasePolicy::kDanish),
        consent::Engine(consent::BasePolicy::kOptIn, consent::ResearchPolicy::kOptOut)}) {
    engine.AllowsResearch(*policy, kNow);
    for (const consent::Request& request : fixture.requests) {
      consent::SearchFilter filter = engine.Filter(*policy, request);
      for (const consent::ResourceFacts& resource : fixture.resources) {
        consent::Decision decision = engine.Decide(*policy, request, resource);
        std::string explained = decision.Explain();
        (void)explained;
        // A search shows exactly what a read permits (and flags the same overrides).
        if (filter.Visible(resource) != decision.permitted()) __builtin_trap();
        if (filter.Overridden(resource) != decision.break_glass) __builtin_trap();
      }
    }
  }
  return 0;
}
