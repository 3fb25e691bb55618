// A graphical model on a forest of column pairs fitted to noisy marginal measurements, as
// Private-PGM does (McKenna, Sheldon & Miklau 2019): minimise the squared error, weighted by
// 1/sigma, between the model's marginals and the measurements, over the marginals a distribution
// can have, by entropic mirror descent on the log-potentials with a backtracking line search;
// marginals by exact belief propagation (the cliques form a tree, so it is exact). Internal to
// synth (model.h's MST fit).
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace sund::synth::internal {

// Noisy counts of one or two variables' joint values: y ~ Q x + N(0, sigma^2) where x is the
// true count vector (row-major, first variable major) and Q diagonal (q; empty: identity).
struct Measurement {
  std::vector<int> vars;  // 1 variable, or 2 that form an edge in the same order
  std::vector<double> y;
  std::vector<double> q;
  double sigma = 1;
};

struct ForestFit {
  double total = 0;                       // the estimated number of rows
  std::vector<std::vector<double>> node;  // per variable: marginal counts
  std::vector<std::vector<double>> edge;  // per edge: joint counts, first variable major
  int iterations = 0;
  double loss = 0;
};

// `edges` must form a forest over 0..sizes.size()-1; every measurement's vars a variable or an
// edge. Stops after `max_iterations` or when the loss stops falling.
ForestFit FitForest(const std::vector<std::size_t>& sizes,
                    const std::vector<std::pair<int, int>>& edges,
                    const std::vector<Measurement>& measurements, int max_iterations,
                    const std::function<void(double)>& progress = {});

}  // namespace sund::synth::internal
