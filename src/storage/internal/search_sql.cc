#include "storage/internal/search_sql.h"

#include <cmath>
#include <utility>

#include "core/json.h"
#include "fhir/model.h"

namespace sund::storage::sql {

using fhir::Modifier;
using fhir::Prefix;
using fhir::SearchParamType;
using fhir::SpecialParam;

namespace {

const char* TableFor(SearchParamType t) {
  switch (t) {
    case SearchParamType::kString:
      return "idx_string";
    case SearchParamType::kToken:
      return "idx_token";
    case SearchParamType::kReference:
      return "idx_reference";
    case SearchParamType::kDate:
      return "idx_date";
    case SearchParamType::kNumber:
      return "idx_number";
    case SearchParamType::kQuantity:
      return "idx_quantity";
    case SearchParamType::kUri:
      return "idx_uri";
    case SearchParamType::kComposite:
      return "idx_composite";
    default:
      return nullptr;
  }
}

// "(col >= prefix AND col < bound)": the strings that start with `prefix`, where the bound is the
// prefix with its last code point incremented (valid UTF-8, as PostgreSQL requires; for UTF-8,
// byte order is code point order, so the range is the same in both backends' binary collation).
std::string PrefixRange(const std::string& col, const std::string& prefix,
                        std::vector<Param>& params) {
  params.emplace_back(prefix);
  std::string bound = prefix;
  while (!bound.empty()) {
    // The last code point: its lead byte is the last byte that is not a continuation byte.
    std::size_t start = bound.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(bound[start]) & 0xC0) == 0x80) --start;
    std::string_view cp(bound.data() + start, bound.size() - start);
    auto b0 = static_cast<unsigned char>(cp[0]);
    std::uint32_t c = 0;
    std::size_t need = b0 < 0x80 ? 1 : b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
    if (need == 0 || need != cp.size()) {  // not UTF-8: compare bytes
      if (b0 < 0x7F) {
        bound[start] = static_cast<char>(b0 + 1);
        break;
      }
      bound.resize(start);
      continue;
    }
    c = need == 1 ? b0 : b0 & (0x7F >> need);
    for (std::size_t i = 1; i < need; ++i)
      c = (c << 6) | (static_cast<unsigned char>(cp[i]) & 0x3F);
    bound.resize(start);
    if (c >= 0x10FFFF) continue;
    ++c;
    if (c >= 0xD800 && c <= 0xDFFF) c = 0xE000;
    if (c < 0x80) {
      bound.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      bound.push_back(static_cast<char>(0xC0 | (c >> 6)));
      bound.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      bound.push_back(static_cast<char>(0xE0 | (c >> 12)));
      bound.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      bound.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      bound.push_back(static_cast<char>(0xF0 | (c >> 18)));
      bound.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      bound.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      bound.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
    break;
  }
  if (bound.empty()) return "(" + col + " >= ?)";
  params.emplace_back(std::move(bound));
  return "(" + col + " >= ? AND " + col + " < ?)";
}

std::string EscapeLike(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Range comparison of a stored range [rlo, rhi] against the search range [lo, hi] (FHIR R4
// search 3.1.1.4.2, prefixes on ranges).
std::string RangeClause(Prefix p, const std::string& rlo, const std::string& rhi, Param lo,
                        Param hi, std::vector<Param>& params) {
  switch (p) {
    case Prefix::kEq:
      // The leading "rlo <= hi" is implied (rlo <= rhi <= hi); it gives SQLite an index range.
      params.push_back(hi);
      params.push_back(lo);
      params.push_back(hi);
      return "(" + rlo + " <= ? AND " + rlo + " >= ? AND " + rhi + " <= ?)";
    case Prefix::kNe:
      params.push_back(lo);
      params.push_back(hi);
      return "NOT (" + rlo + " >= ? AND " + rhi + " <= ?)";
    case Prefix::kGt:
      params.push_back(hi);
      return "(" + rhi + " > ?)";
    case Prefix::kLt:
      params.push_back(lo);
      return "(" + rlo + " < ?)";
    case Prefix::kGe:
      // Either branch implies rhi >= lo: stated first so an index on rhi can narrow the scan.
      params.push_back(lo);
      params.push_back(hi);
      params.push_back(lo);
      params.push_back(hi);
      return "(" + rhi + " >= ? AND (" + rhi + " > ? OR (" + rlo + " >= ? AND " + rhi + " <= ?)))";
    case Prefix::kLe:
      // Either branch implies rlo <= hi.
      params.push_back(hi);
      params.push_back(lo);
      params.push_back(lo);
      params.push_back(hi);
      return "(" + rlo + " <= ? AND (" + rlo + " < ? OR (" + rlo + " >= ? AND " + rhi + " <= ?)))";
    case Prefix::kSa:
      params.push_back(hi);
      return "(" + rlo + " > ?)";
    case Prefix::kEb:
      params.push_back(lo);
      return "(" + rhi + " < ?)";
    case Prefix::kAp:
      params.push_back(hi);
      params.push_back(lo);
      return "(" + rlo + " <= ? AND " + rhi + " >= ?)";
  }
  return "FALSE";
}

// The search range of an `ap` date, widened by 10% of its distance from now (FHIR R4
// search.html, prefix "ap": "10% of the gap between now and the date").
std::pair<std::int64_t, std::int64_t> ApproximateRange(std::int64_t lo, std::int64_t hi,
                                                       std::int64_t now) {
  std::int64_t mid = lo + (hi - lo) / 2;
  std::int64_t gap = (now > mid ? now - mid : mid - now) / 10;
  return {lo - gap, hi + gap};
}

// A point value v compared with the search value (value `x`, precision range [lo, hi)).
std::string PointClause(Prefix p, const std::string& col, double x, double lo, double hi,
                        std::vector<Param>& params) {
  switch (p) {
    case Prefix::kEq:
      params.emplace_back(lo);
      params.emplace_back(hi);
      return "(" + col + " >= ? AND " + col + " < ?)";
    case Prefix::kNe:
      params.emplace_back(lo);
      params.emplace_back(hi);
      return "NOT (" + col + " >= ? AND " + col + " < ?)";
    case Prefix::kGt:
    case Prefix::kSa:
      params.emplace_back(x);
      return "(" + col + " > ?)";
    case Prefix::kLt:
    case Prefix::kEb:
      params.emplace_back(x);
      return "(" + col + " < ?)";
    case Prefix::kGe:
      params.emplace_back(x);
      return "(" + col + " >= ?)";
    case Prefix::kLe:
      params.emplace_back(x);
      return "(" + col + " <= ?)";
    case Prefix::kAp: {
      double w = std::fabs(x) * 0.1;
      params.emplace_back(x - w);
      params.emplace_back(x + w);
      return "(" + col + " >= ? AND " + col + " <= ?)";
    }
  }
  return "FALSE";
}

}  // namespace

std::string JsonArray(const std::vector<std::string>& values) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartArray();
  for (const auto& v : values) w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  w.EndArray();
  return {sb.GetString(), sb.GetSize()};
}

std::string SearchSql::NextAlias() { return "a" + std::to_string(++alias_counter_); }

Result<std::string> SearchSql::ValueClause(const fhir::SearchCriterion& c,
                                           const fhir::SearchValue& v, std::string_view type,
                                           std::vector<Param>& params) {
  switch (c.type) {
    case SearchParamType::kString:
      if (c.modifier == Modifier::kExact) {
        params.emplace_back(v.raw);
        return std::string("raw = ?");
      }
      if (c.modifier == Modifier::kContains) {
        params.emplace_back("%" + EscapeLike(v.text) + "%");
        return std::string("value LIKE ? ESCAPE '\\'");
      }
      return PrefixRange("value", v.text, params);
    case SearchParamType::kToken:
    case SearchParamType::kReference:
      if (c.type == SearchParamType::kToken || c.modifier == Modifier::kIdentifier) {
        if (c.modifier == Modifier::kText) {
          return PrefixRange("value", v.text, params);
        }
        if (!v.has_system) {
          params.emplace_back(v.code);
          return std::string("code = ?");
        }
        if (v.code.empty()) {
          params.emplace_back(v.system);
          return std::string("system = ?");
        }
        params.emplace_back(v.code);
        params.emplace_back(v.system);
        return std::string("(code = ? AND system = ?)");
      }
      // Reference.
      if (!v.url.empty()) {
        params.emplace_back(v.url);
        return std::string("url = ?");
      }
      if (!v.ref_type.empty()) {
        params.emplace_back(v.ref_id);
        params.emplace_back(v.ref_type);
        return std::string("(ref_id = ? AND ref_type = ?)");
      }
      params.emplace_back(v.ref_id);
      return std::string("ref_id = ?");
    case SearchParamType::kDate: {
      auto [lo, hi] = v.prefix == Prefix::kAp ? ApproximateRange(v.lo_ms, v.hi_ms, now_ms_)
                                              : std::make_pair(v.lo_ms, v.hi_ms);
      return RangeClause(v.prefix, "lo", "hi", lo, hi, params);
    }
    case SearchParamType::kNumber:
      return PointClause(v.prefix, "value", v.number, v.lo, v.hi, params);
    case SearchParamType::kQuantity: {
      if (v.has_canonical) {
        params.emplace_back(v.canonical_unit);
        std::string canon = PointClause(v.prefix, "cvalue", v.canonical_number, v.canonical_lo,
                                        v.canonical_hi, params);
        params.emplace_back(v.code);
        std::string plain = PointClause(v.prefix, "value", v.number, v.lo, v.hi, params);
        return "((cunit = ? AND " + canon + ") OR (cunit IS NULL AND code = ? AND " + plain + "))";
      }
      std::string unit;
      if (!v.code.empty()) {
        params.emplace_back(v.code);
        params.emplace_back(v.code);
        unit = "(code = ? OR unit = ?) AND ";
        if (!v.system.empty()) {
          params.emplace_back(v.system);
          unit += "system = ? AND ";
        }
      }
      return "(" + unit + PointClause(v.prefix, "value", v.number, v.lo, v.hi, params) + ")";
    }
    case SearchParamType::kUri:
      if (c.modifier == Modifier::kBelow) {
        return PrefixRange("value", v.url, params);
      }
      if (c.modifier == Modifier::kAbove) {
        params.emplace_back(v.url);
        return std::string("(substr(?, 1, length(value)) = value)");
      }
      params.emplace_back(v.url);
      return std::string("value = ?");
    case SearchParamType::kComposite: {
      if (v.components.size() != 2 || c.param == nullptr || c.param->components.size() != 2) {
        return InvalidArgument("composite value needs two components");
      }
      const auto& model = fhir::Model::R4();
      const fhir::SearchParamDef* second =
          model.FindSearchParamByUrl(c.param->components[1].definition);
      if (second == nullptr) return Internal("composite component without definition");
      const fhir::SearchValue& a = v.components[0];
      const fhir::SearchValue& b = v.components[1];
      std::string sql = "(";
      if (!a.ref_id.empty() || !a.url.empty()) {
        params.emplace_back(a.url.empty() ? a.ref_id : a.url);
        sql += "code1 = ?";
        if (!a.ref_type.empty()) {
          params.emplace_back(a.ref_type);
          sql += " AND system1 = ?";
        }
      } else {
        params.emplace_back(a.code);
        sql += "code1 = ?";
        if (a.has_system) {
          params.emplace_back(a.system);
          sql += " AND system1 = ?";
        }
      }
      switch (second->type) {
        case SearchParamType::kToken:
          params.emplace_back(b.code);
          sql += " AND code2 = ?";
          if (b.has_system) {
            params.emplace_back(b.system);
            sql += " AND system2 = ?";
          }
          break;
        case SearchParamType::kString:
          sql += " AND " + PrefixRange("code2", b.text, params);
          break;
        case SearchParamType::kDate:
          sql += " AND " + RangeClause(b.prefix, "lo2", "hi2", static_cast<double>(b.lo_ms),
                                       static_cast<double>(b.hi_ms), params);
          break;
        case SearchParamType::kQuantity:
          if (b.has_canonical) {
            params.emplace_back(b.canonical_unit);
            std::string canon = PointClause(b.prefix, "cvalue2", b.canonical_number, b.canonical_lo,
                                            b.canonical_hi, params);
            params.emplace_back(b.code);
            std::string plain = PointClause(b.prefix, "lo2", b.number, b.lo, b.hi, params);
            sql += " AND ((cunit2 = ? AND " + canon + ") OR (cunit2 IS NULL AND code2 = ? AND " +
                   plain + "))";
          } else {
            if (!b.code.empty()) {
              params.emplace_back(b.code);
              sql += " AND code2 = ?";
            }
            sql += " AND " + PointClause(b.prefix, "lo2", b.number, b.lo, b.hi, params);
          }
          break;
        default:
          return Status(StatusCode::kNotImplemented, "composite component type not supported");
      }
      sql += ")";
      return sql;
    }
    default:
      return Status(StatusCode::kNotImplemented, "search parameter type not supported");
  }
}

Result<std::string> SearchSql::Criterion(const fhir::SearchCriterion& c, std::string_view type,
                                         const std::string& alias, std::vector<Param>& params,
                                         bool drive) {
  if (c.special == SpecialParam::kId) {
    std::string sql = "(";
    for (std::size_t i = 0; i < c.values.size(); ++i) {
      if (i) sql += " OR ";
      sql += alias + ".id = ?";
      params.emplace_back(c.values[i].raw);
    }
    sql += ")";
    return c.modifier == Modifier::kNot ? "NOT " + sql : sql;
  }
  if (c.special == SpecialParam::kLastUpdated) {
    std::string sql = "(";
    for (std::size_t i = 0; i < c.values.size(); ++i) {
      if (i) sql += " OR ";
      const auto& v = c.values[i];
      auto [lo, hi] = v.prefix == Prefix::kAp ? ApproximateRange(v.lo_ms, v.hi_ms, now_ms_)
                                              : std::make_pair(v.lo_ms, v.hi_ms);
      sql += RangeClause(v.prefix, "(" + alias + ".last_updated / 1000)",
                         "(" + alias + ".last_updated / 1000)", lo, hi, params);
    }
    sql += ")";
    return sql;
  }
  if (c.reverse_chain) {
    const auto& rc = *c.reverse_chain;
    std::int64_t ref_sp = sp_(rc.source_type, rc.reference_param->code);
    if (ref_sp < 0) return InvalidArgument("_has: unknown reference parameter");
    std::string s = NextAlias();
    std::vector<Param> inner_params;
    SUND_ASSIGN_OR_RETURN(std::string inner,
                          Criterion(*rc.criterion, rc.source_type, s, inner_params));
    std::string x = NextAlias();
    params.emplace_back(ref_sp);
    params.emplace_back(std::string(type));
    params.emplace_back(rc.source_type);
    params.insert(params.end(), inner_params.begin(), inner_params.end());
    return alias + ".id IN (SELECT " + x + ".ref_id FROM idx_reference " + x + " WHERE " + x +
           ".sp = ? AND " + x + ".ref_type = ? AND " + x + ".rid IN (SELECT " + s +
           ".rid FROM resource " + s + " WHERE " + Hint(dialect_) + s + ".type = ? AND " + s +
           ".deleted = 0 AND " + inner + "))";
  }
  if (c.param == nullptr) return Internal("search criterion without parameter");
  std::int64_t sp = sp_(type, c.param->code);
  if (sp < 0 && !type.empty()) {
    return InvalidArgument("search parameter '" + c.param->code + "' does not apply to " +
                           std::string(type));
  }
  if (type.empty() && (c.chain || c.modifier == Modifier::kMissing)) {
    return Status(StatusCode::kNotImplemented,
                  "chains and :missing need a resource type (search on /fhir/Type)");
  }
  if (c.chain) {
    const auto& ch = *c.chain;
    std::string x = NextAlias();
    std::string t = NextAlias();
    std::vector<Param> inner_params;
    SUND_ASSIGN_OR_RETURN(std::string inner,
                          Criterion(*ch.criterion, ch.target_type, t, inner_params));
    params.emplace_back(sp);
    params.emplace_back(ch.target_type);
    params.emplace_back(ch.target_type);
    params.insert(params.end(), inner_params.begin(), inner_params.end());
    return alias + ".rid IN (SELECT " + x + ".rid FROM idx_reference " + x + " JOIN resource " + t +
           " ON " + t + ".id = " + x + ".ref_id AND " + t + ".type = " + x + ".ref_type WHERE " +
           x + ".sp = ? AND " + x + ".ref_type = ? AND " + t + ".type = ? AND " + t +
           ".deleted = 0 AND " + inner + ")";
  }
  const char* table = TableFor(c.type);
  if (c.type == SearchParamType::kToken && c.modifier == Modifier::kText) table = "idx_token_text";
  if (c.type == SearchParamType::kReference && c.modifier == Modifier::kIdentifier) {
    table = "idx_token";
  }
  if (table == nullptr) {
    return Status(StatusCode::kNotImplemented, "search on '" + c.param->code + "' (" +
                                                   std::string(fhir::SearchParamTypeName(c.type)) +
                                                   ") is not supported yet");
  }
  if (c.modifier == Modifier::kMissing) {
    bool missing = !c.values.empty() && c.values[0].missing;
    params.emplace_back(sp);
    // A reference given only by identifier is indexed in idx_token, a CodeableConcept with
    // only text in idx_token_text: the element is present all the same.
    const char* also = c.type == SearchParamType::kReference ? "idx_token"
                       : c.type == SearchParamType::kToken   ? "idx_token_text"
                                                             : nullptr;
    std::string sql = "SELECT rid FROM " + std::string(table) + " WHERE sp = ?";
    if (also != nullptr) {
      params.emplace_back(sp);
      sql += " UNION ALL SELECT rid FROM " + std::string(also) + " WHERE sp = ?";
    }
    return alias + ".rid " + (missing ? "NOT IN" : "IN") + " (" + sql + ")";
  }
  std::string alts;
  std::vector<Param> alt_params;
  for (std::size_t i = 0; i < c.values.size(); ++i) {
    SUND_ASSIGN_OR_RETURN(std::string clause, ValueClause(c, c.values[i], type, alt_params));
    if (i) alts += " OR ";
    alts += clause;
  }
  if (c.type == SearchParamType::kReference && !c.type_modifier.empty()) {
    alts = "(" + alts + ") AND ref_type = ?";
    alt_params.emplace_back(c.type_modifier);
  }
  // Across all types (system-level search), the parameter is every type's row of that code.
  std::string sp_clause = "sp = ?";
  if (type.empty()) {
    sp_clause = "sp IN (SELECT sp FROM search_param WHERE code = ?)";
    params.emplace_back(c.param->code);
  } else {
    params.emplace_back(sp);
  }
  params.insert(params.end(), alt_params.begin(), alt_params.end());
  bool negate = c.modifier == Modifier::kNot;
  if (!drive && !type.empty()) {
    // "+sp": find the candidate's rows through the rid index, not the parameter's whole range.
    std::string exists_clause =
        sp_clause == "sp = ?" ? std::string(Hint(dialect_)) + "sp = ?" : sp_clause;
    return std::string(negate ? "NOT EXISTS" : "EXISTS") + " (SELECT 1 FROM " + table +
           " WHERE rid = " + alias + ".rid AND " + exists_clause + " AND (" + alts + "))";
  }
  return alias + ".rid " + (negate ? "NOT IN" : "IN") + " (SELECT rid FROM " + table + " WHERE " +
         sp_clause + " AND (" + alts + "))";
}

std::string CompartmentClause(Dialect d, std::string_view alias, const std::string& patient,
                              std::vector<Param>& params, bool per_candidate) {
  std::string a(alias);
  std::string h = Hint(d);
  params.emplace_back(patient);
  params.emplace_back(patient);
  if (per_candidate) {
    // The candidate's few reference rows through the rid index (the unary plus keeps SQLite
    // from scanning all of the patient's references instead), each checked against the set.
    return "((" + a + ".type = 'Patient' AND " + a + ".id = ?) OR EXISTS (SELECT 1 FROM " +
           "idx_reference cx WHERE cx.rid = " + a + ".rid AND " + h + "cx.ref_id = ? AND " + h +
           "cx.ref_type = 'Patient' AND " + h + "cx.sp IN (SELECT sp FROM compartment_sp)))";
  }
  return "((" + a + ".type = 'Patient' AND " + a + ".id = ?) OR " + a +
         ".rid IN (SELECT cx.rid FROM idx_reference cx WHERE cx.ref_id = ? AND cx.ref_type = "
         "'Patient' AND cx.sp IN (SELECT sp FROM compartment_sp)))";
}

std::string ConsentClause(Dialect d, std::string_view alias,
                          const fhir::SearchQuery::ConsentFilter& filter,
                          std::vector<Param>& params) {
  std::string a(alias);
  std::string h = Hint(d);
  std::string list = JsonList(d);
  // A Patient that is not open: listed (closed patients) or not listed (open patients).
  std::string closed = filter.hidden_by_default ? " NOT IN " : " IN ";
  std::string patients = JsonArray(filter.patients);
  params.emplace_back(patients);
  params.emplace_back(patients);
  std::string sql = "NOT (" + a + ".type = 'Patient' AND " + a + ".id" + closed + list +
                    ") AND NOT EXISTS (SELECT 1 FROM idx_reference cy WHERE cy.rid = " + a +
                    ".rid AND " + h + "cy.ref_type = 'Patient' AND " + h +
                    "cy.sp IN (SELECT sp FROM compartment_sp) AND " + h + "cy.ref_id" + closed +
                    list + ")";
  if (!filter.hidden.empty()) {
    params.emplace_back(JsonArray(filter.hidden));
    sql += " AND (" + a + ".type || '/' || " + a + ".id) NOT IN " + list;
  }
  return "(" + sql + ")";
}

std::vector<std::int64_t> CompartmentSpIds(const SpLookup& lookup) {
  const auto& model = fhir::Model::R4();
  std::vector<std::int64_t> out;
  for (const auto& type : model.PatientCompartmentTypes()) {
    for (const auto& code : model.PatientCompartmentParams(type)) {
      std::int64_t sp = lookup(type, code);
      if (sp >= 0) out.push_back(sp);
    }
  }
  return out;
}

Result<SqlFragment> SearchSql::Where(const fhir::SearchQuery& q) {
  SqlFragment f;
  if (!q.type.empty()) {
    // With criteria, their (selective) index lookups should drive the query: the unary plus
    // keeps SQLite from scanning every resource of the type through the type index instead.
    bool driven = false;
    bool by_id = false;
    for (const auto& c : q.criteria) {
      if (c.special != SpecialParam::kLastUpdated && c.modifier != Modifier::kNot &&
          c.modifier != Modifier::kMissing) {
        driven = true;
      }
      // _id: the (type, id) key finds the rows; it needs the type term usable.
      if (c.special == SpecialParam::kId && c.modifier != Modifier::kNot) by_id = true;
    }
    if (by_id) driven = false;
    f.sql = std::string(driven ? Hint(dialect_) : "") + "r.type = ? AND r.deleted = 0";
    f.params.emplace_back(q.type);
  } else {
    f.sql = "r.deleted = 0";
  }
  // One criterion drives (its IN list is the candidate set); the others are checked per
  // candidate. Equality-like criteria (token, reference, uri, string, composite) are usually far
  // more selective than ranges (date, number, quantity), so the first of those drives.
  auto range_like = [](const fhir::SearchCriterion& c) {
    return c.type == SearchParamType::kDate || c.type == SearchParamType::kNumber ||
           c.type == SearchParamType::kQuantity;
  };
  auto plain = [](const fhir::SearchCriterion& c) {
    return c.special == SpecialParam::kNone && !c.chain && !c.reverse_chain &&
           c.modifier != Modifier::kNot && c.modifier != Modifier::kMissing;
  };
  int driver = -1;
  for (int pass = 0; pass < 2 && driver < 0; ++pass) {
    for (std::size_t i = 0; i < q.criteria.size(); ++i) {
      const auto& c = q.criteria[i];
      if (plain(c) && (pass == 1 || !range_like(c))) {
        driver = static_cast<int>(i);
        break;
      }
    }
  }
  for (std::size_t i = 0; i < q.criteria.size(); ++i) {
    const auto& c = q.criteria[i];
    bool drive = driver < 0 || static_cast<int>(i) == driver || !plain(c);
    SUND_ASSIGN_OR_RETURN(std::string clause, Criterion(c, q.type, "r", f.params, drive));
    f.sql += " AND ";
    f.sql += clause;
  }
  if (!q.compartment_patient.empty()) {
    // Other criteria (an _id, a code, a patient reference) narrow the candidates first; without
    // any, the patient's references are the candidates.
    f.sql += " AND " +
             CompartmentClause(dialect_, "r", q.compartment_patient, f.params, !q.criteria.empty());
  }
  if (q.consent.active) f.sql += " AND " + ConsentClause(dialect_, "r", q.consent, f.params);
  if (!q.access_any_of.empty()) {
    std::string any;
    for (const auto& group : q.access_any_of) {
      std::string all = "TRUE";
      for (const auto& c : group) {
        SUND_ASSIGN_OR_RETURN(std::string clause, Criterion(c, q.type, "r", f.params, true));
        all += " AND " + clause;
      }
      any += (any.empty() ? "(" : " OR (") + all + ")";
    }
    f.sql += " AND (" + any + ")";
  }
  return f;
}

Result<SqlFragment> SearchSql::CriteriaOnly(std::string_view type,
                                            const std::vector<fhir::SearchCriterion>& criteria) {
  SqlFragment f;
  f.sql = "TRUE";
  for (const auto& c : criteria) {
    SUND_ASSIGN_OR_RETURN(std::string clause, Criterion(c, type, "r", f.params, false));
    f.sql += " AND " + clause;
  }
  return f;
}

Result<SqlFragment> SearchSql::OrderBy(const fhir::SearchQuery& q) {
  SqlFragment f;
  f.sql = "ORDER BY ";
  for (const auto& key : q.sort) {
    const char* dir = key.descending ? " DESC" : " ASC";
    if (key.special == SpecialParam::kId) {
      f.sql += std::string("r.id") + dir + ", ";
      continue;
    }
    if (key.special == SpecialParam::kLastUpdated) {
      f.sql += std::string("r.last_updated") + dir + ", ";
      continue;
    }
    std::int64_t sp = sp_(q.type, key.param->code);
    const char* table = TableFor(key.param->type);
    if (sp < 0 || table == nullptr) {
      return InvalidArgument("cannot sort by '" + key.param->code + "'");
    }
    std::string col;
    switch (key.param->type) {
      case SearchParamType::kDate:
        col = key.descending ? "MAX(hi)" : "MIN(lo)";
        break;
      case SearchParamType::kToken:
        col = key.descending ? "MAX(code)" : "MIN(code)";
        break;
      case SearchParamType::kReference:
        col = key.descending ? "MAX(ref_id)" : "MIN(ref_id)";
        break;
      default:
        col = key.descending ? "MAX(value)" : "MIN(value)";
        break;
    }
    // "+sp": look the row up by rid (few rows), never scan the parameter's whole index.
    f.sql += "(SELECT " + col + " FROM " + table + " WHERE rid = r.rid AND " + Hint(dialect_) +
             "sp = ?)" + dir + " NULLS LAST, ";
    f.params.emplace_back(sp);
  }
  f.sql += "r.rid";
  return f;
}

}  // namespace sund::storage::sql
