#include "synth/evaluate.h"

#include <Eigen/Dense>
#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <numeric>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/json.h"
#include "core/splitmix.h"

namespace sund::synth {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMaxValueCells = 100;  // a wider whole-number range: equal-frequency bins

// ---- Threads and randomness --------------------------------------------------------------------

int ThreadCount(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Calls fn(begin, end) on chunks of [0, n) from `threads` threads; chunks are handed out in
// order, so each index is processed exactly once whatever the thread count.
void ParallelFor(std::size_t n, int threads, std::size_t grain,
                 const std::function<void(std::size_t, std::size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<std::size_t>(1, grain);
  const std::size_t chunks = (n + grain - 1) / grain;
  const auto workers = static_cast<std::size_t>(std::max(1, threads));
  if (workers == 1 || chunks == 1) {
    fn(0, n);
    return;
  }
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t c = next++; c < chunks; c = next++) {
      fn(c * grain, std::min(n, (c + 1) * grain));
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < std::min(workers, chunks); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// Seeded sampling, the same on every platform; one stream per use (below).
class Rng : public SplitMix64 {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream) : SplitMix64(SplitMix64::Stream(seed, stream)) {
    Next();
  }
};

// Sampling streams, one per use, so that one sample does not shift another.
enum Stream : std::uint64_t {
  kSyntheticSample = 1,
  kTrainSubsample,
  kHoldoutSubsample,
  kMembers,
  kNonMembers
};

// k distinct indexes of [0, n) in random order; all of them, in order, when k >= n.
std::vector<std::size_t> Sample(std::size_t n, std::size_t k, std::uint64_t seed, Stream stream) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  if (k >= n) return idx;
  Rng rng(seed, stream);
  for (std::size_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + rng.Below(n - i)]);
  idx.resize(k);
  return idx;
}

// ---- Cells: how each column is cut -------------------------------------------------------------

bool IsNumeric(ColumnKind k) { return k != ColumnKind::kCategorical; }

struct Codec {
  const Column* column = nullptr;
  bool by_value = true;                            // numeric: one cell per number of the range
  std::unordered_map<std::string_view, int> code;  // categorical
  std::vector<double> values;                      // numeric by value: the range, ascending
  std::vector<double> edges;                       // numeric by bins: inner edges, ascending
  double range = 0;                                // numeric: real max - real min
  std::vector<std::string> labels;                 // one per cell, "(missing)" and "(other)" too

  int domain() const { return static_cast<int>(labels.size()) - 2; }
  int missing_cell() const { return domain(); }
  int other_cell() const { return domain() + 1; }
  int cells() const { return domain() + 2; }
};

std::string FormatNumber(const Column& c, double v) {
  std::string s;
  AppendValue(c, v, s);
  return s;
}

Codec MakeCodec(const Column& column, const CsvTable& real, std::size_t col, int bins) {
  Codec k;
  k.column = &column;
  if (column.kind == ColumnKind::kCategorical) {
    for (std::size_t i = 0; i < column.categories.size(); ++i) {
      k.code.emplace(column.categories[i], static_cast<int>(i));
      k.labels.push_back(column.categories[i]);
    }
  } else {
    std::vector<double> v;
    v.reserve(real.rows.size());
    for (const auto& row : real.rows) {
      auto x = ParseValue(column, row[col]);
      if (x.ok() && x->has_value()) v.push_back(**x);
    }
    std::sort(v.begin(), v.end());
    k.range = v.empty() ? 0 : v.back() - v.front();
    // Whole-number columns with a small range (codes, counts, stages): one cell per value of
    // the range, so that a value the real rows happen not to take still has its own cell.
    bool whole = column.kind != ColumnKind::kContinuous;
    if (whole && !v.empty() && v.back() - v.front() + 1 <= kMaxValueCells) {
      for (double x = v.front(); x <= v.back(); x += 1) k.values.push_back(x);
      for (double x : k.values) k.labels.push_back(FormatNumber(column, x));
    } else {
      k.by_value = false;
      for (int i = 1; i < bins; ++i) {
        double e = v[v.size() * static_cast<std::size_t>(i) / static_cast<std::size_t>(bins)];
        if (e > v.front() && (k.edges.empty() || e > k.edges.back())) k.edges.push_back(e);
      }
      for (std::size_t i = 0; i <= k.edges.size(); ++i) {
        double lo = i == 0 ? v.front() : k.edges[i - 1];
        bool last = i == k.edges.size();
        double hi = last ? v.back() : k.edges[i];
        k.labels.push_back("[" + FormatNumber(column, lo) + ", " + FormatNumber(column, hi) +
                           (last ? "]" : ")"));
      }
    }
  }
  k.labels.push_back("(missing)");
  k.labels.push_back("(other)");
  return k;
}

// A table in the real table's columns, column-major (entry [j * n + i] is row i of column j).
struct Encoded {
  std::size_t n = 0;
  std::vector<std::int32_t> cells;
  std::vector<double> values;  // numeric columns' numbers; NaN: missing, unparsable, categorical
  std::vector<float> gower;    // coordinates whose |difference|, capped at 1, is the Gower term
  std::vector<std::uint8_t> other;  // per row: a value outside the real domain

  const std::int32_t* cell_column(std::size_t j) const { return cells.data() + j * n; }
  const double* value_column(std::size_t j) const { return values.data() + j * n; }
};

constexpr float kGowerMissing = 8;  // numeric coordinates lie in [-1, 2]

Encoded Encode(const CsvTable& table, const std::vector<std::size_t>& map,
               const std::vector<Codec>& codecs, int threads) {
  Encoded e;
  const std::size_t d = codecs.size();
  e.n = table.rows.size();
  e.cells.resize(e.n * d);
  e.values.assign(e.n * d, kNaN);
  e.gower.resize(e.n * d);
  e.other.assign(e.n, 0);
  std::vector<std::vector<std::uint8_t>> other(d);
  ParallelFor(d, threads, 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t j = begin; j < end; ++j) {
      const Codec& k = codecs[j];
      const Column& c = *k.column;
      other[j].assign(e.n, 0);
      for (std::size_t i = 0; i < e.n; ++i) {
        std::string_view text = table.rows[i][map[j]];
        std::int32_t cell;
        float g;
        if (text.empty()) {
          cell = k.missing_cell();
          g = IsNumeric(c.kind) ? kGowerMissing : static_cast<float>(cell);
        } else if (!IsNumeric(c.kind)) {
          auto it = k.code.find(text);
          cell = it == k.code.end() ? k.other_cell() : it->second;
          g = static_cast<float>(cell);
        } else {
          auto parsed = ParseValue(c, text);
          if (!parsed.ok() || !parsed->has_value()) {
            cell = k.other_cell();
            g = kGowerMissing;
          } else {
            double x = **parsed;
            e.values[j * e.n + i] = x;
            if (k.by_value) {
              auto it = std::lower_bound(k.values.begin(), k.values.end(), x);
              cell = it != k.values.end() && *it == x
                         ? static_cast<std::int32_t>(it - k.values.begin())
                         : k.other_cell();
            } else if (x < c.lower || x > c.upper) {
              cell = k.other_cell();
            } else {
              cell = static_cast<std::int32_t>(std::upper_bound(k.edges.begin(), k.edges.end(), x) -
                                               k.edges.begin());
            }
            g = k.range > 0 ? static_cast<float>(std::clamp((x - c.lower) / k.range, -1.0, 2.0))
                            : (x == c.lower ? 0.0f : 1.0f);
          }
        }
        e.cells[j * e.n + i] = cell;
        e.gower[j * e.n + i] = g;
        if (cell == k.other_cell()) other[j][i] = 1;
      }
    }
  });
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < e.n; ++i) e.other[i] |= other[j][i];
  }
  return e;
}

// ---- Fidelity ----------------------------------------------------------------------------------

// Association and 2-way TVD of one pair, from sparse contingency tables.
struct PairScratch {
  std::vector<std::uint32_t> real, synthetic;
  std::vector<std::size_t> touched;
  std::vector<double> row_real, col_real, row_syn, col_syn;
};

// Cramér's V from the non-zero cells of a rows x cols table and its margins.
double CramersVFromCells(const std::vector<std::size_t>& cells, const std::uint32_t* counts,
                         std::size_t cols, const std::vector<double>& row_totals,
                         const std::vector<double>& col_totals) {
  double n = 0;
  std::size_t r = 0, c = 0;
  for (double t : row_totals) {
    n += t;
    r += t > 0;
  }
  for (double t : col_totals) c += t > 0;
  const std::size_t m = std::min(r, c);
  if (n <= 0 || m < 2) return 0;
  double sum = 0;  // chi2 = n * (sum O^2 / (R C) - 1)
  for (std::size_t k : cells) {
    double o = counts[k];
    if (o > 0) sum += o * o / (row_totals[k / cols] * col_totals[k % cols]);
  }
  double chi2 = n * (sum - 1);
  return std::sqrt(std::clamp(chi2 / (n * static_cast<double>(m - 1)), 0.0, 1.0));
}

double PearsonSpan(const double* x, const double* y, std::size_t n) {
  double sx = 0, sy = 0;
  std::size_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      sx += x[i];
      sy += y[i];
      ++m;
    }
  }
  if (m < 2) return 0;
  const double mx = sx / static_cast<double>(m), my = sy / static_cast<double>(m);
  double sxx = 0, syy = 0, sxy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      const double dx = x[i] - mx, dy = y[i] - my;
      sxx += dx * dx;
      syy += dy * dy;
      sxy += dx * dy;
    }
  }
  if (!(sxx > 0) || !(syy > 0)) return 0;
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

void ComparePair(const Encoded& real, const Encoded& syn, const std::vector<Codec>& codecs,
                 PairFigures& p, PairScratch& s) {
  const std::size_t ka = static_cast<std::size_t>(codecs[p.a].cells());
  const std::size_t kb = static_cast<std::size_t>(codecs[p.b].cells());
  s.real.resize(std::max(s.real.size(), ka * kb));
  s.synthetic.resize(std::max(s.synthetic.size(), ka * kb));
  s.touched.clear();
  s.row_real.assign(ka, 0);
  s.col_real.assign(kb, 0);
  s.row_syn.assign(ka, 0);
  s.col_syn.assign(kb, 0);
  auto count = [&](const Encoded& t, std::vector<std::uint32_t>& counts, std::vector<double>& rows,
                   std::vector<double>& cols) {
    const std::int32_t* ca = t.cell_column(p.a);
    const std::int32_t* cb = t.cell_column(p.b);
    for (std::size_t i = 0; i < t.n; ++i) {
      const std::size_t k = static_cast<std::size_t>(ca[i]) * kb + static_cast<std::size_t>(cb[i]);
      if (s.real[k] == 0 && s.synthetic[k] == 0) s.touched.push_back(k);
      ++counts[k];
      ++rows[static_cast<std::size_t>(ca[i])];
      ++cols[static_cast<std::size_t>(cb[i])];
    }
  };
  count(real, s.real, s.row_real, s.col_real);
  count(syn, s.synthetic, s.row_syn, s.col_syn);
  const double nr = static_cast<double>(real.n), ns = static_cast<double>(syn.n);
  double tvd = 0;
  for (std::size_t k : s.touched) tvd += std::fabs(s.real[k] / nr - s.synthetic[k] / ns);
  p.tvd = 0.5 * tvd;
  p.pearson = IsNumeric(codecs[p.a].column->kind) && IsNumeric(codecs[p.b].column->kind);
  if (p.pearson) {
    p.assoc_real = PearsonSpan(real.value_column(p.a), real.value_column(p.b), real.n);
    p.assoc_synthetic = PearsonSpan(syn.value_column(p.a), syn.value_column(p.b), syn.n);
  } else {
    p.assoc_real = CramersVFromCells(s.touched, s.real.data(), kb, s.row_real, s.col_real);
    p.assoc_synthetic = CramersVFromCells(s.touched, s.synthetic.data(), kb, s.row_syn, s.col_syn);
  }
  for (std::size_t k : s.touched) s.real[k] = s.synthetic[k] = 0;
}

void Fidelity(const Encoded& real, const Encoded& syn, const std::vector<Codec>& codecs,
              int threads, Evaluation& e) {
  const std::size_t d = codecs.size();
  double sum = 0;
  for (std::size_t j = 0; j < d; ++j) {
    Marginal m;
    m.labels = codecs[j].labels;
    m.real.assign(m.labels.size(), 0);
    m.synthetic.assign(m.labels.size(), 0);
    const std::int32_t* cr = real.cell_column(j);
    const std::int32_t* cs = syn.cell_column(j);
    for (std::size_t i = 0; i < real.n; ++i) m.real[static_cast<std::size_t>(cr[i])] += 1;
    for (std::size_t i = 0; i < syn.n; ++i) m.synthetic[static_cast<std::size_t>(cs[i])] += 1;
    for (std::size_t c = 0; c < m.labels.size(); ++c) {
      m.real[c] /= static_cast<double>(real.n);
      m.synthetic[c] /= static_cast<double>(syn.n);
      m.tvd += std::fabs(m.real[c] - m.synthetic[c]);
    }
    m.tvd *= 0.5;
    sum += m.tvd;
    e.marginals.push_back(std::move(m));
  }
  e.tvd1 = sum / static_cast<double>(d);

  for (std::size_t a = 0; a < d; ++a) {
    for (std::size_t b = a + 1; b < d; ++b) e.pairs.push_back({.a = a, .b = b});
  }
  ParallelFor(e.pairs.size(), threads, 4, [&](std::size_t begin, std::size_t end) {
    PairScratch scratch;
    for (std::size_t i = begin; i < end; ++i) ComparePair(real, syn, codecs, e.pairs[i], scratch);
  });
  e.assoc_real.assign(d * d, 0);
  e.assoc_synthetic.assign(d * d, 0);
  for (std::size_t j = 0; j < d; ++j) e.assoc_real[j * d + j] = e.assoc_synthetic[j * d + j] = 1;
  if (e.pairs.empty()) return;
  double tvd2 = 0, diff = 0;
  for (const PairFigures& p : e.pairs) {
    tvd2 += p.tvd;
    diff += std::fabs(p.assoc_real - p.assoc_synthetic);
    e.assoc_real[p.a * d + p.b] = e.assoc_real[p.b * d + p.a] = p.assoc_real;
    e.assoc_synthetic[p.a * d + p.b] = e.assoc_synthetic[p.b * d + p.a] = p.assoc_synthetic;
  }
  e.tvd2 = tvd2 / static_cast<double>(e.pairs.size());
  e.corr_diff = diff / static_cast<double>(e.pairs.size());
}

// ---- Utility: logistic regression --------------------------------------------------------------

struct Target {
  std::size_t column = 0;
  int positive_cell = -1;        // categorical
  double positive_value = kNaN;  // numeric
  std::string positive;          // as text
};

// 1, 0, or -1 when the row's target is missing.
int Label(const Encoded& t, const Codec& k, const Target& target, std::size_t i) {
  const std::int32_t cell = t.cell_column(target.column)[i];
  if (cell == k.missing_cell()) return -1;
  if (!IsNumeric(k.column->kind)) return cell == target.positive_cell ? 1 : 0;
  return t.value_column(target.column)[i] == target.positive_value ? 1 : 0;
}

Result<Target> ResolveTarget(const Schema& schema, const std::vector<Codec>& codecs,
                             const Encoded& real, const EvaluateOptions& options) {
  Target t;
  auto col = schema.Find(options.target);
  if (!col) {
    return InvalidArgument("the target '" + options.target + "' is not a column of the real data");
  }
  t.column = *col;
  const Codec& k = codecs[*col];
  const Column& c = *k.column;
  // The target's real values as cells and their counts (a numeric target cut into bins is not
  // a class label).
  std::vector<std::size_t> counts(static_cast<std::size_t>(k.cells()), 0);
  for (std::size_t i = 0; i < real.n; ++i) {
    ++counts[static_cast<std::size_t>(real.cell_column(*col)[i])];
  }
  if (!k.by_value) {
    return InvalidArgument("the target '" + options.target +
                           "' is not a class label (a continuous column, or whole numbers over "
                           "a range of more than 100)");
  }
  std::size_t distinct = 0;
  for (int v = 0; v < k.domain(); ++v) distinct += counts[static_cast<std::size_t>(v)] > 0;
  if (distinct < 2) {
    return InvalidArgument("the target '" + options.target + "' has fewer than two values");
  }
  int positive = -1;
  if (options.positive.empty()) {
    if (distinct > 2) {
      return InvalidArgument("the target '" + options.target +
                             "' has more than two values: name the positive class");
    }
    for (int v = 0; v < k.domain(); ++v) {
      const std::size_t n = counts[static_cast<std::size_t>(v)];
      if (n > 0 && (positive < 0 || n <= counts[static_cast<std::size_t>(positive)])) positive = v;
    }
  } else if (IsNumeric(c.kind)) {
    auto x = ParseValue(c, options.positive);
    if (x.ok() && x->has_value()) {
      auto it = std::lower_bound(k.values.begin(), k.values.end(), **x);
      if (it != k.values.end() && *it == **x) positive = static_cast<int>(it - k.values.begin());
    }
  } else if (auto it = k.code.find(options.positive); it != k.code.end()) {
    positive = it->second;
  }
  if (positive < 0 || counts[static_cast<std::size_t>(positive)] == 0) {
    return InvalidArgument("the positive class is not a value of the target '" + options.target +
                           "'");
  }
  t.positive = k.labels[static_cast<std::size_t>(positive)];
  if (IsNumeric(c.kind)) {
    t.positive_value = k.values[static_cast<std::size_t>(positive)];
  } else {
    t.positive_cell = positive;
  }
  return t;
}

// Sparse rows: each row has one one-hot entry per feature column (none for "other") and one
// standardised value per numeric feature column.
struct Design {
  std::size_t features = 0;
  std::vector<std::int32_t> index;
  std::vector<float> value;
  std::vector<std::size_t> start;  // row i spans [start[i], start[i + 1])
  std::vector<double> y;
};

struct Standardiser {
  std::vector<double> mean, sd;  // per column; unused for categorical ones
};

Standardiser FitStandardiser(const Encoded& t, const std::vector<Codec>& codecs,
                             const std::vector<int>& rows) {
  Standardiser s;
  s.mean.assign(codecs.size(), 0);
  s.sd.assign(codecs.size(), 1);
  for (std::size_t j = 0; j < codecs.size(); ++j) {
    if (!IsNumeric(codecs[j].column->kind)) continue;
    const double* v = t.value_column(j);
    double sum = 0, sq = 0;
    std::size_t n = 0;
    for (int i : rows) {
      if (std::isfinite(v[i])) {
        sum += v[i];
        ++n;
      }
    }
    if (n == 0) continue;
    const double mean = sum / static_cast<double>(n);
    for (int i : rows) {
      if (std::isfinite(v[i])) sq += (v[i] - mean) * (v[i] - mean);
    }
    s.mean[j] = mean;
    const double sd = std::sqrt(sq / static_cast<double>(n));
    s.sd[j] = sd > 0 ? sd : 1;
  }
  return s;
}

Design MakeDesign(const Encoded& t, const std::vector<Codec>& codecs, const Target& target,
                  const std::vector<int>& rows, const std::vector<int>& labels,
                  const Standardiser& st) {
  Design x;
  std::vector<std::size_t> offset(codecs.size(), 0);
  for (std::size_t j = 0; j < codecs.size(); ++j) {
    if (j == target.column) continue;
    offset[j] = x.features;
    x.features += static_cast<std::size_t>(codecs[j].domain() + 1);  // + the missing cell
    if (IsNumeric(codecs[j].column->kind)) x.features += 1;
  }
  x.start.push_back(0);
  for (int i : rows) {
    for (std::size_t j = 0; j < codecs.size(); ++j) {
      if (j == target.column) continue;
      const int cell = t.cell_column(j)[i];
      if (cell != codecs[j].other_cell()) {
        x.index.push_back(static_cast<std::int32_t>(offset[j] + static_cast<std::size_t>(cell)));
        x.value.push_back(1);
      }
      if (IsNumeric(codecs[j].column->kind)) {
        const double v = t.value_column(j)[i];
        x.index.push_back(static_cast<std::int32_t>(
            offset[j] + static_cast<std::size_t>(codecs[j].domain()) + 1));
        x.value.push_back(std::isfinite(v) ? static_cast<float>((v - st.mean[j]) / st.sd[j])
                                           : 0.0f);
      }
    }
    x.start.push_back(x.index.size());
    x.y.push_back(labels[static_cast<std::size_t>(i)]);
  }
  return x;
}

// Weights, the intercept last.
Eigen::VectorXd Scores(const Design& x, const Eigen::VectorXd& w) {
  const std::size_t n = x.start.size() - 1;
  Eigen::VectorXd z(static_cast<Eigen::Index>(n));
  const double b = w[static_cast<Eigen::Index>(x.features)];
  for (std::size_t i = 0; i < n; ++i) {
    double s = b;
    for (std::size_t k = x.start[i]; k < x.start[i + 1]; ++k) s += x.value[k] * w[x.index[k]];
    z[static_cast<Eigen::Index>(i)] = s;
  }
  return z;
}

// Mean penalised log-loss and its gradient: (sum log-loss + 0.5 |w|^2) / n.
double Objective(const Design& x, const Eigen::VectorXd& w, Eigen::VectorXd& grad) {
  const std::size_t n = x.y.size();
  const Eigen::VectorXd z = Scores(x, w);
  const auto p = static_cast<Eigen::Index>(x.features);
  grad = w;
  grad[p] = 0;
  double f = 0.5 * w.head(p).squaredNorm();
  for (std::size_t i = 0; i < n; ++i) {
    const double zi = z[static_cast<Eigen::Index>(i)];
    const double t = std::exp(-std::fabs(zi));  // log(1 + e^z) and the sigmoid from one exp
    f += std::max(zi, 0.0) + std::log1p(t) - x.y[i] * zi;
    const double r = (zi >= 0 ? 1 / (1 + t) : t / (1 + t)) - x.y[i];
    for (std::size_t k = x.start[i]; k < x.start[i + 1]; ++k) grad[x.index[k]] += r * x.value[k];
    grad[p] += r;
  }
  const double inv = 1.0 / static_cast<double>(n);
  grad *= inv;
  return f * inv;
}

// L-BFGS (10 pairs) with a backtracking Armijo line search, until no component of the mean
// objective's gradient exceeds 1e-5 (500 iterations at most); the objective is strictly convex.
Eigen::VectorXd FitLogistic(const Design& x) {
  const auto dim = static_cast<Eigen::Index>(x.features + 1);
  Eigen::VectorXd w = Eigen::VectorXd::Zero(dim), g, g_new;
  double f = Objective(x, w, g);
  std::deque<std::pair<Eigen::VectorXd, Eigen::VectorXd>> history;  // (s, y)
  constexpr int kMaxIterations = 500;
  constexpr std::size_t kPairs = 10;
  for (int iter = 0; iter < kMaxIterations && g.lpNorm<Eigen::Infinity>() > 1e-5; ++iter) {
    Eigen::VectorXd d = -g;
    std::vector<double> alpha(history.size());
    for (std::size_t k = history.size(); k-- > 0;) {
      const auto& [s, y] = history[k];
      alpha[k] = s.dot(d) / y.dot(s);
      d -= alpha[k] * y;
    }
    if (!history.empty()) {
      const auto& [s, y] = history.back();
      d *= s.dot(y) / y.dot(y);
    }
    for (std::size_t k = 0; k < history.size(); ++k) {
      const auto& [s, y] = history[k];
      d += (alpha[k] - y.dot(d) / y.dot(s)) * s;
    }
    double slope = g.dot(d);
    if (!(slope < 0)) {
      history.clear();
      d = -g;
      slope = -g.squaredNorm();
    }
    double step = 1;
    if (history.empty()) step = std::min(1.0, 1.0 / std::sqrt(-slope));
    Eigen::VectorXd w_new;
    double f_new = f;
    bool moved = false;
    for (int k = 0; k < 50; ++k, step *= 0.5) {
      w_new = w + step * d;
      f_new = Objective(x, w_new, g_new);
      if (f_new <= f + 1e-4 * step * slope) {
        moved = true;
        break;
      }
    }
    if (!moved) break;
    Eigen::VectorXd s = w_new - w, y = g_new - g;
    if (s.dot(y) > 1e-12) {
      history.emplace_back(std::move(s), std::move(y));
      if (history.size() > kPairs) history.pop_front();
    }
    const double decrease = f - f_new;
    w = std::move(w_new);
    g = g_new;
    f = f_new;
    if (decrease < 1e-12 * std::max(1.0, std::fabs(f))) break;
  }
  return w;
}

struct Classification {
  std::optional<double> auc;
  std::optional<double> accuracy;
};

// Trains on `train` rows with labels and scores the test rows.
Classification TrainAndTest(const Encoded& train, const Encoded& test,
                            const std::vector<Codec>& codecs, const Target& target) {
  auto labelled = [&](const Encoded& t, std::vector<int>& rows, std::vector<int>& labels) {
    labels.resize(t.n);
    for (std::size_t i = 0; i < t.n; ++i) {
      labels[i] = Label(t, codecs[target.column], target, i);
      if (labels[i] >= 0) rows.push_back(static_cast<int>(i));
    }
  };
  std::vector<int> train_rows, train_labels, test_rows, test_labels;
  labelled(train, train_rows, train_labels);
  labelled(test, test_rows, test_labels);
  Classification out;
  if (train_rows.empty() || test_rows.empty()) return out;
  std::size_t positives = 0;
  for (int i : train_rows) positives += train_labels[static_cast<std::size_t>(i)] == 1;
  std::vector<double> scores;
  if (positives == 0 || positives == train_rows.size()) {
    scores.assign(test_rows.size(), positives == 0 ? -1.0 : 1.0);
  } else {
    const Standardiser st = FitStandardiser(train, codecs, train_rows);
    const Eigen::VectorXd w =
        FitLogistic(MakeDesign(train, codecs, target, train_rows, train_labels, st));
    const Eigen::VectorXd z =
        Scores(MakeDesign(test, codecs, target, test_rows, test_labels, st), w);
    scores.assign(z.data(), z.data() + z.size());
  }
  std::vector<bool> truth;
  std::size_t correct = 0;
  for (std::size_t k = 0; k < test_rows.size(); ++k) {
    const bool y = test_labels[static_cast<std::size_t>(test_rows[k])] == 1;
    truth.push_back(y);
    correct += (scores[k] >= 0) == y;
  }
  out.auc = Auc(scores, truth);
  if (out.auc) out.accuracy = static_cast<double>(correct) / static_cast<double>(test_rows.size());
  return out;
}

// ---- Privacy: nearest neighbours under the Gower distance --------------------------------------

constexpr std::size_t kBlock = 256;

// Gower coordinates of some rows, column-major, the row count padded to a multiple of kBlock.
struct Points {
  std::size_t n = 0, d = 0, stride = 0;
  std::vector<float> data;
};

Points Gather(const Encoded& t, std::size_t d, const std::vector<std::size_t>& rows) {
  Points p;
  p.n = rows.size();
  p.d = d;
  p.stride = (p.n + kBlock - 1) / kBlock * kBlock;
  p.data.assign(p.stride * d, 0.0f);
  for (std::size_t j = 0; j < d; ++j) {
    const float* src = t.gower.data() + j * t.n;
    float* dst = p.data.data() + j * p.stride;
    for (std::size_t i = 0; i < p.n; ++i) dst[i] = src[rows[i]];
  }
  return p;
}

struct Nearest {
  double first = std::numeric_limits<double>::infinity();
  double second = std::numeric_limits<double>::infinity();
};

// For each query row, the distances to its nearest and second-nearest reference rows.
std::vector<Nearest> NearestTwo(const Points& ref, const Points& query, int threads) {
  std::vector<Nearest> out(query.n);
  const std::size_t d = ref.d;
  ParallelFor(query.n, threads, 16, [&](std::size_t begin, std::size_t end) {
    std::vector<float> q(d);
    alignas(64) float acc[kBlock];
    for (std::size_t i = begin; i < end; ++i) {
      for (std::size_t j = 0; j < d; ++j) q[j] = query.data[j * query.stride + i];
      float best1 = std::numeric_limits<float>::infinity(), best2 = best1;
      for (std::size_t b = 0; b < ref.stride; b += kBlock) {
        std::fill(acc, acc + kBlock, 0.0f);
        for (std::size_t j = 0; j < d; ++j) {
          const float qj = q[j];
          const float* r = ref.data.data() + j * ref.stride + b;
          for (std::size_t k = 0; k < kBlock; ++k) {
            const float t = std::fabs(qj - r[k]);
            acc[k] += t < 1.0f ? t : 1.0f;
          }
        }
        const std::size_t valid = std::min(kBlock, ref.n - b);
        for (std::size_t k = 0; k < valid; ++k) {
          if (acc[k] < best2) {
            if (acc[k] < best1) {
              best2 = best1;
              best1 = acc[k];
            } else {
              best2 = acc[k];
            }
          }
        }
      }
      out[i].first = best1 / static_cast<double>(d);
      out[i].second = best2 / static_cast<double>(d);
    }
  });
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::uint64_t Mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h * 0xBF58476D1CE4E5B9ull;
}

// A value's identity for exact-copy matching: categories by cell, numbers by value.
std::uint64_t CellKey(const Encoded& t, const std::vector<Codec>& codecs, std::size_t j,
                      std::size_t i) {
  const std::int32_t cell = t.cell_column(j)[i];
  if (!IsNumeric(codecs[j].column->kind) || cell == codecs[j].missing_cell()) {
    return static_cast<std::uint64_t>(static_cast<std::uint32_t>(cell)) | (1ull << 63);
  }
  return std::bit_cast<std::uint64_t>(t.value_column(j)[i] + 0.0);  // -0 as 0
}

double ExactCopyRate(const Encoded& train, const Encoded& syn, const std::vector<Codec>& codecs) {
  const std::size_t d = codecs.size();
  auto hash = [&](const Encoded& t, std::size_t i) {
    std::uint64_t h = 0;
    for (std::size_t j = 0; j < d; ++j) h = Mix(h, CellKey(t, codecs, j, i));
    return h;
  };
  std::vector<std::pair<std::uint64_t, std::size_t>> index(train.n);
  for (std::size_t i = 0; i < train.n; ++i) index[i] = {hash(train, i), i};
  std::sort(index.begin(), index.end());
  std::size_t copies = 0;
  for (std::size_t i = 0; i < syn.n; ++i) {
    if (syn.other[i]) continue;
    const std::uint64_t h = hash(syn, i);
    auto it = std::lower_bound(index.begin(), index.end(), std::pair{h, std::size_t{0}});
    for (; it != index.end() && it->first == h; ++it) {
      std::size_t j = 0;
      while (j < d && CellKey(train, codecs, j, it->second) == CellKey(syn, codecs, j, i)) ++j;
      if (j == d) {
        ++copies;
        break;
      }
    }
  }
  return static_cast<double>(copies) / static_cast<double>(syn.n);
}

void Privacy(const Encoded& train, const Encoded* holdout, const Encoded& syn,
             const std::vector<Codec>& codecs, const EvaluateOptions& options, int threads,
             Evaluation& e) {
  const std::size_t d = codecs.size();
  e.exact_copy_rate = ExactCopyRate(train, syn, codecs);
  const std::size_t sample_size = std::max<std::size_t>(1, options.privacy_sample);
  const Points queries = Gather(syn, d, Sample(syn.n, sample_size, options.seed, kSyntheticSample));
  std::vector<std::size_t> all_train(train.n);
  std::iota(all_train.begin(), all_train.end(), 0);
  const std::vector<Nearest> to_train = NearestTwo(Gather(train, d, all_train), queries, threads);
  if (train.n >= 2) {
    std::vector<double> ratios;
    for (const Nearest& nn : to_train) {
      ratios.push_back(nn.second > 0 ? nn.first / nn.second : 1.0);
    }
    e.nndr = Median(std::move(ratios));
  }
  if (holdout == nullptr) return;

  // DCR: training and holdout cut to the same size.
  const std::size_t m = std::min(train.n, holdout->n);
  std::vector<Nearest> to_train_sub;
  if (m == train.n) {
    to_train_sub = to_train;
  } else {
    to_train_sub = NearestTwo(Gather(train, d, Sample(train.n, m, options.seed, kTrainSubsample)),
                              queries, threads);
  }
  const std::vector<Nearest> to_holdout =
      NearestTwo(Gather(*holdout, d, Sample(holdout->n, m, options.seed, kHoldoutSubsample)),
                 queries, threads);
  double closer = 0;
  for (std::size_t i = 0; i < queries.n; ++i) {
    const double a = to_train_sub[i].first, b = to_holdout[i].first;
    closer += a < b ? 1.0 : a == b ? 0.5 : 0.0;
    e.dcr_train.push_back(a);
    e.dcr_holdout.push_back(b);
  }
  e.dcr_share = closer / static_cast<double>(queries.n);

  // Membership inference: members and non-members against all synthetic rows.
  const std::size_t k = std::min({sample_size, train.n, holdout->n});
  std::vector<std::size_t> all_syn(syn.n);
  std::iota(all_syn.begin(), all_syn.end(), 0);
  const Points synthetic = Gather(syn, d, all_syn);
  const auto members =
      NearestTwo(synthetic, Gather(train, d, Sample(train.n, k, options.seed, kMembers)), threads);
  const auto non_members = NearestTwo(
      synthetic, Gather(*holdout, d, Sample(holdout->n, k, options.seed, kNonMembers)), threads);
  std::vector<double> scores;
  std::vector<bool> member;
  for (const Nearest& nn : members) {
    e.mia_members.push_back(nn.first);
    scores.push_back(-nn.first);
    member.push_back(true);
  }
  for (const Nearest& nn : non_members) {
    e.mia_nonmembers.push_back(nn.first);
    scores.push_back(-nn.first);
    member.push_back(false);
  }
  e.mia_auc = Auc(scores, member);
}

// ---- JSON --------------------------------------------------------------------------------------

void WriteNumber(rapidjson::Writer<rapidjson::StringBuffer>& w, std::optional<double> v) {
  if (v && std::isfinite(*v)) {
    w.Double(*v);
  } else {
    w.Null();
  }
}

void WriteString(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace

std::optional<double> Auc(const std::vector<double>& scores, const std::vector<bool>& positive) {
  const std::size_t n = std::min(scores.size(), positive.size());
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;  // of the positives, ranks from 1, ties given their mean rank
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k) {
      if (positive[order[k]]) {
        rank_sum += mean_rank;
        ++pos;
      }
    }
    i = j;
  }
  const std::size_t neg = n - pos;
  if (pos == 0 || neg == 0) return std::nullopt;
  const double p = static_cast<double>(pos);
  return (rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(neg));
}

double Pearson(const std::vector<double>& x, const std::vector<double>& y) {
  return PearsonSpan(x.data(), y.data(), std::min(x.size(), y.size()));
}

double CramersV(const std::vector<double>& counts, std::size_t rows, std::size_t cols) {
  std::vector<std::uint32_t> c(rows * cols, 0);
  std::vector<std::size_t> cells;
  std::vector<double> row_totals(rows, 0), col_totals(cols, 0);
  for (std::size_t k = 0; k < rows * cols && k < counts.size(); ++k) {
    if (!(counts[k] > 0)) continue;
    c[k] = static_cast<std::uint32_t>(std::lround(counts[k]));
    cells.push_back(k);
    row_totals[k / cols] += c[k];
    col_totals[k % cols] += c[k];
  }
  return CramersVFromCells(cells, c.data(), cols, row_totals, col_totals);
}

Result<Evaluation> Evaluate(const CsvTable& real, const CsvTable* holdout,
                            const CsvTable& synthetic, const EvaluateOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (real.rows.empty()) return InvalidArgument("the real table has no rows");
  if (synthetic.rows.empty()) return InvalidArgument("the synthetic table has no rows");
  if (holdout != nullptr && holdout->rows.empty()) {
    return InvalidArgument("the holdout table has no rows");
  }
  if (options.bins < 2 || options.bins > 1000) {
    return InvalidArgument("bins must be 2..1000, not " + std::to_string(options.bins));
  }
  InferOptions infer;
  infer.max_categories = options.max_categories;
  infer.few_values = 0;  // numbers stay numbers here: distances and correlations need them
  SUND_ASSIGN_OR_RETURN(Schema schema, InferSchema(real, infer));
  auto map_columns = [&](const CsvTable& t, const char* which) -> Result<std::vector<std::size_t>> {
    std::vector<std::size_t> map;
    for (const Column& c : schema.columns) {
      auto i = t.Column(c.name);
      if (!i)
        return InvalidArgument(std::string("the ") + which + " table has no column '" + c.name +
                               "'");
      map.push_back(*i);
    }
    return map;
  };
  SUND_ASSIGN_OR_RETURN(std::vector<std::size_t> real_map, map_columns(real, "real"));
  SUND_ASSIGN_OR_RETURN(std::vector<std::size_t> syn_map, map_columns(synthetic, "synthetic"));
  std::vector<std::size_t> holdout_map;
  if (holdout != nullptr) {
    SUND_ASSIGN_OR_RETURN(holdout_map, map_columns(*holdout, "holdout"));
  }

  const int threads = ThreadCount(options.threads);
  std::vector<Codec> codecs;
  for (std::size_t j = 0; j < schema.columns.size(); ++j) {
    codecs.push_back(MakeCodec(schema.columns[j], real, real_map[j], options.bins));
  }
  const Encoded real_e = Encode(real, real_map, codecs, threads);
  const Encoded syn_e = Encode(synthetic, syn_map, codecs, threads);
  std::optional<Encoded> holdout_e;
  if (holdout != nullptr) holdout_e = Encode(*holdout, holdout_map, codecs, threads);

  std::optional<Target> target;
  if (!options.target.empty()) {
    SUND_ASSIGN_OR_RETURN(target, ResolveTarget(schema, codecs, real_e, options));
  }

  Evaluation e;
  for (const Column& c : schema.columns) {
    e.columns.push_back(c.name);
    e.kinds.push_back(c.kind);
  }
  e.rows_real = real.rows.size();
  e.rows_holdout = holdout != nullptr ? holdout->rows.size() : 0;
  e.rows_synthetic = synthetic.rows.size();

  Fidelity(real_e, syn_e, codecs, threads, e);
  if (target) {
    e.target = options.target;
    e.positive = target->positive;
    if (holdout_e) {
      // The two models are independent: train them side by side.
      Classification tstr, trtr;
      std::thread other([&] { trtr = TrainAndTest(real_e, *holdout_e, codecs, *target); });
      tstr = TrainAndTest(syn_e, *holdout_e, codecs, *target);
      other.join();
      e.tstr_auc = tstr.auc;
      e.tstr_accuracy = tstr.accuracy;
      e.trtr_auc = trtr.auc;
      e.trtr_accuracy = trtr.accuracy;
    }
  }
  Privacy(real_e, holdout_e ? &*holdout_e : nullptr, syn_e, codecs, options, threads, e);
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return e;
}

std::string EvaluationJson(const Evaluation& e) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  const std::pair<const char*, std::optional<double>> figures[] = {
      {"tvd1", e.tvd1},
      {"tvd2", e.tvd2},
      {"corr_diff", e.corr_diff},
      {"tstr_auc", e.tstr_auc},
      {"trtr_auc", e.trtr_auc},
      {"tstr_accuracy", e.tstr_accuracy},
      {"trtr_accuracy", e.trtr_accuracy},
      {"exact_copy_rate", e.exact_copy_rate},
      {"nndr", e.nndr},
      {"dcr_share", e.dcr_share},
      {"mia_auc", e.mia_auc},
  };
  for (const auto& [key, value] : figures) {
    w.Key(key);
    WriteNumber(w, value);
  }
  w.Key("rows_real");
  w.Uint64(e.rows_real);
  w.Key("rows_holdout");
  w.Uint64(e.rows_holdout);
  w.Key("rows_synthetic");
  w.Uint64(e.rows_synthetic);
  w.Key("columns");
  w.Uint64(e.columns.size());
  w.Key("target");
  if (e.target.empty()) {
    w.Null();
  } else {
    WriteString(w, e.target);
  }
  w.Key("positive");
  if (e.target.empty()) {
    w.Null();
  } else {
    WriteString(w, e.positive);
  }
  w.Key("seconds");
  WriteNumber(w, e.seconds);
  w.Key("column_tvd");
  w.StartArray();
  for (std::size_t j = 0; j < e.columns.size() && j < e.marginals.size(); ++j) {
    w.StartObject();
    w.Key("column");
    WriteString(w, e.columns[j]);
    w.Key("kind");
    WriteString(w, ColumnKindName(e.kinds[j]));
    w.Key("tvd");
    WriteNumber(w, e.marginals[j].tvd);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace sund::synth
