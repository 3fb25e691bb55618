#include "consent/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "consent/facts.h"
#include "consent/policy.h"
#include "core/time.h"
#include "fhir/resource.h"

namespace sund::consent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::int64_t Ms(const char* date) {
  auto r = ParseFhirDate(date);
  EXPECT_TRUE(r.ok()) << date;
  return r.ok() ? r->lo_ms : 0;
}

const std::int64_t kNow = Ms("2024-06-01T12:00:00Z");

// --- Test Consents, by id (all of Patient/p1, version 1). ------------------------------------

constexpr char kLoinc[] = "http://loinc.org";
constexpr char kSnomed[] = "http://snomed.info/sct";
constexpr char kConfidentiality[] = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
constexpr char kActCode[] = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
constexpr char kObsCategory[] = "http://terminology.hl7.org/CodeSystem/observation-category";

std::string ConsentJson(const std::string& id, const std::string& provision,
                        const std::string& status = "active",
                        const std::string& scope = "patient-privacy") {
  return R"({"resourceType":"Consent","id":")" + id + R"(","meta":{"versionId":"1"},"status":")" +
         status +
         R"(","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope",)"
         R"("code":")" +
         scope + R"("}]},"patient":{"reference":"Patient/p1"},"provision":)" + provision + "}";
}

std::string ActorRef(const std::string& ref) {
  return R"({"reference":{"reference":")" + ref + R"("}})";
}

const std::string kDenyDrA = R"({"type":"deny","actor":[)" + ActorRef("Practitioner/dr-a") + "]}";

std::string DenyDrAWithPeriod(const std::string& period) {
  return R"({"type":"deny","period":)" + period + R"(,"actor":[)" + ActorRef("Practitioner/dr-a") +
         "]}";
}

const std::map<std::string, std::string>& Library() {
  static const auto* lib = new std::map<std::string, std::string>{
      {"deny-dr-a", ConsentJson("deny-dr-a", kDenyDrA)},
      {"deny-dr-a-expired",
       ConsentJson("deny-dr-a-expired",
                   DenyDrAWithPeriod(R"({"start":"2023-01-01","end":"2023-12-31"})"))},
      {"deny-dr-a-future",
       ConsentJson("deny-dr-a-future", DenyDrAWithPeriod(R"({"start":"2025-01-01"})"))},
      {"deny-dr-a-current",
       ConsentJson("deny-dr-a-current",
                   DenyDrAWithPeriod(R"({"start":"2024-01-01","end":"2024-12-31"})"))},
      {"deny-dr-a-draft", ConsentJson("deny-dr-a-draft", kDenyDrA, "draft")},
      {"deny-dr-a-proposed", ConsentJson("deny-dr-a-proposed", kDenyDrA, "proposed")},
      {"deny-dr-a-rejected", ConsentJson("deny-dr-a-rejected", kDenyDrA, "rejected")},
      {"deny-dr-a-inactive", ConsentJson("deny-dr-a-inactive", kDenyDrA, "inactive")},
      {"deny-dr-a-entered-in-error",
       ConsentJson("deny-dr-a-entered-in-error", kDenyDrA, "entered-in-error")},
      {"deny-org-2", ConsentJson("deny-org-2", R"({"type":"deny","actor":[)" +
                                                   ActorRef("Organization/org-2") + "]}")},
      {"deny-ct-1",
       ConsentJson("deny-ct-1", R"({"type":"deny","actor":[)" + ActorRef("CareTeam/ct-1") + "]}")},
      {"deny-app-x",
       ConsentJson("deny-app-x", R"({"type":"deny","actor":[{"reference":{"identifier":)"
                                 R"({"system":"urn:sund:client-id","value":"app-x"}}}]})")},
      {"deny-device", ConsentJson("deny-device", R"({"type":"deny","actor":[)" +
                                                     ActorRef("Device/dev-app") + "]}")},
      {"permit-rp-1", ConsentJson("permit-rp-1", R"({"type":"permit","actor":[)" +
                                                     ActorRef("RelatedPerson/rp-1") + "]}")},
      {"deny-role-1", ConsentJson("deny-role-1", R"({"type":"deny","actor":[)" +
                                                     ActorRef("PractitionerRole/role-1") + "]}")},
      {"permit-patient-p2", ConsentJson("permit-patient-p2", R"({"type":"permit","actor":[)" +
                                                                 ActorRef("Patient/p2") + "]}")},
      {"permit-app-1",
       ConsentJson("permit-app-1", R"({"type":"permit","actor":[{"reference":{"identifier":)"
                                   R"({"system":"urn:sund:client-id","value":"app-1"}}}]})")},
      {"deny-medreq-class",
       ConsentJson("deny-medreq-class", R"({"type":"deny","class":[{"system":)"
                                        R"("http://hl7.org/fhir/resource-types",)"
                                        R"("code":"MedicationRequest"}]})")},
      {"deny-hiv-code",
       ConsentJson("deny-hiv-code", R"({"type":"deny","code":[{"coding":[{"system":)"
                                    R"("http://snomed.info/sct","code":"86406008"}]}]})")},
      {"deny-label-R",
       ConsentJson("deny-label-R", R"({"type":"deny","securityLabel":[{"system":)"
                                   R"("http://terminology.hl7.org/CodeSystem/v3-Confidentiality",)"
                                   R"("code":"R"}]})")},
      {"deny-label-PSY",
       ConsentJson("deny-label-PSY", R"({"type":"deny","securityLabel":[{"system":)"
                                     R"("http://terminology.hl7.org/CodeSystem/v3-ActCode",)"
                                     R"("code":"PSY"}]})")},
      {"deny-data-o1",
       ConsentJson("deny-data-o1", R"({"type":"deny","data":[{"meaning":"instance",)"
                                   R"("reference":{"reference":"Observation/o1"}}]})")},
      {"deny-data-e1-dependents",
       ConsentJson("deny-data-e1-dependents", R"({"type":"deny","data":[{"meaning":"dependents",)"
                                              R"("reference":{"reference":"Encounter/e1"}}]})")},
      {"deny-authored-dr-b",
       ConsentJson("deny-authored-dr-b", R"({"type":"deny","data":[{"meaning":"authoredby",)"
                                         R"("reference":{"reference":"Practitioner/dr-b"}}]})")},
      {"deny-data-2015",
       ConsentJson("deny-data-2015",
                   R"({"type":"deny","dataPeriod":{"start":"2015-01-01","end":"2015-12-31"}})")},
      {"permit-all", ConsentJson("permit-all", R"({"type":"permit"})")},
      {"deny-all", ConsentJson("deny-all", R"({"type":"deny"})")},
      {"permit-except-dr-a",
       ConsentJson("permit-except-dr-a", R"({"type":"permit","provision":[)" + kDenyDrA + "]}")},
      {"deny-dr-a-except-obs",
       ConsentJson("deny-dr-a-except-obs",
                   R"({"type":"deny","actor":[)" + ActorRef("Practitioner/dr-a") +
                       R"(],"provision":[{"type":"permit","class":[{"system":)"
                       R"("http://hl7.org/fhir/resource-types","code":"Observation"}]}]})")},
      {"permit-siblings",
       ConsentJson("permit-siblings",
                   R"({"type":"permit","provision":[{"type":"permit","class":[{"system":)"
                   R"("http://hl7.org/fhir/resource-types","code":"Condition"}]},)"
                   R"({"type":"deny","securityLabel":[{"system":)"
                   R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}]})")},
      {"deny-disclose",
       ConsentJson("deny-disclose", R"({"type":"deny","action":[{"coding":[{"system":)"
                                    R"("http://terminology.hl7.org/CodeSystem/consentaction",)"
                                    R"("code":"disclose"}]}]})")},
      {"deny-marketing",
       ConsentJson("deny-marketing", R"({"type":"deny","purpose":[{"system":)"
                                     R"("http://terminology.hl7.org/CodeSystem/v3-ActReason",)"
                                     R"("code":"HMARKT"}]})")},
      {"deny-treat-dr-a",
       ConsentJson("deny-treat-dr-a", R"({"type":"deny","actor":[)" +
                                          ActorRef("Practitioner/dr-a") +
                                          R"(],"purpose":[{"system":)"
                                          R"("http://terminology.hl7.org/CodeSystem/v3-ActReason",)"
                                          R"("code":"TREAT"}]})")},
      {"research-permit",
       ConsentJson("research-permit", R"({"type":"permit"})", "active", "research")},
      {"research-deny", ConsentJson("research-deny", R"({"type":"deny"})", "active", "research")},
      {"research-permit-expired",
       ConsentJson("research-permit-expired",
                   R"({"type":"permit","period":{"start":"2020","end":"2023"}})", "active",
                   "research")},
      {"research-permit-draft",
       ConsentJson("research-permit-draft", R"({"type":"permit"})", "draft", "research")},
      {"research-deny-expired",
       ConsentJson("research-deny-expired",
                   R"({"type":"deny","period":{"start":"2020","end":"2023"}})", "active",
                   "research")},
      {"research-deny-draft",
       ConsentJson("research-deny-draft", R"({"type":"deny"})", "draft", "research")},
      {"research-permit-except-hiv",
       ConsentJson("research-permit-except-hiv",
                   R"({"type":"permit","provision":[{"type":"deny","code":[{"coding":[{)"
                   R"("system":"http://snomed.info/sct","code":"86406008"}]}]}]})",
                   "active", "research")},
  };
  return *lib;
}

std::vector<Consent> Load(const std::vector<std::string>& ids) {
  std::vector<Consent> out;
  for (const std::string& id : ids) {
    auto it = Library().find(id);
    EXPECT_NE(it, Library().end()) << id;
    if (it == Library().end()) continue;
    auto c = ParseConsentJson(it->second);
    EXPECT_TRUE(c.ok()) << id << ": " << c.status().ToString();
    if (c.ok()) out.push_back(*c);
  }
  return out;
}

PatientPolicy CompileOrDie(const std::vector<std::string>& ids,
                           const RelatedResolver& resolver = nullptr) {
  auto p = Engine::Compile("p1", Load(ids), resolver);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : PatientPolicy();
}

// --- Requests. ------------------------------------------------------------------------------

Request Practitioner(const std::string& id, std::vector<std::string> orgs,
                     std::vector<std::string> teams) {
  Request r;
  r.user = UserKind::kPractitioner;
  r.practitioner = id;
  r.organizations = std::move(orgs);
  r.care_teams = std::move(teams);
  r.now_ms = kNow;
  return r;
}
Request DrA() { return Practitioner("dr-a", {"org-1"}, {}); }
Request DrB() { return Practitioner("dr-b", {"org-1"}, {"ct-1"}); }
Request DrC() { return Practitioner("dr-c", {"org-2"}, {}); }

Request System(const std::string& client, const std::string& device = "") {
  Request r;
  r.user = UserKind::kSystem;
  r.client_id = client;
  r.device = device;
  r.now_ms = kNow;
  return r;
}

Request Self(const std::string& patient) {
  Request r;
  r.user = UserKind::kPatientSelf;
  r.patient = patient;
  r.client_id = "citizen-portal";
  r.now_ms = kNow;
  return r;
}

Request Related(const std::string& id) {
  Request r;
  r.user = UserKind::kRelatedPerson;
  r.related_person = id;
  r.now_ms = kNow;
  return r;
}

Request WithPurpose(Request r, const std::string& purpose) {
  r.purpose = purpose;
  return r;
}
Request Emergency(Request r, const std::string& reason) {
  r.purpose = "ETREAT";
  r.break_glass_reason = reason;
  return r;
}
Request WithAction(Request r, Action a) {
  r.action = a;
  return r;
}
Request WithClient(Request r, const std::string& client) {
  r.client_id = client;
  return r;
}
Request WithRole(Request r, const std::string& role) {
  r.practitioner_role = role;
  return r;
}
// A break-the-glass reason on a request whose purpose is not ETREAT (e.g. research).
Request WithReason(Request r, const std::string& reason) {
  r.break_glass_reason = reason;
  return r;
}

// --- Resources. ---------------------------------------------------------------------------

Period Day(const char* date) {
  auto r = ParseFhirDate(date);
  return r.ok() ? Period{r->lo_ms, r->hi_ms} : Period{};
}

const std::map<std::string, ResourceFacts>& Resources() {
  static const auto* res = new std::map<std::string, ResourceFacts>{
      {"obs",
       {"Observation",
        "o1",
        {{kLoinc, "8867-4"}},
        {{kObsCategory, "vital-signs"}},
        {},
        Day("2024-05-01"),
        {"Patient/p1", "Encounter/e2"},
        {"Practitioner/dr-b"}}},
      {"obs-2015",
       {"Observation",
        "o2",
        {{kLoinc, "2339-0"}},
        {{kObsCategory, "laboratory"}},
        {},
        Day("2015-06-10"),
        {"Patient/p1", "Encounter/e1"},
        {"Practitioner/dr-c"}}},
      {"enc-2015", {"Encounter", "e1", {}, {}, {}, Day("2015-06-01"), {"Patient/p1"}, {}}},
      {"cond-hiv",
       {"Condition",
        "c-hiv",
        {{kSnomed, "86406008"}},
        {},
        {},
        Day("2019-03-01"),
        {"Patient/p1"},
        {"Practitioner/dr-c"}}},
      {"cond-psy",
       {"Condition",
        "c-psy",
        {{kSnomed, "35489007"}},
        {},
        {{kActCode, "PSY"}},
        Day("2022-01-10"),
        {"Patient/p1"},
        {}}},
      {"doc-r",
       {"DocumentReference",
        "d1",
        {},
        {},
        {{kConfidentiality, "R"}},
        Day("2023-03-03"),
        {"Patient/p1"},
        {}}},
      {"medreq",
       {"MedicationRequest",
        "m1",
        {{"http://www.nlm.nih.gov/research/umls/rxnorm", "197361"}},
        {},
        {},
        Day("2024-02-01"),
        {"Patient/p1"},
        {"Practitioner/dr-a"}}},
      {"no-date", {"Coverage", "cv1", {}, {}, {}, std::nullopt, {"Patient/p1"}, {}}},
  };
  return *res;
}

const ResourceFacts& R(const std::string& name) {
  auto it = Resources().find(name);
  EXPECT_NE(it, Resources().end()) << name;
  return it->second;
}

// --- The decision table. ------------------------------------------------------------------

struct Row {
  const char* name;
  BasePolicy base;
  std::vector<std::string> consents;
  Request request;
  std::string resource;
  Effect want;
  DecidedBy by;
  bool break_glass;
  std::vector<std::string> basis;  // Consent ids, in Consent order
  std::string provision = {};      // the first basis entry's provision, when given
};

void PrintTo(const Row& r, std::ostream* os) { *os << r.name; }

constexpr Effect P = Effect::kPermit;
constexpr Effect D = Effect::kDeny;
constexpr DecidedBy kByConsent = DecidedBy::kConsent;
constexpr DecidedBy kByBase = DecidedBy::kBasePolicy;
constexpr BasePolicy kDanish = BasePolicy::kDanish;
constexpr BasePolicy kOptIn = BasePolicy::kOptIn;
constexpr BasePolicy kOptOut = BasePolicy::kOptOut;

const std::string kReason = "patient unconscious in the emergency department";

std::vector<Row> Rows() {
  return {
      // clang-format off
      // Base policies with no Consent.
      {"danish_treatment_by_practitioner", kDanish, {}, DrB(), "obs", P, kByBase, false, {}},
      {"danish_own_service_treatment", kDanish, {}, System("app-1"), "obs", P, kByBase, false, {}},
      {"danish_system_research_denied", kDanish, {}, WithPurpose(System("app-1"), "HRESCH"), "obs",
       D, kByBase, false, {}},
      {"danish_related_person_denied", kDanish, {}, Related("rp-1"), "obs", D, kByBase, false, {}},
      {"danish_payment_purpose_denied", kDanish, {}, WithPurpose(DrB(), "HPAYMT"), "obs", D,
       kByBase, false, {}},
      {"danish_emergency_needs_no_override", kDanish, {}, Emergency(DrB(), kReason), "obs", P,
       kByBase, false, {}},
      {"optin_without_consent_denied", kOptIn, {}, DrB(), "obs", D, kByBase, false, {}},
      {"optin_permit_consent", kOptIn, {"permit-all"}, DrB(), "obs", P, kByConsent, false,
       {"permit-all"}, "Consent.provision"},
      {"optout_without_consent_permitted", kOptOut, {}, System("app-1"), "obs", P, kByBase, false,
       {}},
      {"optout_deny_consent", kOptOut, {"deny-all"}, DrB(), "obs", D, kByConsent, false,
       {"deny-all"}},
      {"danish_system_permitted_by_consent", kDanish, {"permit-app-1"}, System("app-1"), "obs", P,
       kByConsent, false, {"permit-app-1"}},

      // Periods and status.
      {"expired_period_ignored", kDanish, {"deny-dr-a-expired"}, DrA(), "obs", P, kByBase, false,
       {}},
      {"future_period_ignored", kDanish, {"deny-dr-a-future"}, DrA(), "obs", P, kByBase, false, {}},
      {"current_period_applies", kDanish, {"deny-dr-a-current"}, DrA(), "obs", D, kByConsent, false,
       {"deny-dr-a-current"}},
      {"draft_ignored", kDanish, {"deny-dr-a-draft"}, DrA(), "obs", P, kByBase, false, {}},
      {"proposed_ignored", kDanish, {"deny-dr-a-proposed"}, DrA(), "obs", P, kByBase, false, {}},
      {"rejected_ignored", kDanish, {"deny-dr-a-rejected"}, DrA(), "obs", P, kByBase, false, {}},
      {"inactive_ignored", kDanish, {"deny-dr-a-inactive"}, DrA(), "obs", P, kByBase, false, {}},
      {"entered_in_error_ignored", kDanish, {"deny-dr-a-entered-in-error"}, DrA(), "obs", P,
       kByBase, false, {}},

      // Actors.
      {"deny_practitioner_blocks_them", kDanish, {"deny-dr-a"}, DrA(), "obs", D, kByConsent, false,
       {"deny-dr-a"}, "Consent.provision"},
      {"deny_practitioner_others_permitted", kDanish, {"deny-dr-a"}, DrB(), "obs", P, kByBase,
       false, {}},
      {"deny_organisation_blocks_member", kDanish, {"deny-org-2"}, DrC(), "obs", D, kByConsent,
       false, {"deny-org-2"}},
      {"deny_organisation_other_org_permitted", kDanish, {"deny-org-2"}, DrB(), "obs", P, kByBase,
       false, {}},
      {"deny_care_team_blocks_member", kDanish, {"deny-ct-1"}, DrB(), "obs", D, kByConsent, false,
       {"deny-ct-1"}},
      {"deny_care_team_non_member_permitted", kDanish, {"deny-ct-1"}, DrA(), "obs", P, kByBase,
       false, {}},
      {"deny_app_by_client_id", kOptOut, {"deny-app-x"}, System("app-x"), "obs", D, kByConsent,
       false, {"deny-app-x"}},
      {"deny_app_other_app_permitted", kOptOut, {"deny-app-x"}, System("app-1"), "obs", P, kByBase,
       false, {}},
      {"deny_app_used_by_practitioner", kDanish, {"deny-app-x"}, WithClient(DrB(), "app-x"), "obs",
       D, kByConsent, false, {"deny-app-x"}},
      {"deny_app_as_device", kOptOut, {"deny-device"}, System("app-y", "dev-app"), "obs", D,
       kByConsent, false, {"deny-device"}},
      {"permit_app_by_client_id", kOptIn, {"permit-app-1"}, System("app-1"), "obs", P, kByConsent,
       false, {"permit-app-1"}},
      {"permit_app_other_app_denied", kOptIn, {"permit-app-1"}, System("app-2"), "obs", D, kByBase,
       false, {}},
      {"permit_related_person", kDanish, {"permit-rp-1"}, Related("rp-1"), "obs", P, kByConsent,
       false, {"permit-rp-1"}},
      {"permit_related_person_other_denied", kDanish, {"permit-rp-1"}, Related("rp-2"), "obs", D,
       kByBase, false, {}},
      {"deny_practitioner_role", kDanish, {"deny-role-1"}, WithRole(DrB(), "role-1"), "obs", D,
       kByConsent, false, {"deny-role-1"}},
      {"deny_practitioner_role_other_role_permitted", kDanish, {"deny-role-1"},
       WithRole(DrB(), "role-2"), "obs", P, kByBase, false, {}},
      {"permit_patient_actor", kOptIn, {"permit-patient-p2"}, Self("p2"), "obs", P, kByConsent,
       false, {"permit-patient-p2"}},
      {"permit_patient_actor_other_patient_denied", kOptIn, {"permit-patient-p2"}, Self("p3"),
       "obs", D, kByBase, false, {}},

      // Data criteria.
      {"deny_class_matches_type", kDanish, {"deny-medreq-class"}, DrB(), "medreq", D, kByConsent,
       false, {"deny-medreq-class"}},
      {"deny_class_other_type_permitted", kDanish, {"deny-medreq-class"}, DrB(), "obs", P, kByBase,
       false, {}},
      {"deny_sensitive_code", kDanish, {"deny-hiv-code"}, DrB(), "cond-hiv", D, kByConsent, false,
       {"deny-hiv-code"}},
      {"deny_sensitive_code_other_code_permitted", kDanish, {"deny-hiv-code"}, DrB(), "cond-psy", P,
       kByBase, false, {}},
      {"deny_label_restricted", kDanish, {"deny-label-R"}, DrB(), "doc-r", D, kByConsent, false,
       {"deny-label-R"}},
      {"deny_label_restricted_unlabelled_permitted", kDanish, {"deny-label-R"}, DrB(), "obs", P,
       kByBase, false, {}},
      {"deny_label_psy", kDanish, {"deny-label-PSY"}, DrB(), "cond-psy", D, kByConsent, false,
       {"deny-label-PSY"}},
      {"deny_label_psy_other_permitted", kDanish, {"deny-label-PSY"}, DrB(), "cond-hiv", P, kByBase,
       false, {}},
      {"deny_data_instance", kDanish, {"deny-data-o1"}, DrB(), "obs", D, kByConsent, false,
       {"deny-data-o1"}},
      {"deny_data_instance_other_permitted", kDanish, {"deny-data-o1"}, DrB(), "obs-2015", P,
       kByBase, false, {}},
      {"deny_data_dependents_referrer", kDanish, {"deny-data-e1-dependents"}, DrB(), "obs-2015", D,
       kByConsent, false, {"deny-data-e1-dependents"}},
      {"deny_data_dependents_itself", kDanish, {"deny-data-e1-dependents"}, DrB(), "enc-2015", D,
       kByConsent, false, {"deny-data-e1-dependents"}},
      {"deny_data_dependents_unrelated_permitted", kDanish, {"deny-data-e1-dependents"}, DrB(),
       "obs", P, kByBase, false, {}},
      {"deny_authored_by", kDanish, {"deny-authored-dr-b"}, DrC(), "obs", D, kByConsent, false,
       {"deny-authored-dr-b"}},
      {"deny_authored_by_other_author_permitted", kDanish, {"deny-authored-dr-b"}, DrC(),
       "obs-2015", P, kByBase, false, {}},
      {"data_period_inside_denied", kDanish, {"deny-data-2015"}, DrB(), "obs-2015", D, kByConsent,
       false, {"deny-data-2015"}},
      {"data_period_outside_permitted", kDanish, {"deny-data-2015"}, DrB(), "obs", P, kByBase,
       false, {}},
      {"data_period_undated_permitted", kDanish, {"deny-data-2015"}, DrB(), "no-date", P, kByBase,
       false, {}},

      // Nested provisions.
      {"permit_nested_deny_other_practitioner", kOptIn, {"permit-except-dr-a"}, DrB(), "obs", P,
       kByConsent, false, {"permit-except-dr-a"}, "Consent.provision"},
      {"permit_nested_deny_blocked_practitioner", kOptIn, {"permit-except-dr-a"}, DrA(), "obs", D,
       kByConsent, false, {"permit-except-dr-a"}, "Consent.provision.provision[0]"},
      {"deny_nested_permit_exception_applies", kDanish, {"deny-dr-a-except-obs"}, DrA(), "obs", P,
       kByConsent, false, {"deny-dr-a-except-obs"}, "Consent.provision.provision[0]"},
      {"deny_nested_permit_outside_exception", kDanish, {"deny-dr-a-except-obs"}, DrA(), "cond-hiv",
       D, kByConsent, false, {"deny-dr-a-except-obs"}, "Consent.provision"},
      {"deny_nested_permit_other_practitioner", kDanish, {"deny-dr-a-except-obs"}, DrB(),
       "cond-hiv", P, kByBase, false, {}},

      {"siblings_deny_wins", kOptIn, {"permit-siblings"}, DrB(), "cond-psy", D, kByConsent, false,
       {"permit-siblings"}, "Consent.provision.provision[1]"},
      {"siblings_permit_child_decides", kOptIn, {"permit-siblings"}, DrB(), "cond-hiv", P,
       kByConsent, false, {"permit-siblings"}, "Consent.provision.provision[0]"},
      {"siblings_none_applies_root_decides", kOptIn, {"permit-siblings"}, DrB(), "obs", P,
       kByConsent, false, {"permit-siblings"}, "Consent.provision"},

      // Several Consents at once.
      {"several_deny_wins_over_permit", kOptIn, {"permit-all", "deny-label-R"}, DrB(), "doc-r", D,
       kByConsent, false, {"deny-label-R"}},
      {"several_permit_when_none_denies", kOptIn, {"permit-all", "deny-label-R"}, DrB(), "obs", P,
       kByConsent, false, {"permit-all"}},
      {"several_every_deny_in_basis", kDanish, {"deny-dr-a", "deny-label-R"}, DrA(), "doc-r", D,
       kByConsent, false, {"deny-dr-a", "deny-label-R"}},
      {"several_three_consents", kDanish, {"deny-dr-a", "deny-hiv-code", "permit-app-1"}, DrB(),
       "cond-hiv", D, kByConsent, false, {"deny-hiv-code"}},
      {"several_inactive_deny_does_not_count", kOptIn, {"permit-all", "deny-dr-a-inactive"}, DrA(),
       "obs", P, kByConsent, false, {"permit-all"}},

      // Break-the-glass.
      {"break_glass_with_reason_overrides_deny", kDanish, {"deny-dr-a"}, Emergency(DrA(), kReason),
       "obs", P, kByConsent, true, {"deny-dr-a"}},
      {"break_glass_without_reason_denied", kDanish, {"deny-dr-a"}, Emergency(DrA(), ""), "obs", D,
       DecidedBy::kRequest, false, {}},
      {"break_glass_blank_reason_denied", kDanish, {"deny-dr-a"}, Emergency(DrA(), " \t "), "obs",
       D, DecidedBy::kRequest, false, {}},
      {"break_glass_without_reason_denied_without_consent", kDanish, {}, Emergency(DrB(), ""),
       "obs", D, DecidedBy::kRequest, false, {}},
      {"break_glass_overrides_optin_base", kOptIn, {}, Emergency(DrB(), kReason), "obs", P, kByBase,
       true, {}},
      {"break_glass_overrides_label_deny", kDanish, {"deny-label-PSY"}, Emergency(DrB(), kReason),
       "cond-psy", P, kByConsent, true, {"deny-label-PSY"}},
      {"break_glass_flagged_over_treatment_deny", kDanish, {"deny-treat-dr-a"},
       Emergency(DrA(), kReason), "obs", P, kByConsent, true, {"deny-treat-dr-a"}},
      {"break_glass_not_for_systems", kOptOut, {"deny-app-x"}, Emergency(System("app-x"), kReason),
       "obs", D, kByConsent, false, {"deny-app-x"}},
      {"break_glass_not_for_related_persons", kDanish, {"deny-all"},
       Emergency(Related("rp-1"), kReason), "obs", D, kByConsent, false, {"deny-all"}},
      {"break_glass_not_for_related_persons_base", kDanish, {}, Emergency(Related("rp-1"), kReason),
       "obs", D, kByBase, false, {}},
      {"break_glass_reason_does_not_override_research_deny", kDanish, {"research-deny"},
       WithReason(WithPurpose(DrB(), "HRESCH"), kReason), "obs", D, kByConsent, false,
       {"research-deny"}},
      {"break_glass_reason_does_not_override_research_base", kDanish, {},
       WithReason(WithPurpose(DrB(), "HRESCH"), kReason), "obs", D, kByBase, false, {}},

      // Actions and purposes.
      {"deny_disclose_access_permitted", kOptOut, {"deny-disclose"}, DrB(), "obs", P, kByBase,
       false, {}},
      {"deny_disclose_disclosure_denied", kOptOut, {"deny-disclose"},
       WithAction(DrB(), Action::kDisclose), "obs", D, kByConsent, false, {"deny-disclose"}},
      {"deny_marketing_purpose", kOptOut, {"deny-marketing"}, WithPurpose(DrB(), "HMARKT"), "obs",
       D, kByConsent, false, {"deny-marketing"}},
      {"deny_marketing_treatment_permitted", kOptOut, {"deny-marketing"}, DrB(), "obs", P, kByBase,
       false, {}},

      // The patient themself.
      {"patient_self_always_permitted", kOptIn, {"deny-all"}, Self("p1"), "cond-psy", P,
       DecidedBy::kPatientSelf, false, {}},
      {"other_patient_is_not_self", kOptOut, {"deny-all"}, Self("p2"), "obs", D, kByConsent, false,
       {"deny-all"}},

      // Research.
      {"research_permitted", kDanish, {"research-permit"},
       WithPurpose(System("research-app"), "HRESCH"), "obs", P, kByConsent, false,
       {"research-permit"}},
      {"research_absent_denied", kDanish, {}, WithPurpose(System("research-app"), "HRESCH"), "obs",
       D, kByBase, false, {}},
      {"research_denied", kOptOut, {"research-deny"}, WithPurpose(System("research-app"), "HRESCH"),
       "obs", D, kByConsent, false, {"research-deny"}},
      {"research_expired_denied", kOptOut, {"research-permit-expired"},
       WithPurpose(System("research-app"), "HRESCH"), "obs", D, kByBase, false, {}},
      {"research_specialised_purpose", kDanish, {"research-permit"},
       WithPurpose(System("research-app"), "CLINTRCH"), "obs", P, kByConsent, false,
       {"research-permit"}},
      {"research_nested_deny_code", kDanish, {"research-permit-except-hiv"},
       WithPurpose(System("research-app"), "HRESCH"), "cond-hiv", D, kByConsent, false,
       {"research-permit-except-hiv"}, "Consent.provision.provision[0]"},
      {"research_nested_deny_other_code_permitted", kDanish, {"research-permit-except-hiv"},
       WithPurpose(System("research-app"), "HRESCH"), "obs", P, kByConsent, false,
       {"research-permit-except-hiv"}},
      {"research_ignores_privacy_permit", kOptOut, {"permit-all"},
       WithPurpose(System("research-app"), "HRESCH"), "obs", D, kByBase, false, {}},
      {"treatment_ignores_research_permit", kOptIn, {"research-permit"}, DrB(), "obs", D, kByBase,
       false, {}},
      // clang-format on
  };
}

class DecideTableTest : public ::testing::TestWithParam<Row> {};

// Verifies: REQ-CON-021, REQ-CON-022, REQ-CON-023, REQ-CON-024, REQ-CON-025, REQ-CON-026
// Verifies: REQ-CON-027, REQ-CON-028, REQ-CON-029, REQ-CON-030, REQ-CON-031, REQ-CON-032
// Verifies: REQ-CON-033, REQ-CON-034, REQ-CON-035, REQ-CON-036, REQ-CON-040
// Verifies: REQ-CON-056, REQ-CON-057
TEST_P(DecideTableTest, DecidesAsTheRowSays) {
  const Row& row = GetParam();
  PatientPolicy policy = CompileOrDie(row.consents);
  Engine engine(row.base);
  const ResourceFacts& facts = R(row.resource);
  Decision d = engine.Decide(policy, row.request, facts);
  EXPECT_EQ(d.effect, row.want) << d.Explain();
  EXPECT_EQ(d.decided_by, row.by) << d.Explain();
  EXPECT_EQ(d.break_glass, row.break_glass) << d.Explain();
  std::vector<std::string> ids;
  for (const Basis& b : d.basis) {
    ids.push_back(b.consent_id);
    EXPECT_EQ(b.version_id, "1");
    EXPECT_EQ(b.effect, row.break_glass ? Effect::kDeny : row.want) << b.consent_id;
  }
  EXPECT_EQ(ids, row.basis) << d.Explain();
  if (!row.provision.empty() && !d.basis.empty()) {
    EXPECT_EQ(d.basis[0].provision, row.provision);
  }
  EXPECT_FALSE(d.reason.empty());

  // The search filter for the same request agrees with the decision on this resource.
  SearchFilter f = engine.Filter(policy, row.request);
  EXPECT_EQ(f.Visible(facts), d.permitted()) << "filter: " << f.reason;
  EXPECT_EQ(f.Overridden(facts), d.break_glass);
}

INSTANTIATE_TEST_SUITE_P(Table, DecideTableTest, ::testing::ValuesIn(Rows()),
                         [](const ::testing::TestParamInfo<Row>& info) {
                           return std::string(info.param.name);
                         });

// --- Search filters. ------------------------------------------------------------------------

// Verifies: REQ-CON-023, REQ-CON-041, REQ-CON-042
TEST(SearchFilterTest, ActorDenyHidesEverythingFromThatActorOnly) {
  PatientPolicy policy = CompileOrDie({"deny-dr-a"});
  Engine engine(kDanish);
  SearchFilter a = engine.Filter(policy, DrA());
  EXPECT_EQ(a.mode, SearchFilter::Mode::kNone);
  ASSERT_EQ(a.deny.size(), 1u);
  EXPECT_TRUE(a.deny[0].unconditional());
  EXPECT_EQ(a.deny[0].source.consent_id, "deny-dr-a");
  SearchFilter b = engine.Filter(policy, DrB());
  EXPECT_EQ(b.mode, SearchFilter::Mode::kAll);
  EXPECT_THAT(b.deny, IsEmpty());
  EXPECT_TRUE(b.base_permit);
}

// Verifies: REQ-CON-042
TEST(SearchFilterTest, ClassDenyBecomesOneClause) {
  PatientPolicy policy = CompileOrDie({"deny-medreq-class"});
  SearchFilter f = Engine(kDanish).Filter(policy, DrB());
  EXPECT_EQ(f.mode, SearchFilter::Mode::kClauses);
  EXPECT_TRUE(f.base_permit);
  EXPECT_THAT(f.permit, IsEmpty());
  ASSERT_EQ(f.deny.size(), 1u);
  Criteria want;
  want.types = {"MedicationRequest"};
  EXPECT_THAT(f.deny[0].all, ElementsAre(want));
  EXPECT_THAT(f.deny[0].none, IsEmpty());
  EXPECT_EQ(f.deny[0].source,
            (Basis{"deny-medreq-class", "1", "Consent.provision", Effect::kDeny}));
}

// Verifies: REQ-CON-026, REQ-CON-042
TEST(SearchFilterTest, NestedPermitBecomesAnException) {
  PatientPolicy policy = CompileOrDie({"deny-dr-a-except-obs"});
  SearchFilter f = Engine(kDanish).Filter(policy, DrA());
  EXPECT_EQ(f.mode, SearchFilter::Mode::kClauses);
  Criteria obs;
  obs.types = {"Observation"};
  ASSERT_EQ(f.deny.size(), 1u);
  EXPECT_THAT(f.deny[0].all, IsEmpty());
  EXPECT_THAT(f.deny[0].none, ElementsAre(obs));
  ASSERT_EQ(f.permit.size(), 1u);
  EXPECT_THAT(f.permit[0].all, ElementsAre(obs));
  EXPECT_EQ(f.permit[0].source.provision, "Consent.provision.provision[0]");
}

// Verifies: REQ-CON-005, REQ-CON-042
TEST(SearchFilterTest, CodesLabelsDataAndPeriodsAreListed) {
  PatientPolicy policy =
      CompileOrDie({"deny-hiv-code", "deny-label-PSY", "deny-data-o1", "deny-data-2015"});
  SearchFilter f = Engine(kDanish).Filter(policy, DrB());
  ASSERT_EQ(f.deny.size(), 4u);
  EXPECT_THAT(f.deny[0].all[0].codes, ElementsAre(Coding{kSnomed, "86406008"}));
  EXPECT_THAT(f.deny[1].all[0].security_labels, ElementsAre(Coding{kActCode, "PSY"}));
  ASSERT_EQ(f.deny[2].all[0].data.size(), 1u);
  EXPECT_EQ(f.deny[2].all[0].data[0].ref, "Observation/o1");
  EXPECT_EQ(f.deny[2].all[0].data[0].meaning, DataMeaning::kInstance);
  ASSERT_TRUE(f.deny[3].all[0].data_period.has_value());
  EXPECT_EQ(f.deny[3].all[0].data_period->lo_ms, Ms("2015-01-01"));
  EXPECT_EQ(f.deny[3].all[0].data_period->hi_ms, Ms("2016-01-01") - 1);
}

// Verifies: REQ-CON-041
TEST(SearchFilterTest, OptInWithoutConsentShowsNothing) {
  SearchFilter f = Engine(kOptIn).Filter(CompileOrDie({}), DrB());
  EXPECT_EQ(f.mode, SearchFilter::Mode::kNone);
  SearchFilter app = Engine(kOptIn).Filter(CompileOrDie({"permit-app-1"}), System("app-1"));
  EXPECT_EQ(app.mode, SearchFilter::Mode::kAll);
}

// Verifies: REQ-CON-031, REQ-CON-043
TEST(SearchFilterTest, BreakGlassShowsAllAndMarksOverrides) {
  PatientPolicy policy = CompileOrDie({"deny-label-PSY"});
  SearchFilter f = Engine(kDanish).Filter(policy, Emergency(DrB(), kReason));
  EXPECT_EQ(f.mode, SearchFilter::Mode::kAll);
  EXPECT_TRUE(f.break_glass);
  EXPECT_TRUE(f.Visible(R("cond-psy")));
  EXPECT_TRUE(f.Overridden(R("cond-psy")));
  EXPECT_FALSE(f.Overridden(R("obs")));
}

// Every combination of Consent sets, base policies, requests and resources: the filter says
// what Decide says.
// Verifies: REQ-CON-040
TEST(SearchFilterTest, AgreesWithDecideEverywhere) {
  std::vector<std::vector<std::string>> sets = {{}};
  for (const auto& [id, json] : Library()) sets.push_back({id});
  sets.push_back({"permit-all", "deny-label-R", "deny-dr-a-except-obs"});
  sets.push_back({"permit-except-dr-a", "deny-hiv-code", "deny-data-2015"});
  sets.push_back({"permit-app-1", "deny-app-x", "deny-ct-1", "research-permit-except-hiv"});
  std::vector<Request> requests = {DrA(),
                                   DrB(),
                                   DrC(),
                                   System("app-1"),
                                   System("app-x"),
                                   System("app-y", "dev-app"),
                                   Self("p1"),
                                   Self("p2"),
                                   Emergency(DrA(), kReason),
                                   Emergency(DrB(), ""),
                                   WithPurpose(DrB(), "HMARKT"),
                                   WithPurpose(System("r"), "HRESCH"),
                                   WithAction(DrC(), Action::kDisclose)};
  int checked = 0;
  for (const auto& set : sets) {
    PatientPolicy policy = CompileOrDie(set);
    for (auto [base, research] :
         {std::pair{kOptIn, ResearchPolicy::kOptIn}, std::pair{kOptOut, ResearchPolicy::kOptIn},
          std::pair{kDanish, ResearchPolicy::kOptIn}, std::pair{kOptIn, ResearchPolicy::kOptOut},
          std::pair{kDanish, ResearchPolicy::kOptOut}}) {
      Engine engine(base, research);
      for (std::size_t q = 0; q < requests.size(); ++q) {
        SearchFilter f = engine.Filter(policy, requests[q]);
        for (const auto& [name, facts] : Resources()) {
          Decision d = engine.Decide(policy, requests[q], facts);
          ASSERT_EQ(f.Visible(facts), d.permitted())
              << "set " << (set.empty() ? "-" : set[0]) << " base " << BasePolicyName(base)
              << " research " << ResearchPolicyName(research) << " request " << q << " resource "
              << name << ": " << d.Explain();
          ASSERT_EQ(f.Overridden(facts), d.break_glass);
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 10000);
}

// --- Research. ------------------------------------------------------------------------------

struct ResearchRow {
  const char* name;
  std::vector<std::string> consents;
  bool want;
};

class AllowsResearchTest : public ::testing::TestWithParam<ResearchRow> {};

// Verifies: REQ-CON-038
TEST_P(AllowsResearchTest, AnswersAsTheRowSays) {
  PatientPolicy policy = CompileOrDie(GetParam().consents);
  EXPECT_EQ(AllowsResearch(policy, kNow), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, AllowsResearchTest,
    ::testing::Values(
        ResearchRow{"permitted", {"research-permit"}, true},
        ResearchRow{"permitted_with_exceptions", {"research-permit-except-hiv"}, true},
        ResearchRow{"denied", {"research-deny"}, false},
        ResearchRow{"deny_overrides_permit", {"research-permit", "research-deny"}, false},
        ResearchRow{"absent", {}, false},
        ResearchRow{"privacy_consent_only", {"permit-all"}, false},
        ResearchRow{"expired", {"research-permit-expired"}, false},
        ResearchRow{"draft", {"research-permit-draft"}, false}),
    [](const ::testing::TestParamInfo<ResearchRow>& info) { return std::string(info.param.name); });

// --- Research under an opt-out research policy. ----------------------------------------------

// Verifies: REQ-CON-036, REQ-CON-039
TEST(ResearchPolicyTest, DefaultsToOptInAndParsesNames) {
  EXPECT_EQ(Engine(kOptOut).research(), ResearchPolicy::kOptIn);
  EXPECT_EQ(ParseResearchPolicy("opt-out"), ResearchPolicy::kOptOut);
  EXPECT_EQ(ParseResearchPolicy("opt-in"), ResearchPolicy::kOptIn);
  EXPECT_EQ(ParseResearchPolicy("danish"), std::nullopt);
  EXPECT_EQ(ResearchPolicyName(ResearchPolicy::kOptOut), "opt-out");
}

struct OptOutRow {
  const char* name;
  std::vector<std::string> consents;
  std::string resource;
  Effect want;
  DecidedBy by;
};

class ResearchOptOutTest : public ::testing::TestWithParam<OptOutRow> {};

// Verifies: REQ-CON-035, REQ-CON-037, REQ-CON-040
TEST_P(ResearchOptOutTest, DecidesAsTheRowSays) {
  const OptOutRow& row = GetParam();
  PatientPolicy policy = CompileOrDie(row.consents);
  // The deployment's base policy does not matter for research.
  for (BasePolicy base : {kOptIn, kOptOut, kDanish}) {
    Engine engine(base, ResearchPolicy::kOptOut);
    Request q = WithAction(WithPurpose(System("research-app"), "HRESCH"), Action::kUse);
    Decision d = engine.Decide(policy, q, R(row.resource));
    EXPECT_EQ(d.effect, row.want) << BasePolicyName(base) << ": " << d.Explain();
    EXPECT_EQ(d.decided_by, row.by) << d.Explain();
    EXPECT_FALSE(d.reason.empty());
    EXPECT_EQ(engine.Filter(policy, q).Visible(R(row.resource)), d.permitted());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ResearchOptOutTest,
    ::testing::Values(
        OptOutRow{"absent_permitted", {}, "obs", Effect::kPermit, DecidedBy::kBasePolicy},
        OptOutRow{"denied", {"research-deny"}, "obs", Effect::kDeny, DecidedBy::kConsent},
        OptOutRow{"permit_still_permits",
                  {"research-permit"},
                  "obs",
                  Effect::kPermit,
                  DecidedBy::kConsent},
        OptOutRow{"nested_deny_code",
                  {"research-permit-except-hiv"},
                  "cond-hiv",
                  Effect::kDeny,
                  DecidedBy::kConsent},
        OptOutRow{"nested_deny_other_code",
                  {"research-permit-except-hiv"},
                  "obs",
                  Effect::kPermit,
                  DecidedBy::kConsent},
        OptOutRow{"expired_deny_ignored",
                  {"research-permit-expired", "research-deny-expired"},
                  "obs",
                  Effect::kPermit,
                  DecidedBy::kBasePolicy},
        OptOutRow{"draft_deny_ignored",
                  {"research-deny-draft"},
                  "obs",
                  Effect::kPermit,
                  DecidedBy::kBasePolicy},
        OptOutRow{"privacy_deny_does_not_decide_research",
                  {"deny-all"},
                  "obs",
                  Effect::kPermit,
                  DecidedBy::kBasePolicy}),
    [](const ::testing::TestParamInfo<OptOutRow>& info) { return std::string(info.param.name); });

// Verifies: REQ-CON-036, REQ-CON-037
TEST(ResearchPolicyTest, OptOutResearchLeavesOrdinaryRequestsAlone) {
  PatientPolicy policy = CompileOrDie({});
  Engine engine(kOptIn, ResearchPolicy::kOptOut);
  EXPECT_FALSE(engine.Decide(policy, DrB(), R("obs")).permitted());
  EXPECT_FALSE(engine.Decide(policy, WithPurpose(DrB(), "HMARKT"), R("obs")).permitted());
  EXPECT_TRUE(engine.Decide(policy, WithPurpose(DrB(), "CLINTRCH"), R("obs")).permitted());
  // And the opt-in research default is what it always was.
  EXPECT_FALSE(
      Engine(kOptOut).Decide(policy, WithPurpose(System("r"), "HRESCH"), R("obs")).permitted());
}

struct PatientResearchRow {
  const char* name;
  std::vector<std::string> consents;
  bool opt_in;
  bool opt_out;
};

class EngineAllowsResearchTest : public ::testing::TestWithParam<PatientResearchRow> {};

// Verifies: REQ-CON-038
TEST_P(EngineAllowsResearchTest, AnswersPerResearchPolicy) {
  PatientPolicy policy = CompileOrDie(GetParam().consents);
  EXPECT_EQ(Engine(kDanish).AllowsResearch(policy, kNow), GetParam().opt_in);
  EXPECT_EQ(Engine(kDanish, ResearchPolicy::kOptIn).AllowsResearch(policy, kNow),
            AllowsResearch(policy, kNow));
  EXPECT_EQ(Engine(kDanish, ResearchPolicy::kOptOut).AllowsResearch(policy, kNow),
            GetParam().opt_out);
}

INSTANTIATE_TEST_SUITE_P(
    Table, EngineAllowsResearchTest,
    ::testing::Values(
        PatientResearchRow{"absent", {}, false, true},
        PatientResearchRow{"permitted", {"research-permit"}, true, true},
        PatientResearchRow{"permitted_with_exceptions", {"research-permit-except-hiv"}, true, true},
        PatientResearchRow{"denied", {"research-deny"}, false, false},
        PatientResearchRow{
            "deny_overrides_permit", {"research-permit", "research-deny"}, false, false},
        PatientResearchRow{"expired_deny", {"research-deny-expired"}, false, true},
        PatientResearchRow{"draft_deny", {"research-deny-draft"}, false, true},
        PatientResearchRow{"privacy_deny_only", {"deny-all"}, false, true}),
    [](const ::testing::TestParamInfo<PatientResearchRow>& info) {
      return std::string(info.param.name);
    });

// --- Compile, related data, explanations. ---------------------------------------------------

// Verifies: REQ-CON-017
TEST(EngineCompileTest, RefusesAnotherPatientsConsent) {
  std::vector<Consent> consents = Load({"deny-dr-a"});
  auto r = Engine::Compile("p2", consents);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("another patient"));
}

// Verifies: REQ-CON-018
TEST(EngineCompileTest, CountsWhatItKeeps) {
  PatientPolicy p = CompileOrDie({"deny-dr-a", "deny-dr-a-draft", "research-permit",
                                  "research-permit-draft", "deny-dr-a-entered-in-error"});
  EXPECT_EQ(p.patient_id(), "p1");
  EXPECT_EQ(p.privacy_consents(), 1u);
  EXPECT_EQ(p.research_consents(), 1u);
  EXPECT_EQ(p.ignored_consents(), 3u);
}

// Verifies: REQ-CON-019
TEST(EngineCompileTest, RefusesUntypedNestedProvisionBuiltInCode) {
  Consent c;
  c.id = "x";
  c.status = ConsentStatus::kActive;
  c.scope = ConsentScope::kPatientPrivacy;
  c.patient_id = "p1";
  c.provision = Provision{};
  c.provision->provisions.push_back(Provision{});
  auto r = Engine::Compile("p1", {c});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// Verifies: REQ-CON-020
TEST(EngineCompileTest, RelatedDataUsesTheResolver) {
  const std::string json =
      ConsentJson("deny-list", R"({"type":"deny","data":[{"meaning":"related",)"
                               R"("reference":{"reference":"List/l1"}}]})");
  auto c = ParseConsentJson(json);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<std::string> asked;
  auto resolver = [&](std::string_view type, std::string_view id) {
    asked.push_back(std::string(type) + "/" + std::string(id));
    return std::vector<std::string>{"Observation/o1", "Condition/c-hiv"};
  };
  auto with = Engine::Compile("p1", {*c}, resolver);
  ASSERT_TRUE(with.ok());
  EXPECT_THAT(asked, ElementsAre("List/l1"));
  Engine engine(kDanish);
  EXPECT_FALSE(engine.Decide(*with, DrB(), R("obs")).permitted());
  EXPECT_FALSE(engine.Decide(*with, DrB(), R("cond-hiv")).permitted());
  EXPECT_TRUE(engine.Decide(*with, DrB(), R("obs-2015")).permitted());
  ResourceFacts list{"List", "l1", {}, {}, {}, std::nullopt, {}, {}};
  EXPECT_FALSE(engine.Decide(*with, DrB(), list).permitted());

  auto without = Engine::Compile("p1", {*c});
  ASSERT_TRUE(without.ok());
  EXPECT_TRUE(engine.Decide(*without, DrB(), R("obs")).permitted());
  EXPECT_FALSE(engine.Decide(*without, DrB(), list).permitted());
}

// Verifies: REQ-CON-027, REQ-CON-034
TEST(DecisionTest, ExplainNamesTheConsentsAndNoPatientData) {
  PatientPolicy policy = CompileOrDie({"deny-dr-a", "deny-label-R"});
  Decision d = Engine(kDanish).Decide(policy, DrA(), R("doc-r"));
  std::string text = d.Explain();
  EXPECT_THAT(text, HasSubstr("deny: "));
  EXPECT_THAT(text, HasSubstr("Consent/deny-dr-a (version 1) at Consent.provision"));
  EXPECT_THAT(text, HasSubstr("Consent/deny-label-R"));
  Decision bg = Engine(kDanish).Decide(policy, Emergency(DrA(), kReason), R("doc-r"));
  EXPECT_THAT(bg.Explain(), HasSubstr("(break-the-glass)"));
  EXPECT_THAT(bg.Explain(), ::testing::Not(HasSubstr(kReason)));
}

// Verifies: REQ-CON-005, REQ-CON-022
TEST(DecideTest, PeriodBoundariesAreInclusive) {
  PatientPolicy policy = CompileOrDie({"deny-dr-a-current"});
  Engine engine(kDanish);
  Request q = DrA();
  q.now_ms = Ms("2024-01-01");  // first millisecond of the period
  EXPECT_FALSE(engine.Decide(policy, q, R("obs")).permitted());
  q.now_ms = Ms("2025-01-01") - 1;  // last millisecond of 2024-12-31
  EXPECT_FALSE(engine.Decide(policy, q, R("obs")).permitted());
  q.now_ms = Ms("2025-01-01");
  EXPECT_TRUE(engine.Decide(policy, q, R("obs")).permitted());
  q.now_ms = Ms("2024-01-01") - 1;
  EXPECT_TRUE(engine.Decide(policy, q, R("obs")).permitted());
}

// Verifies: REQ-CON-039
TEST(IsResearchPurposeTest, KnowsTheHierarchy) {
  EXPECT_TRUE(IsResearchPurpose("HRESCH"));
  EXPECT_TRUE(IsResearchPurpose("CLINTRCH"));
  EXPECT_TRUE(IsResearchPurpose("CLINTRCHPC"));
  EXPECT_FALSE(IsResearchPurpose("TREAT"));
  EXPECT_FALSE(IsResearchPurpose("ETREAT"));
  EXPECT_FALSE(IsResearchPurpose(""));
}

// --- Facts from JSON. -----------------------------------------------------------------------

// Verifies: REQ-CON-044
TEST(ExtractFactsTest, ReadsAnObservation) {
  const std::string json = R"({
    "resourceType": "Observation", "id": "o9",
    "meta": {"security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}]},
    "status": "final",
    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}, {"code": "hr"}]},
    "subject": {"reference": "Patient/p1"},
    "encounter": {"reference": "https://other.example/fhir/Encounter/e1/_history/3"},
    "effectivePeriod": {"start": "2024-05-01T10:00:00Z"},
    "performer": [{"reference": "Practitioner/dr-b"}, {"reference": "#contained"}],
    "hasMember": [{"reference": "urn:uuid:123"}],
    "valueQuantity": {"value": 72, "unit": "/min"}
  })";
  auto doc = fhir::ParseResource(json);
  ASSERT_TRUE(doc.ok());
  ResourceFacts f = ExtractFacts(*doc);
  EXPECT_EQ(f.type, "Observation");
  EXPECT_EQ(f.id, "o9");
  ASSERT_EQ(f.codes.size(), 2u);
  EXPECT_EQ(f.codes[0].system, kLoinc);
  EXPECT_EQ(f.codes[0].code, "8867-4");
  EXPECT_EQ(f.codes[1].system, "");
  ASSERT_EQ(f.classes.size(), 1u);
  EXPECT_EQ(f.classes[0].code, "vital-signs");
  ASSERT_EQ(f.security.size(), 1u);
  EXPECT_EQ(f.security[0].code, "PSY");
  ASSERT_TRUE(f.date.has_value());
  EXPECT_EQ(f.date->lo_ms, Ms("2024-05-01T10:00:00Z"));
  EXPECT_EQ(f.date->hi_ms, Period{}.hi_ms);  // open end
  EXPECT_THAT(f.references, ElementsAre("Patient/p1", "Encounter/e1", "Practitioner/dr-b"));
  EXPECT_THAT(f.authors, ElementsAre("Practitioner/dr-b"));
}

// Verifies: REQ-CON-045
TEST(ExtractFactsTest, WrongTypesAreSkipped) {
  auto doc = fhir::ParseJson(
      R"({"resourceType":"Condition","id":"c1","code":"x","category":7,"meta":{"security":{}},)"
      R"("recordedDate":12,"recorder":"Practitioner/x","subject":{"reference":5}})");
  ASSERT_TRUE(doc.ok());
  ResourceFacts f = ExtractFacts(*doc);
  EXPECT_EQ(f.type, "Condition");
  EXPECT_THAT(f.codes, IsEmpty());
  EXPECT_THAT(f.classes, IsEmpty());
  EXPECT_THAT(f.security, IsEmpty());
  EXPECT_FALSE(f.date.has_value());
  EXPECT_THAT(f.references, IsEmpty());
  EXPECT_THAT(f.authors, IsEmpty());
}

// Verifies: REQ-CON-024, REQ-CON-027, REQ-CON-044
TEST(ExtractFactsTest, FactsDriveDecisions) {
  auto doc = fhir::ParseResource(
      R"({"resourceType":"Condition","id":"c-hiv","code":{"coding":[{"system":)"
      R"("http://snomed.info/sct","code":"86406008"}]},"subject":{"reference":"Patient/p1"},)"
      R"("onsetDateTime":"2019-03-01"})");
  ASSERT_TRUE(doc.ok());
  PatientPolicy policy = CompileOrDie({"deny-hiv-code"});
  Decision d = Engine(kDanish).Decide(policy, DrB(), ExtractFacts(*doc));
  EXPECT_FALSE(d.permitted());
  EXPECT_THAT(d.basis,
              ElementsAre(Basis{"deny-hiv-code", "1", "Consent.provision", Effect::kDeny}));
}

// --- Cost per decision. ---------------------------------------------------------------------

// A realistic compiled policy of 3 Consents (a blocked practitioner, sensitive data hidden
// from everyone but in an emergency, an app's time-limited grant with an exception) and a mix
// of resources, decided 1e6 times for a practitioner who is not blocked. Prints ns/decision;
// the figure for the issue's target (< 2 us amortised) is recorded in the README. The bound
// asserted here is loose (10x the target) so that shared CI machines do not flake.
// Verifies: REQ-CON-046
TEST(DecideCostTest, MillionDecisions) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a time bound means nothing under a sanitizer (make sanitize)";
#endif
  const std::vector<std::string> json = {
      ConsentJson("c-block", R"({"type":"deny","actor":[)" + ActorRef("Practitioner/dr-a") + "," +
                                 ActorRef("Organization/org-9") + "]}"),
      ConsentJson("c-sensitive",
                  R"({"type":"permit","provision":[{"type":"deny","securityLabel":[{"system":)"
                  R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"},)"
                  R"({"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality",)"
                  R"("code":"R"}]},{"type":"deny","code":[{"coding":[{"system":)"
                  R"("http://snomed.info/sct","code":"86406008"}]}]}]})"),
      ConsentJson(
          "c-app",
          R"({"type":"permit","period":{"start":"2024-01-01","end":"2024-12-31"},)"
          R"("actor":[{"reference":{"identifier":{"system":"urn:sund:client-id",)"
          R"("value":"app-1"}}}],"action":[{"coding":[{"system":)"
          R"("http://terminology.hl7.org/CodeSystem/consentaction","code":"access"}]}],)"
          R"("class":[{"system":"http://hl7.org/fhir/resource-types","code":"Observation"},)"
          R"({"system":"http://hl7.org/fhir/resource-types","code":"Condition"}],)"
          R"("provision":[{"type":"deny","dataPeriod":{"end":"2015-12-31"}}]})"),
  };
  std::vector<Consent> consents;
  for (const std::string& j : json) {
    auto c = ParseConsentJson(j);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    consents.push_back(*c);
  }
  auto policy = Engine::Compile("p1", consents);
  ASSERT_TRUE(policy.ok());
  Engine engine(kDanish);
  Request q = Practitioner("dr-b", {"org-1", "org-2"}, {"ct-1", "ct-3"});
  q.client_id = "ehr";
  const std::vector<const ResourceFacts*> mix = {&R("obs"),      &R("obs-2015"), &R("cond-hiv"),
                                                 &R("cond-psy"), &R("medreq"),   &R("doc-r"),
                                                 &R("enc-2015"), &R("no-date")};
  // Expected per round: cond-hiv, cond-psy and doc-r are denied (c-sensitive), the rest permit.
  constexpr int kN = 1'000'000;
  int permitted = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; ++i) {
    permitted += engine.Decide(*policy, q, *mix[i % mix.size()]).permitted() ? 1 : 0;
  }
  auto t1 = std::chrono::steady_clock::now();
  double ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / kN;
  EXPECT_EQ(permitted, kN / 8 * 5);

  // The blocked practitioner: every decision names its Consent in the basis (allocates).
  Request blocked = Practitioner("dr-a", {"org-1"}, {});
  int denied = 0;
  auto t2 = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; ++i) {
    denied += engine.Decide(*policy, blocked, *mix[i % mix.size()]).permitted() ? 0 : 1;
  }
  auto t3 = std::chrono::steady_clock::now();
  double ns_blocked = std::chrono::duration<double, std::nano>(t3 - t2).count() / kN;
  EXPECT_EQ(denied, kN);

  // Facts read from a parsed Synthea-like Observation, then decided (the API's read path when
  // it has no facts from the index).
  auto doc = fhir::ParseResource(
      R"({"resourceType":"Observation","id":"o7","meta":{"versionId":"1","lastUpdated":)"
      R"("2024-05-01T10:00:00Z"},"status":"final","category":[{"coding":[{"system":)"
      R"("http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs",)"
      R"("display":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org",)"
      R"("code":"8867-4","display":"Heart rate"}],"text":"Heart rate"},"subject":)"
      R"({"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e2"},)"
      R"("effectiveDateTime":"2024-05-01T10:00:00+02:00",)"
      R"("issued":"2024-05-01T10:00:00.000+02:00","valueQuantity":{"value":72,"unit":"/min",)"
      R"("system":"http://unitsofmeasure.org","code":"/min"}})");
  ASSERT_TRUE(doc.ok());
  constexpr int kM = 200'000;
  int ok = 0;
  auto t4 = std::chrono::steady_clock::now();
  for (int i = 0; i < kM; ++i) {
    ok += engine.Decide(*policy, q, ExtractFacts(*doc)).permitted() ? 1 : 0;
  }
  auto t5 = std::chrono::steady_clock::now();
  double ns_extract = std::chrono::duration<double, std::nano>(t5 - t4).count() / kM;
  EXPECT_EQ(ok, kM);
  std::printf("[ consent ] ExtractFacts + Decide on a parsed Observation: %.1f ns/resource\n",
              ns_extract);
  EXPECT_LT(ns_extract, 20000.0);

  std::printf(
      "[ consent ] decision cost: %.1f ns/resource (3 consents, mixed resources), "
      "%.1f ns/resource when a Consent denies (basis built)\n",
      ns, ns_blocked);
  EXPECT_LT(ns, 20000.0);
  EXPECT_LT(ns_blocked, 20000.0);
}

}  // namespace
}  // namespace sund::consent
