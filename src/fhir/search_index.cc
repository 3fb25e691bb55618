#include "fhir/search_index.h"

#include <optional>
#include <regex>
#include <unordered_map>

#include "core/time.h"
#include "fhir/fhirpath.h"
#include "fhir/ucum.h"

namespace sund::fhir {
namespace {

// Splits a published expression at top-level '|' ("Patient.name | Person.name") and keeps the
// branches that apply to `type` (those starting with the type's name, a base type's name, or not
// starting with a type name at all).
std::vector<std::string> BranchesFor(const Model& model, std::string_view expr,
                                     std::string_view type) {
  std::vector<std::string> parts;
  int depth = 0;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < expr.size(); ++i) {
    char c = expr[i];
    if (c == '\'' && (i == 0 || expr[i - 1] != '\\')) quoted = !quoted;
    if (quoted) continue;
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == '|' && depth == 0) {
      parts.emplace_back(expr.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.emplace_back(expr.substr(start));
  std::vector<std::string> out;
  for (auto& p : parts) {
    std::size_t b = p.find_first_not_of(" \t\n(");
    if (b == std::string::npos) continue;
    std::size_t e = b;
    while (e < p.size() && (std::isalnum(static_cast<unsigned char>(p[e])) || p[e] == '_')) ++e;
    std::string_view head(p.data() + b, e - b);
    bool is_type_name = !head.empty() && std::isupper(static_cast<unsigned char>(head[0])) &&
                        model.FindType(head) != nullptr;
    if (!is_type_name || model.IsA(type, head)) {
      std::size_t first = p.find_first_not_of(' ');
      std::size_t last = p.find_last_not_of(' ');
      out.push_back(p.substr(first, last - first + 1));
    }
  }
  return out;
}

// A branch that is a plain path through the model ("Observation.code",
// "(Observation.value as Quantity)", "Observation.subject.where(resolve() is Patient)",
// "Patient.telecom.where(system='email')"): evaluated by walking the JSON directly, which gives
// the same items as FHIRPath (checked over the Synthea set by search_index_test.cc) at a fraction
// of the cost.
struct SimplePath {
  struct Step {
    std::string name;
    const ElementDef* element;
  };
  std::vector<Step> steps;
  std::string type_filter;              // "as X" / ofType(X) on the last step
  std::string resolve_is;               // where(resolve() is X)
  std::string where_name, where_value;  // where(name='value')
};

struct CompiledParam {
  const SearchParamDef* def;
  std::vector<FhirPath> paths;
  std::vector<std::optional<SimplePath>> simple;  // per path, when the fast path applies
  // Composite: each component's definition and expression (relative to the composite's items).
  std::vector<std::pair<const SearchParamDef*, FhirPath>> components;
};

std::string_view Str(const rapidjson::Value* v) {
  return v != nullptr && v->IsString() ? json::View(*v) : std::string_view{};
}

void AddString(const SearchParamDef* p, std::string_view s, std::vector<IndexEntry>& out) {
  if (s.empty()) return;
  IndexEntry e;
  e.param = p;
  e.type = SearchParamType::kString;
  e.text = NormalizeString(s);
  e.raw = std::string(s);
  out.push_back(std::move(e));
}

void AddToken(const SearchParamDef* p, std::string_view system, std::string_view code,
              std::string_view text, std::vector<IndexEntry>& out) {
  if (code.empty() && text.empty()) return;
  IndexEntry e;
  e.param = p;
  e.type = SearchParamType::kToken;
  e.system = std::string(system);
  e.code = std::string(code);
  e.text = NormalizeString(text);
  out.push_back(std::move(e));
}

void AddDate(const SearchParamDef* p, std::int64_t lo, std::int64_t hi,
             std::vector<IndexEntry>& out) {
  IndexEntry e;
  e.param = p;
  e.type = SearchParamType::kDate;
  e.lo_ms = lo;
  e.hi_ms = hi;
  out.push_back(std::move(e));
}

constexpr std::int64_t kMinMs = -62'135'596'800'000;  // 0001-01-01
constexpr std::int64_t kMaxMs = 253'402'300'799'999;  // 9999-12-31T23:59:59.999

void DateFromValue(const SearchParamDef* p, const PathValue& v, std::vector<IndexEntry>& out) {
  const rapidjson::Value* n = v.node;
  if (n == nullptr) return;
  if (n->IsString()) {
    auto r = ParseFhirDate(json::View(*n));
    if (r.ok()) AddDate(p, r->lo_ms, r->hi_ms, out);
    return;
  }
  if (!n->IsObject()) return;
  if (v.type == "Period") {
    std::int64_t lo = kMinMs, hi = kMaxMs;
    bool any = false;
    if (auto s = json::GetString(*n, "start"); !s.empty()) {
      if (auto r = ParseFhirDate(s); r.ok()) lo = r->lo_ms, any = true;
    }
    if (auto s = json::GetString(*n, "end"); !s.empty()) {
      if (auto r = ParseFhirDate(s); r.ok()) hi = r->hi_ms, any = true;
    }
    if (any) AddDate(p, lo, hi, out);
  } else if (v.type == "Timing") {
    const rapidjson::Value* events = json::Find(*n, "event");
    if (events != nullptr && events->IsArray()) {
      std::int64_t lo = kMaxMs, hi = kMinMs;
      for (const auto& ev : events->GetArray()) {
        if (auto r = ParseFhirDate(json::View(ev)); r.ok()) {
          lo = std::min(lo, r->lo_ms);
          hi = std::max(hi, r->hi_ms);
        }
      }
      if (lo <= hi) AddDate(p, lo, hi, out);
    }
  }
}

void TokenFromValue(const SearchParamDef* p, const PathValue& v, std::vector<IndexEntry>& out) {
  const rapidjson::Value* n = v.node;
  if (n == nullptr) return;
  if (n->IsString()) {
    AddToken(p, "", json::View(*n), "", out);
    return;
  }
  if (n->IsBool()) {
    AddToken(p, "", n->GetBool() ? "true" : "false", "", out);
    return;
  }
  if (!n->IsObject()) return;
  const std::string& t = v.type;
  if (t == "CodeableConcept") {
    const rapidjson::Value* codings = json::Find(*n, "coding");
    if (codings != nullptr && codings->IsArray()) {
      for (const auto& c : codings->GetArray()) {
        AddToken(p, json::GetString(c, "system"), json::GetString(c, "code"),
                 json::GetString(c, "display"), out);
      }
    }
    if (auto text = json::GetString(*n, "text"); !text.empty()) AddToken(p, "", "", text, out);
  } else if (t == "Coding") {
    AddToken(p, json::GetString(*n, "system"), json::GetString(*n, "code"),
             json::GetString(*n, "display"), out);
  } else if (t == "Identifier") {
    std::string_view type_text;
    if (const auto* type = json::Find(*n, "type")) type_text = json::GetString(*type, "text");
    AddToken(p, json::GetString(*n, "system"), json::GetString(*n, "value"), type_text, out);
  } else if (t == "ContactPoint") {
    AddToken(p, "", json::GetString(*n, "value"), "", out);
  } else if (t == "Reference") {
    // Rare: token over a Reference uses its identifier.
    if (const auto* id = json::Find(*n, "identifier")) {
      AddToken(p, json::GetString(*id, "system"), json::GetString(*id, "value"), "", out);
    }
  }
}

// Splits "Patient/123", "Patient/123/_history/2" or "http://x/fhir/Patient/123" into type and id.
bool SplitReference(const Model& model, std::string_view ref, std::string& type, std::string& id) {
  if (auto h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
  std::size_t slash = ref.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  std::size_t prev = ref.rfind('/', slash - 1);
  std::string_view t = ref.substr(prev == std::string_view::npos ? 0 : prev + 1,
                                  slash - (prev == std::string_view::npos ? 0 : prev + 1));
  std::string_view i = ref.substr(slash + 1);
  if (!model.IsResourceType(t) || i.empty()) return false;
  type = std::string(t);
  id = std::string(i);
  return true;
}

void ReferenceFromValue(const Model& model, const SearchParamDef* p, const PathValue& v,
                        std::vector<IndexEntry>& out) {
  const rapidjson::Value* n = v.node;
  if (n == nullptr) return;
  std::string_view ref;
  if (n->IsString()) {
    ref = json::View(*n);  // canonical / uri
  } else if (n->IsObject()) {
    ref = json::GetString(*n, "reference");
    if (const auto* id = json::Find(*n, "identifier"); id != nullptr && id->IsObject()) {
      AddToken(p, json::GetString(*id, "system"), json::GetString(*id, "value"), "", out);
    }
  }
  if (ref.empty() || ref[0] == '#') return;
  IndexEntry e;
  e.param = p;
  e.type = SearchParamType::kReference;
  bool absolute = ref.find("://") != std::string_view::npos || ref.rfind("urn:", 0) == 0;
  if (!absolute && SplitReference(model, ref, e.ref_type, e.ref_id)) {
    out.push_back(std::move(e));
    return;
  }
  // Absolute references point at other servers (or are logical): kept as URLs only, so that
  // they never match a local resource of the same type and id.
  e.url = std::string(ref);
  out.push_back(std::move(e));
}

void StringFromValue(const SearchParamDef* p, const PathValue& v, std::vector<IndexEntry>& out) {
  const rapidjson::Value* n = v.node;
  if (n == nullptr) return;
  if (n->IsString()) {
    AddString(p, json::View(*n), out);
    return;
  }
  if (!n->IsObject()) return;
  auto add_member = [&](const char* name) {
    const rapidjson::Value* m = json::Find(*n, name);
    if (m == nullptr) return;
    if (m->IsString()) AddString(p, json::View(*m), out);
    if (m->IsArray()) {
      for (const auto& x : m->GetArray()) AddString(p, json::View(x), out);
    }
  };
  if (v.type == "HumanName") {
    for (const char* f : {"text", "family", "given", "prefix", "suffix"}) add_member(f);
  } else if (v.type == "Address") {
    for (const char* f : {"text", "line", "city", "district", "state", "postalCode", "country"}) {
      add_member(f);
    }
  }
}

void NumberFromValue(const SearchParamDef* p, const PathValue& v, std::vector<IndexEntry>& out) {
  if (v.node == nullptr || !v.node->IsNumber()) return;
  IndexEntry e;
  e.param = p;
  e.type = SearchParamType::kNumber;
  e.number = v.node->GetDouble();
  out.push_back(std::move(e));
}

void QuantityFromValue(const SearchParamDef* p, const PathValue& v, std::vector<IndexEntry>& out) {
  const rapidjson::Value* n = v.node;
  if (n == nullptr || !n->IsObject()) return;
  const rapidjson::Value* value = json::Find(*n, "value");
  if (value == nullptr || !value->IsNumber()) return;
  IndexEntry e;
  e.param = p;
  e.type = SearchParamType::kQuantity;
  e.number = value->GetDouble();
  e.system = std::string(json::GetString(*n, "system"));
  e.code = std::string(json::GetString(*n, "code"));
  e.unit = std::string(json::GetString(*n, "unit"));
  if (v.type == "Money") e.code = std::string(json::GetString(*n, "currency"));
  if (e.system == "http://unitsofmeasure.org" && !e.code.empty()) {
    auto c = Ucum::Get().Canonicalize(e.number, e.code);
    if (c.ok()) {
      e.has_canonical = true;
      e.canonical_unit = c->unit;
      e.canonical_value = c->value;
    }
  }
  out.push_back(std::move(e));
}

void UriFromValue(const SearchParamDef* p, const PathValue& v, std::vector<IndexEntry>& out) {
  std::string_view s = Str(v.node);
  if (s.empty()) return;
  IndexEntry e;
  e.param = p;
  e.type = SearchParamType::kUri;
  e.url = std::string(s);
  out.push_back(std::move(e));
}

// Converts one component value to index entries of the component's own type.
void ComponentEntries(const Model& model, const SearchParamDef* cdef, const PathValue& v,
                      std::vector<IndexEntry>& out) {
  switch (cdef->type) {
    case SearchParamType::kToken:
      TokenFromValue(cdef, v, out);
      break;
    case SearchParamType::kQuantity:
      QuantityFromValue(cdef, v, out);
      break;
    case SearchParamType::kDate:
      DateFromValue(cdef, v, out);
      break;
    case SearchParamType::kString:
      StringFromValue(cdef, v, out);
      break;
    case SearchParamType::kReference:
      ReferenceFromValue(model, cdef, v, out);
      break;
    default:
      break;
  }
}

void CompositeFromValues(const Model& model, const CompiledParam& cp,
                         const std::vector<PathValue>& items, const rapidjson::Value& resource,
                         std::vector<IndexEntry>& out) {
  if (cp.components.size() != 2) return;
  for (const PathValue& item : items) {
    std::vector<PathValue> focus{item};
    std::vector<IndexEntry> first, second;
    for (int c = 0; c < 2; ++c) {
      auto values = cp.components[c].second.EvaluateOn(focus, resource);
      if (!values.ok()) continue;
      for (const PathValue& v : *values) {
        ComponentEntries(model, cp.components[c].first, v, c == 0 ? first : second);
      }
    }
    for (const IndexEntry& a : first) {
      if (a.type != SearchParamType::kToken && a.type != SearchParamType::kReference) continue;
      if (a.type == SearchParamType::kToken && a.code.empty()) continue;
      for (const IndexEntry& b : second) {
        IndexEntry e;
        e.param = cp.def;
        e.type = SearchParamType::kComposite;
        if (a.type == SearchParamType::kReference) {
          e.system = a.ref_type;
          e.code = a.ref_id.empty() ? a.url : a.ref_id;
        } else {
          e.system = a.system;
          e.code = a.code;
        }
        switch (b.type) {
          case SearchParamType::kToken:
            if (b.code.empty()) continue;
            e.system2 = b.system;
            e.code2 = b.code;
            break;
          case SearchParamType::kQuantity:
            e.system2 = b.system;
            e.code2 = b.code.empty() ? b.unit : b.code;
            e.lo2 = e.hi2 = b.number;
            e.has_canonical = b.has_canonical;
            e.canonical_unit = b.canonical_unit;
            e.canonical_value = b.canonical_value;
            break;
          case SearchParamType::kDate:
            e.lo2 = static_cast<double>(b.lo_ms);
            e.hi2 = static_cast<double>(b.hi_ms);
            break;
          case SearchParamType::kString:
            e.code2 = b.text;
            break;
          default:
            continue;
        }
        out.push_back(std::move(e));
      }
    }
  }
}

// Recognises the plain path forms of SimplePath and resolves their steps against the model,
// starting from `type` (the resource's own type, so inherited elements resolve too).
std::optional<SimplePath> CompileSimplePath(const Model& model, std::string_view type,
                                            std::string_view expr) {
  static const std::regex kForm(
      R"(^\(?([A-Z][A-Za-z]*)((?:\.[a-z][A-Za-z]*)+)(?:\.ofType\(([A-Za-z]+)\)| as ([A-Za-z]+))?\)?)"
      R"((?:\.where\(resolve\(\) is ([A-Z][A-Za-z]+)\)|\.where\(([a-z][A-Za-z]*)='([^'\\]*)'\))?$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(expr.begin(), expr.end(), m, kForm)) return std::nullopt;
  SimplePath sp;
  std::string steps = m[2].str();
  sp.type_filter = m[3].matched ? m[3].str() : m[4].str();
  sp.resolve_is = m[5].str();
  sp.where_name = m[6].str();
  sp.where_value = m[7].str();
  std::string current(type);
  std::size_t pos = 1;
  while (pos <= steps.size()) {
    std::size_t next = steps.find('.', pos);
    if (next == std::string::npos) next = steps.size();
    std::string name = steps.substr(pos, next - pos);
    const ElementDef* el = model.FindElement(current, name);
    if (el == nullptr || el->types.empty()) return std::nullopt;
    bool last = next == steps.size();
    // A choice element only as the last step; other elements need one type to continue.
    if (!last && (el->is_choice || el->types.size() != 1)) return std::nullopt;
    sp.steps.push_back(SimplePath::Step{name, el});
    current = el->types[0];
    pos = next + 1;
  }
  if (sp.steps.empty()) return std::nullopt;
  return sp;
}

void AddItems(const rapidjson::Value& v, const std::string& type, std::vector<PathValue>& out) {
  auto add = [&](const rapidjson::Value& x) {
    if (x.IsNull()) return;
    PathValue pv;
    pv.node = &x;
    pv.type = type;
    out.push_back(std::move(pv));
  };
  if (v.IsArray()) {
    for (const auto& x : v.GetArray()) add(x);
  } else {
    add(v);
  }
}

// The reference's target type ("Patient" for "Patient/1" or ".../Patient/1/_history/2").
std::string_view ReferenceType(const rapidjson::Value& ref) {
  std::string_view r = json::GetString(ref, "reference");
  if (auto h = r.find("/_history/"); h != std::string_view::npos) r = r.substr(0, h);
  std::size_t slash = r.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  std::size_t prev = r.rfind('/', slash - 1);
  return r.substr(prev == std::string_view::npos ? 0 : prev + 1,
                  slash - (prev == std::string_view::npos ? 0 : prev + 1));
}

std::vector<PathValue> EvaluateSimplePath(const SimplePath& sp, const rapidjson::Value& resource) {
  std::vector<const rapidjson::Value*> nodes{&resource};
  std::vector<PathValue> items;
  for (std::size_t i = 0; i < sp.steps.size(); ++i) {
    const auto& step = sp.steps[i];
    bool last = i + 1 == sp.steps.size();
    std::vector<const rapidjson::Value*> next;
    for (const rapidjson::Value* n : nodes) {
      if (!n->IsObject()) continue;
      if (step.element->is_choice) {
        for (const auto& t : step.element->types) {
          if (!sp.type_filter.empty() && t != sp.type_filter) continue;
          std::string key = step.name;
          key += static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
          key.append(t, 1, std::string::npos);
          if (const rapidjson::Value* v = json::Find(*n, key)) AddItems(*v, t, items);
        }
        continue;
      }
      const rapidjson::Value* v = json::Find(*n, step.name);
      if (v == nullptr) continue;
      if (last) {
        const std::string& t = step.element->types[0];
        if (!sp.type_filter.empty() && t != sp.type_filter) continue;
        AddItems(*v, t, items);
      } else if (v->IsArray()) {
        for (const auto& x : v->GetArray()) next.push_back(&x);
      } else {
        next.push_back(v);
      }
    }
    nodes = std::move(next);
  }
  if (!sp.resolve_is.empty() || !sp.where_name.empty()) {
    std::vector<PathValue> kept;
    for (auto& item : items) {
      if (!item.node->IsObject()) continue;
      if (!sp.resolve_is.empty() && ReferenceType(*item.node) != sp.resolve_is) continue;
      if (!sp.where_name.empty() &&
          json::GetString(*item.node, sp.where_name.c_str()) != sp.where_value) {
        continue;
      }
      kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  return items;
}

}  // namespace

bool IsSupportedComposite(const Model& model, const SearchParamDef& def) {
  if (def.type != SearchParamType::kComposite || def.components.size() != 2) return false;
  const SearchParamDef* a = model.FindSearchParamByUrl(def.components[0].definition);
  const SearchParamDef* b = model.FindSearchParamByUrl(def.components[1].definition);
  if (a == nullptr || b == nullptr) return false;
  bool first_ok = a->type == SearchParamType::kToken || a->type == SearchParamType::kReference;
  bool second_ok = b->type == SearchParamType::kToken || b->type == SearchParamType::kQuantity ||
                   b->type == SearchParamType::kDate || b->type == SearchParamType::kString;
  return first_ok && second_ok;
}

std::string NormalizeString(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(std::tolower(c)));
      continue;
    }
    // Two-byte sequences for U+00C0..U+00FF (Latin-1 letters).
    if (c == 0xC3 && i + 1 < s.size()) {
      unsigned char d = static_cast<unsigned char>(s[i + 1]);
      unsigned cp = 0xC0 + (d & 0x3F);
      static constexpr const char* kFold[64] = {
          // U+00C0..U+00FF
          "a",        "a", "a", "a", "a", "\xC3\xA5", "\xC3\xA6", "c",
          "e",        "e", "e", "e", "i", "i",        "i",        "i",
          "d",        "n", "o", "o", "o", "o",        "o",        "\xC3\x97",
          "\xC3\xB8", "u", "u", "u", "u", "y",        "\xC3\xBE", "ss",
          "a",        "a", "a", "a", "a", "\xC3\xA5", "\xC3\xA6", "c",
          "e",        "e", "e", "e", "i", "i",        "i",        "i",
          "d",        "n", "o", "o", "o", "o",        "o",        "\xC3\xB7",
          "\xC3\xB8", "u", "u", "u", "u", "y",        "\xC3\xBE", "y"};
      // Keep Danish/Norwegian letters (æ, ø, å) distinct; Ä/Ö/Ü fold to a/o/u.
      out += kFold[cp - 0xC0];
      ++i;
      continue;
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

struct Extractor::Impl {
  const Model& model;
  std::unordered_map<std::string, std::vector<CompiledParam>> by_type;
  Coverage coverage;
  explicit Impl(const Model& m) : model(m) {}
};

Extractor::Extractor(const Model& model, bool fast_paths)
    : impl_(std::make_unique<Impl>(model)), fast_paths_(fast_paths) {
  std::unordered_map<const SearchParamDef*, bool> failed;
  for (const auto& type : model.resource_types()) {
    auto& list = impl_->by_type[type];
    for (const SearchParamDef* def : model.SearchParams(type)) {
      // _id and _lastUpdated are answered from the resource table, not from index rows.
      if (def->expression.empty() || def->type == SearchParamType::kSpecial || def->code == "_id" ||
          def->code == "_lastUpdated") {
        continue;
      }
      CompiledParam cp{def, {}, {}, {}};
      if (def->type == SearchParamType::kComposite) {
        if (!IsSupportedComposite(model, *def)) continue;
        bool ok = true;
        for (const auto& comp : def->components) {
          auto compiled = FhirPath::Compile(comp.expression);
          const SearchParamDef* cdef = model.FindSearchParamByUrl(comp.definition);
          if (!compiled.ok() || cdef == nullptr) {
            ok = false;
            break;
          }
          cp.components.emplace_back(cdef, std::move(compiled).value());
        }
        if (!ok) continue;
      }
      for (const auto& branch : BranchesFor(model, def->expression, type)) {
        auto compiled = FhirPath::Compile(branch);
        if (!compiled.ok()) {
          if (!failed[def]) {
            impl_->coverage.failed.push_back(def->url + ": " + compiled.status().message());
          }
          failed[def] = true;
          continue;
        }
        cp.paths.push_back(std::move(compiled).value());
        cp.simple.push_back(fast_paths_ && def->type != SearchParamType::kComposite
                                ? CompileSimplePath(model, type, branch)
                                : std::nullopt);
      }
      if (!cp.paths.empty()) list.push_back(std::move(cp));
    }
  }
  impl_->coverage.total = static_cast<int>(model.all_search_params().size());
  int with_expr = 0;
  for (const auto& def : model.all_search_params()) {
    if (!def.expression.empty()) ++with_expr;
  }
  impl_->coverage.compiled = with_expr - static_cast<int>(impl_->coverage.failed.size());
}

Extractor::~Extractor() = default;

Extractor::Coverage Extractor::coverage() const { return impl_->coverage; }

const Extractor& Extractor::R4() {
  static const Extractor* extractor = new Extractor(Model::R4());
  return *extractor;
}

std::vector<IndexEntry> Extractor::Extract(std::string_view type,
                                           const rapidjson::Value& resource) const {
  std::vector<IndexEntry> out;
  out.reserve(48);
  auto it = impl_->by_type.find(std::string(type));
  if (it == impl_->by_type.end()) return out;
  for (const CompiledParam& cp : it->second) {
    const SearchParamDef* p = cp.def;
    for (std::size_t b = 0; b < cp.paths.size(); ++b) {
      Result<std::vector<PathValue>> values =
          cp.simple[b] ? Result<std::vector<PathValue>>(EvaluateSimplePath(*cp.simple[b], resource))
                       : cp.paths[b].Evaluate(resource);
      if (!values.ok()) continue;
      if (p->type == SearchParamType::kComposite) {
        CompositeFromValues(impl_->model, cp, *values, resource, out);
        continue;
      }
      for (const PathValue& v : *values) {
        switch (p->type) {
          case SearchParamType::kString:
            StringFromValue(p, v, out);
            break;
          case SearchParamType::kToken:
            TokenFromValue(p, v, out);
            break;
          case SearchParamType::kReference:
            ReferenceFromValue(impl_->model, p, v, out);
            break;
          case SearchParamType::kDate:
            DateFromValue(p, v, out);
            break;
          case SearchParamType::kNumber:
            NumberFromValue(p, v, out);
            break;
          case SearchParamType::kQuantity:
            QuantityFromValue(p, v, out);
            break;
          case SearchParamType::kUri:
            UriFromValue(p, v, out);
            break;
          case SearchParamType::kComposite:
          case SearchParamType::kSpecial:
            break;
        }
      }
    }
  }
  return out;
}

}  // namespace sund::fhir
