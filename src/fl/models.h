// The models fl trains and how a node trains them: logistic regression, a small MLP (binary
// outcome) and Cox proportional hazards (survival), each mapping its weights to and from a flat
// `Params` vector (params.h), with its loss, gradient and (logistic, Cox) Hessian on a Dataset
// (dataset.h). `TrainLocal` is a node's round of FedAvg/FedProx (SGD or Adam on minibatches);
// `FitPooled` is the centralised reference a federation is compared with (Newton for logistic
// and Cox, the same SGD for the MLP). Metrics: AUC, log loss, accuracy, Harrell's C-index.
//
// Losses are means over rows: binary models the log loss; Cox the negative log partial
// likelihood with Breslow's handling of ties, divided by the number of rows, with risk sets
// within each stratum of Dataset::strata and within the rows given (a minibatch's own risk
// sets). A penalty l2/2 * |w|^2 covers weights, never intercepts or biases.
//
// Exact federated Cox (docs/fl.md): the partial likelihood is not a sum over nodes, but its
// Newton terms are sums over event times of risk-set sums. In a setup round each node sends its
// distinct event times (`CoxEventTimes`), which the coordinator merges into the grid
// (`MergeEventTimes`) every node then uses. That reveals the event times (not which
// covariates go with them) to the coordinator. Each round a node sends, at the coordinator's
// beta, `CoxRiskSetSums`: its row count, the sum of x over its events, and per grid time t its
// event count d(t) and S0 = sum exp(x'b), S1 = sum x exp(x'b), S2 = sum x x' exp(x'b) over its
// rows with time >= t. These add up over nodes (element-wise, so secure aggregation applies) to
// the pooled sums, from which `CoxNewton` takes exactly the pooled (unstratified) Newton step.
// Disclosure: where a risk set holds one row, S1 / S0 is that row's x, so the sums need secure
// aggregation across nodes and, for tail times with few at risk, more than that (a coarser
// grid makes the fit approximate; that trade-off is the task's to choose).
// The approximation a FedAvg of `TrainLocal` gives is the node-stratified Cox model instead
// (each node's own risk sets), whose pooled reference is `Concat(parts, /*stratify=*/true)`.
//
// Thread-safety: a Model is a value; const methods may run concurrently on one object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fl/dataset.h"
#include "fl/params.h"

namespace sund::fl {

enum class ModelKind : std::uint8_t { kLogistic, kMlp, kCox };
std::string_view ModelKindName(ModelKind kind);  // "logistic", "mlp", "cox"
std::optional<ModelKind> ParseModelKind(std::string_view name);

enum class Activation : std::uint8_t { kRelu, kTanh };
std::string_view ActivationName(Activation a);  // "relu", "tanh"
std::optional<Activation> ParseActivation(std::string_view name);

struct ModelSpec {
  ModelKind kind = ModelKind::kLogistic;
  double l2 = 0;  // penalty l2/2 * |weights|^2
  // kMlp: the hidden layers' widths (one or two layers), their activation, and the seed of the
  // Xavier-uniform initial weights (biases start at 0).
  std::vector<int> hidden = {16};
  Activation activation = Activation::kRelu;
  std::uint64_t seed = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  virtual ModelKind kind() const = 0;
  virtual std::size_t NumFeatures() const = 0;
  virtual std::size_t NumParams() const = 0;
  // Layouts: logistic [intercept, w_1..w_p]; Cox [b_1..b_p]; MLP, layer by layer from the input,
  // the weight matrix (outputs x inputs, row-major) then the biases.
  virtual Params Get() const = 0;
  // InvalidArgument when the size differs from NumParams() or a value is not finite.
  virtual Status Set(const Params& params) = 0;

  // OK when `data` has NumFeatures() columns and the outcome this model needs (InvalidArgument
  // otherwise). The methods below require it (checked: a crash otherwise).
  Status Check(const Dataset& data) const;

  // The mean loss (penalty included) over `rows` of `data`, all rows when `rows` is empty.
  virtual double Loss(const Dataset& data, std::span<const std::size_t> rows = {}) const = 0;
  // The gradient of Loss with the same rows.
  virtual Params Gradient(const Dataset& data, std::span<const std::size_t> rows = {}) const = 0;
  // The Hessian of Loss over all rows, row-major NumParams x NumParams; nullopt for models
  // without one (the MLP).
  virtual std::optional<std::vector<double>> Hessian(const Dataset& data) const {
    return std::nullopt;
  }
  // Per row: the probability of the positive class; Cox: the linear predictor x'b (the log
  // relative hazard).
  virtual std::vector<double> Predict(const Dataset& data) const = 0;
  virtual std::unique_ptr<Model> Clone() const = 0;
};

// A model with the spec's parameters at their start (zeros; the MLP Xavier from the seed).
// InvalidArgument: num_features 0; l2 negative or not finite; an MLP without one or two hidden
// layers of 1..4096 units.
Result<std::unique_ptr<Model>> MakeModel(const ModelSpec& spec, std::size_t num_features);

// ---- Local training (a node's round) ----

enum class Optimizer : std::uint8_t { kSgd, kAdam };

struct LocalOptions {
  int epochs = 1;
  std::size_t batch_size = 32;  // 0: the whole local data set per step
  double learning_rate = 0.05;
  // FedProx: mu/2 * |w - w_global|^2 is added to the loss, w_global being the parameters the
  // model holds when TrainLocal starts. 0 is FedAvg.
  double mu = 0;
  std::uint64_t seed = 0;  // the minibatch order (vary it by round and node)
  Optimizer optimizer = Optimizer::kSgd;
};

struct LocalUpdate {
  Params params;            // the model's parameters after training (also left in the model)
  std::size_t samples = 0;  // the rows trained on (FedAvg's weight)
  double loss = 0;          // Loss on the local data after training (no proximal term)
};

// Runs `epochs` passes of minibatch SGD or Adam over `data`, reshuffled each epoch. Errors
// (InvalidArgument): Check fails; no rows; epochs < 1; a learning rate or mu not finite or
// negative; the parameters become non-finite (the message suggests a smaller learning rate).
Result<LocalUpdate> TrainLocal(Model& model, const Dataset& data, const LocalOptions& options);

// ---- Pooled (centralised) fits, the references ----

struct FitOptions {
  int max_iterations = 100;  // Newton iterations
  double tolerance = 1e-10;  // Newton stops when no coordinate of the step exceeds this
  LocalOptions sgd;          // models without a Hessian (the MLP): TrainLocal with these
};

struct FitReport {
  int iterations = 0;  // Newton iterations (SGD: epochs)
  bool converged = false;
  double loss = 0;
};

// Fits the model on all of `data`, starting from its current parameters: Newton-Raphson with
// step halving where the model has a Hessian (logistic: IRLS; Cox: Breslow), else TrainLocal
// with options.sgd (converged is then true). Errors: Check fails; no rows; a singular Hessian
// (a constant or duplicated column, unpenalised); SGD errors as TrainLocal's. A logistic fit on
// separable data stops at max_iterations with converged false.
Result<FitReport> FitPooled(Model& model, const Dataset& data, const FitOptions& options = {});

// ---- Exact federated Cox: risk-set sums on a shared event-time grid ----

// Setup round, at a node: its distinct event times, ascending.
std::vector<double> CoxEventTimes(const Dataset& data);
// At the coordinator: the union of the nodes' event times, ascending: the grid.
std::vector<double> MergeEventTimes(const std::vector<std::vector<double>>& per_node);

// The length of a risk-set-sums vector: 1 + p + K * (2 + p + p(p+1)/2) for p features and K
// grid times. Layout: [rows, sum of x over events (p), then per grid time: events d, S0,
// S1 (p), S2 (upper triangle, row by row)].
std::size_t CoxRiskSetSumsSize(std::size_t num_features, std::size_t grid_size);
// Each round, at a node: its risk-set sums at `beta` (Dataset::strata is ignored: the exact
// method pools the risk sets). Errors (InvalidArgument): no survival outcome; beta's size is not
// the column count; an event time not on the grid (rerun the setup round); exp(x'b)
// overflows.
Result<Params> CoxRiskSetSums(const Dataset& data, const Params& beta,
                              const std::vector<double>& grid);

struct NewtonTerms {
  double loss = 0;  // the pooled mean loss, as CoxModel::Loss on the pooled rows
  Params gradient;
  std::vector<double> hessian;  // row-major p x p
};
// At the coordinator: the pooled loss, gradient and Hessian at `beta` from the element-wise sum
// of all nodes' risk-set sums. Errors (InvalidArgument): a wrong length; no rows; a non-finite
// value or an empty risk set where events are.
Result<NewtonTerms> CoxTermsFromSums(const Params& summed, const Params& beta,
                                     const std::vector<double>& grid, double l2 = 0);

// The coordinator's Newton-Raphson over rounds: nodes evaluate CoxRiskSetSums at beta(); the
// coordinator feeds their sum to Update, which accepts beta() and proposes the Newton step, or
// (when the loss rose) halves the last step. Ends at FitOptions' tolerance or max_iterations.
// Not thread-safe.
class CoxNewton {
 public:
  // Starts at `start` (zeros when empty; a coordinator resuming from its checkpoint passes
  // the coefficients it had reached).
  CoxNewton(std::size_t num_features, std::vector<double> grid, double l2 = 0,
            const FitOptions& options = {}, Params start = {});

  const Params& beta() const { return beta_; }
  const std::vector<double>& grid() const { return grid_; }
  bool done() const { return done_; }
  bool converged() const { return converged_; }
  int iterations() const { return iterations_; }
  double loss() const { return accepted_loss_; }  // at the last accepted beta

  // Errors: those of CoxTermsFromSums; a singular Hessian.
  Status Update(const Params& summed);

 private:
  std::size_t p_;
  std::vector<double> grid_;
  double l2_;
  FitOptions options_;
  Params beta_, accepted_;
  double accepted_loss_ = 0;
  bool have_accepted_ = false;
  int halvings_ = 0;
  int iterations_ = 0;
  bool done_ = false;
  bool converged_ = false;
};

// ---- Metrics (NaN where undefined: no rows, one class only, no comparable pair) ----

// Area under the ROC curve: the Mann-Whitney statistic, tied scores counting one half (NaN
// also when a score is NaN).
double Auc(const std::vector<double>& score, const std::vector<double>& label);
// Mean log loss, probabilities clamped to [1e-15, 1 - 1e-15].
double LogLoss(const std::vector<double>& prob, const std::vector<double>& label);
// Share of rows whose prob >= threshold agrees with label (1) or prob < threshold with 0.
double Accuracy(const std::vector<double>& prob, const std::vector<double>& label,
                double threshold = 0.5);
// Harrell's C: over pairs (i, j) with an event at i and time_i < time_j, the share where
// risk_i > risk_j, tied risks counting one half. O(n^2): meant for evaluation sets of up to
// some 10^4 rows.
double ConcordanceIndex(const std::vector<double>& risk, const std::vector<double>& time,
                        const std::vector<double>& event);

}  // namespace sund::fl
