// EvaluationReportHtml: the evaluation as one self-contained HTML page (inline SVG charts, no
// scripts, no requests), in the look of the cells screening report.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/html.h"
#include "synth/evaluate.h"

namespace sund::synth {
namespace {

// Okabe-Ito colours (colour-blind safe): real data blue, synthetic vermillion.
constexpr const char* kRealColour = "#0072B2";
constexpr const char* kSynColour = "#D55E00";
constexpr std::size_t kMaxCells = 20;  // cells per marginal chart
constexpr std::size_t kWorstPairs = 10;

constexpr const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:1.5rem auto;max-width:76rem;padding:0 1rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5rem 0 1rem}caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}.n{text-align:right;white-space:nowrap}.na{background:#eee}
.note{border-left:4px solid #E69F00;background:#fff8e6;padding:.4rem .8rem}
figure{display:inline-block;margin:0 1rem 1rem 0;vertical-align:top}figcaption{font-size:.9rem;max-width:27rem}
.key{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .6em;vertical-align:-.05em}
svg text{font-family:inherit}
)";

std::string Num(std::optional<double> v, int digits = 4) {
  if (!v || std::isnan(*v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, *v);
  return buf;
}

std::string Px(double v) { return SvgNumber(v); }

std::string Percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * share);
  return buf;
}

// At most `max` characters (UTF-8 aware), an ellipsis when cut.
std::string Shorten(const std::string& s, std::size_t max) {
  std::size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (chars == max) return s.substr(0, i) + "\xE2\x80\xA6";
    ++chars;
  }
  return s;
}

using Html = HtmlWriter;

void TableHead(Html& h, std::string_view caption, const std::vector<std::string>& columns) {
  h.TableHead(caption, columns);
}

// A diverging scale for associations in [-1, 1]: blue, near-white at 0, red (ColorBrewer RdBu).
std::string Diverging(double v) {
  constexpr std::array<int, 3> kLow = {33, 102, 172}, kMid = {247, 247, 247}, kHigh = {178, 24, 43};
  v = std::clamp(std::isfinite(v) ? v : 0.0, -1.0, 1.0);
  const auto& end = v < 0 ? kLow : kHigh;
  const double t = std::fabs(v);
  char buf[8];
  int rgb[3];
  for (int k = 0; k < 3; ++k)
    rgb[k] = static_cast<int>(std::lround(kMid[k] + t * (end[k] - kMid[k])));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buf;
}

// ---- Summary -----------------------------------------------------------------------------------

struct Figure {
  std::string name;
  std::optional<double> value;
  std::string good;     // what good looks like
  std::string missing;  // why it may be absent
};

void Summary(Html& h, const Evaluation& e) {
  h.Raw("<section aria-labelledby=\"summary\"><h2 id=\"summary\">Summary</h2>\n");
  std::string rows = std::to_string(e.rows_real) + " training rows, " +
                     std::to_string(e.rows_synthetic) + " synthetic rows, " +
                     (e.rows_holdout > 0 ? std::to_string(e.rows_holdout) + " holdout rows"
                                         : std::string("no holdout")) +
                     "; " + std::to_string(e.columns.size()) + " columns.";
  h.Element("p", rows);
  const std::string model =
      e.target.empty() ? std::string() : " (predicting " + e.target + " = " + e.positive + ")";
  const std::string no_model = e.target.empty() ? "needs a target column" : "needs a holdout";
  const Figure figures[] = {
      {"1-way TVD", e.tvd1,
       "How far each column's distribution is from the real one, averaged over the columns "
       "(0: identical, 1: disjoint). Lower is better.",
       ""},
      {"2-way TVD", e.tvd2,
       "The same for the joint distribution of every pair of columns. Lower is better: on the "
       "Adult data two halves of the real data score about 0.03, independent columns about 0.08.",
       "needs two columns"},
      {"association difference", e.corr_diff,
       "Mean absolute difference between real and synthetic associations of column pairs "
       "(Pearson's r for two numeric columns, Cramér's V otherwise). Lower is better; 0: the same.",
       "needs two columns"},
      {"TSTR AUC" + model, e.tstr_auc,
       "Logistic regression trained on synthetic rows, tested on the holdout (0.5: chance, 1: "
       "perfect). Good: close to the TRTR AUC.",
       no_model},
      {"TRTR AUC", e.trtr_auc,
       "The same model trained on the real training rows: the reference TSTR is measured against.",
       no_model},
      {"TSTR accuracy", e.tstr_accuracy,
       "Share of holdout rows the synthetic-trained model classifies right. Good: close to TRTR.",
       no_model},
      {"TRTR accuracy", e.trtr_accuracy, "The same for the real-trained model.", no_model},
      {"exact copies", e.exact_copy_rate,
       "Share of synthetic rows identical to a training row in every column. Good: near 0, or no "
       "higher than real rows repeat in the population.",
       ""},
      {"NNDR (median)", e.nndr,
       "Distance to the nearest training row divided by the distance to the second nearest. Near "
       "0: synthetic rows sit on single training records; towards 1 is safer.",
       "needs two training rows"},
      {"DCR share", e.dcr_share,
       "Share of synthetic rows closer to the training rows than to the holdout rows. 0.5: the "
       "generator did not memorise; well above 0.5: it leaks training rows.",
       "needs a holdout"},
      {"membership-inference AUC", e.mia_auc,
       "How well closeness to synthetic rows tells training rows from holdout rows. 0.5: nothing "
       "leaks; 1: every training row is recognised.",
       "needs a holdout"},
  };
  TableHead(h, "", {"figure", "value", "what it means, and what good looks like"});
  for (const Figure& f : figures) {
    h.Raw("<tr>");
    h.Element("th", f.name, "scope=\"row\"");
    if (f.value) {
      h.Element("td", Num(f.value), "class=\"n\"");
      h.Element("td", f.good);
    } else {
      h.Element("td", "not computed", "class=\"na\"");
      h.Element("td", f.good + " Not computed: " + f.missing + ".");
    }
    h.Raw("</tr>\n");
  }
  h.Raw("</tbody></table>\n");
  h.Element("p", "Evaluated in " + Num(e.seconds, 3) + " s.");
  h.Raw("</section>\n");
}

// ---- Fidelity ----------------------------------------------------------------------------------

void Legend(Html& h) {
  h.Raw("<p aria-hidden=\"true\"><span class=\"key\" style=\"background:");
  h.Raw(kRealColour);
  h.Raw("\"></span>real <span class=\"key\" style=\"background:");
  h.Raw(kSynColour);
  h.Raw("\"></span>synthetic</p>\n");
}

void MarginalChart(Html& h, const Evaluation& e, std::size_t j) {
  const Marginal& m = e.marginals[j];
  std::vector<std::size_t> cells;
  for (std::size_t c = 0; c < m.labels.size(); ++c) {
    if (m.real[c] > 0 || m.synthetic[c] > 0) cells.push_back(c);
  }
  const std::size_t shown_of = cells.size();
  if (cells.size() > kMaxCells) {
    std::stable_sort(cells.begin(), cells.end(), [&](std::size_t a, std::size_t b) {
      return std::max(m.real[a], m.synthetic[a]) > std::max(m.real[b], m.synthetic[b]);
    });
    cells.resize(kMaxCells);
    std::sort(cells.begin(), cells.end());
  }
  double top = 0;
  for (std::size_t c : cells) top = std::max({top, m.real[c], m.synthetic[c]});
  if (!(top > 0)) top = 1;
  const double label_w = 130, bar_w = 250, right = 50, row_h = 18, mt = 8, mb = 8;
  const double width = label_w + bar_w + right;
  const double height = mt + row_h * static_cast<double>(cells.size()) + mb;
  const std::string id = "m" + std::to_string(j);
  const std::string label = e.columns[j] + ": share of rows per value, real against synthetic";
  h.Raw("<figure><svg role=\"img\" aria-labelledby=\"" + id + "-t\" width=\"" + Px(width) +
        "\" height=\"" + Px(height) + "\" viewBox=\"0 0 " + Px(width) + " " + Px(height) + "\">");
  h.Element("title", label, "id=\"" + id + "-t\"");
  h.Raw("<line x1=\"" + Px(label_w) + "\" x2=\"" + Px(label_w) + "\" y1=\"" + Px(mt) + "\" y2=\"" +
        Px(height - mb) + "\" stroke=\"#000\"/>\n");
  for (std::size_t r = 0; r < cells.size(); ++r) {
    const std::size_t c = cells[r];
    const double y = mt + row_h * static_cast<double>(r);
    h.Raw("<g><title>");
    h.Text(m.labels[c] + ": real " + Percent(m.real[c]) + ", synthetic " + Percent(m.synthetic[c]));
    h.Raw("</title>");
    h.SvgText(label_w - 5, y + 13, Shorten(m.labels[c], 20),
              "text-anchor=\"end\" font-size=\"11\"");
    h.Raw("<rect x=\"" + Px(label_w) + "\" y=\"" + Px(y + 2) + "\" width=\"" +
          Px(bar_w * m.real[c] / top) + "\" height=\"7\" fill=\"" + kRealColour + "\"/>");
    h.Raw("<rect x=\"" + Px(label_w) + "\" y=\"" + Px(y + 9) + "\" width=\"" +
          Px(bar_w * m.synthetic[c] / top) + "\" height=\"7\" fill=\"" + kSynColour + "\"/>");
    h.SvgText(label_w + bar_w * std::max(m.real[c], m.synthetic[c]) / top + 4, y + 13,
              Percent(std::max(m.real[c], m.synthetic[c])), "font-size=\"10\" fill=\"#555\"");
    h.Raw("</g>\n");
  }
  h.Raw("</svg><figcaption>");
  h.Element("strong", e.columns[j]);
  h.Text(" (" + std::string(ColumnKindName(e.kinds[j])) + "): TVD " + Num(m.tvd, 3) +
         (shown_of > cells.size() ? "; the " + std::to_string(cells.size()) + " largest of " +
                                        std::to_string(shown_of) + " values"
                                  : "") +
         ". Upper bar real, lower bar synthetic; the number is the larger share.");
  h.Raw("</figcaption></figure>\n");
}

void Heatmap(Html& h, const Evaluation& e, const std::vector<double>& assoc, std::string_view which,
             std::string_view id) {
  const std::size_t d = e.columns.size();
  const double cell =
      std::clamp(420.0 / static_cast<double>(std::max<std::size_t>(d, 1)), 8.0, 28.0);
  const double label = 120, top = 100, legend = 40;
  const double width = label + cell * static_cast<double>(d) + 70;  // room for rotated names
  const double height = top + cell * static_cast<double>(d) + legend;
  const double font = std::clamp(cell * 0.5, 7.0, 11.0);
  const std::string title = std::string(which) + " data: association of each pair of columns";
  h.Raw("<figure><svg role=\"img\" aria-labelledby=\"" + std::string(id) + "-t\" width=\"" +
        Px(width) + "\" height=\"" + Px(height) + "\" viewBox=\"0 0 " + Px(width) + " " +
        Px(height) + "\">");
  h.Element("title", title, "id=\"" + std::string(id) + "-t\"");
  h.Raw("<defs><linearGradient id=\"" + std::string(id) + "-g\">");
  for (int i = 0; i <= 10; ++i) {
    h.Raw("<stop offset=\"" + std::to_string(i * 10) + "%\" stop-color=\"" +
          Diverging(-1 + i / 5.0) + "\"/>");
  }
  h.Raw("</linearGradient></defs>\n");
  for (std::size_t j = 0; j < d; ++j) {
    const double x = label + (static_cast<double>(j) + 0.5) * cell;
    h.Raw("<text transform=\"translate(" + Px(x + font * 0.35) + " " + Px(top - 4) +
          ") rotate(-60)\" font-size=\"" + Px(font) + "\">");
    h.Text(Shorten(e.columns[j], 16));
    h.Raw("</text>");
    h.SvgText(label - 4, top + (static_cast<double>(j) + 0.5) * cell + font * 0.35,
              Shorten(e.columns[j], 18), "text-anchor=\"end\" font-size=\"" + Px(font) + "\"");
  }
  h.Raw("\n");
  for (std::size_t a = 0; a < d; ++a) {
    for (std::size_t b = 0; b < d; ++b) {
      const double v = assoc[a * d + b];
      bool pearson =
          e.kinds[a] != ColumnKind::kCategorical && e.kinds[b] != ColumnKind::kCategorical;
      h.Raw("<rect x=\"" + Px(label + static_cast<double>(b) * cell) + "\" y=\"" +
            Px(top + static_cast<double>(a) * cell) + "\" width=\"" + Px(cell) + "\" height=\"" +
            Px(cell) + "\" fill=\"" + Diverging(v) + "\" stroke=\"#fff\" stroke-width=\"0.5\">");
      if (a != b) {
        h.Raw("<title>");
        h.Text(e.columns[a] + " \xC3\x97 " + e.columns[b] + ": " +
               (pearson ? "Pearson's r " : "Cramér's V ") + Num(v, 3));
        h.Raw("</title>");
      }
      h.Raw("</rect>");
    }
    h.Raw("\n");
  }
  const double ly = top + cell * static_cast<double>(d) + 10;
  const double lw = std::min(200.0, width - label - 10);
  h.Raw("<rect x=\"" + Px(label) + "\" y=\"" + Px(ly) + "\" width=\"" + Px(lw) +
        "\" height=\"10\" fill=\"url(#" + std::string(id) +
        "-g)\" stroke=\"#000\" "
        "stroke-width=\"0.5\"/>");
  h.SvgText(label, ly + 24, "-1", "font-size=\"11\"");
  h.SvgText(label + lw / 2, ly + 24, "0", "font-size=\"11\" text-anchor=\"middle\"");
  h.SvgText(label + lw, ly + 24, "1", "font-size=\"11\" text-anchor=\"end\"");
  h.Raw("</svg><figcaption>");
  h.Text(title +
         ": Pearson's r for two numeric columns, Cramér's V (0 to 1) when either is categorical. "
         "Blue negative, red positive; hover a square for its value.");
  h.Raw("</figcaption></figure>\n");
}

void FidelitySection(Html& h, const Evaluation& e) {
  h.Raw("<section aria-labelledby=\"fidelity\"><h2 id=\"fidelity\">Fidelity</h2>\n");
  h.Element("p",
            "Each column is cut into cells (its values, or equal-frequency bins of the real data "
            "for numeric columns with many values; missing values and values the real data never "
            "takes have cells of their own). TVD is half the summed absolute difference of the "
            "shares of rows in each cell.");
  TableHead(h, "Per column", {"column", "kind", "cells", "TVD"});
  for (std::size_t j = 0; j < e.columns.size(); ++j) {
    h.Raw("<tr>");
    h.Element("th", e.columns[j], "scope=\"row\"");
    h.Element("td", ColumnKindName(e.kinds[j]));
    h.Element("td", std::to_string(e.marginals[j].labels.size() - 2), "class=\"n\"");
    h.Element("td", Num(e.marginals[j].tvd, 3), "class=\"n\"");
    h.Raw("</tr>\n");
  }
  h.Raw("</tbody></table>\n");
  if (!e.pairs.empty()) {
    std::vector<std::size_t> order(e.pairs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return e.pairs[a].tvd > e.pairs[b].tvd; });
    order.resize(std::min(order.size(), kWorstPairs));
    TableHead(h, "The column pairs whose joint distribution differs most",
              {"pair", "2-way TVD", "association", "real", "synthetic"});
    for (std::size_t i : order) {
      const PairFigures& p = e.pairs[i];
      h.Raw("<tr>");
      h.Element("th", e.columns[p.a] + " \xC3\x97 " + e.columns[p.b], "scope=\"row\"");
      h.Element("td", Num(p.tvd, 3), "class=\"n\"");
      h.Element("td", p.pearson ? "Pearson's r" : "Cramér's V");
      h.Element("td", Num(p.assoc_real, 3), "class=\"n\"");
      h.Element("td", Num(p.assoc_synthetic, 3), "class=\"n\"");
      h.Raw("</tr>\n");
    }
    h.Raw("</tbody></table>\n");
  }
  h.Raw("<h3>Distributions per column</h3>\n");
  Legend(h);
  for (std::size_t j = 0; j < e.columns.size(); ++j) MarginalChart(h, e, j);
  if (e.columns.size() >= 2) {
    h.Raw("<h3>Associations</h3>\n<div>");
    Heatmap(h, e, e.assoc_real, "Real", "ar");
    Heatmap(h, e, e.assoc_synthetic, "Synthetic", "as");
    h.Raw("</div>\n");
  }
  h.Raw("</section>\n");
}

// ---- Privacy -----------------------------------------------------------------------------------

// Two distance samples as overlaid histograms on shared bins, each normalised to shares.
void Histogram(Html& h, const std::vector<double>& a, const std::vector<double>& b,
               std::string_view a_name, std::string_view b_name, std::string_view x_label,
               std::string_view title, std::string_view id) {
  constexpr int kBins = 30;
  double hi = 0;
  for (double v : a) hi = std::max(hi, v);
  for (double v : b) hi = std::max(hi, v);
  if (!(hi > 0)) hi = 1;
  const double bin_w = hi / kBins * (1 + 1e-9);
  auto shares = [&](const std::vector<double>& v) {
    std::vector<double> s(kBins, 0);
    for (double x : v) {
      int k = std::clamp(static_cast<int>(x / bin_w), 0, kBins - 1);
      s[static_cast<std::size_t>(k)] += 1.0 / static_cast<double>(v.size());
    }
    return s;
  };
  const std::vector<double> sa = shares(a), sb = shares(b);
  double ymax = 0;
  for (int k = 0; k < kBins; ++k) ymax = std::max({ymax, sa[k], sb[k]});
  if (!(ymax > 0)) ymax = 1;
  const double width = 430, height = 260, ml = 52, mr = 12, mt = 12, mb = 44;
  const double pw = width - ml - mr, ph = height - mt - mb;
  auto X = [&](double v) { return ml + v / (bin_w * kBins) * pw; };
  auto Y = [&](double s) { return mt + (1 - s / ymax) * ph; };
  h.Raw("<figure><svg role=\"img\" aria-labelledby=\"" + std::string(id) + "-t\" width=\"" +
        Px(width) + "\" height=\"" + Px(height) + "\" viewBox=\"0 0 " + Px(width) + " " +
        Px(height) + "\">");
  h.Element("title", title, "id=\"" + std::string(id) + "-t\"");
  h.Raw("<rect x=\"" + Px(ml) + "\" y=\"" + Px(mt) + "\" width=\"" + Px(pw) + "\" height=\"" +
        Px(ph) + "\" fill=\"none\" stroke=\"#000\"/>\n");
  for (double t : NiceTicks(0, ymax)) {
    h.Raw("<line x1=\"" + Px(ml - 5) + "\" x2=\"" + Px(ml + pw) + "\" y1=\"" + Px(Y(t)) +
          "\" y2=\"" + Px(Y(t)) + "\" stroke=\"#e3e3e3\"/>");
    h.SvgText(ml - 8, Y(t) + 4, Percent(t), "text-anchor=\"end\" font-size=\"11\"");
  }
  for (double t : NiceTicks(0, bin_w * kBins)) {
    h.Raw("<line x1=\"" + Px(X(t)) + "\" x2=\"" + Px(X(t)) + "\" y1=\"" + Px(mt + ph) + "\" y2=\"" +
          Px(mt + ph + 5) + "\" stroke=\"#000\"/>");
    h.SvgText(X(t), mt + ph + 17, Num(t, 3), "text-anchor=\"middle\" font-size=\"11\"");
  }
  h.SvgText(ml + pw / 2, height - 8, x_label, "text-anchor=\"middle\" font-size=\"12\"");
  h.Raw("\n");
  auto bars = [&](const std::vector<double>& s, const char* colour, std::string_view name) {
    for (int k = 0; k < kBins; ++k) {
      if (!(s[k] > 0)) continue;
      h.Raw("<rect x=\"" + Px(X(k * bin_w)) + "\" y=\"" + Px(Y(s[k])) + "\" width=\"" +
            Px(pw / kBins) + "\" height=\"" + Px(mt + ph - Y(s[k])) + "\" fill=\"" + colour +
            "\" fill-opacity=\"0.55\"><title>");
      h.Text(std::string(name) + ", distance " + Num(k * bin_w, 3) + " to " +
             Num((k + 1) * bin_w, 3) + ": " + Percent(s[k]));
      h.Raw("</title></rect>");
    }
  };
  bars(sa, kRealColour, a_name);
  bars(sb, kSynColour, b_name);
  h.Raw("</svg><figcaption>");
  h.Text(std::string(title) + ". ");
  h.Raw("<span class=\"key\" style=\"background:" + std::string(kRealColour) + "\"></span>");
  h.Text(std::string(a_name) + " (" + std::to_string(a.size()) + ")");
  h.Raw("<span class=\"key\" style=\"background:" + std::string(kSynColour) + "\"></span>");
  h.Text(std::string(b_name) + " (" + std::to_string(b.size()) + ")");
  h.Raw("</figcaption></figure>\n");
}

void PrivacySection(Html& h, const Evaluation& e) {
  h.Raw("<section aria-labelledby=\"privacy\"><h2 id=\"privacy\">Privacy</h2>\n");
  h.Element("p",
            "Distances are Gower distances: the mean over the columns of 0 or 1 for a categorical "
            "column (same value or not) and the difference divided by the real range for a "
            "numeric one; a missing value against a present one counts 1.");
  if (e.exact_copy_rate && *e.exact_copy_rate > 0) {
    h.Element("p",
              Percent(*e.exact_copy_rate) +
                  " of the synthetic rows are exact copies of training rows. Check whether such "
                  "rows are common in the population (few columns, coarse values) or singular.",
              "class=\"note\" role=\"note\"");
  }
  if (e.dcr_train.empty()) {
    h.Element("p",
              "Without a holdout (real rows the generator never saw) the distance to closest "
              "record and membership-inference checks are not computed.");
  } else {
    Histogram(h, e.dcr_train, e.dcr_holdout, "to nearest training row", "to nearest holdout row",
              "distance (Gower)",
              "Distance of sampled synthetic rows to their nearest training and holdout rows "
              "(DCR share " +
                  Num(e.dcr_share, 3) +
                  "). Alike histograms: no memorisation; training distances piled near 0: "
                  "copied records",
              "dcr");
    Histogram(h, e.mia_members, e.mia_nonmembers, "training rows (members)",
              "holdout rows (non-members)", "distance to the nearest synthetic row (Gower)",
              "Membership inference: distance of training and holdout rows to their nearest "
              "synthetic row (AUC " +
                  Num(e.mia_auc, 3) +
                  "). Alike histograms: the synthetic data do not reveal who was in the training "
                  "data",
              "mia");
  }
  h.Raw("</section>\n");
}

}  // namespace

std::string EvaluationReportHtml(const Evaluation& e, std::string_view title) {
  Html h;
  h.BeginPage(title, kCss);
  Summary(h, e);
  FidelitySection(h, e);
  PrivacySection(h, e);
  h.EndPage();
  return std::move(h.str());
}

}  // namespace sund::synth
