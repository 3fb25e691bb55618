#include "synth/internal/pgm.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sund::synth::internal {
namespace {

struct Clique {
  int a = -1, b = -1;  // b == -1: a single variable
  std::size_t na = 0, nb = 1;
  std::size_t size() const { return na * nb; }
};

class Forest {
 public:
  Forest(const std::vector<std::size_t>& sizes, const std::vector<std::pair<int, int>>& edges)
      : sizes_(sizes) {
    std::vector<bool> covered(sizes.size(), false);
    adj_.resize(sizes.size());
    for (std::size_t e = 0; e < edges.size(); ++e) {
      auto [a, b] = edges[e];
      cliques_.push_back({a, b, sizes[a], sizes[b]});
      covered[a] = covered[b] = true;
      adj_[a].push_back({static_cast<int>(e), b});
      adj_[b].push_back({static_cast<int>(e), a});
    }
    for (std::size_t v = 0; v < sizes.size(); ++v) {
      if (!covered[v]) cliques_.push_back({static_cast<int>(v), -1, sizes[v], 1});
    }
    // Breadth-first order of every component, with each node's parent edge.
    parent_edge_.assign(sizes.size(), -1);
    parent_.assign(sizes.size(), -1);
    std::vector<bool> seen(sizes.size(), false);
    for (std::size_t r = 0; r < sizes.size(); ++r) {
      if (seen[r]) continue;
      seen[r] = true;
      std::size_t head = order_.size();
      order_.push_back(static_cast<int>(r));
      while (head < order_.size()) {
        int v = order_[head++];
        for (auto [e, u] : adj_[v]) {
          if (seen[u]) continue;
          seen[u] = true;
          parent_[u] = v;
          parent_edge_[u] = e;
          order_.push_back(u);
        }
      }
    }
    up_.resize(sizes.size());
    down_.resize(sizes.size());
    gather_.resize(sizes.size());
    hdown_.resize(sizes.size());
  }

  const std::vector<Clique>& cliques() const { return cliques_; }

  // Marginal counts of every clique under log-potentials `theta`, scaled to `total`.
  void Marginals(const std::vector<std::vector<double>>& theta, double total,
                 std::vector<std::vector<double>>& mu) {
    psi_.resize(cliques_.size());
    for (std::size_t c = 0; c < cliques_.size(); ++c) {
      const auto& t = theta[c];
      double mx = *std::max_element(t.begin(), t.end());
      psi_[c].resize(t.size());
      for (std::size_t i = 0; i < t.size(); ++i) psi_[c][i] = std::exp(t[i] - mx);
    }
    // Upward: gather_[v] = product of the children's messages; up_[v] = message to the parent.
    for (std::size_t k = order_.size(); k-- > 0;) {
      int v = order_[k];
      gather_[v].assign(sizes_[v], 1.0);
      for (auto [e, u] : adj_[v]) {
        if (u == parent_[v]) continue;
        for (std::size_t x = 0; x < sizes_[v]; ++x) gather_[v][x] *= up_[u][x];
      }
      Normalise(gather_[v]);
      if (parent_[v] >= 0) Send(parent_edge_[v], v, gather_[v], up_[v]);
    }
    // Downward: hdown_[v] = everything the parent knows except v; down_[v] = message to v.
    for (int v : order_) {
      int p = parent_[v];
      if (p < 0) continue;
      auto& h = hdown_[v];
      h.assign(sizes_[p], 1.0);
      if (parent_[p] >= 0) {
        for (std::size_t x = 0; x < sizes_[p]; ++x) h[x] *= down_[p][x];
      }
      for (auto [e, u] : adj_[p]) {
        if (u == parent_[p] || u == v) continue;
        for (std::size_t x = 0; x < sizes_[p]; ++x) h[x] *= up_[u][x];
      }
      Normalise(h);
      Send(parent_edge_[v], p, h, down_[v]);
    }
    mu.resize(cliques_.size());
    for (std::size_t c = 0; c < cliques_.size(); ++c) {
      const Clique& q = cliques_[c];
      auto& m = mu[c];
      m = psi_[c];
      if (q.b >= 0) {
        // One endpoint is the other's parent.
        int child = parent_[q.b] == q.a && parent_edge_[q.b] == static_cast<int>(c) ? q.b : q.a;
        const auto& hp = hdown_[child];   // over the parent's values
        const auto& gc = gather_[child];  // over the child's values
        bool a_is_parent = child == q.b;
        for (std::size_t i = 0; i < q.na; ++i) {
          for (std::size_t j = 0; j < q.nb; ++j) {
            m[i * q.nb + j] *= a_is_parent ? hp[i] * gc[j] : gc[i] * hp[j];
          }
        }
      }
      double s = 0;
      for (double x : m) s += x;
      double f = s > 0 ? total / s : 0;
      for (double& x : m) x *= f;
    }
  }

 private:
  static void Normalise(std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    if (s > 0 && std::isfinite(s)) {
      for (double& x : v) x /= s;
    }
  }

  // Message along edge e from variable `from`, holding belief h over its values.
  void Send(int e, int from, const std::vector<double>& h, std::vector<double>& out) {
    const Clique& q = cliques_[e];
    const auto& p = psi_[e];
    if (from == q.a) {
      out.assign(q.nb, 0.0);
      for (std::size_t i = 0; i < q.na; ++i) {
        double hi = h[i];
        if (hi == 0) continue;
        const double* row = &p[i * q.nb];
        for (std::size_t j = 0; j < q.nb; ++j) out[j] += row[j] * hi;
      }
    } else {
      out.assign(q.na, 0.0);
      for (std::size_t i = 0; i < q.na; ++i) {
        const double* row = &p[i * q.nb];
        double s = 0;
        for (std::size_t j = 0; j < q.nb; ++j) s += row[j] * h[j];
        out[i] = s;
      }
    }
    Normalise(out);
  }

  std::vector<std::size_t> sizes_;
  std::vector<Clique> cliques_;
  std::vector<std::vector<std::pair<int, int>>> adj_;  // (edge, neighbour)
  std::vector<int> order_, parent_, parent_edge_;
  std::vector<std::vector<double>> psi_, up_, down_, gather_, hdown_;
};

// A measurement placed on its clique: which part of the clique it sees.
struct Placed {
  const Measurement* m;
  std::size_t clique;
  int axis;  // -1: the whole clique; 0: the clique's first variable; 1: its second
};

double Loss(const std::vector<Clique>& cliques, const std::vector<Placed>& placed,
            const std::vector<std::vector<double>>& mu, std::vector<std::vector<double>>& grad) {
  grad.resize(cliques.size());
  for (std::size_t c = 0; c < cliques.size(); ++c) grad[c].assign(cliques[c].size(), 0.0);
  double loss = 0;
  std::vector<double> x, g;
  for (const auto& p : placed) {
    const Clique& q = cliques[p.clique];
    const auto& m = mu[p.clique];
    const Measurement& meas = *p.m;
    if (p.axis < 0) {
      x = m;
    } else if (p.axis == 0) {
      x.assign(q.na, 0.0);
      for (std::size_t i = 0; i < q.na; ++i) {
        for (std::size_t j = 0; j < q.nb; ++j) x[i] += m[i * q.nb + j];
      }
    } else {
      x.assign(q.nb, 0.0);
      for (std::size_t i = 0; i < q.na; ++i) {
        for (std::size_t j = 0; j < q.nb; ++j) x[j] += m[i * q.nb + j];
      }
    }
    double c = 1.0 / meas.sigma;
    g.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      double qi = meas.q.empty() ? 1.0 : meas.q[i];
      double d = c * (qi * x[i] - meas.y[i]);
      loss += 0.5 * d * d;
      g[i] = c * qi * d;
    }
    auto& gr = grad[p.clique];
    if (p.axis < 0) {
      for (std::size_t i = 0; i < g.size(); ++i) gr[i] += g[i];
    } else {
      for (std::size_t i = 0; i < q.na; ++i) {
        for (std::size_t j = 0; j < q.nb; ++j) gr[i * q.nb + j] += g[p.axis == 0 ? i : j];
      }
    }
  }
  return loss;
}

// Inverse-variance weighted estimate of the number of rows from every measurement (each sums,
// after undoing Q, to the total).
double EstimateTotal(const std::vector<Measurement>& ms) {
  double num = 0, den = 0;
  for (const auto& m : ms) {
    double est = 0, var = 0;
    for (std::size_t i = 0; i < m.y.size(); ++i) {
      double v = m.q.empty() ? 1.0 : 1.0 / m.q[i];
      est += v * m.y[i];
      var += v * v;
    }
    var *= m.sigma * m.sigma;
    if (var > 0) {
      num += est / var;
      den += 1 / var;
    }
  }
  return den > 0 ? std::max(1.0, num / den) : 1.0;
}

}  // namespace

ForestFit FitForest(const std::vector<std::size_t>& sizes,
                    const std::vector<std::pair<int, int>>& edges,
                    const std::vector<Measurement>& measurements, int max_iterations,
                    const std::function<void(double)>& progress) {
  Forest forest(sizes, edges);
  const auto& cliques = forest.cliques();
  std::vector<Placed> placed;
  double max_c2 = 0;
  for (const auto& m : measurements) {
    max_c2 = std::max(max_c2, 1 / (m.sigma * m.sigma));
    for (std::size_t c = 0; c < cliques.size(); ++c) {
      const Clique& q = cliques[c];
      if (m.vars.size() == 2 && q.a == m.vars[0] && q.b == m.vars[1]) {
        placed.push_back({&m, c, -1});
        break;
      }
      if (m.vars.size() == 1 && (q.a == m.vars[0] || q.b == m.vars[0])) {
        placed.push_back({&m, c, q.b < 0 ? -1 : (q.a == m.vars[0] ? 0 : 1)});
        break;
      }
    }
  }
  ForestFit fit;
  fit.total = EstimateTotal(measurements);
  std::vector<std::vector<double>> theta(cliques.size()), mu, grad, theta2, mu2, grad2;
  for (std::size_t c = 0; c < cliques.size(); ++c) theta[c].assign(cliques[c].size(), 0.0);
  forest.Marginals(theta, fit.total, mu);
  double loss = Loss(cliques, placed, mu, grad);
  // A step of 1/(total c^2) moves a marginal by roughly its own error; the search adapts it.
  double alpha = 1.0 / (fit.total * std::max(max_c2, 1e-12));
  double window_loss = loss;
  int it = 0;
  for (; it < max_iterations; ++it) {
    if (progress && it % 50 == 0) progress(static_cast<double>(it) / max_iterations);
    alpha *= 2;
    double new_loss = loss;
    for (int tries = 0; tries < 30; ++tries) {
      theta2 = theta;
      for (std::size_t c = 0; c < theta2.size(); ++c) {
        for (std::size_t i = 0; i < theta2[c].size(); ++i) theta2[c][i] -= alpha * grad[c][i];
      }
      forest.Marginals(theta2, fit.total, mu2);
      new_loss = Loss(cliques, placed, mu2, grad2);
      double dot = 0;
      for (std::size_t c = 0; c < mu.size(); ++c) {
        for (std::size_t i = 0; i < mu[c].size(); ++i) dot += grad[c][i] * (mu[c][i] - mu2[c][i]);
      }
      if (loss - new_loss >= 0.5 * alpha * dot) break;
      alpha *= 0.5;
    }
    if (!(new_loss <= loss)) break;  // no step helps: a minimum to numerical precision
    std::swap(theta, theta2);
    std::swap(mu, mu2);
    std::swap(grad, grad2);
    loss = new_loss;
    // Converged when 100 iterations gain less than a millionth of the loss.
    if ((it + 1) % 100 == 0) {
      if (window_loss - loss <= 1e-6 * window_loss) {
        ++it;
        break;
      }
      window_loss = loss;
    }
  }
  fit.iterations = it;
  fit.loss = loss;
  fit.node.assign(sizes.size(), {});
  fit.edge.assign(edges.size(), {});
  for (std::size_t c = 0; c < cliques.size(); ++c) {
    const Clique& q = cliques[c];
    if (q.b < 0) {
      fit.node[q.a] = mu[c];
      continue;
    }
    fit.edge[c] = mu[c];
    for (int side = 0; side < 2; ++side) {
      int v = side == 0 ? q.a : q.b;
      if (!fit.node[v].empty()) continue;
      auto& n = fit.node[v];
      n.assign(sizes[v], 0.0);
      for (std::size_t i = 0; i < q.na; ++i) {
        for (std::size_t j = 0; j < q.nb; ++j) n[side == 0 ? i : j] += mu[c][i * q.nb + j];
      }
    }
  }
  if (progress) progress(1.0);
  return fit;
}

}  // namespace sund::synth::internal
