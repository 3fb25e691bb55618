#include "synth/model.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/json.h"
#include "core/json_bounded.h"
#include "synth/dp.h"
#include "synth/internal/fit.h"

namespace sund::synth {
namespace {

using internal::Codes;

// Each column's values parsed (NaN for an empty cell), clamped to numeric ranges.
Result<std::vector<std::vector<double>>> ParseColumns(const CsvTable& table, const Schema& schema) {
  SUND_ASSIGN_OR_RETURN(std::vector<std::size_t> map, MapColumns(table, schema));
  std::vector<std::vector<double>> out(schema.columns.size());
  for (std::size_t c = 0; c < schema.columns.size(); ++c) {
    const Column& col = schema.columns[c];
    auto& vals = out[c];
    vals.resize(table.rows.size());
    std::unordered_map<std::string_view, double> index;
    if (col.kind == ColumnKind::kCategorical) {
      for (std::size_t i = 0; i < col.categories.size(); ++i) {
        index.emplace(col.categories[i], static_cast<double>(i));
      }
    }
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      std::string_view text = table.rows[r][map[c]];
      auto line = [&] { return "line " + std::to_string(table.lines[r]) + ", "; };
      if (text.empty()) {
        if (!col.missing) {
          return InvalidArgument(line() + "column '" + col.name +
                                 "': an empty value, but the schema says the column has none "
                                 "(set \"missing\": true)");
        }
        vals[r] = NAN;
        continue;
      }
      if (col.kind == ColumnKind::kCategorical) {
        auto it = index.find(text);
        if (it == index.end()) {
          return InvalidArgument(line() + "column '" + col.name +
                                 "': a value that is not among the schema's categories");
        }
        vals[r] = it->second;
        continue;
      }
      auto v = ParseValue(col, text);
      if (!v.ok()) return InvalidArgument(line() + v.status().message());
      vals[r] = std::clamp(**v, col.lower, col.upper);
    }
  }
  return out;
}

std::size_t Code(const Column& col, const ColumnCoding& coding, double v) {
  if (std::isnan(v)) return coding.base;
  switch (col.kind) {
    case ColumnKind::kCategorical:
      return static_cast<std::size_t>(v);
    default:
      if (col.PerValueBins()) return static_cast<std::size_t>(v - col.lower);
      return static_cast<std::size_t>(
          std::upper_bound(coding.edges.begin(), coding.edges.end(), v) - coding.edges.begin());
  }
}

// Parsed values (ParseColumns) as codes under a coding.
Codes ToCodes(const std::vector<std::vector<double>>& vals, const Schema& schema,
              const std::vector<ColumnCoding>& coding) {
  Codes codes(vals.size());
  for (std::size_t c = 0; c < vals.size(); ++c) {
    codes[c].resize(vals[c].size());
    for (std::size_t r = 0; r < vals[c].size(); ++r) {
      codes[c][r] = static_cast<std::uint32_t>(Code(schema.columns[c], coding[c], vals[c][r]));
    }
  }
  return codes;
}

// Bin edges from quantiles (private for MST, exact for the baselines).
ColumnCoding MakeCoding(const Column& col, const std::vector<double>& vals, bool priv, int bins,
                        double rho, Rng& rng) {
  ColumnCoding cc;
  cc.missing = col.missing;
  if (col.kind == ColumnKind::kCategorical) {
    cc.base = col.categories.size();
    return cc;
  }
  if (col.PerValueBins()) {
    cc.base = static_cast<std::size_t>(col.upper - col.lower + 1);
    return cc;
  }
  std::vector<double> sorted;
  for (double v : vals) {
    if (!std::isnan(v)) sorted.push_back(v);
  }
  std::sort(sorted.begin(), sorted.end());
  std::vector<double> qs;
  for (int j = 1; j < bins; ++j) qs.push_back(static_cast<double>(j) / bins);
  std::vector<double> edges;
  if (priv) {
    int levels = QuantileLevels(qs.size());
    edges = RecursiveQuantiles(sorted, qs, col.lower, col.upper, std::sqrt(8 * rho / levels), rng);
  } else if (!sorted.empty()) {
    for (double q : qs) {
      edges.push_back(
          sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(q * sorted.size()))]);
    }
  }
  std::sort(edges.begin(), edges.end());
  bool whole = col.kind != ColumnKind::kContinuous;
  for (double& e : edges) {
    // Whole-number kinds: edges between two numbers, so that bins hold whole values.
    if (whole) e = std::floor(e) + 0.5;
  }
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  // Edges outside the range (and, for continuous columns, on its ends) cut nothing.
  std::erase_if(edges, [&](double e) {
    return whole ? e < col.lower || e > col.upper : !(e > col.lower && e < col.upper);
  });
  cc.edges = std::move(edges);
  cc.base = cc.edges.size() + 1;
  return cc;
}

void FitIndependent(const Codes& codes, Model& m) {
  std::size_t d = codes.size();
  m.parent.assign(d, -1);
  m.order.clear();
  m.tables.assign(d, {});
  for (std::size_t c = 0; c < d; ++c) {
    m.order.push_back(static_cast<int>(c));
    auto& t = m.tables[c];
    t.assign(m.coding[c].size(), 0.0);
    for (auto v : codes[c]) t[v] += 1;
    double n = static_cast<double>(codes[c].size());
    for (double& x : t) x /= n;
  }
}

void FitCopula(const Codes& codes, Model& m) {
  std::size_t d = codes.size(), n = codes.empty() ? 0 : codes[0].size();
  m.cdf.assign(d, {});
  Eigen::MatrixXd z(n, d);
  for (std::size_t c = 0; c < d; ++c) {
    std::vector<double> p(m.coding[c].size(), 0.0);
    for (auto v : codes[c]) p[v] += 1;
    auto& f = m.cdf[c];
    f.resize(p.size());
    double acc = 0;
    std::vector<double> score(p.size());
    for (std::size_t j = 0; j < p.size(); ++j) {
      double lo = acc / n;
      acc += p[j];
      f[j] = acc / n;
      score[j] = internal::NormalQuantile(std::clamp((lo + f[j]) / 2, 1e-9, 1 - 1e-9));
    }
    f.back() = 1.0;
    for (std::size_t r = 0; r < n; ++r) z(r, c) = score[codes[c][r]];
  }
  Eigen::RowVectorXd mean = z.colwise().mean();
  z.rowwise() -= mean;
  Eigen::MatrixXd cov = (z.transpose() * z) / std::max<double>(1, n - 1);
  Eigen::VectorXd sd = cov.diagonal().cwiseSqrt();
  m.correlation.assign(d * d, 0.0);
  for (std::size_t i = 0; i < d; ++i) {
    for (std::size_t j = 0; j < d; ++j) {
      double r = (sd(i) > 0 && sd(j) > 0) ? cov(i, j) / (sd(i) * sd(j)) : (i == j ? 1.0 : 0.0);
      m.correlation[i * d + j] = i == j ? 1.0 : r;
    }
  }
}

// --- JSON --------------------------------------------------------------------------------

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void Numbers(Writer& w, const std::vector<double>& v) {
  w.StartArray();
  for (double x : v) w.Double(x);
  w.EndArray();
}

Result<std::vector<double>> ReadNumbers(const rapidjson::Value* v, std::string_view what) {
  std::vector<double> out;
  if (v == nullptr || !v->IsArray()) {
    return InvalidArgument("model file: " + std::string(what) + " is not an array");
  }
  out.reserve(v->Size());
  for (const auto& x : v->GetArray()) {
    if (!x.IsNumber() || !std::isfinite(x.GetDouble())) {
      return InvalidArgument("model file: " + std::string(what) + " holds a non-number");
    }
    out.push_back(x.GetDouble());
  }
  return out;
}

Status Bad(std::string_view what) { return InvalidArgument("model file: " + std::string(what)); }

}  // namespace

namespace internal {

std::size_t CompressedSize(const Model& model, std::size_t c) {
  if (model.kept.empty()) return model.coding[c].size();
  std::size_t k = model.kept[c].size();
  return k + (k < model.coding[c].size() ? 1 : 0);
}

double NormalQuantile(double p) {
  // Newton's method on the normal CDF from a logistic-shaped start; exact to ~1e-12 in (0, 1).
  double x = std::log(p / (1 - p)) / 1.702;
  for (int i = 0; i < 50; ++i) {
    double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
    double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    if (pdf < 1e-300) break;
    double step = (cdf - p) / pdf;
    x -= std::clamp(step, -1.0, 1.0);
    if (std::fabs(step) < 1e-13) break;
  }
  return x;
}

}  // namespace internal

std::string_view MethodName(Method m) {
  switch (m) {
    case Method::kMst:
      return "mst";
    case Method::kIndependent:
      return "independent";
    case Method::kCopula:
      return "copula";
  }
  return "mst";
}

std::optional<Method> ParseMethod(std::string_view name) {
  for (auto m : {Method::kMst, Method::kIndependent, Method::kCopula}) {
    if (MethodName(m) == name) return m;
  }
  return std::nullopt;
}

Result<std::vector<std::vector<std::uint32_t>>> EncodeTable(
    const CsvTable& table, const Schema& schema, const std::vector<ColumnCoding>& coding) {
  SUND_ASSIGN_OR_RETURN(auto vals, ParseColumns(table, schema));
  return ToCodes(vals, schema, coding);
}

Result<Model> Fit(const CsvTable& table, const Schema& schema, const FitOptions& options) {
  if (table.rows.empty()) return InvalidArgument("the table has no rows");
  if (schema.columns.empty()) return InvalidArgument("the schema has no columns");
  bool priv = options.method == Method::kMst;
  if (priv) {
    if (!(options.epsilon > 0 && options.epsilon <= 100)) {
      return InvalidArgument("--epsilon must be above 0 (and at most 100)");
    }
    if (!(options.delta > 0 && options.delta < 1)) {
      return InvalidArgument("--delta must be between 0 and 1 (e.g. 1e-6; below 1/rows)");
    }
  }
  SUND_ASSIGN_OR_RETURN(auto vals, ParseColumns(table, schema));
  Model m;
  m.method = options.method;
  m.schema = schema;
  Rng rng(options.seed ? *options.seed : std::random_device{}());
  Privacy& p = m.privacy;
  p.is_private = priv;
  p.domain_from_data = schema.from_data;
  p.seed = options.seed;
  double rho_left = 0;
  if (priv) {
    p.epsilon = options.epsilon;
    p.delta = options.delta;
    p.rho_budget = CdpRho(options.epsilon, options.delta);
    rho_left = p.rho_budget;
  }
  std::size_t binned = 0;
  for (const auto& c : schema.columns) {
    if (c.kind != ColumnKind::kCategorical && !c.PerValueBins()) ++binned;
  }
  double rho_quantiles = 0;
  double noisy_rows = static_cast<double>(table.rows.size());
  if (priv && binned > 0) {
    // How many bins the quantile budget can place: a noisy row count (1% of the budget) first.
    double rho_count = 0.01 * p.rho_budget;
    double sigma = GaussianSigma(rho_count);
    noisy_rows += sigma * std::normal_distribution<double>(0.0, 1.0)(rng);
    p.steps.push_back({"row count", "Gaussian noise sigma " + std::to_string(sigma), rho_count});
    rho_quantiles = options.quantile_share * p.rho_budget;
    rho_left -= rho_quantiles + rho_count;
  }
  if (options.progress) options.progress("binning", 0);
  for (std::size_t c = 0; c < schema.columns.size(); ++c) {
    const Column& col = schema.columns[c];
    bool quantiles = col.kind != ColumnKind::kCategorical && !col.PerValueBins();
    double rho_c = quantiles ? rho_quantiles / static_cast<double>(binned) : 0;
    int bins = col.bins;
    if (priv && quantiles) {
      // As many bins as the 1-way measurement can tell apart: a bin should hold about 3 sigma
      // of that measurement's noise (MST merges smaller noisy counts anyway).
      std::size_t d = schema.columns.size();
      double rho1 = d >= 3 ? rho_left / 3 : (d == 1 ? rho_left : rho_left / 2);
      double sigma1 = GaussianSigma(rho1 / static_cast<double>(d));
      double k = std::max(0.0, noisy_rows) / (3 * sigma1);
      bins = static_cast<int>(std::clamp(k, 2.0, static_cast<double>(col.bins)));
    }
    m.coding.push_back(MakeCoding(col, vals[c], priv, bins, rho_c, rng));
    if (priv && quantiles) {
      p.steps.push_back({"quantiles",
                         col.name + ": " + std::to_string(bins - 1) +
                             " quantiles by recursive exponential mechanisms (" +
                             std::to_string(QuantileLevels(bins - 1)) + " levels)",
                         rho_c});
    }
  }
  Codes codes = ToCodes(vals, schema, m.coding);
  vals.clear();
  m.rows = static_cast<double>(table.rows.size());
  switch (options.method) {
    case Method::kMst:
      SUND_RETURN_IF_ERROR(internal::FitMst(codes, rho_left, options, rng, m));
      break;
    case Method::kIndependent:
      FitIndependent(codes, m);
      break;
    case Method::kCopula:
      FitCopula(codes, m);
      break;
  }
  p.rho_spent = 0;
  for (const auto& s : p.steps) p.rho_spent += s.rho;
  if (options.progress) options.progress("done", 1);
  return m;
}

std::string ModelToJson(const Model& m) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.SetMaxDecimalPlaces(10);
  w.StartObject();
  w.Key("format");
  Str(w, "sund-synth-model");
  w.Key("version");
  w.Int(1);
  w.Key("method");
  Str(w, MethodName(m.method));
  w.Key("rows");
  w.Double(std::round(m.rows));
  w.Key("privacy");
  w.StartObject();
  w.Key("differentially_private");
  w.Bool(m.privacy.is_private);
  if (m.privacy.is_private) {
    w.Key("epsilon");
    w.Double(m.privacy.epsilon);
    w.Key("delta");
    w.Double(m.privacy.delta);
    w.Key("accounting");
    Str(w, "zCDP (Bun & Steinke 2016); (epsilon, delta) by Canonne, Kamath & Steinke 2020");
    w.Key("rho_budget");
    w.Double(m.privacy.rho_budget);
    w.Key("rho_spent");
    w.Double(m.privacy.rho_spent);
    w.Key("epsilon_spent");
    w.Double(CdpEpsilon(m.privacy.rho_spent, m.privacy.delta));
    w.Key("steps");
    w.StartArray();
    for (const auto& s : m.privacy.steps) {
      w.StartObject();
      w.Key("step");
      Str(w, s.step);
      w.Key("detail");
      Str(w, s.detail);
      w.Key("rho");
      w.Double(s.rho);
      w.EndObject();
    }
    w.EndArray();
  }
  w.Key("domain");
  Str(w, m.privacy.domain_from_data
             ? "inferred from the data: categories and ranges are not protected"
             : "from a schema file (public)");
  w.Key("seed");
  if (m.privacy.seed) {
    w.Uint64(*m.privacy.seed);
  } else {
    w.Null();
  }
  w.EndObject();
  w.Key("notes");
  w.StartObject();
  for (const auto& [k, v] : m.notes) {
    Str(w, k);
    Str(w, v);
  }
  w.EndObject();
  std::string schema = SchemaToJson(m.schema, /*pretty=*/false);
  w.Key("schema");
  w.RawValue(schema.data(), schema.size(), rapidjson::kObjectType);
  if (!m.cohort.empty()) {
    w.Key("cohort");
    w.RawValue(m.cohort.data(), m.cohort.size(), rapidjson::kObjectType);
  }
  w.Key("order");
  w.StartArray();
  for (int c : m.order) Str(w, m.schema.columns[c].name);
  w.EndArray();
  w.Key("columns");
  w.StartArray();
  for (std::size_t c = 0; c < m.coding.size(); ++c) {
    const auto& cc = m.coding[c];
    w.StartObject();
    w.Key("name");
    Str(w, m.schema.columns[c].name);
    w.Key("codes");
    w.Uint64(cc.base);
    w.Key("missing");
    w.Bool(cc.missing);
    if (!cc.edges.empty()) {
      w.Key("edges");
      Numbers(w, cc.edges);
    }
    if (!m.kept.empty()) {
      w.Key("kept");
      w.StartArray();
      for (auto k : m.kept[c]) w.Uint(k);
      w.EndArray();
      if (c < m.rest_weights.size() && !m.rest_weights[c].empty()) {
        w.Key("rest_weights");
        Numbers(w, m.rest_weights[c]);
      }
    }
    if (!m.parent.empty()) {
      w.Key("parent");
      if (m.parent[c] >= 0) {
        Str(w, m.schema.columns[m.parent[c]].name);
      } else {
        w.Null();
      }
      w.Key("table");
      Numbers(w, m.tables[c]);
    }
    if (!m.cdf.empty()) {
      w.Key("cdf");
      Numbers(w, m.cdf[c]);
    }
    w.EndObject();
  }
  w.EndArray();
  if (!m.correlation.empty()) {
    w.Key("correlation");
    Numbers(w, m.correlation);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

Result<Model> ParseModel(std::string_view text) {
  rapidjson::Document doc;
  json::ParseBounded(doc, text);
  if (doc.HasParseError() || !doc.IsObject() ||
      json::GetString(doc, "format") != "sund-synth-model") {
    return Bad("not a sund synth model (JSON with \"format\": \"sund-synth-model\")");
  }
  const auto* version = json::Find(doc, "version");
  if (version == nullptr || !version->IsInt() || version->GetInt() != 1) {
    return Bad("unsupported version (this sund reads version 1)");
  }
  Model m;
  auto method = ParseMethod(json::GetString(doc, "method"));
  if (!method) return Bad("unknown \"method\"");
  m.method = *method;
  const auto* schema = json::Find(doc, "schema");
  if (schema == nullptr || !schema->IsObject()) return Bad("no \"schema\"");
  {
    rapidjson::StringBuffer sb;
    Writer sw(sb);
    schema->Accept(sw);
    auto s = ParseSchema(std::string_view(sb.GetString(), sb.GetSize()));
    if (!s.ok()) return Bad(s.status().message());
    m.schema = std::move(*s);
  }
  if (const auto* cohort = json::Find(doc, "cohort"); cohort != nullptr) {
    if (!cohort->IsObject()) return Bad("\"cohort\" must be an object");
    rapidjson::StringBuffer sb;
    Writer cw(sb);
    cohort->Accept(cw);
    m.cohort.assign(sb.GetString(), sb.GetSize());
  }
  const std::size_t d = m.schema.columns.size();
  if (const auto* rows = json::Find(doc, "rows"); rows != nullptr && rows->IsNumber()) {
    m.rows = rows->GetDouble();
  }
  if (const auto* priv = json::Find(doc, "privacy"); priv != nullptr && priv->IsObject()) {
    auto num = [&](const char* k) {
      const auto* v = json::Find(*priv, k);
      return v != nullptr && v->IsNumber() ? v->GetDouble() : 0.0;
    };
    const auto* dp = json::Find(*priv, "differentially_private");
    m.privacy.is_private = dp != nullptr && dp->IsBool() && dp->GetBool();
    m.privacy.epsilon = num("epsilon");
    m.privacy.delta = num("delta");
    m.privacy.rho_budget = num("rho_budget");
    m.privacy.rho_spent = num("rho_spent");
    m.privacy.domain_from_data = json::GetString(*priv, "domain").starts_with("inferred");
    if (const auto* steps = json::Find(*priv, "steps"); steps != nullptr && steps->IsArray()) {
      for (const auto& s : steps->GetArray()) {
        const auto* r = json::Find(s, "rho");
        m.privacy.steps.push_back({std::string(json::GetString(s, "step")),
                                   std::string(json::GetString(s, "detail")),
                                   r != nullptr && r->IsNumber() ? r->GetDouble() : 0.0});
      }
    }
    if (const auto* seed = json::Find(*priv, "seed"); seed != nullptr && seed->IsUint64()) {
      m.privacy.seed = seed->GetUint64();
    }
  }
  if (const auto* notes = json::Find(doc, "notes"); notes != nullptr && notes->IsObject()) {
    for (auto it = notes->MemberBegin(); it != notes->MemberEnd(); ++it) {
      m.notes.emplace_back(std::string(json::View(it->name)), std::string(json::View(it->value)));
    }
  }
  const auto* cols = json::Find(doc, "columns");
  if (cols == nullptr || !cols->IsArray() || cols->Size() != d) {
    return Bad("\"columns\" must have one entry per schema column");
  }
  bool forest = m.method != Method::kCopula;
  m.coding.resize(d);
  if (m.method == Method::kMst) {
    m.kept.assign(d, {});
    m.rest_weights.assign(d, {});
  }
  std::vector<std::string_view> parent_names(d);
  if (forest) {
    m.parent.assign(d, -1);
    m.tables.assign(d, {});
  } else {
    m.cdf.assign(d, {});
  }
  for (std::size_t c = 0; c < d; ++c) {
    const auto& v = (*cols)[static_cast<rapidjson::SizeType>(c)];
    const Column& col = m.schema.columns[c];
    if (json::GetString(v, "name") != col.name) return Bad("columns out of the schema's order");
    auto& cc = m.coding[c];
    cc.missing = col.missing;
    if (json::Find(v, "edges") != nullptr) {
      SUND_ASSIGN_OR_RETURN(cc.edges, ReadNumbers(json::Find(v, "edges"), "edges"));
      if (!std::is_sorted(cc.edges.begin(), cc.edges.end())) return Bad("unsorted edges");
    }
    const auto* codes = json::Find(v, "codes");
    if (codes == nullptr || !codes->IsUint64()) return Bad("a column without \"codes\"");
    cc.base = codes->GetUint64();
    std::size_t expect = col.kind == ColumnKind::kCategorical ? col.categories.size()
                         : col.PerValueBins() ? static_cast<std::size_t>(col.upper - col.lower + 1)
                                              : cc.edges.size() + 1;
    if (cc.base != expect) return Bad("column '" + col.name + "': codes do not match its schema");
    const auto* kept = json::Find(v, "kept");
    if ((kept != nullptr) != (m.method == Method::kMst)) {
      return Bad("\"kept\" is on every column of an MST model and on no other");
    }
    if (kept != nullptr) {
      if (!kept->IsArray()) return Bad("\"kept\" must be an array");
      for (const auto& k : kept->GetArray()) {
        if (!k.IsUint() || k.GetUint() >= cc.size() ||
            (!m.kept[c].empty() && k.GetUint() <= m.kept[c].back())) {
          return Bad("column '" + col.name + "': \"kept\" must be ascending codes");
        }
        m.kept[c].push_back(k.GetUint());
      }
      if (const auto* rw = json::Find(v, "rest_weights"); rw != nullptr) {
        SUND_ASSIGN_OR_RETURN(auto weights, ReadNumbers(rw, "rest_weights"));
        if (weights.size() != cc.size() - m.kept[c].size() ||
            std::any_of(weights.begin(), weights.end(), [](double x) { return x < 0; })) {
          return Bad("column '" + col.name + "': \"rest_weights\" do not fit its merged codes");
        }
        m.rest_weights[c] = std::move(weights);
      }
    }
    if (forest) {
      const auto* par = json::Find(v, "parent");
      if (par != nullptr && par->IsString()) parent_names[c] = json::View(*par);
      SUND_ASSIGN_OR_RETURN(m.tables[c], ReadNumbers(json::Find(v, "table"), "a table"));
    } else {
      SUND_ASSIGN_OR_RETURN(m.cdf[c], ReadNumbers(json::Find(v, "cdf"), "a cdf"));
      if (m.cdf[c].size() != cc.size() || !std::is_sorted(m.cdf[c].begin(), m.cdf[c].end()) ||
          m.cdf[c].front() < 0 || std::fabs(m.cdf[c].back() - 1) > 1e-6) {
        return Bad("column '" + col.name + "': a cdf that is not a distribution over its codes");
      }
    }
  }
  if (forest) {
    const auto* order = json::Find(doc, "order");
    if (order == nullptr || !order->IsArray() || order->Size() != d) {
      return Bad("\"order\" must name every column once");
    }
    std::vector<bool> placed(d, false);
    for (const auto& o : order->GetArray()) {
      auto c = m.schema.Find(json::View(o));
      if (!c || placed[*c]) return Bad("\"order\" must name every column once");
      if (!parent_names[*c].empty()) {
        auto p = m.schema.Find(parent_names[*c]);
        if (!p || !placed[*p]) return Bad("a column's parent must come before it in \"order\"");
        m.parent[*c] = static_cast<int>(*p);
      }
      placed[*c] = true;
      m.order.push_back(static_cast<int>(*c));
    }
    for (std::size_t c = 0; c < d; ++c) {
      std::size_t want = internal::CompressedSize(m, c) *
                         (m.parent[c] >= 0 ? internal::CompressedSize(m, m.parent[c]) : 1);
      const auto& t = m.tables[c];
      if (t.size() != want || std::any_of(t.begin(), t.end(), [](double x) { return x < 0; })) {
        return Bad("column '" + m.schema.columns[c].name + "': its table has the wrong shape");
      }
    }
  } else {
    SUND_ASSIGN_OR_RETURN(m.correlation,
                          ReadNumbers(json::Find(doc, "correlation"), "\"correlation\""));
    if (m.correlation.size() != d * d) return Bad("\"correlation\" must be d x d");
  }
  return m;
}

}  // namespace sund::synth
