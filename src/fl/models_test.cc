#include "fl/models.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <numbers>
#include <numeric>

#include "core/splitmix.h"
#include "synth/schema.h"

namespace sund::fl {
namespace {

double Normal(SplitMix64& rng) {
  double u1 = 1.0 - rng.Uniform(), u2 = rng.Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Standard-normal features; a binary outcome from a logistic model with `beta` (intercept
// first), and survival times from an exponential model with hazard exp(x'beta[1..]), censored
// at random, rounded to make ties.
Dataset Synthetic(std::size_t n, const std::vector<double>& beta, std::uint64_t seed) {
  SplitMix64 rng(seed);
  Dataset d;
  const std::size_t p = beta.size() - 1;
  for (std::size_t j = 0; j < p; ++j) d.columns.push_back("x" + std::to_string(j));
  for (std::size_t i = 0; i < n; ++i) {
    double eta = beta[0], lin = 0;
    for (std::size_t j = 0; j < p; ++j) {
      double v = Normal(rng);
      d.x.push_back(v);
      eta += beta[j + 1] * v;
      lin += beta[j + 1] * v;
    }
    d.y.push_back(rng.Uniform() < 1.0 / (1.0 + std::exp(-eta)) ? 1.0 : 0.0);
    double t = -std::log(1.0 - rng.Uniform()) / std::exp(lin);
    double c = -std::log(1.0 - rng.Uniform()) * 2.0;
    d.time.push_back(std::round(std::min(t, c) * 20.0) / 20.0 + 0.05);
    d.event.push_back(t <= c ? 1.0 : 0.0);
  }
  d.rows = n;
  return d;
}

std::unique_ptr<Model> Make(const ModelSpec& spec, std::size_t p) {
  auto m = MakeModel(spec, p);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(*m);
}

// Central differences of Loss against Gradient (and of Gradient against the Hessian).
void ExpectGradientMatchesFiniteDifferences(Model& model, const Dataset& d,
                                            std::span<const std::size_t> rows = {}) {
  const Params w = model.Get();
  const Params g = model.Gradient(d, rows);
  ASSERT_EQ(g.size(), w.size());
  const double h = 1e-6;
  for (std::size_t j = 0; j < w.size(); ++j) {
    Params a = w, b = w;
    a[j] += h;
    b[j] -= h;
    ASSERT_TRUE(model.Set(a).ok());
    double la = model.Loss(d, rows);
    ASSERT_TRUE(model.Set(b).ok());
    double lb = model.Loss(d, rows);
    EXPECT_NEAR(g[j], (la - lb) / (2 * h), 1e-7 * (1 + std::abs(g[j]))) << "parameter " << j;
  }
  ASSERT_TRUE(model.Set(w).ok());
}

void ExpectHessianMatchesFiniteDifferences(Model& model, const Dataset& d) {
  const Params w = model.Get();
  auto hess = model.Hessian(d);
  ASSERT_TRUE(hess.has_value());
  const std::size_t n = w.size();
  const double h = 1e-6;
  for (std::size_t j = 0; j < n; ++j) {
    Params a = w, b = w;
    a[j] += h;
    b[j] -= h;
    ASSERT_TRUE(model.Set(a).ok());
    Params ga = model.Gradient(d);
    ASSERT_TRUE(model.Set(b).ok());
    Params gb = model.Gradient(d);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_NEAR((*hess)[i * n + j], (ga[i] - gb[i]) / (2 * h), 1e-6) << i << "," << j;
    }
  }
  ASSERT_TRUE(model.Set(w).ok());
}

Params RandomParams(std::size_t n, std::uint64_t seed, double scale) {
  SplitMix64 rng(seed);
  Params p(n);
  for (double& v : p) v = scale * (2 * rng.Uniform() - 1);
  return p;
}

// Verifies: REQ-FL-054
TEST(ModelsTest, LogisticGradientAndHessianMatchFiniteDifferences) {
  Dataset d = Synthetic(200, {-0.5, 1.0, -2.0, 0.5}, 1);
  auto m = Make({.kind = ModelKind::kLogistic, .l2 = 0.1}, 3);
  ASSERT_TRUE(m->Set(RandomParams(4, 2, 1.0)).ok());
  ExpectGradientMatchesFiniteDifferences(*m, d);
  std::vector<std::size_t> batch = {3, 17, 17, 42, 199};
  ExpectGradientMatchesFiniteDifferences(*m, d, batch);
  ExpectHessianMatchesFiniteDifferences(*m, d);
}

// Verifies: REQ-FL-054
TEST(ModelsTest, MlpGradientMatchesFiniteDifferences) {
  Dataset d = Synthetic(60, {0.2, 1.0, -1.0, 0.5, 0.0}, 3);
  for (Activation act : {Activation::kTanh, Activation::kRelu}) {
    for (std::vector<int> hidden : {std::vector<int>{5}, std::vector<int>{6, 4}}) {
      SCOPED_TRACE(std::string(ActivationName(act)) + " " + std::to_string(hidden.size()));
      auto m = Make(
          {.kind = ModelKind::kMlp, .l2 = 0.01, .hidden = hidden, .activation = act, .seed = 9}, 4);
      EXPECT_EQ(m->NumParams(), hidden.size() == 1 ? 5u * 5 + 6 : 6u * 5 + 4 * 7 + 5);
      EXPECT_FALSE(m->Hessian(d).has_value());
      ExpectGradientMatchesFiniteDifferences(*m, d);
      std::vector<std::size_t> batch = {0, 5, 9, 30};
      ExpectGradientMatchesFiniteDifferences(*m, d, batch);
    }
  }
}

// Verifies: REQ-FL-055
TEST(ModelsTest, MlpInitialisationIsSeededXavier) {
  auto a = Make({.kind = ModelKind::kMlp, .hidden = {8}, .seed = 1}, 4);
  auto b = Make({.kind = ModelKind::kMlp, .hidden = {8}, .seed = 1}, 4);
  auto c = Make({.kind = ModelKind::kMlp, .hidden = {8}, .seed = 2}, 4);
  EXPECT_EQ(a->Get(), b->Get());
  EXPECT_NE(a->Get(), c->Get());
  Params w = a->Get();
  const double bound = std::sqrt(6.0 / (4 + 8));
  for (std::size_t k = 0; k < 32; ++k) EXPECT_LE(std::abs(w[k]), bound);
  for (std::size_t k = 32; k < 40; ++k) EXPECT_EQ(w[k], 0.0);  // the first layer's biases
}

// Verifies: REQ-FL-054
TEST(ModelsTest, CoxGradientAndHessianMatchFiniteDifferences) {
  Dataset d = Synthetic(150, {0, 0.8, -0.5, 0.3}, 4);
  auto m = Make({.kind = ModelKind::kCox, .l2 = 0.05}, 3);
  ASSERT_TRUE(m->Set(RandomParams(3, 5, 0.7)).ok());
  ExpectGradientMatchesFiniteDifferences(*m, d);
  ExpectHessianMatchesFiniteDifferences(*m, d);
  std::vector<std::size_t> batch = {1, 4, 9, 16, 25, 36, 49, 64, 81, 100};
  ExpectGradientMatchesFiniteDifferences(*m, d, batch);
  // Strata: risk sets within each.
  for (std::size_t i = 0; i < d.rows; ++i) d.strata.push_back(static_cast<std::int32_t>(i % 3));
  ExpectGradientMatchesFiniteDifferences(*m, d);
  ExpectHessianMatchesFiniteDifferences(*m, d);
}

// Verifies: REQ-FL-056
TEST(ModelsTest, LogisticNewtonGivesTheSaturatedModel) {
  // One binary feature: the fit reproduces each group's log-odds exactly. x = 0: 1 of 4
  // positive (logit -ln 3); x = 1: 3 of 4 (ln 3): intercept -ln 3, slope 2 ln 3.
  Dataset d;
  d.columns = {"x"};
  d.x = {0, 0, 0, 0, 1, 1, 1, 1};
  d.y = {1, 0, 0, 0, 1, 1, 1, 0};
  d.rows = 8;
  auto m = Make({.kind = ModelKind::kLogistic}, 1);
  auto r = FitPooled(*m, d);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->converged);
  EXPECT_LT(r->iterations, 10);
  EXPECT_NEAR(m->Get()[0], -std::log(3.0), 1e-10);
  EXPECT_NEAR(m->Get()[1], 2 * std::log(3.0), 1e-10);
}

// Verifies: REQ-FL-056
TEST(ModelsTest, LogisticNewtonSolvesTheScoreEquations) {
  Dataset d = Synthetic(500, {-0.5, 1.0, -2.0, 0.5}, 6);
  auto plain = Make({.kind = ModelKind::kLogistic}, 3);
  auto penalised = Make({.kind = ModelKind::kLogistic, .l2 = 0.01}, 3);
  for (Model* m : {plain.get(), penalised.get()}) {
    auto r = FitPooled(*m, d);
    ASSERT_TRUE(r.ok() && r->converged);
    for (double g : m->Gradient(d)) EXPECT_NEAR(g, 0.0, 1e-12);
  }
  EXPECT_NEAR(plain->Get()[2], -2.0, 0.3);  // near the generating coefficient
  EXPECT_LT(L2Norm(penalised->Get()), L2Norm(plain->Get()));
}

// Verifies: REQ-FL-056
TEST(ModelsTest, LogisticNewtonReportsSingularDesign) {
  Dataset d = Synthetic(50, {0, 1, 1}, 7);
  for (std::size_t i = 0; i < d.rows; ++i) d.x[i * 2 + 1] = d.x[i * 2];  // duplicate column
  auto m = Make({.kind = ModelKind::kLogistic}, 2);
  auto r = FitPooled(*m, d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("singular"), std::string::npos);
}

// Verifies: REQ-FL-057
TEST(ModelsTest, CoxNewtonMatchesHandDerivedSolution) {
  // Times 1..4, all events, x = 1, 0, 1, 0. The Breslow score is 2 / (1 + u) - u / (u + 2)
  // with u = e^b, zero where u^2 - u - 4 = 0: b = ln((1 + sqrt 17) / 2).
  Dataset d;
  d.columns = {"x"};
  d.x = {1, 0, 1, 0};
  d.time = {1, 2, 3, 4};
  d.event = {1, 1, 1, 1};
  d.rows = 4;
  auto m = Make({.kind = ModelKind::kCox}, 1);
  auto r = FitPooled(*m, d);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->converged);
  EXPECT_NEAR(m->Get()[0], std::log((1 + std::sqrt(17.0)) / 2), 1e-12);
}

// Verifies: REQ-FL-057
TEST(ModelsTest, CoxNewtonWithTiesMatchesRAndAnIndependentSolver) {
  // R 4.2.2, survival 3.5-3: coxph(Surv(time, status) ~ x, ties = "breslow") on this table
  // gives coef -0.0703234360232 and log partial likelihood -8.73351163024.
  Dataset d;
  d.columns = {"x"};
  d.time = {1, 2, 2, 3, 4, 4, 5, 6};
  d.event = {1, 1, 1, 0, 1, 1, 0, 1};
  d.x = {0.5, -1, 2, 0, 1, -0.5, 1.5, 0};
  d.rows = 8;
  auto m = Make({.kind = ModelKind::kCox}, 1);
  auto r = FitPooled(*m, d);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const double b = m->Get()[0];
  EXPECT_NEAR(b, -0.0703234360232, 1e-9);
  EXPECT_NEAR(-m->Loss(d) * 8, -8.73351163024, 1e-9);

  // The Breslow score, written out pair by pair, and bisection on it.
  auto score = [&](double beta) {
    double u = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      if (d.event[i] == 0) continue;
      double s0 = 0, s1 = 0;
      for (std::size_t j = 0; j < 8; ++j) {
        if (d.time[j] >= d.time[i]) {
          s0 += std::exp(beta * d.x[j]);
          s1 += d.x[j] * std::exp(beta * d.x[j]);
        }
      }
      u += d.x[i] - s1 / s0;
    }
    return u;
  };
  double lo = -5, hi = 5;
  ASSERT_LT(score(lo) * score(hi), 0);
  for (int it = 0; it < 200; ++it) {
    double mid = 0.5 * (lo + hi);
    (score(lo) * score(mid) <= 0 ? hi : lo) = mid;
  }
  EXPECT_NEAR(b, 0.5 * (lo + hi), 1e-12);
}

// Verifies: REQ-FL-059
TEST(ModelsTest, FedAvgOnIidNodesApproachesThePooledFit) {
  Dataset d = Synthetic(3000, {-0.3, 1.0, -1.5, 0.5, 0.0}, 8);
  auto nodes = SplitNodes(d, 5, {}, 9);
  ASSERT_TRUE(nodes.ok());
  auto pooled = Make({.kind = ModelKind::kLogistic}, 4);
  ASSERT_TRUE(FitPooled(*pooled, d).ok());

  auto global = Make({.kind = ModelKind::kLogistic}, 4);
  for (int round = 0; round < 40; ++round) {
    Params sum(global->NumParams(), 0.0);
    std::size_t total = 0;
    for (std::size_t k = 0; k < nodes->size(); ++k) {
      auto local = global->Clone();
      LocalOptions o;
      o.epochs = 1;
      o.batch_size = 50;
      o.learning_rate = 0.3 / (1.0 + round / 10.0);
      o.seed = SplitMix64::StreamSeed(round, k);
      auto u = TrainLocal(*local, (*nodes)[k], o);
      ASSERT_TRUE(u.ok()) << u.status().ToString();
      AddScaled(sum, u->params, static_cast<double>(u->samples));
      total += u->samples;
    }
    for (double& v : sum) v /= static_cast<double>(total);
    ASSERT_TRUE(global->Set(sum).ok());
  }
  Params a = global->Get(), b = pooled->Get();
  for (std::size_t j = 0; j < a.size(); ++j) EXPECT_NEAR(a[j], b[j], 0.03) << j;
  EXPECT_NEAR(global->Loss(d), pooled->Loss(d), 1e-3);
  EXPECT_NEAR(Auc(global->Predict(d), d.y), Auc(pooled->Predict(d), d.y), 0.002);
}

// Verifies: REQ-FL-060
TEST(ModelsTest, AdamAndFedProxTrainLocally) {
  Dataset d = Synthetic(1000, {0.5, -1.0, 1.0}, 10);
  auto pooled = Make({.kind = ModelKind::kLogistic}, 2);
  ASSERT_TRUE(FitPooled(*pooled, d).ok());

  auto adam = Make({.kind = ModelKind::kLogistic}, 2);
  LocalOptions o{
      .epochs = 30, .batch_size = 100, .learning_rate = 0.05, .optimizer = Optimizer::kAdam};
  auto u = TrainLocal(*adam, d, o);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->samples, 1000u);
  EXPECT_EQ(u->params, adam->Get());
  EXPECT_NEAR(u->loss, pooled->Loss(d), 2e-3);

  // A strong proximal term keeps the update close to the global parameters it started from.
  auto free = Make({.kind = ModelKind::kLogistic}, 2);
  auto prox = Make({.kind = ModelKind::kLogistic}, 2);
  LocalOptions sgd{.epochs = 5, .batch_size = 20, .learning_rate = 0.05, .seed = 3};
  ASSERT_TRUE(TrainLocal(*free, d, sgd).ok());
  sgd.mu = 10;
  ASSERT_TRUE(TrainLocal(*prox, d, sgd).ok());
  EXPECT_LT(L2Norm(prox->Get()), 0.3 * L2Norm(free->Get()));

  // Reproducible from the seed.
  auto again = Make({.kind = ModelKind::kLogistic}, 2);
  ASSERT_TRUE(TrainLocal(*again, d, sgd).ok());
  EXPECT_EQ(again->Get(), prox->Get());
}

// Verifies: REQ-FL-062
TEST(ModelsTest, MlpLearnsWhatLogisticCannot) {
  // y = 1 when x0 and x1 have the same sign (XOR): no linear separation.
  SplitMix64 rng(12);
  Dataset d;
  d.columns = {"x0", "x1"};
  for (int i = 0; i < 800; ++i) {
    double a = 2 * rng.Uniform() - 1, b = 2 * rng.Uniform() - 1;
    d.x.push_back(a);
    d.x.push_back(b);
    d.y.push_back(a * b > 0 ? 1.0 : 0.0);
  }
  d.rows = 800;
  auto mlp = Make(
      {.kind = ModelKind::kMlp, .hidden = {16}, .activation = Activation::kTanh, .seed = 1}, 2);
  FitOptions fo;
  fo.sgd = {.epochs = 60,
            .batch_size = 32,
            .learning_rate = 0.02,
            .seed = 2,
            .optimizer = Optimizer::kAdam};
  auto r = FitPooled(*mlp, d, fo);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto logistic = Make({.kind = ModelKind::kLogistic}, 2);
  ASSERT_TRUE(FitPooled(*logistic, d).ok());
  EXPECT_GT(Auc(mlp->Predict(d), d.y), 0.95);
  EXPECT_LT(Auc(logistic->Predict(d), d.y), 0.6);
  EXPECT_GT(Accuracy(mlp->Predict(d), d.y), 0.9);
}

// Verifies: REQ-FL-061
TEST(ModelsTest, TrainLocalRejectsBadInput) {
  Dataset d = Synthetic(20, {0, 1}, 13);
  auto m = Make({.kind = ModelKind::kLogistic}, 1);
  EXPECT_FALSE(TrainLocal(*m, d, {.epochs = 0}).ok());
  EXPECT_FALSE(TrainLocal(*m, d, {.learning_rate = -1}).ok());
  auto wrong = Make({.kind = ModelKind::kLogistic}, 2);
  EXPECT_FALSE(TrainLocal(*wrong, d, {}).ok());
  Dataset no_target = d;
  no_target.y.clear();
  EXPECT_FALSE(TrainLocal(*m, no_target, {}).ok());
  EXPECT_FALSE(m->Set({1.0}).ok());
  EXPECT_FALSE(m->Set({1.0, NAN}).ok());
  auto mlp = Make({.kind = ModelKind::kMlp, .hidden = {4}, .seed = 1}, 1);
  const Params before = mlp->Get();
  auto diverge = TrainLocal(*mlp, d, {.epochs = 20, .learning_rate = 1e200});
  ASSERT_FALSE(diverge.ok());
  EXPECT_NE(diverge.status().message().find("learning rate"), std::string::npos);
  EXPECT_EQ(mlp->Get(), before);  // left as it was
  EXPECT_FALSE(MakeModel({.kind = ModelKind::kMlp, .hidden = {}}, 3).ok());
  EXPECT_FALSE(MakeModel({.kind = ModelKind::kMlp, .hidden = {4, 4, 4}}, 3).ok());
  EXPECT_FALSE(MakeModel({.kind = ModelKind::kCox, .l2 = -1}, 3).ok());
  EXPECT_FALSE(MakeModel({}, 0).ok());
  EXPECT_EQ(ParseModelKind("cox"), ModelKind::kCox);
  EXPECT_EQ(ParseModelKind("svm"), std::nullopt);
}

// ---- Federated Cox ----

std::vector<Dataset> ThreeParts(const Dataset& d) {
  auto parts = SplitNodes(d, 3, SplitOptions{.min_rows = 5}, 21);
  EXPECT_TRUE(parts.ok());
  return *parts;
}

Params SumOverNodes(const std::vector<Dataset>& parts, const Params& beta,
                    const std::vector<double>& grid) {
  Params sum(CoxRiskSetSumsSize(beta.size(), grid.size()), 0.0);
  for (const auto& part : parts) {
    auto s = CoxRiskSetSums(part, beta, grid);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    AddScaled(sum, *s, 1.0);
  }
  return sum;
}

std::vector<double> Grid(const std::vector<Dataset>& parts) {
  std::vector<std::vector<double>> times;
  for (const auto& part : parts) times.push_back(CoxEventTimes(part));
  return MergeEventTimes(times);
}

// Verifies: REQ-FL-063
TEST(CoxFederatedTest, RiskSetSumsOverNodesGiveThePooledGradientAndHessian) {
  Dataset d = Synthetic(300, {0, 0.8, -0.5, 0.3}, 14);
  std::vector<Dataset> parts = ThreeParts(d);
  std::vector<double> grid = Grid(parts);
  EXPECT_EQ(grid, CoxEventTimes(d));
  auto m = Make({.kind = ModelKind::kCox, .l2 = 0.02}, 3);
  Params beta = {0.4, -0.3, 0.2};
  ASSERT_TRUE(m->Set(beta).ok());
  auto terms = CoxTermsFromSums(SumOverNodes(parts, beta, grid), beta, grid, 0.02);
  ASSERT_TRUE(terms.ok()) << terms.status().ToString();
  EXPECT_NEAR(terms->loss, m->Loss(d), 1e-12);
  Params g = m->Gradient(d);
  std::vector<double> h = *m->Hessian(d);
  for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(terms->gradient[j], g[j], 1e-10);
  for (std::size_t j = 0; j < 9; ++j) EXPECT_NEAR(terms->hessian[j], h[j], 1e-10);
}

// Verifies: REQ-FL-063
TEST(CoxFederatedTest, NewtonOverRoundsReachesThePooledFit) {
  Dataset d = Synthetic(400, {0, 0.8, -0.5, 0.3}, 15);
  std::vector<Dataset> parts = ThreeParts(d);
  auto pooled = Make({.kind = ModelKind::kCox}, 3);
  ASSERT_TRUE(FitPooled(*pooled, d).ok());
  CoxNewton newton(3, Grid(parts));
  int rounds = 0;
  while (!newton.done() && rounds < 50) {
    ASSERT_TRUE(newton.Update(SumOverNodes(parts, newton.beta(), newton.grid())).ok());
    ++rounds;
  }
  EXPECT_TRUE(newton.converged());
  EXPECT_LT(rounds, 15);
  for (std::size_t j = 0; j < 3; ++j) EXPECT_NEAR(newton.beta()[j], pooled->Get()[j], 1e-9);
  EXPECT_NEAR(newton.loss(), pooled->Loss(d), 1e-12);
}

// Verifies: REQ-FL-064
TEST(CoxFederatedTest, LocalGradientsAreTheNodeStratifiedModel) {
  // The FedAvg approximation: the sample-weighted mean of nodes' own gradients is the gradient
  // of the Cox model stratified by node on the pooled rows.
  Dataset d = Synthetic(200, {0, 0.5, -0.5}, 16);
  std::vector<Dataset> parts = ThreeParts(d);
  auto m = Make({.kind = ModelKind::kCox}, 2);
  ASSERT_TRUE(m->Set({0.3, -0.1}).ok());
  Params sum(2, 0.0);
  for (const auto& part : parts) {
    AddScaled(sum, m->Gradient(part), static_cast<double>(part.rows) / d.rows);
  }
  Params stratified = m->Gradient(Concat(parts, /*stratify=*/true));
  Params unstratified = m->Gradient(Concat(parts, /*stratify=*/false));
  for (std::size_t j = 0; j < 2; ++j) EXPECT_NEAR(sum[j], stratified[j], 1e-12);
  EXPECT_GT(std::abs(sum[0] - unstratified[0]) + std::abs(sum[1] - unstratified[1]), 1e-6);
}

// Verifies: REQ-FL-065
TEST(CoxFederatedTest, RejectsSumsThatDoNotFit) {
  Dataset d = Synthetic(50, {0, 1}, 17);
  std::vector<double> grid = CoxEventTimes(d);
  std::vector<double> partial(grid.begin() + 1, grid.end());
  EXPECT_FALSE(CoxRiskSetSums(d, {0.0}, partial).ok());  // the first event time is missing
  std::vector<double> shifted = grid;
  shifted.back() += 0.001;
  EXPECT_FALSE(CoxRiskSetSums(d, {0.0}, shifted).ok());
  EXPECT_FALSE(CoxRiskSetSums(d, {0.0, 1.0}, grid).ok());
  EXPECT_FALSE(CoxTermsFromSums(Params(3, 0.0), {0.0}, grid).ok());
}

// ---- Metrics ----

// Verifies: REQ-FL-066
TEST(MetricsTest, AucCountsTiesAsHalf) {
  // Positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4) (0.4>0.1).
  EXPECT_DOUBLE_EQ(Auc({0.8, 0.4, 0.4, 0.1}, {1, 1, 0, 0}), 3.5 / 4);
  EXPECT_DOUBLE_EQ(Auc({0.1, 0.2, 0.3}, {1, 0, 0}), 0.0);
  EXPECT_TRUE(std::isnan(Auc({0.1, 0.2}, {1, 1})));
  EXPECT_NEAR(LogLoss({0.5, 0.9}, {1, 0}), (std::log(2.0) - std::log(0.1)) / 2, 1e-15);
  EXPECT_TRUE(std::isfinite(LogLoss({0.0}, {1})));
  EXPECT_DOUBLE_EQ(Accuracy({0.7, 0.2, 0.5, 0.4}, {1, 0, 0, 1}), 0.5);
}

// Verifies: REQ-FL-066
TEST(MetricsTest, HarrellsConcordance) {
  // Comparable pairs (event first): (0,1) (0,2) (0,3) (2,3); risk 3,1,2,2 -> concordant (0,1)
  // (0,2) (0,3), tied (2,3).
  std::vector<double> time = {1, 2, 3, 4}, event = {1, 0, 1, 0}, risk = {3, 1, 2, 2};
  EXPECT_DOUBLE_EQ(ConcordanceIndex(risk, time, event), 3.5 / 4);
  EXPECT_TRUE(std::isnan(ConcordanceIndex({1, 2}, {1, 2}, {0, 0})));
}

// ---- Public clinical tables (SUND_TEST_DATA) ----

std::string DataPath(const std::string& file) {
  const char* dir = std::getenv("SUND_TEST_DATA");
  if (dir == nullptr || !std::filesystem::exists(std::string(dir) + "/tabular/" + file)) {
    return "";
  }
  return std::string(dir) + "/tabular/" + file;
}

// Verifies: REQ-FL-058
TEST(ClinicalDataTest, PimaLogisticMatchesRAndReportsTestAuc) {
  std::string path = DataPath("pima_diabetes.csv");
  if (path.empty()) GTEST_SKIP() << "SUND_TEST_DATA unset or without tabular/pima_diabetes.csv";
  auto table = synth::ReadCsvFile(path);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  FeatureSpec spec;
  spec.target = "diabetes";
  spec.positive = "pos";
  for (const auto& c : table->header) {
    if (c != "diabetes") spec.features.push_back(c);
  }

  // Complete cases, as R's glm(diabetes ~ ., binomial): R 4.2.2 gives these coefficients.
  spec.drop_missing = true;
  auto cc_enc = FitEncoding(*table, spec);
  ASSERT_TRUE(cc_enc.ok()) << cc_enc.status().ToString();
  auto cc = BuildDataset(*table, *cc_enc);
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ(cc->rows, 392u);
  auto glm = Make({.kind = ModelKind::kLogistic}, cc->cols());
  ASSERT_TRUE(FitPooled(*glm, *cc).ok());
  const std::vector<double> r_coef = {-10.0407391798,    0.0821594218816, 0.0382695223006,
                                      -0.00142029018086, 0.0112213898341, -0.000825312785721,
                                      0.0705375826036,   1.14090862259,   0.033951623239};
  std::vector<double> raw = OriginalScale(*cc_enc, glm->Get(), /*intercept=*/true);
  for (std::size_t j = 0; j < raw.size(); ++j) {
    EXPECT_NEAR(raw[j], r_coef[j], 1e-7 * (1 + std::abs(r_coef[j]))) << j;
  }

  // All 768 rows: missing values imputed with indicators; 30% held out.
  spec.drop_missing = false;
  auto enc = FitEncoding(*table, spec);
  ASSERT_TRUE(enc.ok());
  auto d = BuildDataset(*table, *enc);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rows, 768u);
  TrainTest split = SplitTrainTest(*d, 0.3, 2024);
  auto m = Make({.kind = ModelKind::kLogistic}, d->cols());
  auto r = FitPooled(*m, split.train);
  ASSERT_TRUE(r.ok() && r->converged);
  std::vector<double> prob = m->Predict(split.test);
  double auc = Auc(prob, split.test.y);
  std::printf(
      "pima: %zu columns, train %zu, test %zu rows; pooled logistic test AUC %.4f, "
      "log loss %.4f, accuracy %.4f (Newton, %d iterations)\n",
      d->cols(), split.train.rows, split.test.rows, auc, LogLoss(prob, split.test.y),
      Accuracy(prob, split.test.y), r->iterations);
  EXPECT_GT(auc, 0.8);
}

// Verifies: REQ-FL-058, REQ-FL-063
TEST(ClinicalDataTest, ColonRecurrenceCoxMatchesRAndFederatesExactly) {
  std::string path = DataPath("colon.csv");
  if (path.empty()) GTEST_SKIP() << "SUND_TEST_DATA unset or without tabular/colon.csv";
  auto table = synth::ReadCsvFile(path);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  // Recurrence rows (etype 1).
  auto etype = table->Column("etype");
  ASSERT_TRUE(etype.has_value());
  CsvTable rec;
  rec.header = table->header;
  for (std::size_t r = 0; r < table->rows.size(); ++r) {
    if (table->rows[r][*etype] == "1") {
      rec.rows.push_back(table->rows[r]);
      rec.lines.push_back(table->lines[r]);
    }
  }
  FeatureSpec spec;
  spec.time = "time";
  spec.event = "status";
  spec.features = {"rx",    "sex",    "age",    "obstruct", "perfor", "adhere",
                   "nodes", "differ", "extent", "surg",     "node4"};
  spec.levels["rx"] = {"Obs", "Lev", "Lev+5FU"};  // R's factor levels: Obs is the reference
  spec.drop_missing = true;                       // complete cases, as coxph
  auto enc = FitEncoding(rec, spec);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  auto d = BuildDataset(rec, *enc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->rows, 888u);

  auto start = std::chrono::steady_clock::now();
  auto m = Make({.kind = ModelKind::kCox}, d->cols());
  auto r = FitPooled(*m, *d);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok() && r->converged) << r.status().ToString();
  std::vector<double> raw = OriginalScale(*enc, m->Get(), /*intercept=*/false);
  // R 4.2.2, survival 3.5-3: coxph(Surv(time, status) ~ rx + sex + age + obstruct + perfor +
  // adhere + nodes + differ + extent + surg + node4, ties = "breslow"), etype == 1.
  const std::vector<double> r_coef = {-0.0261676991401,  -0.499591747223, -0.137968503632,
                                      -0.00268748641505, 0.19438493488,   0.21091036138,
                                      0.160518725653,    0.0382235496789, 0.152694967342,
                                      0.45125014399,     0.239985771291,  0.590613285161};
  std::vector<std::string> names = d->columns;
  std::printf(
      "colon recurrence, pooled Cox (Breslow), %zu rows, %d Newton iterations, %.1f ms, "
      "log partial likelihood %.8f (R: -2809.02156988), C-index %.4f\n",
      d->rows, r->iterations, ms, -m->Loss(*d) * static_cast<double>(d->rows),
      ConcordanceIndex(m->Predict(*d), d->time, d->event));
  for (std::size_t j = 0; j < raw.size(); ++j) {
    std::printf("  %-12s %+.8f  (R %+.8f)\n", names[j].c_str(), raw[j], r_coef[j]);
    EXPECT_NEAR(raw[j], r_coef[j], 1e-6) << names[j];
  }
  EXPECT_NEAR(-m->Loss(*d) * static_cast<double>(d->rows), -2809.02156988, 1e-6);

  // Exact federation over three nodes: within 1e-3 of the pooled fit (in fact to 1e-8).
  std::vector<Dataset> parts = ThreeParts(*d);
  CoxNewton newton(d->cols(), Grid(parts));
  while (!newton.done()) {
    ASSERT_TRUE(newton.Update(SumOverNodes(parts, newton.beta(), newton.grid())).ok());
  }
  ASSERT_TRUE(newton.converged());
  double worst = 0;
  for (std::size_t j = 0; j < d->cols(); ++j) {
    worst = std::max(worst, std::abs(newton.beta()[j] - m->Get()[j]));
  }
  std::printf(
      "  federated (3 nodes, exact risk-set sums): %d rounds, max |b_fed - b_pooled| "
      "%.2e\n",
      newton.iterations(), worst);
  EXPECT_LT(worst, 1e-8);
}

}  // namespace
}  // namespace sund::fl
