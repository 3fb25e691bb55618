// MST (McKenna, Miklau & Sheldon 2021) on the coded table: see model.h for the outline and
// docs/synth.md for the budget split.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <string>

#include "synth/internal/fit.h"
#include "synth/internal/pgm.h"

namespace sund::synth::internal {
namespace {

std::string Fixed(double v, int digits = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string Sci(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

struct DisjointSets {
  std::vector<int> up;
  explicit DisjointSets(std::size_t n) : up(n) { std::iota(up.begin(), up.end(), 0); }
  int Find(int x) {
    while (up[x] != x) x = up[x] = up[up[x]];
    return x;
  }
  bool Union(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return false;
    up[a] = b;
    return true;
  }
};

std::vector<double> Counts2(const std::vector<std::uint32_t>& a,
                            const std::vector<std::uint32_t>& b, std::size_t nb, std::size_t size) {
  std::vector<double> x(size, 0.0);
  for (std::size_t r = 0; r < a.size(); ++r) x[a[r] * nb + b[r]] += 1;
  return x;
}

// The probabilities closest (least squares) to noisy counts scaled to their sum: w = max(y - t,
// 0) with t such that the weights sum to the counts' sum. Empty when the counts carry no mass.
std::vector<double> ProjectToSimplex(const std::vector<double>& y) {
  double total = std::accumulate(y.begin(), y.end(), 0.0);
  if (!(total > 0)) return {};
  std::vector<double> sorted = y;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double acc = 0, t = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    acc += sorted[i];
    double cand = (acc - total) / static_cast<double>(i + 1);
    if (sorted[i] - cand > 0) t = cand;
  }
  std::vector<double> w(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) w[i] = std::max(0.0, y[i] - t) / total;
  return w;
}

}  // namespace

Status FitMst(const Codes& codes, double rho, const FitOptions& options, Rng& rng, Model& m) {
  const std::size_t d = codes.size();
  const std::size_t n = codes[0].size();
  auto progress = [&](std::string_view stage, double f) {
    if (options.progress) options.progress(stage, f);
  };
  const bool select = d >= 3;
  const double rho1 = select ? rho / 3 : (d == 1 ? rho : rho / 2);
  const double rho_sel = select ? rho / 3 : 0;
  const double rho2 = rho - rho1 - rho_sel;
  std::normal_distribution<double> normal(0.0, 1.0);

  // 1-way marginals, each with an equal share of rho1.
  progress("1-way marginals", 0);
  const double sigma1 = GaussianSigma(rho1 / static_cast<double>(d));
  m.privacy.steps.push_back(
      {"1-way marginals",
       std::to_string(d) + " marginals, Gaussian noise sigma " + Fixed(sigma1, 2), rho1});
  std::vector<Measurement> ms;
  std::vector<std::size_t> sizes(d);
  Codes cc(d);  // compressed codes
  m.kept.assign(d, {});
  m.rest_weights.assign(d, {});
  std::size_t compressed_columns = 0;
  for (std::size_t c = 0; c < d; ++c) {
    std::size_t D = m.coding[c].size();
    std::vector<double> y(D, 0.0);
    for (auto v : codes[c]) y[v] += 1;
    for (double& x : y) x += sigma1 * normal(rng);
    // Values whose noisy count is below 3 sigma are merged into one (MST's domain compression).
    std::vector<std::uint32_t> kept;
    for (std::size_t j = 0; j < D; ++j) {
      if (y[j] >= 3 * sigma1) kept.push_back(static_cast<std::uint32_t>(j));
    }
    Measurement meas;
    meas.vars = {static_cast<int>(c)};
    meas.sigma = sigma1;
    std::vector<std::uint32_t> map(D);
    if (kept.size() == D) {
      meas.y = std::move(y);
      std::iota(map.begin(), map.end(), 0u);
      sizes[c] = D;
    } else {
      ++compressed_columns;
      double k = static_cast<double>(D - kept.size());
      double rest = 0;
      std::vector<bool> is_kept(D, false);
      for (std::size_t i = 0; i < kept.size(); ++i) {
        is_kept[kept[i]] = true;
        map[kept[i]] = static_cast<std::uint32_t>(i);
        meas.y.push_back(y[kept[i]]);
        meas.q.push_back(1.0);
      }
      std::vector<double> rest_y;
      for (std::size_t j = 0; j < D; ++j) {
        if (!is_kept[j]) {
          rest += y[j];
          rest_y.push_back(y[j]);
          map[j] = static_cast<std::uint32_t>(kept.size());
        }
      }
      m.rest_weights[c] = ProjectToSimplex(rest_y);
      // The merged value's measurement keeps its variance sigma^2 by scaling with 1/sqrt(k).
      meas.y.push_back(rest / std::sqrt(k));
      meas.q.push_back(1.0 / std::sqrt(k));
      sizes[c] = kept.size() + 1;
    }
    m.kept[c] = std::move(kept);
    cc[c].resize(n);
    for (std::size_t r = 0; r < n; ++r) cc[c][r] = map[codes[c][r]];
    ms.push_back(std::move(meas));
  }
  // The tree.
  std::vector<std::pair<int, int>> edges;
  if (select) {
    progress("selecting the tree", 0);
    std::vector<Measurement> one_way(ms.begin(), ms.end());
    ForestFit indep = FitForest(sizes, {}, one_way, 500);
    struct Pair {
      int a, b;
      double score;
    };
    std::vector<Pair> pairs;
    for (std::size_t a = 0; a < d; ++a) {
      for (std::size_t b = a + 1; b < d; ++b) {
        auto x = Counts2(cc[a], cc[b], sizes[b], sizes[a] * sizes[b]);
        double l1 = 0;
        for (std::size_t i = 0; i < sizes[a]; ++i) {
          for (std::size_t j = 0; j < sizes[b]; ++j) {
            l1 +=
                std::fabs(x[i * sizes[b] + j] - indep.node[a][i] * indep.node[b][j] / indep.total);
          }
        }
        pairs.push_back({static_cast<int>(a), static_cast<int>(b), l1});
      }
    }
    const double eps_edge = std::sqrt(8 * rho_sel / static_cast<double>(d - 1));
    m.privacy.steps.push_back({"tree selection",
                               std::to_string(d - 1) +
                                   " edges by the exponential mechanism (L1 error of the 1-way "
                                   "model, sensitivity 1), epsilon " +
                                   Fixed(eps_edge, 4) + " each",
                               rho_sel});
    DisjointSets sets(d);
    for (std::size_t k = 0; k + 1 < d; ++k) {
      std::vector<double> scores;
      std::vector<std::size_t> idx;
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        if (sets.Find(pairs[i].a) != sets.Find(pairs[i].b)) {
          scores.push_back(pairs[i].score);
          idx.push_back(i);
        }
      }
      const Pair& pick = pairs[idx[ExponentialMechanism(scores, eps_edge, 1.0, rng)]];
      sets.Union(pick.a, pick.b);
      edges.emplace_back(pick.a, pick.b);
    }
  } else if (d == 2) {
    edges.emplace_back(0, 1);
  }

  // 2-way marginals on the tree.
  if (!edges.empty()) {
    const double sigma2 = GaussianSigma(rho2 / static_cast<double>(edges.size()));
    m.privacy.steps.push_back({"2-way marginals",
                               std::to_string(edges.size()) +
                                   " marginals on the tree, Gaussian noise sigma " +
                                   Fixed(sigma2, 2),
                               rho2});
    for (auto [a, b] : edges) {
      Measurement meas;
      meas.vars = {a, b};
      meas.sigma = sigma2;
      meas.y = Counts2(cc[a], cc[b], sizes[b], sizes[a] * sizes[b]);
      for (double& x : meas.y) x += sigma2 * normal(rng);
      ms.push_back(std::move(meas));
    }
  }

  progress("fitting the graphical model", 0);
  ForestFit fit = FitForest(sizes, edges, ms, options.iterations,
                            [&](double f) { progress("fitting the graphical model", f); });

  // Sampling order: breadth first from the lowest column of each tree.
  std::vector<std::vector<std::pair<int, int>>> adj(d);  // (neighbour, edge)
  for (std::size_t e = 0; e < edges.size(); ++e) {
    adj[edges[e].first].emplace_back(edges[e].second, static_cast<int>(e));
    adj[edges[e].second].emplace_back(edges[e].first, static_cast<int>(e));
  }
  m.order.clear();
  m.parent.assign(d, -1);
  m.tables.assign(d, {});
  std::vector<bool> seen(d, false);
  for (std::size_t r = 0; r < d; ++r) {
    if (seen[r]) continue;
    seen[r] = true;
    std::size_t head = m.order.size();
    m.order.push_back(static_cast<int>(r));
    m.tables[r] = fit.node[r];
    while (head < m.order.size()) {
      int v = m.order[head++];
      for (auto [u, e] : adj[v]) {
        if (seen[u]) continue;
        seen[u] = true;
        m.parent[u] = v;
        m.order.push_back(u);
        const auto& joint = fit.edge[e];
        auto& t = m.tables[u];
        if (edges[e].first == v) {
          t = joint;
        } else {  // stored (u, v): transpose to (v, u)
          t.assign(joint.size(), 0.0);
          for (std::size_t i = 0; i < sizes[u]; ++i) {
            for (std::size_t j = 0; j < sizes[v]; ++j)
              t[j * sizes[u] + i] = joint[i * sizes[v] + j];
          }
        }
      }
    }
  }
  for (auto& t : m.tables) {
    double s = std::accumulate(t.begin(), t.end(), 0.0);
    for (double& x : t) x = s > 0 ? x / s : 1.0 / static_cast<double>(t.size());
  }
  m.rows = fit.total;
  std::string tree;
  for (auto [a, b] : edges) {
    if (!tree.empty()) tree += ", ";
    tree += m.schema.columns[a].name + " - " + m.schema.columns[b].name;
  }
  m.notes.emplace_back("tree", tree.empty() ? "(one column)" : tree);
  m.notes.emplace_back("compressed_columns",
                       std::to_string(compressed_columns) +
                           " columns had values with noisy counts below 3 sigma, merged into one");
  m.notes.emplace_back("iterations", std::to_string(fit.iterations));
  m.notes.emplace_back("final_loss", Sci(fit.loss));
  return Status::Ok();
}

}  // namespace sund::synth::internal
