#include "auth/scopes.h"

#include <algorithm>
#include <array>
#include <cstddef>

namespace sund::auth {
namespace {

constexpr std::string_view kSpaces = " \t\r\n";

bool IsTypeName(std::string_view t) {
  if (t == "*") return true;
  if (t.size() < 2 || t[0] < 'A' || t[0] > 'Z') return false;
  return std::all_of(t.begin() + 1, t.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict percent-decoding: a '%' must be followed by two hex digits.
std::optional<std::string> Decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = HexValue(s[i + 1]);
    int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool KeepsLiteral(unsigned char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$'()*,/:;@|").find(static_cast<char>(c)) != std::string_view::npos;
}

void AppendEncoded(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (KeepsLiteral(c)) {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

std::optional<ScopeQuery> ParseQueryString(std::string_view q) {
  ScopeQuery out;
  while (true) {
    size_t amp = q.find('&');
    std::string_view piece = q.substr(0, amp);
    size_t eq = piece.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == piece.size()) return std::nullopt;
    auto key = Decode(piece.substr(0, eq));
    auto value = Decode(piece.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

// v2 letters in the order c r u d s, each at most once, at least one.
std::optional<unsigned> ParseLetters(std::string_view s) {
  static constexpr std::array<std::pair<char, unsigned>, 5> kLetters = {
      {{'c', kCreate}, {'r', kRead}, {'u', kUpdate}, {'d', kDelete}, {'s', kSearch}}};
  unsigned perms = 0;
  size_t next = 0;  // index into kLetters of the first letter still allowed
  for (char c : s) {
    while (next < kLetters.size() && kLetters[next].first != c) ++next;
    if (next == kLetters.size()) return std::nullopt;
    perms |= kLetters[next].second;
    ++next;
  }
  if (perms == 0) return std::nullopt;
  return perms;
}

std::optional<ResourceScope> ParseResourceScope(std::string_view token) {
  ResourceScope scope;
  size_t slash = token.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view prefix = token.substr(0, slash);
  if (prefix == "patient") {
    scope.context = ScopeContext::kPatient;
  } else if (prefix == "user") {
    scope.context = ScopeContext::kUser;
  } else if (prefix == "system") {
    scope.context = ScopeContext::kSystem;
  } else {
    return std::nullopt;
  }
  std::string_view rest = token.substr(slash + 1);
  size_t qmark = rest.find('?');
  std::string_view main = rest.substr(0, qmark);
  size_t dot = main.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view type = main.substr(0, dot);
  std::string_view perms = main.substr(dot + 1);
  if (!IsTypeName(type)) return std::nullopt;
  scope.type = std::string(type);
  if (perms == "read") {
    scope.perms = kV1Read;
    scope.v1 = true;
  } else if (perms == "write") {
    scope.perms = kV1Write;
    scope.v1 = true;
  } else if (perms == "*") {
    scope.perms = kAllPerms;
    scope.v1 = true;
  } else {
    auto letters = ParseLetters(perms);
    if (!letters) return std::nullopt;
    scope.perms = *letters;
  }
  if (qmark != std::string_view::npos) {
    if (scope.v1) return std::nullopt;
    auto query = ParseQueryString(rest.substr(qmark + 1));
    if (!query) return std::nullopt;
    scope.query = std::move(*query);
  }
  scope.text = std::string(token);
  return scope;
}

// Query pairs as a sorted set, for order-insensitive comparison.
ScopeQuery Normalized(const ScopeQuery& q) {
  ScopeQuery n = q;
  std::sort(n.begin(), n.end());
  n.erase(std::unique(n.begin(), n.end()), n.end());
  return n;
}

// Whether every pair of `small` is among the pairs of `big` (so `big` is at least as narrow).
bool QueryContains(const ScopeQuery& big, const ScopeQuery& small) {
  return std::all_of(small.begin(), small.end(), [&](const auto& pair) {
    return std::find(big.begin(), big.end(), pair) != big.end();
  });
}

bool SameQuery(const ScopeQuery& a, const ScopeQuery& b) { return Normalized(a) == Normalized(b); }

bool IsV1Expressible(unsigned perms) {
  return perms == kV1Read || perms == kV1Write || perms == kAllPerms;
}

bool TypeCovers(std::string_view cover, std::string_view type) {
  return cover == "*" || cover == type;
}

// --- DescribeScopes text -----------------------------------------------------------------

struct TypeText {
  std::string_view type;
  std::string_view en_patient;  // the patient's own data
  std::string_view en_any;      // data in general (user and system contexts)
  std::string_view da_patient;
  std::string_view da_any;
};

constexpr std::array<TypeText, 16> kTypeTexts = {{
    {"Patient", "your personal details (name, birth date and contact details)",
     "patients' personal details (name, birth date and contact details)",
     "dine personoplysninger, fx navn, fødselsdato og kontaktoplysninger (Patient)",
     "patienters personoplysninger (Patient)"},
    {"Observation", "your observations (measurements and test results)",
     "observations (measurements and test results)", "dine målinger og prøvesvar (Observation)",
     "målinger og prøvesvar (Observation)"},
    {"Condition", "your conditions (diagnoses and health problems)",
     "conditions (diagnoses and health problems)",
     "dine diagnoser og helbredsproblemer (Condition)",
     "diagnoser og helbredsproblemer (Condition)"},
    {"MedicationRequest", "your prescriptions (medication requests)",
     "prescriptions (medication requests)",
     "dine recepter og ordinationer af medicin (MedicationRequest)",
     "recepter og ordinationer af medicin (MedicationRequest)"},
    {"MedicationStatement", "your medication list (medicines you take or have taken)",
     "medication lists (medicines taken now or earlier)",
     "din medicinliste, dvs. den medicin du tager eller har taget (MedicationStatement)",
     "medicinlister (MedicationStatement)"},
    {"AllergyIntolerance", "your allergies and intolerances", "allergies and intolerances",
     "dine allergier og intolerancer (AllergyIntolerance)",
     "allergier og intolerancer (AllergyIntolerance)"},
    {"Immunization", "your vaccinations (immunizations)", "vaccinations (immunizations)",
     "dine vaccinationer (Immunization)", "vaccinationer (Immunization)"},
    {"Encounter", "your visits and admissions (encounters)", "visits and admissions (encounters)",
     "dine besøg, konsultationer og indlæggelser (Encounter)",
     "besøg, konsultationer og indlæggelser (Encounter)"},
    {"Procedure", "your procedures (operations, treatments and examinations)",
     "procedures (operations, treatments and examinations)",
     "dine behandlinger, operationer og undersøgelser (Procedure)",
     "behandlinger, operationer og undersøgelser (Procedure)"},
    {"DiagnosticReport", "your test and examination reports (for example blood tests and scans)",
     "test and examination reports (for example blood tests and scans)",
     "dine svar på undersøgelser, fx blodprøver og scanninger (DiagnosticReport)",
     "svar på undersøgelser, fx blodprøver og scanninger (DiagnosticReport)"},
    {"DocumentReference", "your documents (letters, notes and discharge summaries)",
     "documents (letters, notes and discharge summaries)",
     "dine dokumenter, fx breve, notater og epikriser (DocumentReference)",
     "dokumenter, fx breve, notater og epikriser (DocumentReference)"},
    {"CarePlan", "your care plans", "care plans", "dine behandlings- og plejeplaner (CarePlan)",
     "behandlings- og plejeplaner (CarePlan)"},
    {"Consent", "your consents (what you have agreed to share, and with whom)",
     "consents (what patients have agreed to share, and with whom)",
     "dine samtykker, dvs. hvad du har givet lov til at dele og med hvem (Consent)",
     "samtykker, dvs. hvad patienter har givet lov til at dele og med hvem (Consent)"},
    {"Device", "your devices (for example home-monitoring equipment)",
     "devices (for example home-monitoring equipment)",
     "dit udstyr, fx måleapparater til hjemmemonitorering (Device)",
     "udstyr, fx måleapparater til hjemmemonitorering (Device)"},
    {"Practitioner", "information about the health professionals involved in your care",
     "information about health professionals",
     "oplysninger om de sundhedsprofessionelle, der er involveret i dit forløb (Practitioner)",
     "oplysninger om sundhedsprofessionelle (Practitioner)"},
    {"Organization",
     "information about the hospitals, clinics and other organisations involved in your care",
     "information about hospitals, clinics and other organisations",
     "oplysninger om de hospitaler, klinikker og andre organisationer, der er involveret i dit "
     "forløb (Organization)",
     "oplysninger om hospitaler, klinikker og andre organisationer (Organization)"},
}};

struct CategoryText {
  std::string_view system;
  std::string_view code;
  std::string_view en;
  std::string_view da;
};

constexpr std::string_view kObsCategory =
    "http://terminology.hl7.org/CodeSystem/observation-category";
constexpr std::string_view kCondCategory =
    "http://terminology.hl7.org/CodeSystem/condition-category";

constexpr std::array<CategoryText, 11> kCategoryTexts = {{
    {kObsCategory, "vital-signs", "vital signs", "vitale parametre"},
    {kObsCategory, "laboratory", "laboratory results", "laboratoriesvar"},
    {kObsCategory, "social-history", "social history (for example smoking and alcohol)",
     "sociale forhold og livsstil, fx rygning og alkohol"},
    {kObsCategory, "imaging", "imaging results", "billeddiagnostik"},
    {kObsCategory, "survey", "questionnaire answers", "spørgeskemasvar"},
    {kObsCategory, "exam", "examination findings", "fund ved undersøgelser"},
    {kObsCategory, "therapy", "therapy results", "resultater af terapi"},
    {kObsCategory, "activity", "physical activity", "fysisk aktivitet"},
    {kObsCategory, "procedure", "results of procedures", "resultater af indgreb"},
    {kCondCategory, "problem-list-item", "entries on the problem list", "punkter på problemlisten"},
    {kCondCategory, "encounter-diagnosis", "diagnoses made at visits",
     "diagnoser stillet ved besøg og indlæggelser"},
}};

const CategoryText* FindCategory(const ScopeQuery& q) {
  if (q.size() != 1 || q[0].first != "category") return nullptr;
  std::string_view value = q[0].second;
  std::string_view system;
  std::string_view code = value;
  size_t bar = value.find('|');
  if (bar != std::string_view::npos) {
    system = value.substr(0, bar);
    code = value.substr(bar + 1);
  }
  for (const CategoryText& c : kCategoryTexts) {
    if (c.code == code && (bar == std::string_view::npos || c.system == system)) return &c;
  }
  return nullptr;
}

// "a", "a and b", "a, b and c" (with "og" in Danish).
std::string JoinWords(const std::vector<std::string_view>& words, std::string_view and_word) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) {
      out += (i + 1 == words.size()) ? std::string(" ") + std::string(and_word) + " " : ", ";
    }
    out += words[i];
  }
  return out;
}

std::string Capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') {
    s[0] = static_cast<char>(s[0] - 'a' + 'A');
  } else if (s.rfind("æ", 0) == 0) {
    s.replace(0, std::string_view("æ").size(), "Æ");
  } else if (s.rfind("ø", 0) == 0) {
    s.replace(0, std::string_view("ø").size(), "Ø");
  }
  return s;
}

std::string VerbPhrase(unsigned perms, bool da) {
  // Danish puts "søge i" last so that its preposition sits next to the object.
  struct Verb {
    unsigned perm;
    std::string_view word;
  };
  static constexpr std::array<Verb, 5> kEn = {{{kRead, "read"},
                                               {kSearch, "search"},
                                               {kCreate, "create"},
                                               {kUpdate, "update"},
                                               {kDelete, "delete"}}};
  static constexpr std::array<Verb, 5> kDa = {{{kRead, "læse"},
                                               {kCreate, "oprette"},
                                               {kUpdate, "ændre"},
                                               {kDelete, "slette"},
                                               {kSearch, "søge i"}}};
  std::vector<std::string_view> words;
  for (const Verb& v : da ? kDa : kEn) {
    if (perms & v.perm) words.push_back(v.word);
  }
  return Capitalized(JoinWords(words, da ? "og" : "and"));
}

std::string ObjectPhrase(const ResourceScope& s, bool da) {
  if (s.type == "*") {
    switch (s.context) {
      case ScopeContext::kPatient:
        return da ? "alle dine sundhedsdata, også typer der tilføjes senere"
                  : "all your health data, including types added later";
      case ScopeContext::kUser:
        return da ? "alle sundhedsdata, som du har adgang til, også typer der tilføjes senere"
                  : "all health data that you have access to, including types added later";
      case ScopeContext::kSystem:
        return da ? "alle sundhedsdata på serveren, også typer der tilføjes senere"
                  : "all health data on this server, including types added later";
    }
  }
  std::string patient_form;
  std::string any_form;
  auto it = std::find_if(kTypeTexts.begin(), kTypeTexts.end(),
                         [&](const TypeText& t) { return t.type == s.type; });
  if (it != kTypeTexts.end()) {
    patient_form = da ? it->da_patient : it->en_patient;
    any_form = da ? it->da_any : it->en_any;
  } else if (da) {
    patient_form = "dine data af typen " + s.type;
    any_form = "data af typen " + s.type;
  } else {
    patient_form = "your " + s.type + " records";
    any_form = s.type + " records";
  }
  switch (s.context) {
    case ScopeContext::kPatient:
      return patient_form;
    case ScopeContext::kUser:
      return any_form + (da ? ", som du har adgang til" : " that you have access to");
    case ScopeContext::kSystem:
      return (da ? "alle " : "all ") + any_form + (da ? " på serveren" : " on this server");
  }
  return any_form;
}

std::string RestrictionPhrase(const ScopeQuery& q, bool da) {
  if (q.empty()) return "";
  if (const CategoryText* c = FindCategory(q)) {
    return std::string(da ? ", kun " : ", only ") + std::string(da ? c->da : c->en);
  }
  std::vector<std::string> conditions;
  for (const auto& [key, value] : q) conditions.push_back(key + " = " + value);
  std::vector<std::string_view> views(conditions.begin(), conditions.end());
  return std::string(da ? ", kun registreringer, hvor " : ", only entries matching ") +
         JoinWords(views, da ? "og" : "and");
}

}  // namespace

ScopeSet ParseScopes(std::string_view space_separated) {
  ScopeSet out;
  std::string_view rest = space_separated;
  while (true) {
    size_t start = rest.find_first_not_of(kSpaces);
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    size_t end = rest.find_first_of(kSpaces);
    std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);

    if (token == "openid") {
      out.openid = true;
    } else if (token == "fhirUser") {
      out.fhir_user = true;
    } else if (token == "profile") {
      out.profile = true;
    } else if (token == "offline_access") {
      out.offline_access = true;
    } else if (token == "online_access") {
      out.online_access = true;
    } else if (token == "sund/synth") {
      out.synth = true;
    } else if (token == "launch") {
      out.launch = true;
    } else if (token == "launch/patient") {
      out.launch_patient = true;
    } else if (token == "launch/encounter") {
      out.launch_encounter = true;
    } else if (auto scope = ParseResourceScope(token)) {
      bool repeat = std::any_of(out.resources.begin(), out.resources.end(),
                                [&](const ResourceScope& r) { return r.text == token; });
      if (!repeat) out.resources.push_back(std::move(*scope));
    } else if (std::find(out.other.begin(), out.other.end(), token) == out.other.end()) {
      out.other.emplace_back(token);
    }
  }
  return out;
}

std::string ToString(const ResourceScope& scope) {
  std::string out;
  switch (scope.context) {
    case ScopeContext::kPatient:
      out = "patient/";
      break;
    case ScopeContext::kUser:
      out = "user/";
      break;
    case ScopeContext::kSystem:
      out = "system/";
      break;
  }
  out += scope.type;
  out += '.';
  if (scope.v1 && scope.query.empty() && IsV1Expressible(scope.perms)) {
    out += scope.perms == kV1Read ? "read" : scope.perms == kV1Write ? "write" : "*";
  } else {
    if (scope.perms & kCreate) out += 'c';
    if (scope.perms & kRead) out += 'r';
    if (scope.perms & kUpdate) out += 'u';
    if (scope.perms & kDelete) out += 'd';
    if (scope.perms & kSearch) out += 's';
  }
  for (size_t i = 0; i < scope.query.size(); ++i) {
    out += i == 0 ? '?' : '&';
    AppendEncoded(scope.query[i].first, &out);
    out += '=';
    AppendEncoded(scope.query[i].second, &out);
  }
  return out;
}

std::string ToString(const ScopeSet& scopes) {
  std::vector<std::string> parts;
  if (scopes.launch) parts.emplace_back("launch");
  if (scopes.launch_patient) parts.emplace_back("launch/patient");
  if (scopes.launch_encounter) parts.emplace_back("launch/encounter");
  if (scopes.openid) parts.emplace_back("openid");
  if (scopes.fhir_user) parts.emplace_back("fhirUser");
  if (scopes.profile) parts.emplace_back("profile");
  if (scopes.offline_access) parts.emplace_back("offline_access");
  if (scopes.online_access) parts.emplace_back("online_access");
  if (scopes.synth) parts.emplace_back("sund/synth");
  for (const ResourceScope& r : scopes.resources) parts.push_back(ToString(r));
  for (const std::string& o : scopes.other) parts.push_back(o);
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

ScopeSet Narrow(const ScopeSet& requested, const ScopeSet& allowed) {
  ScopeSet out;
  out.openid = requested.openid && allowed.openid;
  out.fhir_user = requested.fhir_user && allowed.fhir_user;
  out.profile = requested.profile && allowed.profile;
  out.offline_access = requested.offline_access && allowed.offline_access;
  out.online_access = requested.online_access && allowed.online_access;
  out.synth = requested.synth && allowed.synth;
  out.launch = requested.launch && allowed.launch;
  out.launch_patient = requested.launch_patient && allowed.launch_patient;
  out.launch_encounter = requested.launch_encounter && allowed.launch_encounter;

  for (const ResourceScope& r : requested.resources) {
    std::vector<ResourceScope> candidates;
    for (const ResourceScope& a : allowed.resources) {
      if (a.context != r.context) continue;
      std::string type;
      if (r.type == "*") {
        type = a.type;
      } else if (a.type == "*" || a.type == r.type) {
        type = r.type;
      } else {
        continue;
      }
      unsigned perms = r.perms & a.perms;
      if (perms == 0) continue;
      const ScopeQuery* query;
      if (QueryContains(r.query, a.query)) {
        query = &r.query;
      } else if (QueryContains(a.query, r.query)) {
        query = &a.query;
      } else {
        continue;
      }
      auto same = std::find_if(candidates.begin(), candidates.end(), [&](const ResourceScope& c) {
        return c.type == type && SameQuery(c.query, *query);
      });
      if (same != candidates.end()) {
        same->perms |= perms;
        continue;
      }
      ResourceScope c;
      c.context = r.context;
      c.type = std::move(type);
      c.perms = perms;
      c.query = *query;
      candidates.push_back(std::move(c));
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      const ResourceScope& c = candidates[i];
      bool covered = false;
      for (size_t j = 0; j < candidates.size() && !covered; ++j) {
        const ResourceScope& d = candidates[j];
        covered = j != i && TypeCovers(d.type, c.type) && (c.perms & ~d.perms) == 0 &&
                  QueryContains(c.query, d.query);
      }
      if (covered) continue;
      ResourceScope granted = c;
      granted.v1 = r.v1 && granted.query.empty() && IsV1Expressible(granted.perms);
      granted.text = ToString(granted);
      bool repeat = std::any_of(out.resources.begin(), out.resources.end(),
                                [&](const ResourceScope& g) { return g.text == granted.text; });
      if (!repeat) out.resources.push_back(std::move(granted));
    }
  }
  return out;
}

bool IsSubset(const ScopeSet& a, const ScopeSet& b) {
  if ((a.openid && !b.openid) || (a.fhir_user && !b.fhir_user) || (a.profile && !b.profile) ||
      (a.offline_access && !b.offline_access) || (a.online_access && !b.online_access) ||
      (a.launch && !b.launch) || (a.launch_patient && !b.launch_patient) ||
      (a.launch_encounter && !b.launch_encounter) || (a.synth && !b.synth)) {
    return false;
  }
  for (const std::string& o : a.other) {
    if (std::find(b.other.begin(), b.other.end(), o) == b.other.end()) return false;
  }
  for (const ResourceScope& ra : a.resources) {
    for (unsigned bit = 1; bit <= kSearch; bit <<= 1) {
      if (!(ra.perms & bit)) continue;
      bool covered = std::any_of(b.resources.begin(), b.resources.end(), [&](const auto& rb) {
        return rb.context == ra.context && (rb.perms & bit) && TypeCovers(rb.type, ra.type) &&
               QueryContains(ra.query, rb.query);
      });
      if (!covered) return false;
    }
  }
  return true;
}

AccessRule RulesFor(const ScopeSet& scopes, ScopeContext ctx, std::string_view type) {
  AccessRule rule;
  for (const ResourceScope& r : scopes.resources) {
    if (r.context != ctx || !TypeCovers(r.type, type)) continue;
    rule.perms |= r.perms;
    if (r.query.empty()) {
      rule.unrestricted |= r.perms;
    } else {
      rule.granular.push_back({r.perms, r.query});
    }
  }
  return rule;
}

bool Allows(const AccessRule& rule, Perm p) { return (rule.perms & p) != 0; }

bool Allows(const ScopeSet& scopes, ScopeContext ctx, std::string_view type, Perm p) {
  return Allows(RulesFor(scopes, ctx, type), p);
}

std::optional<std::vector<ScopeQuery>> QueriesFor(const AccessRule& rule, Perm p) {
  if (!(rule.perms & p)) return std::nullopt;
  std::vector<ScopeQuery> queries;
  if (rule.unrestricted & p) return queries;
  for (const GranularGrant& g : rule.granular) {
    if (!(g.perms & p)) continue;
    bool repeat = std::any_of(queries.begin(), queries.end(),
                              [&](const ScopeQuery& q) { return SameQuery(q, g.query); });
    if (!repeat) queries.push_back(g.query);
  }
  return queries;
}

std::optional<std::vector<ScopeQuery>> QueriesFor(const ScopeSet& scopes, ScopeContext ctx,
                                                  std::string_view type, Perm p) {
  return QueriesFor(RulesFor(scopes, ctx, type), p);
}

std::vector<std::string> DescribeScopes(const ScopeSet& scopes, std::string_view lang) {
  const bool da = lang == "da";
  std::vector<std::string> lines;
  auto add = [&](std::string line) {
    if (std::find(lines.begin(), lines.end(), line) == lines.end()) {
      lines.push_back(std::move(line));
    }
  };
  if (scopes.openid || scopes.fhir_user || scopes.profile) {
    add(da ? "Vide, hvem du er (dit navn og din rolle)" : "Know who you are (your name and role)");
  }
  for (const ResourceScope& r : scopes.resources) {
    if (r.perms == 0) continue;
    add(VerbPhrase(r.perms, da) + " " + ObjectPhrase(r, da) + RestrictionPhrase(r.query, da));
  }
  if (scopes.launch) {
    add(da ? "Blive åbnet fra journalsystemet og få at vide, hvad der er åbent dér"
           : "Be opened from your health record system and learn what is open there");
  }
  if (scopes.launch_patient) {
    add(da ? "Vide, hvilken patients data du har valgt"
           : "Know which patient's data you have chosen");
  }
  if (scopes.launch_encounter) {
    add(da ? "Vide, hvilket besøg eller hvilken indlæggelse der er valgt (Encounter)"
           : "Know which visit or admission is selected (encounter)");
  }
  if (scopes.offline_access) {
    add(da ? "Forblive forbundet, når du ikke bruger appen (offline adgang, indtil du "
             "tilbagekalder "
             "den)"
           : "Stay connected when you are not using the app (offline access, until you revoke it)");
  }
  if (scopes.online_access) {
    add(da ? "Forblive forbundet, så længe du er logget ind (online adgang)"
           : "Stay connected while you are signed in (online access)");
  }
  if (scopes.synth) {
    add(da ? "Bestille syntetiske data til forskning (aldrig rigtige patienters data)"
           : "Order synthetic data for research (never real patients' records)");
  }
  return lines;
}

}  // namespace sund::auth
