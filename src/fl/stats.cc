#include "fl/stats.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "core/json.h"
#include "core/json_bounded.h"
#include "synth/dp.h"

namespace sund::fl {
namespace {

using Value = rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

Status Bad(std::string_view where, std::string_view what) {
  return InvalidArgument("stats query: " + std::string(where) + ": " + std::string(what));
}

std::optional<double> Number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s[0] == '+') s.remove_prefix(1);
  double v;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

Result<std::vector<double>> Numbers(const Value& v, std::string_view where) {
  std::vector<double> out;
  if (!v.IsArray() || v.Empty()) return Bad(where, "a non-empty list of numbers");
  for (const auto& x : v.GetArray()) {
    if (!x.IsNumber()) return Bad(where, "a non-empty list of numbers");
    out.push_back(x.GetDouble());
  }
  return out;
}

std::string Str(const Value& obj, const char* key) {
  return std::string(json::GetString(obj, key));
}

void Key(Writer& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
void Text(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

double Get(const std::map<std::string, double>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0.0 : it->second;
}

// A count as released: the number, or null (and suppressed) when 1..k-1.
void Count(Writer& w, double n, int k) {
  if (n > 0 && n < k) {
    w.Null();
  } else {
    w.Double(n);
  }
}

// A cell of a histogram or table: "count" as released and whether it was suppressed.
void CountCell(Writer& w, double n, int k) {
  Key(w, "count");
  Count(w, n, k);
  Key(w, "suppressed");
  w.Bool(n > 0 && n < k);
}

std::string FormatNumber(double v) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

}  // namespace

Result<StatsRequest> ParseStatsRequest(std::string_view text) {
  rapidjson::Document doc;
  json::ParseBounded(doc, text);
  if (doc.HasParseError() || !doc.IsObject()) return InvalidArgument("stats query: not JSON");
  StatsRequest r;
  r.id = Str(doc, "id");
  if (const Value* k = json::Find(doc, "suppress_below"); k != nullptr) {
    if (!k->IsInt() || k->GetInt() < 1 || k->GetInt() > 1000) {
      return Bad("suppress_below", "a whole number 1..1000");
    }
    r.suppress_below = k->GetInt();
  }
  const Value* qs = json::Find(doc, "queries");
  if (qs == nullptr || !qs->IsArray() || qs->Empty()) return Bad("queries", "a non-empty list");
  std::set<std::string> names;
  for (const auto& q : qs->GetArray()) {
    StatQuery s;
    s.name = Str(q, "name");
    if (s.name.empty() || !names.insert(s.name).second) {
      return Bad("queries", "each needs a unique \"name\"");
    }
    std::string type = Str(q, "type");
    const std::string& where = s.name;
    auto need = [&](const char* key, std::string& out) -> Status {
      out = Str(q, key);
      return out.empty() ? Bad(where, std::string("needs \"") + key + "\"") : Status::Ok();
    };
    if (type == "count") {
      s.type = StatType::kCount;
    } else if (type == "mean") {
      s.type = StatType::kMean;
      SUND_RETURN_IF_ERROR(need("column", s.column));
    } else if (type == "histogram") {
      s.type = StatType::kHistogram;
      SUND_RETURN_IF_ERROR(need("column", s.column));
      const Value* e = json::Find(q, "edges");
      if (e == nullptr) return Bad(where, "needs \"edges\"");
      SUND_ASSIGN_OR_RETURN(s.edges, Numbers(*e, where));
      if (s.edges.size() < 2 || !std::is_sorted(s.edges.begin(), s.edges.end()) ||
          std::adjacent_find(s.edges.begin(), s.edges.end()) != s.edges.end()) {
        return Bad(where, "edges must be at least two increasing numbers");
      }
    } else if (type == "quantiles") {
      s.type = StatType::kQuantiles;
      SUND_RETURN_IF_ERROR(need("column", s.column));
      const Value* p = json::Find(q, "probabilities");
      if (p == nullptr) return Bad(where, "needs \"probabilities\"");
      SUND_ASSIGN_OR_RETURN(s.probabilities, Numbers(*p, where));
      for (double x : s.probabilities) {
        if (!(x > 0 && x < 1)) return Bad(where, "probabilities lie strictly between 0 and 1");
      }
      const Value *lo = json::Find(q, "min"), *hi = json::Find(q, "max"),
                  *res = json::Find(q, "resolution");
      if (lo == nullptr || hi == nullptr || res == nullptr || !lo->IsNumber() || !hi->IsNumber() ||
          !res->IsNumber()) {
        return Bad(where, "needs the public grid \"min\", \"max\" and \"resolution\"");
      }
      s.min = lo->GetDouble();
      s.max = hi->GetDouble();
      s.resolution = res->GetDouble();
      if (!(s.max > s.min && s.resolution > 0 && (s.max - s.min) / s.resolution <= 1e6)) {
        return Bad(where, "min < max, resolution > 0, at most a million grid steps");
      }
    } else if (type == "table") {
      s.type = StatType::kTable;
      SUND_RETURN_IF_ERROR(need("rows", s.rows));
      SUND_RETURN_IF_ERROR(need("columns", s.columns));
    } else if (type == "kaplan_meier") {
      s.type = StatType::kKaplanMeier;
      SUND_RETURN_IF_ERROR(need("time", s.time));
      SUND_RETURN_IF_ERROR(need("event", s.event));
      if (const Value* ev = json::Find(q, "event_value"); ev != nullptr) {
        if (!ev->IsString()) return Bad(where, "\"event_value\" is a string");
        s.event_value = std::string(json::View(*ev));
      }
      s.group = Str(q, "group");
      const Value* t = json::Find(q, "times");
      if (t == nullptr) return Bad(where, "needs \"times\" (when to report survival)");
      SUND_ASSIGN_OR_RETURN(s.times, Numbers(*t, where));
    } else {
      return Bad(where, "type must be count, mean, histogram, quantiles, table or kaplan_meier");
    }
    if (s.type == StatType::kMean) {
      const Value *lo = json::Find(q, "min"), *hi = json::Find(q, "max");
      if ((lo == nullptr) != (hi == nullptr) || (lo != nullptr && !lo->IsNumber()) ||
          (hi != nullptr && !hi->IsNumber())) {
        return Bad(where, "a mean's \"min\" and \"max\" come together, as numbers");
      }
      if (lo != nullptr) {
        s.min = lo->GetDouble();
        s.max = hi->GetDouble();
        if (!(s.max > s.min)) return Bad(where, "min < max");
      }
    }
    if (const Value* w = json::Find(q, "where"); w != nullptr) {
      if (!w->IsObject()) return Bad(where, "\"where\" is an object of column: value");
      for (auto it = w->MemberBegin(); it != w->MemberEnd(); ++it) {
        if (!it->value.IsString()) return Bad(where, "\"where\" values are strings");
        s.where.emplace_back(std::string(json::View(it->name)), std::string(json::View(it->value)));
      }
    }
    r.queries.push_back(std::move(s));
  }
  if (const Value* p = json::Find(doc, "privacy"); p != nullptr) {
    const Value *e = p->IsObject() ? json::Find(*p, "epsilon") : nullptr,
                *d = p->IsObject() ? json::Find(*p, "delta") : nullptr;
    StatsPrivacy priv;
    if (e == nullptr || !e->IsNumber() || !(e->GetDouble() > 0 && e->GetDouble() <= 100)) {
      return Bad("privacy", "{\"epsilon\": 0 < e <= 100, \"delta\": 0 < d < 0.1}");
    }
    priv.epsilon = e->GetDouble();
    if (d != nullptr) {
      if (!d->IsNumber() || !(d->GetDouble() > 0 && d->GetDouble() < 0.1)) {
        return Bad("privacy", "{\"epsilon\": 0 < e <= 100, \"delta\": 0 < d < 0.1}");
      }
      priv.delta = d->GetDouble();
    }
    for (const auto& q : r.queries) {
      if (q.type == StatType::kTable || q.type == StatType::kKaplanMeier) {
        return Bad(q.name,
                   "tables and Kaplan-Meier curves are not released under privacy (their cells "
                   "come from the data)");
      }
      if (q.type == StatType::kMean && !(q.max > q.min)) {
        return Bad(q.name, "a mean under privacy needs \"min\" and \"max\" (values are clamped)");
      }
    }
    r.privacy = priv;
  }
  return r;
}

Result<LocalStats> ComputeLocalStats(const CsvTable& table, const StatsRequest& request) {
  LocalStats out;
  out.sums.resize(request.queries.size());
  auto column = [&](const StatQuery& q, const std::string& name) -> Result<std::size_t> {
    auto c = table.Column(name);
    if (!c) return Bad(q.name, "the table has no column '" + name + "'");
    return *c;
  };
  for (std::size_t qi = 0; qi < request.queries.size(); ++qi) {
    const StatQuery& q = request.queries[qi];
    auto& sums = out.sums[qi];
    std::vector<std::pair<std::size_t, std::string>> filters;
    for (const auto& [col, value] : q.where) {
      SUND_ASSIGN_OR_RETURN(std::size_t c, column(q, col));
      filters.emplace_back(c, value);
    }
    std::size_t a = 0, b = 0, c = 0;
    switch (q.type) {
      case StatType::kMean:
      case StatType::kHistogram:
      case StatType::kQuantiles: {
        SUND_ASSIGN_OR_RETURN(a, column(q, q.column));
        break;
      }
      case StatType::kTable: {
        SUND_ASSIGN_OR_RETURN(a, column(q, q.rows));
        SUND_ASSIGN_OR_RETURN(b, column(q, q.columns));
        break;
      }
      case StatType::kKaplanMeier: {
        SUND_ASSIGN_OR_RETURN(a, column(q, q.time));
        SUND_ASSIGN_OR_RETURN(b, column(q, q.event));
        if (!q.group.empty()) {
          SUND_ASSIGN_OR_RETURN(c, column(q, q.group));
        }
        break;
      }
      case StatType::kCount:
        break;
    }
    for (const auto& row : table.rows) {
      bool keep = true;
      for (const auto& [col, value] : filters) keep = keep && row[col] == value;
      if (!keep) continue;
      auto number = [&](std::size_t col) -> Result<std::optional<double>> {
        if (row[col].empty()) return std::optional<double>();
        auto v = Number(row[col]);
        if (!v) return Bad(q.name, "a value of '" + table.header[col] + "' is not a number");
        return std::optional<double>(*v);
      };
      switch (q.type) {
        case StatType::kCount:
          sums["n"] += 1;
          break;
        case StatType::kMean: {
          SUND_ASSIGN_OR_RETURN(auto v, number(a));
          if (!v) {
            sums["missing"] += 1;
            break;
          }
          double x = q.max > q.min ? std::clamp(*v, q.min, q.max) : *v;
          sums["n"] += 1;
          sums["sum"] += x;
          sums["sumsq"] += x * x;
          break;
        }
        case StatType::kHistogram: {
          SUND_ASSIGN_OR_RETURN(auto v, number(a));
          if (!v) {
            sums["missing"] += 1;
          } else if (*v < q.edges.front()) {
            sums["below"] += 1;
          } else if (*v > q.edges.back()) {
            sums["above"] += 1;
          } else {
            auto bin = std::upper_bound(q.edges.begin(), q.edges.end(), *v) - q.edges.begin() - 1;
            bin = std::min<long>(bin, static_cast<long>(q.edges.size()) - 2);
            sums["bin:" + std::to_string(bin)] += 1;
          }
          break;
        }
        case StatType::kQuantiles: {
          SUND_ASSIGN_OR_RETURN(auto v, number(a));
          if (!v) break;
          double x = std::clamp(*v, q.min, q.max);
          auto cell = static_cast<long>(std::floor((x - q.min) / q.resolution + 1e-9));
          sums["n"] += 1;
          sums["g:" + std::to_string(cell)] += 1;
          break;
        }
        case StatType::kTable: {
          std::string r = row[a].empty() ? "(missing)" : row[a];
          std::string col = row[b].empty() ? "(missing)" : row[b];
          sums["cell:" + r + '\x1f' + col] += 1;
          break;
        }
        case StatType::kKaplanMeier: {
          SUND_ASSIGN_OR_RETURN(auto t, number(a));
          if (!t || row[b].empty()) break;
          std::string g = q.group.empty() ? "all" : (row[c].empty() ? "(missing)" : row[c]);
          bool event = row[b] == q.event_value;
          sums[g + '\x1f' + FormatNumber(*t) +
               (event ? "\x1f"
                        "d"
                      : "\x1f"
                        "c")] += 1;
          break;
        }
      }
    }
  }
  return out;
}

LocalStats MergeStats(const std::vector<LocalStats>& parts) {
  LocalStats total;
  for (const auto& p : parts) {
    if (total.sums.size() < p.sums.size()) total.sums.resize(p.sums.size());
    for (std::size_t i = 0; i < p.sums.size(); ++i) {
      for (const auto& [k, v] : p.sums[i]) total.sums[i][k] += v;
    }
  }
  return total;
}

void AddStatsNoise(LocalStats& total, const StatsRequest& request, std::mt19937_64& rng) {
  if (!request.privacy) return;
  const double rho = synth::CdpRho(request.privacy->epsilon, request.privacy->delta) /
                     static_cast<double>(request.queries.size());
  total.sums.resize(request.queries.size());
  std::normal_distribution<double> normal;
  auto noisy_count = [&](double v, double sigma) {
    return std::max(0.0, std::round(v + sigma * normal(rng)));
  };
  for (std::size_t qi = 0; qi < request.queries.size(); ++qi) {
    const StatQuery& q = request.queries[qi];
    auto& s = total.sums[qi];
    // The public domain: every key a row could add to (one per row: sensitivity 1).
    std::vector<std::string> keys;
    switch (q.type) {
      case StatType::kCount:
        keys = {"n"};
        break;
      case StatType::kHistogram:
        for (std::size_t b = 0; b + 1 < q.edges.size(); ++b)
          keys.push_back("bin:" + std::to_string(b));
        keys.insert(keys.end(), {"below", "above", "missing"});
        break;
      case StatType::kQuantiles: {
        auto cells = static_cast<long>(std::floor((q.max - q.min) / q.resolution + 1e-9));
        for (long c = 0; c <= cells; ++c) keys.push_back("g:" + std::to_string(c));
        break;
      }
      case StatType::kMean: {
        // n or missing (a row adds one to one of them), sum and sum of squares: a third each.
        const double b = std::max(std::abs(q.min), std::abs(q.max));
        const double sigma_n = synth::GaussianSigma(rho / 3, 1.0);
        s["n"] = noisy_count(Get(s, "n"), sigma_n);
        s["missing"] = noisy_count(Get(s, "missing"), sigma_n);
        s["sum"] = Get(s, "sum") + synth::GaussianSigma(rho / 3, b) * normal(rng);
        s["sumsq"] = Get(s, "sumsq") + synth::GaussianSigma(rho / 3, b * b) * normal(rng);
        continue;
      }
      case StatType::kTable:
      case StatType::kKaplanMeier:
        continue;  // refused by ParseStatsRequest under privacy
    }
    const double sigma = synth::GaussianSigma(rho, 1.0);
    std::map<std::string, double> noisy;
    for (const auto& k : keys) noisy[k] = noisy_count(Get(s, k), sigma);
    if (q.type == StatType::kQuantiles)
      noisy["n"] = [&] {
        double n = 0;
        for (const auto& [k, v] : noisy) n += v;
        return n;  // the noisy grid's own total, so that its quantiles are consistent
      }();
    s = std::move(noisy);
  }
}

std::string FinalizeStats(const LocalStats& total, const StatsRequest& request) {
  const int k = request.suppress_below;
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Key(w, "id");
  Text(w, request.id);
  Key(w, "suppress_below");
  w.Int(k);
  if (request.privacy) {
    Key(w, "privacy");
    w.StartObject();
    Key(w, "epsilon");
    w.Double(request.privacy->epsilon);
    Key(w, "delta");
    w.Double(request.privacy->delta);
    Key(w, "mechanism");
    Text(w, "gaussian, zCDP, the budget split evenly over the queries");
    w.EndObject();
  }
  Key(w, "results");
  w.StartObject();
  for (std::size_t qi = 0; qi < request.queries.size(); ++qi) {
    const StatQuery& q = request.queries[qi];
    static const std::map<std::string, double> kEmpty;
    const auto& s = qi < total.sums.size() ? total.sums[qi] : kEmpty;
    Key(w, q.name);
    w.StartObject();
    switch (q.type) {
      case StatType::kCount:
        Key(w, "count");
        Count(w, Get(s, "n"), k);
        break;
      case StatType::kMean: {
        double n = Get(s, "n");
        Key(w, "n");
        Count(w, n, k);
        bool show = n >= k;
        double mean = n > 0 ? Get(s, "sum") / n : 0;
        double var = n > 1 ? std::max(0.0, (Get(s, "sumsq") - n * mean * mean) / (n - 1)) : 0;
        Key(w, "mean");
        show ? w.Double(mean) : w.Null();
        Key(w, "variance");
        show&& n > 1 ? w.Double(var) : w.Null();
        Key(w, "sd");
        show&& n > 1 ? w.Double(std::sqrt(var)) : w.Null();
        Key(w, "missing");
        Count(w, Get(s, "missing"), k);
        break;
      }
      case StatType::kHistogram: {
        Key(w, "bins");
        w.StartArray();
        for (std::size_t b = 0; b + 1 < q.edges.size(); ++b) {
          double n = Get(s, "bin:" + std::to_string(b));
          w.StartObject();
          Key(w, "from");
          w.Double(q.edges[b]);
          Key(w, "to");
          w.Double(q.edges[b + 1]);
          CountCell(w, n, k);
          w.EndObject();
        }
        w.EndArray();
        for (const char* key : {"below", "above", "missing"}) {
          Key(w, key);
          Count(w, Get(s, key), k);
        }
        break;
      }
      case StatType::kQuantiles: {
        double n = Get(s, "n");
        Key(w, "n");
        Count(w, n, k);
        // Cumulative counts over the grid, in cell order.
        std::vector<std::pair<long, double>> cells;
        for (const auto& [key, v] : s) {
          if (key.rfind("g:", 0) == 0) cells.emplace_back(std::stol(key.substr(2)), v);
        }
        std::sort(cells.begin(), cells.end());
        Key(w, "quantiles");
        w.StartArray();
        for (double p : q.probabilities) {
          w.StartObject();
          Key(w, "p");
          w.Double(p);
          Key(w, "value");
          if (n < k || cells.empty()) {
            w.Null();
          } else {
            // The smallest grid cell whose cumulative count reaches p * n, interpolated in it.
            double target = p * n, acc = 0;
            double value = q.max;
            for (const auto& [cell, count] : cells) {
              if (acc + count >= target) {
                double frac = count > 0 ? (target - acc) / count : 0;
                value = q.min + (static_cast<double>(cell) + frac) * q.resolution;
                break;
              }
              acc += count;
            }
            w.Double(std::min(value, q.max));
          }
          w.EndObject();
        }
        w.EndArray();
        Key(w, "resolution");
        w.Double(q.resolution);
        break;
      }
      case StatType::kTable: {
        Key(w, "cells");
        w.StartArray();
        for (const auto& [key, n] : s) {
          if (key.rfind("cell:", 0) != 0) continue;
          auto sep = key.find('\x1f');
          w.StartObject();
          Key(w, q.rows);
          Text(w, std::string_view(key).substr(5, sep - 5));
          Key(w, q.columns);
          Text(w, std::string_view(key).substr(sep + 1));
          CountCell(w, n, k);
          w.EndObject();
        }
        w.EndArray();
        break;
      }
      case StatType::kKaplanMeier: {
        // Per group: events and censorings by time; the product-limit estimator.
        std::map<std::string, std::map<double, std::pair<double, double>>> groups;
        for (const auto& [key, n] : s) {
          auto a = key.find('\x1f'), b = key.rfind('\x1f');
          if (a == std::string::npos || a == b) continue;
          auto t = Number(std::string_view(key).substr(a + 1, b - a - 1));
          if (!t) continue;
          auto& cell = groups[key.substr(0, a)][*t];
          (key[b + 1] == 'd' ? cell.first : cell.second) += n;
        }
        Key(w, "groups");
        w.StartArray();
        for (const auto& [g, times] : groups) {
          double at_risk = 0;
          for (const auto& [t, dc] : times) at_risk += dc.first + dc.second;
          w.StartObject();
          Key(w, "group");
          Text(w, g);
          Key(w, "n");
          Count(w, at_risk, k);
          Key(w, "points");
          w.StartArray();
          auto it = times.begin();
          double surv = 1, risk = at_risk;
          for (double t : q.times) {
            while (it != times.end() && it->first <= t) {
              if (risk > 0) surv *= 1 - it->second.first / risk;
              risk -= it->second.first + it->second.second;
              ++it;
            }
            w.StartObject();
            Key(w, "time");
            w.Double(t);
            Key(w, "at_risk");
            Count(w, risk, k);
            Key(w, "survival");
            risk >= k ? w.Double(surv) : w.Null();
            w.EndObject();
          }
          w.EndArray();
          w.EndObject();
        }
        w.EndArray();
        break;
      }
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string LocalStatsToJson(const LocalStats& s) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const auto& m : s.sums) {
    w.StartObject();
    for (const auto& [k, v] : m) {
      Key(w, k);
      w.Double(v);
    }
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<LocalStats> ParseLocalStats(std::string_view text, std::size_t queries) {
  rapidjson::Document doc;
  json::ParseBounded(doc, text);
  if (doc.HasParseError() || !doc.IsArray() || doc.Size() != queries) {
    return InvalidArgument("node statistics: not one object per query");
  }
  LocalStats s;
  for (const auto& m : doc.GetArray()) {
    if (!m.IsObject()) return InvalidArgument("node statistics: not one object per query");
    std::map<std::string, double> sums;
    for (auto it = m.MemberBegin(); it != m.MemberEnd(); ++it) {
      if (!it->value.IsNumber() || !std::isfinite(it->value.GetDouble())) {
        return InvalidArgument("node statistics: a sum that is not a number");
      }
      sums[std::string(json::View(it->name))] = it->value.GetDouble();
    }
    s.sums.push_back(std::move(sums));
  }
  return s;
}

std::string ReleaseStats(LocalStats total, const StatsRequest& request) {
  if (request.privacy) {
    std::mt19937_64 rng(std::random_device{}());
    AddStatsNoise(total, request, rng);
  }
  return FinalizeStats(total, request);
}

}  // namespace sund::fl
