#include "fhir/search_query.h"

#include <cmath>
#include <cstdlib>

#include "core/time.h"
#include "fhir/search_index.h"
#include "fhir/ucum.h"

namespace sund::fhir {
namespace {

constexpr std::string_view kUcum = "http://unitsofmeasure.org";

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Splits at unescaped `sep` and removes the escapes (\, \| \$ \\).
std::vector<std::string> SplitEscaped(std::string_view s, char sep, bool unescape) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      if (!unescape) out.back().push_back(c);
      out.back().push_back(s[++i]);
      continue;
    }
    if (c == sep) {
      out.emplace_back();
      continue;
    }
    out.back().push_back(c);
  }
  return out;
}

// The index of the first unescaped `c` in `s`, or npos.
std::size_t FindUnescaped(std::string_view s, char c) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == c) return i;
  }
  return std::string_view::npos;
}

std::string Unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out.push_back(s[i]);
  }
  return out;
}

Prefix TakePrefix(std::string_view& v) {
  static constexpr std::pair<std::string_view, Prefix> kPrefixes[] = {
      {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
      {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
      {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp}};
  if (v.size() > 2) {
    for (const auto& [name, p] : kPrefixes) {
      if (StartsWith(v, name) && (std::isdigit(static_cast<unsigned char>(v[2])) || v[2] == '-')) {
        v.remove_prefix(2);
        return p;
      }
    }
  }
  return Prefix::kEq;
}

// Parses a decimal and the half-width its written precision implies ("100" -> 0.5, "1.50" ->
// 0.005); exponent forms use their mantissa's precision.
Status ParseDecimal(std::string_view s, double& value, double& half) {
  if (s.empty()) return InvalidArgument("empty number");
  std::string text(s);
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(value)) {
    return InvalidArgument("invalid number '" + text + "'");
  }
  std::size_t e = text.find_first_of("eE");
  std::string mantissa = text.substr(0, e);
  int exponent = e == std::string::npos ? 0 : std::atoi(text.c_str() + e + 1);
  std::size_t dot = mantissa.find('.');
  int decimals = dot == std::string::npos ? 0 : static_cast<int>(mantissa.size() - dot - 1);
  half = 0.5 * std::pow(10.0, exponent - decimals);
  return Status::Ok();
}

Result<Modifier> ParseModifier(std::string_view m, SearchParamType type, const Model& model,
                               std::string& type_modifier) {
  static constexpr std::pair<std::string_view, Modifier> kModifiers[] = {
      {"exact", Modifier::kExact},     {"contains", Modifier::kContains},
      {"missing", Modifier::kMissing}, {"not", Modifier::kNot},
      {"text", Modifier::kText},       {"identifier", Modifier::kIdentifier},
      {"above", Modifier::kAbove},     {"below", Modifier::kBelow},
      {"of-type", Modifier::kOfType},  {"in", Modifier::kIn},
      {"not-in", Modifier::kNotIn}};
  if (m.empty()) return Modifier::kNone;
  for (const auto& [name, mod] : kModifiers) {
    if (m != name) continue;
    bool ok = false;
    switch (mod) {
      case Modifier::kMissing:
        ok = true;
        break;
      case Modifier::kExact:
      case Modifier::kContains:
        ok = type == SearchParamType::kString;
        break;
      case Modifier::kNot:
      case Modifier::kText:
        ok = type == SearchParamType::kToken;
        break;
      case Modifier::kIdentifier:
        ok = type == SearchParamType::kReference;
        break;
      case Modifier::kAbove:
      case Modifier::kBelow:
        ok = type == SearchParamType::kUri;
        break;
      default:
        ok = false;
        break;
    }
    if (!ok) {
      return InvalidArgument("modifier ':" + std::string(m) + "' is not supported on " +
                             std::string(SearchParamTypeName(type)) + " parameters");
    }
    return mod;
  }
  if (type == SearchParamType::kReference && model.IsResourceType(m)) {
    type_modifier = std::string(m);
    return Modifier::kType;
  }
  return InvalidArgument("unknown modifier ':" + std::string(m) + "'");
}

}  // namespace

std::string_view PrefixName(Prefix p) {
  static constexpr std::string_view kNames[] = {"eq", "ne", "gt", "lt", "ge",
                                                "le", "sa", "eb", "ap"};
  return kNames[static_cast<int>(p)];
}

Result<SearchValue> ParseSearchValue(SearchParamType type, std::string_view raw,
                                     Modifier modifier) {
  SearchValue v;
  v.raw = Unescape(raw);
  if (modifier == Modifier::kMissing) {
    if (raw != "true" && raw != "false") return InvalidArgument(":missing takes true or false");
    v.missing = raw == "true";
    return v;
  }
  switch (type) {
    case SearchParamType::kString:
      v.text = NormalizeString(v.raw);
      return v;
    case SearchParamType::kUri:
      v.url = v.raw;
      return v;
    case SearchParamType::kToken: {
      if (modifier == Modifier::kText) {
        v.text = NormalizeString(v.raw);
        return v;
      }
      std::size_t bar = FindUnescaped(raw, '|');
      if (bar == std::string_view::npos) {
        v.code = v.raw;
      } else {
        v.has_system = true;
        v.system = Unescape(raw.substr(0, bar));
        v.code = Unescape(raw.substr(bar + 1));
        if (v.system.empty() && v.code.empty()) return InvalidArgument("empty token '|'");
      }
      return v;
    }
    case SearchParamType::kReference: {
      if (modifier == Modifier::kIdentifier) {
        return ParseSearchValue(SearchParamType::kToken, raw, Modifier::kNone);
      }
      std::string_view r = v.raw;
      if (r.find("://") != std::string_view::npos || StartsWith(r, "urn:")) {
        v.url = v.raw;
        return v;
      }
      if (auto h = r.find("/_history/"); h != std::string_view::npos) r = r.substr(0, h);
      std::size_t slash = r.find('/');
      if (slash == std::string_view::npos) {
        v.ref_id = std::string(r);
      } else {
        v.ref_type = std::string(r.substr(0, slash));
        v.ref_id = std::string(r.substr(slash + 1));
        if (!Model::R4().IsResourceType(v.ref_type)) {
          return InvalidArgument("unknown resource type in reference '" + v.raw + "'");
        }
      }
      if (v.ref_id.empty()) return InvalidArgument("empty reference");
      return v;
    }
    case SearchParamType::kDate: {
      std::string_view s = raw;
      v.prefix = TakePrefix(s);
      auto range = ParseFhirDate(s);
      if (!range.ok()) return InvalidArgument("invalid date '" + std::string(s) + "'");
      v.lo_ms = range->lo_ms;
      v.hi_ms = range->hi_ms;
      return v;
    }
    case SearchParamType::kNumber: {
      std::string_view s = raw;
      v.prefix = TakePrefix(s);
      double half = 0;
      SUND_RETURN_IF_ERROR(ParseDecimal(s, v.number, half));
      v.lo = v.number - half;
      v.hi = v.number + half;
      return v;
    }
    case SearchParamType::kQuantity: {
      std::string_view s = raw;
      v.prefix = TakePrefix(s);
      auto parts = SplitEscaped(s, '|', true);
      if (parts.size() != 1 && parts.size() != 3) {
        return InvalidArgument("a quantity is number or number|system|code");
      }
      double half = 0;
      SUND_RETURN_IF_ERROR(ParseDecimal(parts[0], v.number, half));
      v.lo = v.number - half;
      v.hi = v.number + half;
      if (parts.size() == 3) {
        v.system = parts[1];
        v.code = parts[2];
        if (!v.code.empty() && (v.system.empty() || v.system == kUcum)) {
          auto c = Ucum::Get().Canonicalize(v.number, v.code);
          auto clo = Ucum::Get().Canonicalize(v.lo, v.code);
          auto chi = Ucum::Get().Canonicalize(v.hi, v.code);
          if (c.ok() && clo.ok() && chi.ok()) {
            v.has_canonical = true;
            v.canonical_unit = c->unit;
            v.canonical_number = c->value;
            v.canonical_lo = std::min(clo->value, chi->value);
            v.canonical_hi = std::max(clo->value, chi->value);
          }
        }
      }
      return v;
    }
    case SearchParamType::kComposite:
    case SearchParamType::kSpecial:
      return v;
  }
  return v;
}

namespace {

struct Parser {
  const Model& model;
  bool strict;

  // Parses `name` (after the resource type is known) with `value` into a criterion.
  Result<SearchCriterion> Criterion(std::string_view type, std::string_view name,
                                    std::string_view value) {
    SearchCriterion c;
    if (StartsWith(name, "_has:")) {
      // _has:Source:refparam:rest
      std::string_view rest = name.substr(5);
      std::size_t a = rest.find(':');
      std::size_t b = a == std::string_view::npos ? a : rest.find(':', a + 1);
      if (b == std::string_view::npos) {
        return InvalidArgument("_has needs the form _has:Type:reference:parameter");
      }
      std::string source(rest.substr(0, a));
      std::string ref(rest.substr(a + 1, b - a - 1));
      if (!model.IsResourceType(source)) {
        return InvalidArgument("_has: unknown resource type '" + source + "'");
      }
      const SearchParamDef* ref_param = model.FindSearchParam(source, ref);
      if (ref_param == nullptr || ref_param->type != SearchParamType::kReference) {
        return InvalidArgument("_has: '" + ref + "' is not a reference parameter of " + source);
      }
      SUND_ASSIGN_OR_RETURN(SearchCriterion inner, Criterion(source, rest.substr(b + 1), value));
      c.reverse_chain =
          ReverseChain{source, ref_param, std::make_unique<SearchCriterion>(std::move(inner))};
      return c;
    }
    // Chains: param[:Type].rest
    std::size_t dot = name.find('.');
    std::string_view head = dot == std::string_view::npos ? name : name.substr(0, dot);
    std::size_t colon = head.find(':');
    std::string_view code = head.substr(0, colon);
    std::string_view mod =
        colon == std::string_view::npos ? std::string_view{} : head.substr(colon + 1);
    if (code == "_id" || code == "_lastUpdated") {
      if (dot != std::string_view::npos)
        return InvalidArgument("cannot chain on " + std::string(code));
      c.special = code == "_id" ? SpecialParam::kId : SpecialParam::kLastUpdated;
      c.type = code == "_id" ? SearchParamType::kToken : SearchParamType::kDate;
      if (!mod.empty()) {
        if (code == "_id" && mod == "not") {
          c.modifier = Modifier::kNot;
        } else {
          return InvalidArgument("modifier ':" + std::string(mod) + "' is not supported on " +
                                 std::string(code));
        }
      }
      for (const auto& part : SplitEscaped(value, ',', false)) {
        SUND_ASSIGN_OR_RETURN(SearchValue v, ParseSearchValue(c.type, part, Modifier::kNone));
        c.values.push_back(std::move(v));
      }
      return c;
    }
    const SearchParamDef* def = nullptr;
    if (type.empty()) {
      // Across all types: a parameter code every type that has it defines alike (_tag,
      // _profile, patient, identifier ...); the first definition gives the value type.
      for (const auto& d : model.all_search_params()) {
        if (d.code == code && d.type != SearchParamType::kComposite) {
          def = &d;
          break;
        }
      }
    } else {
      def = model.FindSearchParam(type, code);
    }
    if (def == nullptr) {
      return Status(StatusCode::kNotFound,
                    "unknown search parameter '" + std::string(code) + "' for " +
                        (type.empty() ? std::string("all types") : std::string(type)));
    }
    c.param = def;
    c.type = def->type;
    if (dot != std::string_view::npos) {
      if (def->type != SearchParamType::kReference) {
        return InvalidArgument("cannot chain on '" + def->code + "': not a reference parameter");
      }
      std::string target(mod);
      if (!target.empty() && !model.IsResourceType(target)) {
        return InvalidArgument("unknown resource type '" + target + "' in chain");
      }
      std::string_view rest = name.substr(dot + 1);
      std::string_view rest_code = rest.substr(0, rest.find_first_of(":."));
      if (target.empty()) {
        std::vector<std::string> candidates;
        for (const auto& t : def->target) {
          if (model.FindSearchParam(t, rest_code) != nullptr || rest_code == "_id") {
            candidates.push_back(t);
          }
        }
        if (candidates.size() != 1) {
          return InvalidArgument("chain '" + std::string(name) +
                                 "' is ambiguous; name the target type, e.g. " + def->code +
                                 ":Patient." + std::string(rest));
        }
        target = candidates[0];
      }
      SUND_ASSIGN_OR_RETURN(SearchCriterion inner, Criterion(target, rest, value));
      c.chain = Chain{target, std::make_unique<SearchCriterion>(std::move(inner))};
      return c;
    }
    SUND_ASSIGN_OR_RETURN(c.modifier, ParseModifier(mod, def->type, model, c.type_modifier));
    if (c.type == SearchParamType::kSpecial ||
        (c.type == SearchParamType::kComposite && !IsSupportedComposite(model, *def))) {
      return Status(StatusCode::kNotImplemented,
                    "search on " + std::string(SearchParamTypeName(c.type)) + " parameter '" +
                        def->code + "' is not supported yet");
    }
    if (c.type == SearchParamType::kComposite) {
      if (c.modifier != Modifier::kNone && c.modifier != Modifier::kMissing) {
        return InvalidArgument("composite parameters take no modifiers except :missing");
      }
      const SearchParamDef* first = model.FindSearchParamByUrl(def->components[0].definition);
      const SearchParamDef* second = model.FindSearchParamByUrl(def->components[1].definition);
      for (const auto& part : SplitEscaped(value, ',', false)) {
        SearchValue v;
        v.raw = Unescape(part);
        if (c.modifier == Modifier::kMissing) {
          SUND_ASSIGN_OR_RETURN(v, ParseSearchValue(c.type, part, c.modifier));
          c.values.push_back(std::move(v));
          continue;
        }
        std::size_t dollar = FindUnescaped(part, '$');
        if (dollar == std::string_view::npos) {
          return InvalidArgument("composite parameter '" + def->code +
                                 "' takes two values joined by '$'");
        }
        std::string_view a = std::string_view(part).substr(0, dollar);
        std::string_view b = std::string_view(part).substr(dollar + 1);
        SUND_ASSIGN_OR_RETURN(SearchValue va,
                              ParseSearchValue(first->type == SearchParamType::kReference
                                                   ? SearchParamType::kReference
                                                   : SearchParamType::kToken,
                                               a, Modifier::kNone));
        SUND_ASSIGN_OR_RETURN(SearchValue vb, ParseSearchValue(second->type, b, Modifier::kNone));
        v.components.push_back(std::move(va));
        v.components.push_back(std::move(vb));
        c.values.push_back(std::move(v));
      }
      return c;
    }
    for (const auto& part : SplitEscaped(value, ',', false)) {
      SUND_ASSIGN_OR_RETURN(SearchValue v, ParseSearchValue(c.type, part, c.modifier));
      c.values.push_back(std::move(v));
    }
    return c;
  }
};

Result<Include> ParseInclude(const Model& model, std::string_view value, bool iterate, bool reverse,
                             std::string_view search_type) {
  Include inc;
  inc.iterate = iterate;
  if (value == "*") {
    if (reverse) return InvalidArgument("_revinclude=* is not supported");
    inc.source_type = "*";
    return inc;
  }
  auto parts = SplitEscaped(value, ':', true);
  if (parts.size() < 2 || parts.size() > 3) {
    return InvalidArgument("_include/_revinclude take Type:parameter[:targetType]");
  }
  inc.source_type = parts[0];
  if (!model.IsResourceType(inc.source_type)) {
    return InvalidArgument("unknown resource type '" + inc.source_type + "' in _include");
  }
  if (parts[1] == "*") {
    if (reverse) return InvalidArgument("_revinclude with '*' is not supported");
  } else {
    inc.param = model.FindSearchParam(inc.source_type, parts[1]);
    if (inc.param == nullptr || inc.param->type != SearchParamType::kReference) {
      return InvalidArgument("'" + parts[1] + "' is not a reference parameter of " +
                             inc.source_type);
    }
  }
  if (parts.size() == 3) {
    inc.target_type = parts[2];
    if (!model.IsResourceType(inc.target_type)) {
      return InvalidArgument("unknown target type '" + inc.target_type + "'");
    }
  }
  (void)search_type;
  return inc;
}

}  // namespace

Result<SearchQuery> ParseSearch(const Model& model, std::string_view type,
                                const std::vector<std::pair<std::string, std::string>>& params,
                                bool strict, const SearchLimits& limits) {
  SearchQuery q;
  q.type = std::string(type);
  q.count = limits.default_count;
  Parser parser{model, strict};
  for (const auto& [name, value] : params) {
    if (name == "_count") {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0) {
        return InvalidArgument("_count must be a non-negative integer");
      }
      q.count = static_cast<int>(std::min<long>(n, limits.max_count));
    } else if (name == "_cursor") {
      char* end = nullptr;
      long long n = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0) {
        return InvalidArgument("_cursor must come from a next link");
      }
      q.cursor = n;
    } else if (name == "_offset" || name == "_getpagesoffset") {
      char* end = nullptr;
      long long n = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0) {
        return InvalidArgument(name + " must be a non-negative integer");
      }
      q.offset = n;
    } else if (name == "_sort") {
      for (const auto& key : SplitEscaped(value, ',', true)) {
        SortKey k;
        std::string_view code = key;
        if (StartsWith(code, "-")) {
          k.descending = true;
          code.remove_prefix(1);
        }
        if (code == "_id") {
          k.special = SpecialParam::kId;
        } else if (code == "_lastUpdated") {
          k.special = SpecialParam::kLastUpdated;
        } else {
          k.param = type.empty() ? nullptr : model.FindSearchParam(type, code);
          if (k.param == nullptr || k.param->type == SearchParamType::kComposite ||
              k.param->type == SearchParamType::kSpecial) {
            return InvalidArgument("cannot sort by '" + std::string(code) + "'");
          }
        }
        q.sort.push_back(k);
      }
    } else if (name == "_include" || name == "_include:iterate" || name == "_include:recurse" ||
               name == "_revinclude" || name == "_revinclude:iterate" ||
               name == "_revinclude:recurse") {
      bool reverse = StartsWith(name, "_revinclude");
      bool iterate = name.find(':') != std::string::npos;
      SUND_ASSIGN_OR_RETURN(Include inc, ParseInclude(model, value, iterate, reverse, type));
      (reverse ? q.revincludes : q.includes).push_back(std::move(inc));
    } else if (name == "_summary") {
      if (value == "true")
        q.summary = SummaryMode::kTrue;
      else if (value == "false")
        q.summary = SummaryMode::kFalse;
      else if (value == "count")
        q.summary = SummaryMode::kCount;
      else if (value == "data")
        q.summary = SummaryMode::kData;
      else if (value == "text")
        q.summary = SummaryMode::kText;
      else
        return InvalidArgument("_summary must be true, false, count, data or text");
    } else if (name == "_elements") {
      for (auto& e : SplitEscaped(value, ',', true)) {
        if (!e.empty()) q.elements.push_back(e);
      }
    } else if (name == "_total") {
      if (value == "none")
        q.total = TotalMode::kNone;
      else if (value == "estimate")
        q.total = TotalMode::kEstimate;
      else if (value == "accurate")
        q.total = TotalMode::kAccurate;
      else
        return InvalidArgument("_total must be none, estimate or accurate");
    } else if (name == "_format" || name == "_pretty" || name == "_contained" ||
               name == "_containedType") {
      // Representation options; handled (or ignored) by the API layer.
    } else {
      auto c = parser.Criterion(type, name, value);
      if (!c.ok()) {
        if (c.status().code() == StatusCode::kNotFound && !strict) {
          q.unknown_params.push_back(name);
          continue;
        }
        if (c.status().code() == StatusCode::kNotFound) {
          return InvalidArgument(c.status().message());
        }
        return c.status();
      }
      q.criteria.push_back(std::move(c).value());
    }
  }
  if (q.cursor > 0 && (q.offset > 0 || !q.sort.empty())) {
    return InvalidArgument(
        "_cursor pages the default order; it cannot be combined with _offset "
        "or _sort");
  }
  return q;
}

}  // namespace sund::fhir
