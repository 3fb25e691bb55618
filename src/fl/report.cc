// FlReportHtml: the federated run as one self-contained HTML page, in the look of synth's
// evaluation report.

#include "fl/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>

#include "core/html.h"

namespace sund::fl {
namespace {

// Okabe-Ito colours (colour-blind safe).
constexpr const char* kBlue = "#0072B2";
constexpr const char* kVermillion = "#D55E00";
constexpr const char* kGreen = "#009E73";
constexpr const char* kPurple = "#CC79A7";
constexpr const char* kDash = "\xE2\x80\x93";  // shown for a missing value
constexpr std::size_t kMaxParams = 1000;
constexpr std::size_t kMaxMarkers = 100;  // per series; beyond, the line alone

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:1.5rem auto;max-width:76rem;padding:0 1rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0 1rem}caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}.n{text-align:right;white-space:nowrap}tfoot th,tfoot td{font-weight:600;border-top:2px solid #888}
figure{display:inline-block;margin:0 1rem 1rem 0;vertical-align:top;max-width:100%}figcaption{font-size:.9rem;max-width:27rem}
svg{max-width:100%;height:auto}svg text{font-family:inherit}
.empty{width:27rem;max-width:100%;padding:2rem 1rem;border:1px dashed #bbb;color:#555;text-align:center;box-sizing:border-box}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .6em;vertical-align:-.05em}
)";

using Html = HtmlWriter;

bool Finite(std::optional<double> v) { return v && std::isfinite(*v); }

// Charts leave out values they could not scale without overflow along with the missing ones.
bool Plottable(std::optional<double> v) { return Finite(v) && std::fabs(*v) < 1e200; }

// `digits` significant digits, or "–" for a missing value.
std::string Num(std::optional<double> v, int digits = 4) {
  if (!Finite(v)) return kDash;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, *v);
  return buf;
}

// Decimal units: 532 B, 1.23 kB, 4.56 MB.
std::string Bytes(double b) {
  if (!std::isfinite(b)) return kDash;
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (u < 4 && std::fabs(b) >= 999.5) {
    b /= 1000;
    ++u;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.3g %s", b, kUnits[u]);
  return buf;
}

std::string Duration(double s) {
  if (!std::isfinite(s)) return kDash;
  char buf[64];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.3g s", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%d min %d s", static_cast<int>(s / 60),
                  static_cast<int>(std::fmod(s, 60)));
  } else {
    std::snprintf(buf, sizeof buf, "%d h %d min", static_cast<int>(s / 3600),
                  static_cast<int>(std::fmod(s, 3600) / 60));
  }
  return buf;
}

std::string MetricLabel(std::string_view name) {
  if (name == "auc") return "AUC";
  if (name == "c_index") return "C-index";
  if (name == "auc_weighted_mean") return "AUC (weighted mean)";
  return std::string(name);
}

// ---- Line charts -------------------------------------------------------------------------------

enum class Axis { kNumber, kBytes };

struct Series {
  std::string name;
  const char* colour;
  std::vector<std::optional<double>> values;  // one per round; missing ones break the line
};

struct Chart {
  std::string id{};
  std::string title{};
  std::string y_label{};
  std::string empty{};  // said instead of the chart when no series has a value
  Axis axis = Axis::kNumber;
  bool from_zero = true;
  std::optional<double> reference{};  // a dashed horizontal line, e.g. the privacy budget
  std::string reference_name{};
};

std::string FormatValue(double v, Axis axis) { return axis == Axis::kBytes ? Bytes(v) : Num(v); }

// A tick label with as many decimals as the step between ticks needs.
std::string TickLabel(double t, double step, double top, Axis axis) {
  double unit = 1;
  const char* suffix = "";
  if (axis == Axis::kBytes) {
    static constexpr std::pair<double, const char*> kUnits[] = {
        {1e12, " TB"}, {1e9, " GB"}, {1e6, " MB"}, {1e3, " kB"}, {1, " B"}};
    for (const auto& [u, s] : kUnits) {
      if (top >= u || u == 1) {
        unit = u;
        suffix = s;
        break;
      }
    }
  }
  const double magnitude = std::log10(step / unit);
  const int decimals = std::isfinite(magnitude)
                           ? std::clamp(static_cast<int>(-std::floor(magnitude + 1e-9)), 0, 8)
                           : 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, t / unit, suffix);
  return buf;
}

void LineChart(Html& h, const std::vector<RoundLog>& rounds, const Chart& c,
               const std::vector<Series>& series) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  std::size_t points = 0;
  for (const Series& s : series) {
    for (const std::optional<double>& v : s.values) {
      if (!Plottable(v)) continue;
      lo = std::min(lo, *v);
      hi = std::max(hi, *v);
      ++points;
    }
  }
  h.Raw("<figure>");
  if (points == 0) {
    h.Element("div", c.empty, "class=\"empty\" role=\"note\"");
    h.Element("figcaption", c.title);
    h.Raw("</figure>\n");
    return;
  }
  const bool reference = Plottable(c.reference);
  if (reference) {
    lo = std::min(lo, *c.reference);
    hi = std::max(hi, *c.reference);
  }
  if (c.from_zero) lo = std::min(lo, 0.0);
  if (!(hi > lo)) {
    const double pad = lo != 0 ? std::fabs(lo) * 0.05 : 1;
    hi += pad;
    if (!(c.from_zero && lo == 0)) lo -= pad;
  }
  std::vector<double> ticks = NiceTicks(lo, hi);
  if (ticks.size() >= 2) {  // widen to whole steps, so the axis ends on a tick
    const double step = ticks[1] - ticks[0];
    lo = std::floor(lo / step + 1e-9) * step;
    hi = std::ceil(hi / step - 1e-9) * step;
    ticks.clear();
    for (double k = std::round(lo / step); k * step <= hi + step * 1e-6; ++k) {
      ticks.push_back(k == 0 ? 0.0 : k * step);  // never "-0"
    }
  }
  const double step = ticks.size() >= 2 ? ticks[1] - ticks[0] : std::fabs(hi - lo);

  double x_lo = rounds.front().round, x_hi = x_lo;
  for (const RoundLog& r : rounds) {
    x_lo = std::min(x_lo, static_cast<double>(r.round));
    x_hi = std::max(x_hi, static_cast<double>(r.round));
  }
  if (x_hi == x_lo) {
    x_lo -= 0.5;
    x_hi += 0.5;
  }

  const double width = 430, height = 250, ml = 62, mr = 14, mt = 12, mb = 40;
  const double pw = width - ml - mr, ph = height - mt - mb;
  auto X = [&](double v) { return ml + (v - x_lo) / (x_hi - x_lo) * pw; };
  auto Y = [&](double v) { return mt + (1 - (v - lo) / (hi - lo)) * ph; };
  const std::string W = SvgNumber(width), H = SvgNumber(height);
  h.Raw("<svg role=\"img\" aria-labelledby=\"" + c.id + "-t\" width=\"" + W + "\" height=\"" + H +
        "\" viewBox=\"0 0 " + W + " " + H + "\">");
  h.Element("title", c.title, "id=\"" + c.id + "-t\"");
  h.Raw("<rect x=\"" + SvgNumber(ml) + "\" y=\"" + SvgNumber(mt) + "\" width=\"" + SvgNumber(pw) +
        "\" height=\"" + SvgNumber(ph) + "\" fill=\"none\" stroke=\"#000\"/>\n");
  for (double t : ticks) {
    h.Raw("<line x1=\"" + SvgNumber(ml - 5) + "\" x2=\"" + SvgNumber(ml + pw) + "\" y1=\"" +
          SvgNumber(Y(t)) + "\" y2=\"" + SvgNumber(Y(t)) + "\" stroke=\"#e3e3e3\"/>");
    h.SvgText(ml - 8, Y(t) + 4, TickLabel(t, step, hi, c.axis),
              "text-anchor=\"end\" font-size=\"11\"");
  }
  for (double t : NiceTicks(x_lo, x_hi)) {
    if (t != std::floor(t)) continue;  // rounds are whole numbers
    h.Raw("<line x1=\"" + SvgNumber(X(t)) + "\" x2=\"" + SvgNumber(X(t)) + "\" y1=\"" +
          SvgNumber(mt + ph) + "\" y2=\"" + SvgNumber(mt + ph + 5) + "\" stroke=\"#000\"/>");
    h.SvgText(X(t), mt + ph + 17, Num(t, 10), "text-anchor=\"middle\" font-size=\"11\"");
  }
  h.SvgText(ml + pw / 2, height - 6, "round", "text-anchor=\"middle\" font-size=\"12\"");
  h.Raw("<text transform=\"translate(13 " + SvgNumber(mt + ph / 2) +
        ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">");
  h.Text(c.y_label);
  h.Raw("</text>\n");
  if (reference) {
    const std::string y = SvgNumber(Y(*c.reference));
    h.Raw("<line x1=\"" + SvgNumber(ml) + "\" x2=\"" + SvgNumber(ml + pw) + "\" y1=\"" + y +
          "\" y2=\"" + y + "\" stroke=\"#555\" stroke-dasharray=\"5 4\"/>");
    h.SvgText(ml + pw - 4, Y(*c.reference) - 4,
              c.reference_name + " " + FormatValue(*c.reference, c.axis),
              "text-anchor=\"end\" font-size=\"11\" fill=\"#555\"");
    h.Raw("\n");
  }
  const std::size_t n = std::min(rounds.size(), series.empty() ? 0 : series[0].values.size());
  for (const Series& s : series) {
    std::string line;
    auto flush = [&] {
      if (line.find(' ') != std::string::npos) {  // two points or more
        h.Raw("<polyline fill=\"none\" stroke=\"" + std::string(s.colour) +
              "\" stroke-width=\"2\" points=\"" + line + "\"/>");
      }
      line.clear();
    };
    std::size_t shown = 0;
    for (std::size_t i = 0; i < n && i < s.values.size(); ++i) {
      if (!Plottable(s.values[i])) {
        flush();
        continue;
      }
      ++shown;
      if (!line.empty()) line += ' ';
      line += SvgNumber(X(rounds[i].round)) + "," + SvgNumber(Y(*s.values[i]));
    }
    flush();
    const bool markers = shown <= kMaxMarkers;
    for (std::size_t i = 0; i < n && i < s.values.size(); ++i) {
      if (!Plottable(s.values[i])) continue;
      // A lone point needs its marker even among many.
      const bool lone = (i == 0 || !Plottable(s.values[i - 1])) &&
                        (i + 1 >= s.values.size() || !Plottable(s.values[i + 1]));
      if (!markers && !lone) continue;
      h.Raw("<circle cx=\"" + SvgNumber(X(rounds[i].round)) + "\" cy=\"" +
            SvgNumber(Y(*s.values[i])) + "\" r=\"3\" fill=\"" + s.colour + "\"><title>");
      h.Text(s.name + ", round " + std::to_string(rounds[i].round) + ": " +
             FormatValue(*s.values[i], c.axis));
      h.Raw("</title></circle>");
    }
    h.Raw("\n");
  }
  h.Raw("</svg><figcaption>");
  h.Text(c.title + ".");
  if (series.size() > 1) {
    for (const Series& s : series) {
      h.Raw("<span class=\"key\" style=\"background:" + std::string(s.colour) + "\"></span>");
      h.Text(s.name);
    }
  }
  if (reference) h.Text(" Dashed: " + c.reference_name + ".");
  h.Raw("</figcaption></figure>\n");
}

// ---- Sections ----------------------------------------------------------------------------------

bool DpOn(const ReportInput& in) {
  if (in.epsilon_budget) return true;
  return std::any_of(in.rounds.begin(), in.rounds.end(),
                     [](const RoundLog& r) { return std::isfinite(r.epsilon) && r.epsilon > 0; });
}

void SummaryRow(Html& h, std::string_view name, std::string_view value) {
  h.Raw("<tr>");
  h.Element("th", name, "scope=\"row\"");
  h.Element("td", value);
  h.Raw("</tr>\n");
}

void Summary(Html& h, const ReportInput& in) {
  h.Raw("<section aria-labelledby=\"summary\"><h2 id=\"summary\">Summary</h2>\n");
  h.Raw("<table><tbody>\n");
  SummaryRow(h, "model", in.model.empty() ? kDash : in.model);
  SummaryRow(h, "strategy", in.strategy.empty() ? kDash : in.strategy);
  SummaryRow(h, "secure aggregation", in.secure_aggregation ? "yes" : "no");
  std::string rounds = std::to_string(in.rounds.size());
  if (!in.stopped_because.empty()) rounds += " (stopped: " + in.stopped_because + ")";
  SummaryRow(h, "rounds completed", rounds);

  double seconds = 0, to = 0, from = 0, selected = 0, contributed = 0;
  for (const RoundLog& r : in.rounds) {
    if (std::isfinite(r.seconds)) seconds += r.seconds;
    to += static_cast<double>(r.bytes_to_nodes);
    from += static_cast<double>(r.bytes_from_nodes);
    selected += static_cast<double>(r.selected);
    contributed += static_cast<double>(r.contributed);
  }
  SummaryRow(h, "total time", Duration(seconds));
  if (!in.rounds.empty()) {
    const double k = static_cast<double>(in.rounds.size());
    SummaryRow(h, "nodes per round (mean)",
               Num(selected / k, 3) + " selected, " + Num(contributed / k, 3) + " contributed");
  }
  SummaryRow(h, "nodes evaluated", std::to_string(in.nodes.size()));
  SummaryRow(h, "bytes to nodes",
             Bytes(to) + " in all; " + (selected > 0 ? Bytes(to / selected) : std::string(kDash)) +
                 " per selected node and round (mean)");
  SummaryRow(h, "bytes from nodes",
             Bytes(from) + " in all; " +
                 (contributed > 0 ? Bytes(from / contributed) : std::string(kDash)) +
                 " per contributing node and round (mean)");
  if (DpOn(in)) {
    double spent = 0;
    for (const RoundLog& r : in.rounds) {
      if (std::isfinite(r.epsilon)) spent = std::max(spent, r.epsilon);
    }
    std::string dp = Num(spent, 4) + " spent";
    if (Finite(in.epsilon_budget)) {
      dp += " of a budget of " + Num(in.epsilon_budget, 4);
      if (*in.epsilon_budget > 0) dp += " (" + Num(100 * spent / *in.epsilon_budget, 3) + "%)";
    }
    SummaryRow(h, "differential privacy (\xCE\xB5)", dp);
  } else {
    SummaryRow(h, "differential privacy", "off");
  }
  h.Raw("</tbody></table>\n</section>\n");
}

void RoundsSection(Html& h, const ReportInput& in) {
  h.Raw("<section aria-labelledby=\"rounds\"><h2 id=\"rounds\">By round</h2>\n");
  if (in.rounds.empty()) {
    h.Element("p", "No rounds were completed: there is nothing to chart.");
    h.Raw("</section>\n");
    return;
  }
  const bool dp = DpOn(in);
  auto values = [&](const std::function<std::optional<double>(const RoundLog&)>& f) {
    std::vector<std::optional<double>> v;
    v.reserve(in.rounds.size());
    for (const RoundLog& r : in.rounds) v.push_back(f(r));
    return v;
  };
  h.Raw("<div>");
  LineChart(h, in.rounds,
            {.id = "loss",
             .title = "Loss of the global model over the nodes' rows",
             .y_label = "loss",
             .empty = dp ? "No loss values: the global model is not evaluated during a run under "
                           "differential privacy."
                         : "No loss values were recorded.",
             .from_zero = false},
            {{"loss", kBlue, values([](const RoundLog& r) { return r.loss; })}});
  const bool accuracy = std::any_of(in.rounds.begin(), in.rounds.end(),
                                    [](const RoundLog& r) { return r.accuracy.has_value(); });
  if (accuracy) {
    LineChart(h, in.rounds,
              {.id = "accuracy",
               .title = "Accuracy of the global model over the nodes' rows",
               .y_label = "accuracy",
               .empty = "No accuracy values to show.",
               .from_zero = false},
              {{"accuracy", kGreen, values([](const RoundLog& r) { return r.accuracy; })}});
  }
  LineChart(h, in.rounds,
            {.id = "seconds",
             .title = "Seconds per round",
             .y_label = "seconds",
             .empty = "No round times to show."},
            {{"seconds", kBlue, values([](const RoundLog& r) { return r.seconds; })}});
  LineChart(h, in.rounds,
            {.id = "bytes",
             .title = "Bytes sent to and received from the nodes per round",
             .y_label = "bytes",
             .empty = "No traffic to show.",
             .axis = Axis::kBytes},
            {{"to nodes", kBlue,
              values([](const RoundLog& r) { return static_cast<double>(r.bytes_to_nodes); })},
             {"from nodes", kVermillion,
              values([](const RoundLog& r) { return static_cast<double>(r.bytes_from_nodes); })}});
  if (dp) {
    LineChart(h, in.rounds,
              {.id = "epsilon",
               .title = "Privacy spent so far (\xCE\xB5)",
               .y_label = "\xCE\xB5",
               .empty = "No epsilon values to show.",
               .reference = in.epsilon_budget,
               .reference_name = "budget"},
              {{"\xCE\xB5", kPurple, values([](const RoundLog& r) { return r.epsilon; })}});
  }
  LineChart(h, in.rounds,
            {.id = "norm",
             .title = "Norm of the global update per round",
             .y_label = "update norm",
             .empty = "No update norms to show."},
            {{"update norm", kGreen, values([](const RoundLog& r) { return r.update_norm; })}});
  h.Raw("</div>\n</section>\n");
}

void NodesSection(Html& h, const ReportInput& in) {
  h.Raw(
      "<section aria-labelledby=\"nodes\"><h2 id=\"nodes\">The final model at each "
      "node</h2>\n");
  if (in.nodes.empty() && in.overall.empty()) {
    h.Element("p", "No node evaluated the final model.");
    h.Raw("</section>\n");
    return;
  }
  // Columns: the nodes' metrics in order of first appearance, then overall-only ones.
  std::vector<std::string> metrics;
  auto add = [&](const std::string& m) {
    if (std::find(metrics.begin(), metrics.end(), m) == metrics.end()) metrics.push_back(m);
  };
  for (const NodeReport& n : in.nodes) {
    for (const auto& [name, v] : n.metrics) add(name);
  }
  const std::size_t node_columns = metrics.size();
  constexpr std::string_view kWeightedMean = "_weighted_mean";
  std::vector<std::string> merged;  // overall figures shown in a nodes' column
  auto column_of = [&](const std::string& name) -> std::string {
    if (name.size() > kWeightedMean.size() && name.ends_with(kWeightedMean)) {
      const std::string base = name.substr(0, name.size() - kWeightedMean.size());
      if (std::find(metrics.begin(), metrics.begin() + static_cast<std::ptrdiff_t>(node_columns),
                    base) != metrics.begin() + static_cast<std::ptrdiff_t>(node_columns)) {
        return base;
      }
    }
    return name;
  };
  for (const auto& [name, v] : in.overall) {
    const std::string col = column_of(name);
    if (col != name) merged.push_back(col);
    add(col);
  }
  std::vector<std::string> header = {"node", "rows"};
  for (const std::string& m : metrics) header.push_back(MetricLabel(m));
  h.TableHead("", header);
  auto cells = [&](const std::vector<std::pair<std::string, double>>& values, bool overall) {
    for (const std::string& m : metrics) {
      std::optional<double> v;
      for (const auto& [name, x] : values) {
        if ((overall ? column_of(name) : name) == m) v = x;
      }
      h.Element("td", Num(v), "class=\"n\"");
    }
  };
  std::uint64_t rows = 0;
  for (const NodeReport& n : in.nodes) {
    rows += n.rows;
    h.Raw("<tr>");
    h.Element("th", n.node, "scope=\"row\"");
    h.Element("td", std::to_string(n.rows), "class=\"n\"");
    cells(n.metrics, false);
    h.Raw("</tr>\n");
  }
  h.Raw("</tbody>");
  if (!in.overall.empty()) {
    h.Raw("<tfoot><tr>");
    h.Element("th", "all nodes (weighted by rows)", "scope=\"row\"");
    h.Element("td", std::to_string(rows), "class=\"n\"");
    cells(in.overall, true);
    h.Raw("</tr></tfoot>");
  }
  h.Raw("</table>\n");
  for (const std::string& m : merged) {
    h.Element("p", "The overall " + MetricLabel(m) +
                       " is the mean of the nodes' values weighted by their rows.");
  }
  h.Raw("</section>\n");
}

void ParamsSection(Html& h, const ReportInput& in) {
  h.Raw("<section aria-labelledby=\"params\"><h2 id=\"params\">Parameters</h2>\n");
  if (in.params.empty()) {
    h.Element("p", "The model has no parameters to show.");
    h.Raw("</section>\n");
    return;
  }
  const bool names = !in.param_names.empty();
  const std::size_t shown = std::min(in.params.size(), kMaxParams);
  h.TableHead("", names ? std::vector<std::string>{"#", "name", "value"}
                        : std::vector<std::string>{"#", "value"});
  for (std::size_t i = 0; i < shown; ++i) {
    h.Raw("<tr>");
    h.Element("td", std::to_string(i), "class=\"n\"");
    if (names)
      h.Element("th", i < in.param_names.size() ? in.param_names[i] : kDash, "scope=\"row\"");
    h.Element("td", Num(in.params[i], 6), "class=\"n\"");
    h.Raw("</tr>\n");
  }
  h.Raw("</tbody></table>\n");
  if (shown < in.params.size()) {
    h.Element("p", "The first " + std::to_string(shown) + " of " +
                       std::to_string(in.params.size()) +
                       " parameters; model.json holds them all.");
  }
  h.Raw("</section>\n");
}

}  // namespace

std::string FlReportHtml(const ReportInput& in) {
  const std::string title = "Federated run: " + in.task_id;
  Html h;
  h.BeginPage(title, kCss);
  Summary(h, in);
  RoundsSection(h, in);
  NodesSection(h, in);
  ParamsSection(h, in);
  h.EndPage();
  return std::move(h.str());
}

}  // namespace sund::fl
