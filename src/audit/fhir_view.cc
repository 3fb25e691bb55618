#include "audit/fhir_view.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/crypto.h"
#include "core/html.h"
#include "core/json.h"
#include "core/time.h"

namespace sund::audit {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Code systems (FHIR R4 / THO names).
constexpr std::string_view kDcm = "http://dicom.nema.org/resources/ontology/DCM";
constexpr std::string_view kAuditEventType =
    "http://terminology.hl7.org/CodeSystem/audit-event-type";
constexpr std::string_view kRestful = "http://hl7.org/fhir/restful-interaction";
constexpr std::string_view kIheEventType = "urn:ihe:event-type-code";
constexpr std::string_view kLifecycle = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle";
constexpr std::string_view kActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
constexpr std::string_view kEntityType = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr std::string_view kObjectRole = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr std::string_view kParticipationType =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
constexpr std::string_view kRoleClass = "http://terminology.hl7.org/CodeSystem/v3-RoleClass";
constexpr std::string_view kSourceType =
    "http://terminology.hl7.org/CodeSystem/security-source-type";
constexpr std::string_view kBalpEntityType =
    "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType";
constexpr std::string_view kClientIdSystem = "urn:sund:client-id";
constexpr std::string_view kCorrelationExtension =
    "https://sund.dk/fhir/StructureDefinition/correlation-id";
constexpr std::string_view kPersonalDeleted = "personal data deleted after the retention period";

struct Code {
  std::string_view system;
  std::string_view code;
  std::string_view display;
};

// What an Action becomes in AuditEvent.type, .subtype and .action (README.md, "FHIR view").
struct EventCodes {
  Code type;
  Code subtype;
  Code subtype2;            // a second subtype, or empty
  std::string_view action;  // C, R, U, D or E
  bool rest = false;        // a RESTful interaction on the FHIR API
};

EventCodes CodesFor(Action action) {
  const Code rest{kAuditEventType, "rest", "Restful Operation"};
  auto restful = [&](std::string_view code, std::string_view act) {
    return EventCodes{rest, {kRestful, code, code}, {}, act, true};
  };
  const Code user_auth{kDcm, "110114", "User Authentication"};
  const Code security_alert{kDcm, "110113", "Security Alert"};
  switch (action) {
    case Action::kRead:
      return restful("read", "R");
    case Action::kVread:
      return restful("vread", "R");
    case Action::kSearch:
      return restful("search-type", "E");  // BALP Query: action E
    case Action::kCreate:
      return restful("create", "C");
    case Action::kUpdate:
      return restful("update", "U");
    case Action::kPatch:
      return restful("patch", "U");
    case Action::kDelete:
      return restful("delete", "D");
    case Action::kHistory:
      return restful("history-instance", "R");
    case Action::kOperation:
      return restful("operation", "E");
    case Action::kTransaction:
      return restful("transaction", "E");
    case Action::kLogin:
      return {user_auth, {kDcm, "110122", "Login"}, {}, "E", false};
    case Action::kLogout:
      return {user_auth, {kDcm, "110123", "Logout"}, {}, "E", false};
    case Action::kToken:
      return {user_auth, {kIheEventType, "ITI-71", "Get Access Token"}, {}, "E", false};
    case Action::kConsentChange:
      return {
          security_alert, {kDcm, "110135", "Object Security Attributes Changed"}, {}, "E", false};
    case Action::kBreakGlass:
      return {security_alert, {kDcm, "110127", "Emergency Override Started"}, {}, "E", false};
    case Action::kExport:
      return {{kDcm, "110106", "Export"},
              {kLifecycle, "disclose", "Disclose Record Lifecycle Event"},
              {kRestful, "operation", "operation"},
              "R",
              false};
  }
  return restful("operation", "E");
}

std::string_view PurposeDisplay(std::string_view code) {
  if (code == "TREAT") return "treatment";
  if (code == "ETREAT") return "Emergency Treatment";
  if (code == "HRESCH") return "healthcare research";
  if (code == "HPAYMT") return "healthcare payment";
  if (code == "HOPERAT") return "healthcare operations";
  if (code == "PATRQT") return "patient requested";
  return {};
}

bool IsEmergency(const Record& r) {
  return r.action == Action::kBreakGlass || r.purpose == "ETREAT";
}

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlpha(char c) { return IsUpper(c) || (c >= 'a' && c <= 'z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "Type/id" with a FHIR resource type name and a FHIR id ([A-Za-z0-9-.]{1,64}).
bool IsFhirReference(std::string_view s) {
  std::size_t slash = s.find('/');
  if (slash == 0 || slash == std::string_view::npos || !IsUpper(s[0])) return false;
  for (std::size_t i = 0; i < slash; ++i) {
    if (!IsAlpha(s[i])) return false;
  }
  std::string_view id = s.substr(slash + 1);
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '-' && c != '.') return false;
  }
  return true;
}

// network-type "2" (IP address) when `address` looks like IPv4 or IPv6, else "1" (machine name).
std::string_view NetworkType(std::string_view address) {
  bool separator = false;
  for (char c : address) {
    bool hex = IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (c == '.' || c == ':') {
      separator = true;
    } else if (!hex) {
      return "1";
    }
  }
  return separator ? "2" : "1";
}

std::string_view TrimSlash(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return url;
}

void Str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void Key(Writer& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}

void Member(Writer& w, std::string_view k, std::string_view v) {
  Key(w, k);
  Str(w, v);
}

void WriteCoding(Writer& w, const Code& c) {
  w.StartObject();
  Member(w, "system", c.system);
  Member(w, "code", c.code);
  if (!c.display.empty()) Member(w, "display", c.display);
  w.EndObject();
}

// A CodeableConcept with one coding.
void WriteConcept(Writer& w, const Code& c) {
  w.StartObject();
  Key(w, "coding");
  w.StartArray();
  WriteCoding(w, c);
  w.EndArray();
  w.EndObject();
}

// A Reference: `reference` when `id` is "Type/id", else an identifier (with `system` if given).
void WriteWho(Writer& w, std::string_view id, std::string_view system = {}) {
  w.StartObject();
  if (system.empty() && IsFhirReference(id)) {
    Member(w, "reference", id);
  } else {
    Key(w, "identifier");
    w.StartObject();
    if (!system.empty()) Member(w, "system", system);
    Member(w, "value", id);
    w.EndObject();
  }
  w.EndObject();
}

void WriteRoleText(Writer& w, std::string_view role) {
  Key(w, "role");
  w.StartArray();
  w.StartObject();
  Member(w, "text", role);
  w.EndObject();
  w.EndArray();
}

void WritePolicy(Writer& w, const std::vector<std::string>& consents) {
  if (consents.empty()) return;
  Key(w, "policy");
  w.StartArray();
  for (const auto& c : consents) Str(w, c);
  w.EndArray();
}

void WriteAgents(Writer& w, const Record& r, const EventCodes& codes, std::string_view base) {
  const Actor& a = r.actor;
  const bool has_user = !a.user_id.empty();
  const bool has_client = !a.client_id.empty() || !r.source.empty();
  Key(w, "agent");
  w.StartArray();
  if (has_user) {
    // BALP agent[user]: the information recipient, who asked.
    w.StartObject();
    Key(w, "type");
    WriteConcept(w, {kParticipationType, "IRCP", "information recipient"});
    if (!a.role.empty()) WriteRoleText(w, a.role);
    Key(w, "who");
    WriteWho(w, a.user_id);
    Key(w, "requestor");
    w.Bool(true);
    WritePolicy(w, r.consent_basis);
    w.EndObject();
  }
  if (has_client) {
    // BALP agent[client]: the app and the network address the request came from.
    w.StartObject();
    Key(w, "type");
    WriteConcept(w, codes.rest ? Code{kDcm, "110153", "Source Role ID"}
                               : Code{kDcm, "110150", "Application"});
    if (!has_user && !a.role.empty()) WriteRoleText(w, a.role);
    if (!a.client_id.empty()) {
      Key(w, "who");
      WriteWho(w, a.client_id, kClientIdSystem);
    }
    Key(w, "requestor");
    w.Bool(!has_user);
    if (!has_user) WritePolicy(w, r.consent_basis);
    if (!r.source.empty()) {
      Key(w, "network");
      w.StartObject();
      Member(w, "address", r.source);
      Member(w, "type", NetworkType(r.source));
      w.EndObject();
    }
    w.EndObject();
  }
  if (!has_user && !has_client) {
    // AuditEvent.agent is 1..*: an unidentified requestor.
    w.StartObject();
    if (!a.role.empty()) WriteRoleText(w, a.role);
    Key(w, "who");
    w.StartObject();
    Member(w, "display", "unknown");
    w.EndObject();
    Key(w, "requestor");
    w.Bool(true);
    WritePolicy(w, r.consent_basis);
    w.EndObject();
  }
  if (!a.organization.empty()) {
    // BALP agent[userorg].
    w.StartObject();
    Key(w, "type");
    WriteConcept(w, {kRoleClass, "PROV", "healthcare provider"});
    Key(w, "who");
    WriteWho(w, a.organization);
    Key(w, "requestor");
    w.Bool(false);
    w.EndObject();
  }
  // BALP agent[server]: Sund itself.
  w.StartObject();
  Key(w, "type");
  WriteConcept(w, {kDcm, "110152", "Destination Role ID"});
  Key(w, "who");
  w.StartObject();
  Member(w, "display", "Sund");
  w.EndObject();
  Key(w, "requestor");
  w.Bool(false);
  if (!base.empty()) {
    Key(w, "network");
    w.StartObject();
    Member(w, "address", base);
    Member(w, "type", "5");  // URI
    w.EndObject();
  }
  w.EndObject();
  w.EndArray();
}

void StartEntity(Writer& w, const Code& type) {
  w.StartObject();
  Key(w, "type");
  WriteCoding(w, type);
}

void WriteEntities(Writer& w, const StoredRecord& s) {
  const Record& r = s.record;
  const Code person{kEntityType, "1", "Person"};
  const Code system_object{kEntityType, "2", "System Object"};
  Key(w, "entity");
  w.StartArray();
  for (const auto& id : r.patient_ids) {
    StartEntity(w, person);
    Key(w, "what");
    w.StartObject();
    Member(w, "reference", "Patient/" + id);
    w.EndObject();
    Key(w, "role");
    WriteCoding(w, {kObjectRole, "1", "Patient"});
    if (!r.detail.empty()) Member(w, "description", r.detail);
    w.EndObject();
  }
  for (const auto& ref : r.resources) {
    StartEntity(w, system_object);
    Key(w, "what");
    w.StartObject();
    Member(w, "reference", ref);
    w.EndObject();
    Key(w, "role");
    WriteCoding(w, {kObjectRole, "4", "Domain Resource"});
    w.EndObject();
  }
  if (!r.query.empty()) {
    // BALP entity[query]: the raw query, base64 (R4 entity.query is base64Binary).
    StartEntity(w, system_object);
    Key(w, "role");
    WriteCoding(w, {kObjectRole, "24", "Query"});
    Member(w, "query", crypto::Base64Encode(r.query));
    w.EndObject();
  }
  if (!r.detail.empty() && r.patient_ids.empty()) {
    // Free text that concerns no patient (e.g. "app registered: ...").
    StartEntity(w, {kEntityType, "4", "Other"});
    Member(w, "description", r.detail);
    w.EndObject();
  }
  if (s.personal_deleted) {
    StartEntity(w, {kEntityType, "4", "Other"});
    Member(w, "description", kPersonalDeleted);
    w.EndObject();
  }
  if (!r.correlation_id.empty()) {
    // BALP entity[transaction]: the request id (also in the correlation-id extension).
    StartEntity(w, {kBalpEntityType, "XrequestId", ""});
    Key(w, "what");
    w.StartObject();
    Key(w, "identifier");
    w.StartObject();
    Member(w, "value", r.correlation_id);
    w.EndObject();
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

void WriteAuditEvent(Writer& w, const StoredRecord& s, std::string_view base) {
  const Record& r = s.record;
  const EventCodes codes = CodesFor(r.action);
  w.StartObject();
  Member(w, "resourceType", "AuditEvent");
  Member(w, "id", std::to_string(s.seq));
  if (!r.correlation_id.empty()) {
    Key(w, "extension");
    w.StartArray();
    w.StartObject();
    Member(w, "url", kCorrelationExtension);
    Member(w, "valueString", r.correlation_id);
    w.EndObject();
    w.EndArray();
  }
  Key(w, "type");
  WriteCoding(w, codes.type);
  Key(w, "subtype");
  w.StartArray();
  WriteCoding(w, codes.subtype);
  if (!codes.subtype2.code.empty()) WriteCoding(w, codes.subtype2);
  w.EndArray();
  Member(w, "action", codes.action);
  Key(w, "period");
  w.StartObject();
  Member(w, "start", FormatInstant(r.time_us));
  w.EndObject();
  Member(w, "recorded", FormatInstant(s.logged_us));
  Member(w, "outcome", r.outcome >= 500 ? "8" : r.outcome >= 400 ? "4" : "0");
  Member(w, "outcomeDesc", "HTTP " + std::to_string(r.outcome));
  const bool emergency = IsEmergency(r);
  if (!r.purpose.empty() || emergency) {
    Key(w, "purposeOfEvent");
    w.StartArray();
    if (!r.purpose.empty()) WriteConcept(w, {kActReason, r.purpose, PurposeDisplay(r.purpose)});
    if (emergency && r.purpose != "ETREAT") {
      WriteConcept(w, {kActReason, "ETREAT", PurposeDisplay("ETREAT")});
    }
    w.EndArray();
  }
  WriteAgents(w, r, codes, base);
  Key(w, "source");
  w.StartObject();
  if (!base.empty()) Member(w, "site", base);
  Key(w, "observer");
  w.StartObject();
  Member(w, "display", "Sund");
  w.EndObject();
  Key(w, "type");
  w.StartArray();
  WriteCoding(w, {kSourceType, "4", "Application Server"});
  w.EndArray();
  w.EndObject();
  WriteEntities(w, s);
  w.EndObject();
}

// ---- The citizen's page ----

// Colours (WCAG 2.1 contrast): text #1a1a1a on #fff 17.4:1, on the header tint #f2f2f2 15.9:1 and
// on the emergency tint #fdecee 15.7:1; secondary text #4a4a4a at least 7.9:1 on all three;
// links #0b4f8a on #fff 8.4:1; the marker #fff on #b00020 7.1:1; rules #767676 4.5:1.
constexpr std::string_view kStyle =
    "*{box-sizing:border-box}"
    "html{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,Arial,sans-serif;"
    "line-height:1.5;color:#1a1a1a;background:#fff}"
    "body{margin:0;padding:1rem}"
    "main{max-width:75rem;margin:0 auto}"
    "h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}"
    "a{color:#0b4f8a}"
    ":focus{outline:3px solid #1a1a1a;outline-offset:2px}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%}"
    "caption{text-align:left;font-weight:600;padding:.5rem 0}"
    "th,td{text-align:left;vertical-align:top;padding:.5rem;border-bottom:1px solid #767676}"
    "th{background:#f2f2f2}"
    "td div+div{margin-top:.2rem}"
    ".tech{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}"
    ".meta{color:#4a4a4a}"
    "tr.emergency td{background:#fdecee}"
    "tr.emergency td:first-child{border-left:6px solid #b00020}"
    ".marker{display:inline-block;color:#fff;background:#b00020;padding:0 .4rem;"
    "border-radius:3px;font-weight:700;letter-spacing:.03em}";

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (IsUpper(c)) c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// Only relative and http(s) URLs become a link.
bool SafeUrl(std::string_view url) {
  return (!url.empty() && (url[0] == '/' || url[0] == '?')) || StartsWithNoCase(url, "https://") ||
         StartsWithNoCase(url, "http://");
}

struct Texts {
  bool da = true;
  std::string_view T(std::string_view da_text, std::string_view en_text) const {
    return da ? da_text : en_text;
  }
};

std::string_view ActionText(const Texts& t, Action action) {
  switch (action) {
    case Action::kRead:
      return t.T("Læste", "Read");
    case Action::kVread:
      return t.T("Læste en bestemt version", "Read a specific version");
    case Action::kSearch:
      return t.T("Søgte", "Searched");
    case Action::kCreate:
      return t.T("Oprettede", "Created");
    case Action::kUpdate:
      return t.T("Ændrede", "Changed");
    case Action::kPatch:
      return t.T("Ændrede en del af", "Changed part of");
    case Action::kDelete:
      return t.T("Slettede", "Deleted");
    case Action::kHistory:
      return t.T("Læste historikken", "Read the history");
    case Action::kOperation:
      return t.T("Udførte en handling", "Ran an operation");
    case Action::kTransaction:
      return t.T("Samlet forespørgsel", "Batch request");
    case Action::kLogin:
      return t.T("Loggede ind", "Signed in");
    case Action::kLogout:
      return t.T("Loggede ud", "Signed out");
    case Action::kToken:
      return t.T("Adgangsnøgle til en app", "Access token for an app");
    case Action::kConsentChange:
      return t.T("Ændring af samtykke", "Consent change");
    case Action::kBreakGlass:
      return t.T("Nødadgang til dine oplysninger", "Emergency access to your data");
    case Action::kExport:
      return t.T("Udtræk af data", "Data export");
  }
  return t.T("Anden handling", "Other action");
}

// The purpose of use in words; "" for a code without a translation.
std::string_view PurposeText(const Texts& t, std::string_view code) {
  if (code == "TREAT") return t.T("Behandling", "Treatment");
  if (code == "ETREAT") {
    return t.T("Akut behandling (nødadgang)", "Emergency treatment (break-the-glass)");
  }
  if (code == "HRESCH") return t.T("Forskning", "Research");
  if (code == "CLINTRCH") return t.T("Klinisk forskning", "Clinical research");
  if (code == "HPAYMT") return t.T("Betaling", "Payment");
  if (code == "HOPERAT") return t.T("Drift af sundhedsvæsenet", "Healthcare operations");
  if (code == "HQUALIMP") return t.T("Kvalitetsforbedring", "Quality improvement");
  if (code == "PATRQT") return t.T("På din anmodning", "At your request");
  if (code == "FAMRQT") return t.T("På anmodning fra familie", "At your family's request");
  if (code == "PWATRNY") return t.T("Fuldmagt", "Power of attorney");
  if (code == "PUBHLTH") return t.T("Folkesundhed", "Public health");
  if (code == "HSYSADMIN") return t.T("Systemadministration", "System administration");
  if (code == "HLEGAL") return t.T("Juridiske forhold", "Legal matters");
  if (code == "CAREMGT") return t.T("Koordinering af behandling", "Care coordination");
  if (code == "COC") return t.T("Sammenhængende behandling", "Continuity of care");
  return {};
}

std::string_view RoleText(const Texts& t, std::string_view role) {
  if (role == "practitioner") return t.T("Sundhedsperson", "Health professional");
  if (role == "citizen" || role == "patient") return t.T("Borger", "Citizen");
  if (role == "related-person") return t.T("Pårørende", "Relative");
  if (role == "admin") return t.T("Administrator", "Administrator");
  if (role == "system") return t.T("System", "System");
  return {};
}

std::string OutcomeText(const Texts& t, int status) {
  std::string_view words;
  if (status >= 500) {
    words = t.T("Fejl i systemet", "System error");
  } else if (status == 401 || status == 403) {
    words = t.T("Adgang nægtet", "Access denied");
  } else if (status >= 400) {
    words = t.T("Mislykkedes", "Failed");
  } else {
    words = t.T("Gennemført", "Completed");
  }
  std::string out = "<div>";
  out += words;
  out += "</div><div class=\"meta\">HTTP ";
  out += std::to_string(status);
  out += "</div>";
  return out;
}

// "2023-11-14 22:13:20 UTC" in a <time> element.
std::string TimeCell(std::int64_t us) {
  std::string iso = FormatInstant(us);
  std::string shown = iso.size() >= 19 ? iso.substr(0, 19) : iso;
  if (shown.size() > 10 && shown[10] == 'T') shown[10] = ' ';
  return "<time datetime=\"" + HtmlEscape(iso) + "\">" + HtmlEscape(shown) + " UTC</time>";
}

void Line(std::string& out, std::string_view html, std::string_view cls = {}) {
  out += cls.empty() ? "<div>" : "<div class=\"" + std::string(cls) + "\">";
  out += html;
  out += "</div>";
}

// The readable name of `key`, as a line above it, when `names` has one.
void NameLine(std::string& out, const DisplayNames& names, std::string_view key) {
  auto it = names.find(key);
  if (it != names.end() && !it->second.empty()) Line(out, HtmlEscape(it->second));
}

void AppendRow(std::string& out, const Texts& t, const StoredRecord& s, const DisplayNames& names) {
  const Record& r = s.record;
  const bool emergency = IsEmergency(r);
  out += emergency ? "<tr class=\"emergency\">\n" : "<tr>\n";

  out += "<td>" + TimeCell(r.time_us) + "</td>\n";

  // Who.
  out += "<td>";
  if (r.actor.user_id.empty()) {
    Line(out, t.T("Et system (ingen person)", "A system (no person)"));
  } else {
    NameLine(out, names, r.actor.user_id);
    Line(out, HtmlEscape(r.actor.user_id), "tech");
  }
  if (!r.actor.role.empty()) {
    std::string_view role = RoleText(t, r.actor.role);
    Line(out, role.empty() ? HtmlEscape(r.actor.role) : std::string(role));
  }
  if (!r.actor.organization.empty()) {
    NameLine(out, names, r.actor.organization);
    Line(out, HtmlEscape(r.actor.organization), "tech meta");
  }
  out += "</td>\n";

  // Which app.
  out += "<td>";
  if (r.actor.client_id.empty()) {
    out += "–";
  } else {
    NameLine(out, names, r.actor.client_id);
    Line(out, HtmlEscape(r.actor.client_id), "tech");
  }
  out += "</td>\n";

  // What.
  out += "<td>";
  if (emergency) {
    Line(out, "<strong class=\"marker\">" + std::string(t.T("NØDADGANG", "EMERGENCY ACCESS")) +
                  "</strong>");
  }
  Line(out, ActionText(t, r.action));
  if (s.personal_deleted) {
    Line(out,
         t.T("Detaljerne er slettet efter opbevaringsperioden.",
             "The details were deleted after the retention period."),
         "meta");
  }
  for (const auto& ref : r.resources) Line(out, HtmlEscape(ref), "tech");
  if (!r.query.empty()) {
    Line(out, std::string(t.T("Søgning: ", "Search: ")) + "<span class=\"tech\">" +
                  HtmlEscape(r.query) + "</span>");
  }
  if (!emergency && !r.detail.empty()) Line(out, HtmlEscape(r.detail), "meta");
  out += "</td>\n";

  // Why.
  out += "<td>";
  if (r.purpose.empty() && !emergency) {
    Line(out, t.T("Ikke angivet", "Not stated"), "meta");
  } else {
    if (!r.purpose.empty()) {
      std::string_view words = PurposeText(t, r.purpose);
      Line(out, words.empty() ? "<span class=\"tech\">" + HtmlEscape(r.purpose) + "</span>"
                              : std::string(words));
    }
    if (emergency && r.purpose != "ETREAT") {
      Line(out, PurposeText(t, "ETREAT"));
    }
  }
  if (emergency) {
    std::string reason(t.T("Begrundelse: ", "Stated reason: "));
    if (!r.detail.empty()) {
      reason += HtmlEscape(r.detail);
    } else if (s.personal_deleted) {
      reason += t.T("slettet efter opbevaringsperioden", "deleted after the retention period");
    } else {
      reason += t.T("ingen angivet", "none given");
    }
    Line(out, reason);
  }
  for (const auto& consent : r.consent_basis) {
    Line(out, std::string(t.T("Grundlag: ", "Basis: ")) + "<span class=\"tech\">" +
                  HtmlEscape(consent) + "</span>");
  }
  out += "</td>\n";

  out += "<td>" + OutcomeText(t, r.outcome) + "</td>\n";
  out += "</tr>\n";
}

}  // namespace

std::string AuditEventJson(const StoredRecord& r, std::string_view base_url) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  WriteAuditEvent(w, r, TrimSlash(base_url));
  return {buf.GetString(), buf.GetSize()};
}

std::string AuditEventBundleJson(const std::vector<StoredRecord>& records,
                                 std::string_view base_url, std::string_view self_url,
                                 std::string_view next_url) {
  const std::string_view base = TrimSlash(base_url);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Member(w, "resourceType", "Bundle");
  Member(w, "type", "searchset");
  Key(w, "link");
  w.StartArray();
  w.StartObject();
  Member(w, "relation", "self");
  Member(w, "url", self_url);
  w.EndObject();
  if (!next_url.empty()) {
    w.StartObject();
    Member(w, "relation", "next");
    Member(w, "url", next_url);
    w.EndObject();
  }
  w.EndArray();
  Key(w, "entry");
  w.StartArray();
  for (const auto& r : records) {
    w.StartObject();
    if (!base.empty()) {
      Member(w, "fullUrl", std::string(base) + "/AuditEvent/" + std::to_string(r.seq));
    }
    Key(w, "resource");
    WriteAuditEvent(w, r, base);
    Key(w, "search");
    w.StartObject();
    Member(w, "mode", "match");
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string_view MyLogStyle() { return kStyle; }

std::string MyLogHtml(const std::vector<StoredRecord>& records, std::string_view lang,
                      std::string_view next_url, const DisplayNames& names) {
  const Texts t{lang != "en"};
  std::string out;
  out.reserve(2048 + records.size() * 600);
  out += "<!DOCTYPE html>\n<html lang=\"";
  out += t.T("da", "en");
  out +=
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"referrer\" content=\"no-referrer\">\n<title>";
  out += t.T("Min log", "My log");
  out += " – Sund</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<main>\n<h1>";
  out += t.T("Min log", "My log");
  out += "</h1>\n<p>";
  out +=
      t.T("Her kan du se, hvem der har brugt oplysninger om dig i Sund, med hvilken app, hvad de "
          "gjorde og hvorfor. Alle tider er i UTC.",
          "This page shows who used information about you in Sund, with which app, what they did "
          "and why. All times are in UTC.");
  out += "</p>\n";
  if (records.empty()) {
    out += "<p>";
    out += t.T("Der er ingen hændelser i din log.", "There are no events in your log.");
    out += "</p>\n";
  } else {
    out +=
        "<div class=\"scroll\" role=\"region\" aria-labelledby=\"log-caption\" tabindex=\"0\">\n"
        "<table>\n<caption id=\"log-caption\">";
    out += t.T("Hændelser i din log, nyeste først", "Events in your log, newest first");
    out += "</caption>\n<thead>\n<tr>";
    for (std::string_view h :
         {t.T("Hvornår (UTC)", "When (UTC)"), t.T("Hvem", "Who"), t.T("App", "App"),
          t.T("Hvad", "What"), t.T("Hvorfor", "Why"), t.T("Resultat", "Outcome")}) {
      out += "<th scope=\"col\">";
      out += h;
      out += "</th>";
    }
    out += "</tr>\n</thead>\n<tbody>\n";
    for (const auto& r : records) AppendRow(out, t, r, names);
    out += "</tbody>\n</table>\n</div>\n";
  }
  if (SafeUrl(next_url)) {
    out += "<p><a rel=\"next\" href=\"";
    out += HtmlEscape(next_url);
    out += "\">";
    out += t.T("Ældre hændelser", "Older events");
    out += "</a></p>\n";
  }
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace sund::audit
