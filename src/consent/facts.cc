#include "consent/facts.h"

#include <string_view>

#include "core/json_preserve.h"
#include "core/time.h"

namespace sund::consent {
namespace {

using rapidjson::Value;

constexpr int kMaxWalkDepth = 64;

std::string_view Str(const Value& v) {
  if (!v.IsString() || json::IsPreservedNumber(v)) return {};
  return {v.GetString(), v.GetStringLength()};
}

void AddCoding(const Value& c, std::vector<CodingView>& out) {
  if (!c.IsObject()) return;
  const Value* code_value = json::Find(c, "code");
  std::string_view code = code_value ? Str(*code_value) : std::string_view();
  if (code.empty()) return;
  const Value* system = json::Find(c, "system");
  out.push_back({system ? Str(*system) : std::string_view(), code});
}

void AddConcept(const Value& cc, std::vector<CodingView>& out) {
  const Value* codings = json::Find(cc, "coding");
  if (codings == nullptr || !codings->IsArray()) return;
  for (const Value& c : codings->GetArray()) AddCoding(c, out);
}

// A CodeableConcept or an array of them.
void AddConcepts(const Value* v, std::vector<CodingView>& out) {
  if (v == nullptr) return;
  if (v->IsArray()) {
    for (const Value& cc : v->GetArray()) AddConcept(cc, out);
  } else {
    AddConcept(*v, out);
  }
}

// "Type/id" out of a literal reference; empty when it is not one.
std::string_view NormaliseReference(std::string_view ref) {
  if (ref.empty() || ref[0] == '#' || ref.substr(0, 4) == "urn:") return {};
  if (std::size_t h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
  std::size_t last = ref.rfind('/');
  if (last == std::string_view::npos || last == 0 || last + 1 == ref.size()) return {};
  std::size_t prev = ref.rfind('/', last - 1);
  std::string_view out = prev == std::string_view::npos ? ref : ref.substr(prev + 1);
  if (out.empty() || out[0] < 'A' || out[0] > 'Z') return {};
  return out;
}

void WalkReferences(const Value& v, int depth, std::vector<std::string_view>& out) {
  if (depth > kMaxWalkDepth) return;
  if (v.IsArray()) {
    for (const Value& e : v.GetArray()) WalkReferences(e, depth + 1, out);
    return;
  }
  if (!v.IsObject()) return;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (name == "reference" && it->value.IsString()) {
      std::string_view r = NormaliseReference(Str(it->value));
      if (!r.empty()) out.push_back(r);
    } else if (name != "contained") {
      WalkReferences(it->value, depth + 1, out);
    }
  }
}

void AddAuthor(const Value& v, std::vector<std::string_view>& out) {
  if (!v.IsObject()) return;
  if (const Value* actor = json::Find(v, "actor"); actor != nullptr) {
    AddAuthor(*actor, out);
    return;
  }
  if (const Value* ref = json::Find(v, "reference"); ref != nullptr) {
    std::string_view r = NormaliseReference(Str(*ref));
    if (!r.empty()) out.push_back(r);
  }
}

std::optional<Period> DateOf(const Value& v) {
  if (v.IsObject()) {  // Period
    Period p;
    bool any = false;
    if (const Value* s = json::Find(v, "start"); s != nullptr) {
      auto r = ParseFhirDate(Str(*s));
      if (r.ok()) p.lo_ms = r->lo_ms, any = true;
    }
    if (const Value* e = json::Find(v, "end"); e != nullptr) {
      auto r = ParseFhirDate(Str(*e));
      if (r.ok()) p.hi_ms = r->hi_ms, any = true;
    }
    if (!any || p.lo_ms > p.hi_ms) return std::nullopt;
    return p;
  }
  auto r = ParseFhirDate(Str(v));
  if (!r.ok()) return std::nullopt;
  return Period{r->lo_ms, r->hi_ms};
}

constexpr const char* kDateElements[] = {
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "onsetDateTime",
    "onsetPeriod",
    "performedDateTime",
    "performedPeriod",
    "occurrenceDateTime",
    "occurrencePeriod",
    "authoredOn",
    "recordedDate",
    "issued",
    "period",
    "date",
    "created",
    "recorded",
};

constexpr const char* kAuthorElements[] = {"recorder", "asserter", "author", "requester",
                                           "performer"};

}  // namespace

ResourceFacts ExtractFacts(const Value& resource) {
  ResourceFacts f;
  if (!resource.IsObject()) return f;
  f.type = json::GetString(resource, "resourceType");
  f.id = json::GetString(resource, "id");
  for (const char* name : {"code", "vaccineCode", "medicationCodeableConcept"}) {
    const Value* v = json::Find(resource, name);
    if (v != nullptr && v->IsObject()) AddConcept(*v, f.codes);
  }
  AddConcepts(json::Find(resource, "category"), f.classes);
  AddConcepts(json::Find(resource, "type"), f.classes);
  if (f.type == "Encounter") {
    if (const Value* cls = json::Find(resource, "class"); cls != nullptr)
      AddCoding(*cls, f.classes);
  }
  if (const Value* meta = json::Find(resource, "meta"); meta != nullptr) {
    const Value* sec = json::Find(*meta, "security");
    if (sec != nullptr && sec->IsArray()) {
      for (const Value& c : sec->GetArray()) AddCoding(c, f.security);
    }
  }
  for (const char* name : kDateElements) {
    const Value* v = json::Find(resource, name);
    if (v == nullptr) continue;
    f.date = DateOf(*v);
    if (f.date) break;
  }
  WalkReferences(resource, 0, f.references);
  for (const char* name : kAuthorElements) {
    const Value* v = json::Find(resource, name);
    if (v == nullptr) continue;
    if (v->IsArray()) {
      for (const Value& e : v->GetArray()) AddAuthor(e, f.authors);
    } else {
      AddAuthor(*v, f.authors);
    }
  }
  return f;
}

}  // namespace sund::consent
