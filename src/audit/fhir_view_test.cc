// Tests of the FHIR AuditEvent view and the citizen's log page: the JSON is parsed back with
// RapidJSON and each BALP element is checked against values worked out by hand (times from the
// Unix epoch, base64 from coreutils), and the HTML is searched for escaped text, the emergency
// marker and the style element the CSP hash is computed over.
#include "audit/fhir_view.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.h"
#include "core/json.h"

namespace sund::audit {
namespace {

constexpr std::int64_t kStart = 1'700'000'000'000'000;  // 2023-11-14T22:13:20Z
constexpr std::string_view kDcm = "http://dicom.nema.org/resources/ontology/DCM";
constexpr std::string_view kActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
constexpr std::string_view kObjectRole = "http://terminology.hl7.org/CodeSystem/object-role";

StoredRecord PractitionerRead() {
  StoredRecord s;
  s.seq = 42;
  s.logged_us = kStart + 1000;
  Record& r = s.record;
  r.time_us = kStart;
  r.actor = {"Practitioner/dr-1", "practitioner", "Organization/9", "app-1"};
  r.action = Action::kRead;
  r.outcome = 200;
  r.patient_ids = {"123"};
  r.resources = {"Observation/obs-1"};
  r.purpose = "TREAT";
  r.consent_basis = {"Consent/c1"};
  r.source = "10.0.0.7";
  r.correlation_id = "req-1";
  return s;
}

StoredRecord BreakGlass() {
  StoredRecord s;
  s.seq = 7;
  s.logged_us = kStart + 5000;
  Record& r = s.record;
  r.time_us = kStart + 4000;
  r.actor = {"Practitioner/er-2", "practitioner", "Organization/9", "ehr"};
  r.action = Action::kBreakGlass;
  r.outcome = 200;
  r.patient_ids = {"p9"};
  r.detail = "Bevidstløs patient på skadestuen <akut> & \"haster\"";
  r.source = "2001:db8::1";
  return s;
}

StoredRecord Deleted() {
  StoredRecord s;
  s.seq = 3;
  s.logged_us = kStart;
  s.personal_deleted = true;
  Record& r = s.record;
  r.time_us = kStart;
  r.actor = {"Practitioner/dr-1", "practitioner", "", "app-1"};
  r.action = Action::kSearch;
  r.outcome = 403;
  r.purpose = "TREAT";
  return s;
}

StoredRecord Login() {
  StoredRecord s;
  s.seq = 0;
  s.logged_us = kStart;
  Record& r = s.record;
  r.time_us = kStart;
  r.actor = {"user/7", "citizen", "", "my-app"};
  r.action = Action::kLogin;
  r.outcome = 200;
  r.source = "192.0.2.10";
  return s;
}

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  EXPECT_FALSE(d.HasParseError()) << text;
  EXPECT_TRUE(d.IsObject());
  return d;
}

std::string_view Str(const rapidjson::Value& v, const char* name) {
  return json::GetString(v, name);
}

// The object at `obj[name][i]`, or a null value.
const rapidjson::Value& At(const rapidjson::Value& obj, const char* name, std::size_t i) {
  static const rapidjson::Value kNull;
  const rapidjson::Value* a = json::Find(obj, name);
  if (a == nullptr || !a->IsArray() || i >= a->Size()) return kNull;
  return (*a)[static_cast<rapidjson::SizeType>(i)];
}

const rapidjson::Value& Obj(const rapidjson::Value& obj, const char* name) {
  static const rapidjson::Value kNull;
  const rapidjson::Value* v = json::Find(obj, name);
  return v == nullptr ? kNull : *v;
}

std::size_t Count(const rapidjson::Value& obj, const char* name) {
  const rapidjson::Value* a = json::Find(obj, name);
  return a != nullptr && a->IsArray() ? a->Size() : 0;
}

// The agent whose type's first coding has `code`, or a null value.
const rapidjson::Value& AgentOfType(const rapidjson::Value& ev, std::string_view code) {
  static const rapidjson::Value kNull;
  for (std::size_t i = 0; i < Count(ev, "agent"); ++i) {
    const auto& agent = At(ev, "agent", i);
    if (Str(At(Obj(agent, "type"), "coding", 0), "code") == code) return agent;
  }
  return kNull;
}

// Entities whose role code is `role` (object-role), in order.
std::vector<const rapidjson::Value*> EntitiesWithRole(const rapidjson::Value& ev,
                                                      std::string_view role) {
  std::vector<const rapidjson::Value*> out;
  for (std::size_t i = 0; i < Count(ev, "entity"); ++i) {
    const auto& e = At(ev, "entity", i);
    if (Str(Obj(e, "role"), "system") == kObjectRole && Str(Obj(e, "role"), "code") == role) {
      out.push_back(&e);
    }
  }
  return out;
}

std::vector<std::string> PurposeCodes(const rapidjson::Value& ev) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < Count(ev, "purposeOfEvent"); ++i) {
    const auto& c = At(At(ev, "purposeOfEvent", i), "coding", 0);
    EXPECT_EQ(Str(c, "system"), kActReason);
    out.emplace_back(Str(c, "code"));
  }
  return out;
}

// Verifies: REQ-AUD-036, REQ-AUD-038, REQ-AUD-039
TEST(AuditEventJsonTest, PractitionerReadWithConsent) {
  auto d = Parse(AuditEventJson(PractitionerRead(), "https://sund.example/fhir"));
  EXPECT_EQ(Str(d, "resourceType"), "AuditEvent");
  EXPECT_EQ(Str(d, "id"), "42");
  EXPECT_EQ(Str(Obj(d, "type"), "system"),
            "http://terminology.hl7.org/CodeSystem/audit-event-type");
  EXPECT_EQ(Str(Obj(d, "type"), "code"), "rest");
  ASSERT_EQ(Count(d, "subtype"), 1u);
  EXPECT_EQ(Str(At(d, "subtype", 0), "system"), "http://hl7.org/fhir/restful-interaction");
  EXPECT_EQ(Str(At(d, "subtype", 0), "code"), "read");
  EXPECT_EQ(Str(d, "action"), "R");
  EXPECT_EQ(Str(d, "recorded"), "2023-11-14T22:13:20.001Z");
  EXPECT_EQ(Str(Obj(d, "period"), "start"), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(Str(d, "outcome"), "0");
  EXPECT_EQ(Str(d, "outcomeDesc"), "HTTP 200");
  EXPECT_EQ(PurposeCodes(d), std::vector<std::string>{"TREAT"});

  // The correlation id, as the Sund extension and as BALP's X-Request-Id entity.
  EXPECT_EQ(Str(At(d, "extension", 0), "url"),
            "https://sund.dk/fhir/StructureDefinition/correlation-id");
  EXPECT_EQ(Str(At(d, "extension", 0), "valueString"), "req-1");

  // agent[0]: the user, with role, requestor and the consent as policy.
  const auto& user = At(d, "agent", 0);
  EXPECT_EQ(Str(At(Obj(user, "type"), "coding", 0), "code"), "IRCP");
  EXPECT_EQ(Str(Obj(user, "who"), "reference"), "Practitioner/dr-1");
  EXPECT_EQ(Str(At(user, "role", 0), "text"), "practitioner");
  ASSERT_TRUE(Obj(user, "requestor").IsBool());
  EXPECT_TRUE(Obj(user, "requestor").GetBool());
  ASSERT_EQ(Count(user, "policy"), 1u);
  EXPECT_EQ(json::View(At(user, "policy", 0)), "Consent/c1");
  EXPECT_EQ(json::Find(user, "network"), nullptr);  // users are not network devices

  // The app, with the client's address.
  const auto& app = AgentOfType(d, "110153");
  ASSERT_TRUE(app.IsObject());
  EXPECT_EQ(Str(Obj(Obj(app, "who"), "identifier"), "system"), "urn:sund:client-id");
  EXPECT_EQ(Str(Obj(Obj(app, "who"), "identifier"), "value"), "app-1");
  EXPECT_FALSE(Obj(app, "requestor").GetBool());
  EXPECT_EQ(Str(Obj(app, "network"), "address"), "10.0.0.7");
  EXPECT_EQ(Str(Obj(app, "network"), "type"), "2");

  const auto& org = AgentOfType(d, "PROV");
  EXPECT_EQ(Str(Obj(org, "who"), "reference"), "Organization/9");
  const auto& server = AgentOfType(d, "110152");
  EXPECT_EQ(Str(Obj(server, "network"), "address"), "https://sund.example/fhir");
  EXPECT_EQ(Str(Obj(Obj(d, "source"), "observer"), "display"), "Sund");
  EXPECT_EQ(Str(Obj(d, "source"), "site"), "https://sund.example/fhir");

  auto patients = EntitiesWithRole(d, "1");
  ASSERT_EQ(patients.size(), 1u);
  EXPECT_EQ(Str(Obj(*patients[0], "what"), "reference"), "Patient/123");
  EXPECT_EQ(Str(Obj(*patients[0], "type"), "code"), "1");  // Person
  EXPECT_EQ(json::Find(*patients[0], "description"), nullptr);
  auto resources = EntitiesWithRole(d, "4");
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(Str(Obj(*resources[0], "what"), "reference"), "Observation/obs-1");
  EXPECT_TRUE(EntitiesWithRole(d, "24").empty());  // no query

  bool request_id = false;
  for (std::size_t i = 0; i < Count(d, "entity"); ++i) {
    const auto& e = At(d, "entity", i);
    if (Str(Obj(e, "type"), "code") == "XrequestId") {
      request_id = Str(Obj(Obj(e, "what"), "identifier"), "value") == "req-1";
    }
  }
  EXPECT_TRUE(request_id);
}

// Verifies: REQ-AUD-037, REQ-AUD-039
TEST(AuditEventJsonTest, SearchCarriesTheQueryAsBase64) {
  StoredRecord s = PractitionerRead();
  s.record.action = Action::kSearch;
  s.record.resources.clear();
  s.record.query = "code=8867-4&_count=10";
  auto d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(At(d, "subtype", 0), "code"), "search-type");
  EXPECT_EQ(Str(d, "action"), "E");
  auto queries = EntitiesWithRole(d, "24");
  ASSERT_EQ(queries.size(), 1u);
  // printf 'code=8867-4&_count=10' | base64
  EXPECT_EQ(Str(*queries[0], "query"), "Y29kZT04ODY3LTQmX2NvdW50PTEw");
  EXPECT_EQ(json::Find(*queries[0], "what"), nullptr);
  // No base URL: no source.site and no server address.
  EXPECT_EQ(json::Find(Obj(d, "source"), "site"), nullptr);
  EXPECT_EQ(json::Find(AgentOfType(d, "110152"), "network"), nullptr);
}

// Verifies: REQ-AUD-037, REQ-AUD-039, REQ-AUD-040
TEST(AuditEventJsonTest, BreakGlassHasEmergencyPurposeAndReason) {
  StoredRecord s = BreakGlass();
  auto d = Parse(AuditEventJson(s, "https://sund.example/fhir"));
  EXPECT_EQ(Str(Obj(d, "type"), "system"), kDcm);
  EXPECT_EQ(Str(Obj(d, "type"), "code"), "110113");  // Security Alert
  EXPECT_EQ(Str(At(d, "subtype", 0), "system"), kDcm);
  EXPECT_EQ(Str(At(d, "subtype", 0), "code"), "110127");  // Emergency Override Started
  EXPECT_EQ(Str(d, "action"), "E");
  EXPECT_EQ(PurposeCodes(d), std::vector<std::string>{"ETREAT"});
  auto patients = EntitiesWithRole(d, "1");
  ASSERT_EQ(patients.size(), 1u);
  EXPECT_EQ(Str(Obj(*patients[0], "what"), "reference"), "Patient/p9");
  EXPECT_EQ(Str(*patients[0], "description"), s.record.detail);  // escaped and read back
  const auto& app = AgentOfType(d, "110150");  // Application (not a REST interaction)
  EXPECT_EQ(Str(Obj(app, "network"), "address"), "2001:db8::1");
  EXPECT_EQ(Str(Obj(app, "network"), "type"), "2");

  // A stated purpose stays, and ETREAT is added once.
  s.record.purpose = "TREAT";
  d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(PurposeCodes(d), (std::vector<std::string>{"TREAT", "ETREAT"}));
  // A read under ETREAT keeps its REST type and lists ETREAT once.
  s.record.action = Action::kRead;
  s.record.purpose = "ETREAT";
  d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(Obj(d, "type"), "code"), "rest");
  EXPECT_EQ(PurposeCodes(d), std::vector<std::string>{"ETREAT"});
}

// Verifies: REQ-AUD-036, REQ-AUD-041
TEST(AuditEventJsonTest, PersonalDeletedSaysSo) {
  auto d = Parse(AuditEventJson(Deleted(), ""));
  EXPECT_EQ(Str(d, "id"), "3");
  EXPECT_EQ(Str(d, "outcome"), "4");
  EXPECT_EQ(Str(d, "outcomeDesc"), "HTTP 403");
  EXPECT_TRUE(EntitiesWithRole(d, "1").empty());
  ASSERT_EQ(Count(d, "entity"), 1u);
  EXPECT_EQ(Str(At(d, "entity", 0), "description"),
            "personal data deleted after the retention period");
  EXPECT_EQ(json::Find(d, "extension"), nullptr);  // no correlation id
}

// Verifies: REQ-AUD-036
TEST(AuditEventJsonTest, ServerErrorIsSeriousFailure) {
  StoredRecord s = PractitionerRead();
  s.record.outcome = 503;
  auto d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(d, "outcome"), "8");
  EXPECT_EQ(Str(d, "outcomeDesc"), "HTTP 503");
  s.record.outcome = 302;
  d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(d, "outcome"), "0");
}

// Verifies: REQ-AUD-037, REQ-AUD-038
TEST(AuditEventJsonTest, LoginAndLogoutUseDicomUserAuthentication) {
  StoredRecord s = Login();
  auto d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(Obj(d, "type"), "system"), kDcm);
  EXPECT_EQ(Str(Obj(d, "type"), "code"), "110114");
  EXPECT_EQ(Str(At(d, "subtype", 0), "system"), kDcm);
  EXPECT_EQ(Str(At(d, "subtype", 0), "code"), "110122");
  EXPECT_EQ(Str(d, "action"), "E");
  EXPECT_EQ(json::Find(d, "purposeOfEvent"), nullptr);
  // "user/7" is not a FHIR reference: it becomes an identifier.
  const auto& user = At(d, "agent", 0);
  EXPECT_EQ(json::Find(Obj(user, "who"), "reference"), nullptr);
  EXPECT_EQ(Str(Obj(Obj(user, "who"), "identifier"), "value"), "user/7");
  EXPECT_EQ(Str(At(user, "role", 0), "text"), "citizen");
  const auto& app = AgentOfType(d, "110150");
  EXPECT_EQ(Str(Obj(Obj(app, "who"), "identifier"), "value"), "my-app");
  EXPECT_EQ(Str(Obj(app, "network"), "address"), "192.0.2.10");
  EXPECT_EQ(Count(d, "entity"), 0u);

  s.record.action = Action::kLogout;
  d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(At(d, "subtype", 0), "code"), "110123");
}

// Verifies: REQ-AUD-037, REQ-AUD-038, REQ-AUD-039
TEST(AuditEventJsonTest, SystemClientIsTheRequestor) {
  StoredRecord s = Login();
  s.record.action = Action::kToken;
  s.record.actor = {"", "system", "", "backend-1"};
  s.record.detail = "client_credentials";
  s.record.source = "host.example";
  auto d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(Obj(d, "type"), "code"), "110114");
  EXPECT_EQ(Str(At(d, "subtype", 0), "system"), "urn:ihe:event-type-code");
  EXPECT_EQ(Str(At(d, "subtype", 0), "code"), "ITI-71");
  const auto& first = At(d, "agent", 0);
  EXPECT_EQ(Str(At(Obj(first, "type"), "coding", 0), "code"), "110150");
  EXPECT_TRUE(Obj(first, "requestor").GetBool());
  EXPECT_EQ(Str(At(first, "role", 0), "text"), "system");
  EXPECT_EQ(Str(Obj(first, "network"), "type"), "1");  // a machine name
  // Free text without a patient goes to an "Other" entity.
  ASSERT_EQ(Count(d, "entity"), 1u);
  EXPECT_EQ(Str(At(d, "entity", 0), "description"), "client_credentials");
}

// Verifies: REQ-AUD-042
TEST(AuditEventJsonTest, StringsAreEscaped) {
  StoredRecord s = PractitionerRead();
  s.record.actor.user_id = "x\"}],\"id\":\"forged\n\\";
  s.record.resources = {"Observation/\"a\""};
  auto d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(d, "id"), "42");
  EXPECT_EQ(Str(Obj(Obj(At(d, "agent", 0), "who"), "identifier"), "value"), s.record.actor.user_id);
}

// Verifies: REQ-AUD-037
TEST(AuditEventJsonTest, EveryActionHasTypeSubtypeAndAction) {
  for (Action a : {Action::kRead, Action::kVread, Action::kSearch, Action::kCreate, Action::kUpdate,
                   Action::kPatch, Action::kDelete, Action::kHistory, Action::kOperation,
                   Action::kTransaction, Action::kLogin, Action::kLogout, Action::kToken,
                   Action::kConsentChange, Action::kBreakGlass, Action::kExport}) {
    StoredRecord s = PractitionerRead();
    s.record.action = a;
    auto d = Parse(AuditEventJson(s, ""));
    EXPECT_FALSE(Str(Obj(d, "type"), "code").empty()) << ActionName(a);
    EXPECT_GE(Count(d, "subtype"), 1u) << ActionName(a);
    std::string_view act = Str(d, "action");
    EXPECT_TRUE(act.size() == 1 && std::string_view("CRUDE").find(act) != std::string_view::npos)
        << ActionName(a);
  }
  // Spot checks of the documented choices.
  StoredRecord s = PractitionerRead();
  const std::vector<std::pair<Action, std::pair<std::string, std::string>>> expected = {
      {Action::kCreate, {"create", "C"}},       {Action::kUpdate, {"update", "U"}},
      {Action::kPatch, {"patch", "U"}},         {Action::kDelete, {"delete", "D"}},
      {Action::kVread, {"vread", "R"}},         {Action::kHistory, {"history-instance", "R"}},
      {Action::kOperation, {"operation", "E"}}, {Action::kTransaction, {"transaction", "E"}},
      {Action::kConsentChange, {"110135", "E"}}};
  for (const auto& [a, want] : expected) {
    s.record.action = a;
    auto d = Parse(AuditEventJson(s, ""));
    EXPECT_EQ(Str(At(d, "subtype", 0), "code"), want.first) << ActionName(a);
    EXPECT_EQ(Str(d, "action"), want.second) << ActionName(a);
  }
  s.record.action = Action::kExport;
  auto d = Parse(AuditEventJson(s, ""));
  EXPECT_EQ(Str(Obj(d, "type"), "code"), "110106");
  EXPECT_EQ(Str(At(d, "subtype", 0), "code"), "disclose");
  EXPECT_EQ(Str(d, "action"), "R");
}

// Verifies: REQ-AUD-043
TEST(AuditEventBundleJsonTest, SearchsetWithLinksAndEntries) {
  std::vector<StoredRecord> records = {PractitionerRead(), BreakGlass()};
  auto d = Parse(AuditEventBundleJson(
      records, "https://sund.example/fhir/", "https://sund.example/fhir/AuditEvent?patient=123",
      "https://sund.example/fhir/AuditEvent?patient=123&_before=7"));
  EXPECT_EQ(Str(d, "resourceType"), "Bundle");
  EXPECT_EQ(Str(d, "type"), "searchset");
  ASSERT_EQ(Count(d, "link"), 2u);
  EXPECT_EQ(Str(At(d, "link", 0), "relation"), "self");
  EXPECT_EQ(Str(At(d, "link", 0), "url"), "https://sund.example/fhir/AuditEvent?patient=123");
  EXPECT_EQ(Str(At(d, "link", 1), "relation"), "next");
  EXPECT_EQ(Str(At(d, "link", 1), "url"),
            "https://sund.example/fhir/AuditEvent?patient=123&_before=7");
  ASSERT_EQ(Count(d, "entry"), 2u);
  EXPECT_EQ(Str(At(d, "entry", 0), "fullUrl"), "https://sund.example/fhir/AuditEvent/42");
  EXPECT_EQ(Str(At(d, "entry", 1), "fullUrl"), "https://sund.example/fhir/AuditEvent/7");
  EXPECT_EQ(Str(Obj(At(d, "entry", 0), "search"), "mode"), "match");
  const auto& second = Obj(At(d, "entry", 1), "resource");
  EXPECT_EQ(Str(second, "resourceType"), "AuditEvent");
  EXPECT_EQ(Str(second, "id"), "7");
  EXPECT_EQ(Str(Obj(second, "type"), "code"), "110113");

  // Without a next URL there is only the self link; no records, no entries.
  d = Parse(AuditEventBundleJson({}, "", "/fhir/AuditEvent?patient=123", ""));
  ASSERT_EQ(Count(d, "link"), 1u);
  EXPECT_EQ(Str(At(d, "link", 0), "relation"), "self");
  EXPECT_EQ(Count(d, "entry"), 0u);
}

std::size_t Occurrences(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(what); pos != std::string_view::npos;
       pos = text.find(what, pos + what.size())) {
    ++n;
  }
  return n;
}

// The rows of the table body, each from "<tr" to "</tr>".
std::vector<std::string> Rows(const std::string& html) {
  std::vector<std::string> rows;
  std::size_t body = html.find("<tbody>");
  if (body == std::string::npos) return rows;
  for (std::size_t pos = html.find("<tr", body); pos != std::string::npos;
       pos = html.find("<tr", pos + 1)) {
    std::size_t end = html.find("</tr>", pos);
    if (end == std::string::npos) break;
    rows.push_back(html.substr(pos, end - pos));
  }
  return rows;
}

// Verifies: REQ-AUD-044
TEST(MyLogHtmlTest, EscapesEverythingAndHasNoScript) {
  StoredRecord s = PractitionerRead();
  s.record.actor.user_id = "<script>alert(1)</script>";
  s.record.actor.client_id = "app\" onmouseover=\"x";
  s.record.resources = {"Observation/<b>"};
  std::string html = MyLogHtml({s}, "da", "");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("app&quot; onmouseover=&quot;x"), std::string::npos);
  EXPECT_NE(html.find("Observation/&lt;b&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
}

// Readable names stand above the reference or client id they belong to, escaped; an actor
// without a name keeps the reference alone.
// Verifies: REQ-AUD-044, REQ-AUD-045
TEST(MyLogHtmlTest, ShowsNamesAboveReferencesAndAppIds) {
  StoredRecord s = PractitionerRead();
  s.record.actor.organization = "Organization/org-1";
  StoredRecord unnamed = PractitionerRead();
  unnamed.record.actor.user_id = "Practitioner/unknown";
  DisplayNames names = {{s.record.actor.user_id, "Hans <Hansen>"},
                        {"Organization/org-1", "Testhospitalet"},
                        {s.record.actor.client_id, "Klinikportalen"}};
  std::string html = MyLogHtml({s, unnamed}, "da", "", names);
  std::size_t name = html.find("Hans &lt;Hansen&gt;");
  ASSERT_NE(name, std::string::npos) << html;
  EXPECT_LT(name, html.find(s.record.actor.user_id));
  EXPECT_NE(html.find("Testhospitalet"), std::string::npos);
  EXPECT_NE(html.find("Klinikportalen"), std::string::npos);
  EXPECT_NE(html.find("Practitioner/unknown"), std::string::npos);
}

// Verifies: REQ-AUD-041, REQ-AUD-045
TEST(MyLogHtmlTest, DanishPageStructure) {
  std::string html = MyLogHtml({PractitionerRead(), Deleted()}, "da", "");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n<html lang=\"da\">", 0), 0u);
  EXPECT_NE(html.find("<h1>Min log</h1>"), std::string::npos);
  EXPECT_NE(html.find("<caption"), std::string::npos);
  EXPECT_EQ(Occurrences(html, "<th scope=\"col\">"), 6u);
  EXPECT_NE(html.find("Hvornår (UTC)"), std::string::npos);
  auto rows = Rows(html);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[0].find("2023-11-14 22:13:20 UTC"), std::string::npos);
  EXPECT_NE(rows[0].find("datetime=\"2023-11-14T22:13:20.000Z\""), std::string::npos);
  EXPECT_NE(rows[0].find("Practitioner/dr-1"), std::string::npos);
  EXPECT_NE(rows[0].find("Sundhedsperson"), std::string::npos);
  EXPECT_NE(rows[0].find("Organization/9"), std::string::npos);
  EXPECT_NE(rows[0].find("app-1"), std::string::npos);
  EXPECT_NE(rows[0].find("Læste"), std::string::npos);
  EXPECT_NE(rows[0].find("Observation/obs-1"), std::string::npos);
  EXPECT_NE(rows[0].find("Behandling"), std::string::npos);
  EXPECT_NE(rows[0].find("Consent/c1"), std::string::npos);
  EXPECT_NE(rows[0].find("Gennemført"), std::string::npos);
  EXPECT_NE(rows[1].find("slettet efter opbevaringsperioden"), std::string::npos);
  EXPECT_NE(rows[1].find("Adgang nægtet"), std::string::npos);
  EXPECT_NE(rows[1].find("HTTP 403"), std::string::npos);
  EXPECT_EQ(html.find("NØDADGANG"), std::string::npos);
  EXPECT_EQ(html.find("rel=\"next\""), std::string::npos);
}

// Verifies: REQ-AUD-045, REQ-AUD-046
TEST(MyLogHtmlTest, EmergencyRowStandsOut) {
  StoredRecord bg = BreakGlass();
  std::string html = MyLogHtml({PractitionerRead(), bg}, "da", "");
  auto rows = Rows(html);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].rfind("<tr>", 0), 0u);
  EXPECT_EQ(rows[1].rfind("<tr class=\"emergency\">", 0), 0u);
  EXPECT_NE(rows[1].find("NØDADGANG"), std::string::npos);
  EXPECT_NE(rows[1].find("Akut behandling (nødadgang)"), std::string::npos);
  EXPECT_NE(rows[1].find("Begrundelse: Bevidstløs patient på skadestuen &lt;akut&gt; &amp; "
                         "&quot;haster&quot;"),
            std::string::npos);
  EXPECT_EQ(Occurrences(html, "NØDADGANG"), 1u);

  // English, and an ETREAT read counts as emergency access too.
  StoredRecord read = PractitionerRead();
  read.record.purpose = "ETREAT";
  read.record.detail = "unconscious";
  html = MyLogHtml({read}, "en", "");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0), 0u);
  rows = Rows(html);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].rfind("<tr class=\"emergency\">", 0), 0u);
  EXPECT_NE(rows[0].find("EMERGENCY ACCESS"), std::string::npos);
  EXPECT_NE(rows[0].find("Emergency treatment (break-the-glass)"), std::string::npos);
  EXPECT_NE(rows[0].find("Stated reason: unconscious"), std::string::npos);
  EXPECT_NE(html.find("<h1>My log</h1>"), std::string::npos);
}

// Verifies: REQ-AUD-047
TEST(MyLogHtmlTest, NextLinkOnlyForSafeUrls) {
  std::string html = MyLogHtml({PractitionerRead()}, "en", "/my-log?before=42&lang=en");
  EXPECT_NE(html.find("<a rel=\"next\" href=\"/my-log?before=42&amp;lang=en\">Older events</a>"),
            std::string::npos);
  html = MyLogHtml({PractitionerRead()}, "en", "javascript:alert(1)");
  EXPECT_EQ(html.find("javascript:"), std::string::npos);
  EXPECT_EQ(html.find("rel=\"next\""), std::string::npos);
}

// Verifies: REQ-AUD-045
TEST(MyLogHtmlTest, EmptyLog) {
  std::string html = MyLogHtml({}, "en", "");
  EXPECT_NE(html.find("There are no events in your log."), std::string::npos);
  EXPECT_EQ(html.find("<table"), std::string::npos);
}

// Verifies: REQ-AUD-048
TEST(MyLogHtmlTest, StyleHashMatchesThePage) {
  std::string html = MyLogHtml({PractitionerRead(), BreakGlass()}, "da", "/next");
  // Exactly one <style> element and no style attributes (the CSP allows only the hash).
  ASSERT_EQ(Occurrences(html, "<style>"), 1u);
  EXPECT_EQ(Occurrences(html, " style="), 0u);
  std::size_t begin = html.find("<style>") + 7;
  std::size_t end = html.find("</style>", begin);
  ASSERT_NE(end, std::string::npos);
  std::string in_page = html.substr(begin, end - begin);
  EXPECT_EQ(in_page, MyLogStyle());
  EXPECT_EQ(crypto::Base64Encode(crypto::Sha256(in_page)),
            crypto::Base64Encode(crypto::Sha256(MyLogStyle())));
  EXPECT_NE(MyLogStyle().find("tr.emergency"), std::string_view::npos);
}

}  // namespace
}  // namespace sund::audit
