#include "fl/models.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/splitmix.h"

namespace sund::fl {
namespace {

using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Eigen::Map<const RowMat> AllRows(const Dataset& d) {
  return {d.x.data(), static_cast<Eigen::Index>(d.rows), static_cast<Eigen::Index>(d.cols())};
}

// The design matrix of `rows` (all rows when empty).
RowMat Gather(const Dataset& d, std::span<const std::size_t> rows) {
  if (rows.empty()) return AllRows(d);
  RowMat x(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(d.cols()));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SUND_CHECK(rows[i] < d.rows);
    x.row(static_cast<Eigen::Index>(i)) = AllRows(d).row(static_cast<Eigen::Index>(rows[i]));
  }
  return x;
}

VectorXd GatherVec(const std::vector<double>& v, std::span<const std::size_t> rows) {
  if (rows.empty())
    return Eigen::Map<const VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
  VectorXd out(static_cast<Eigen::Index>(rows.size()));
  for (std::size_t i = 0; i < rows.size(); ++i) out[static_cast<Eigen::Index>(i)] = v[rows[i]];
  return out;
}

// log(1 + e^z), without overflow.
double Softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }
double Sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  double e = std::exp(z);
  return e / (1.0 + e);
}

Params ToParams(const VectorXd& v) { return Params(v.data(), v.data() + v.size()); }

bool AllFinite(const Params& p) {
  return std::all_of(p.begin(), p.end(), [](double v) { return std::isfinite(v); });
}

// ---- Logistic regression ----

class LogisticModel final : public Model {
 public:
  LogisticModel(std::size_t p, double l2) : p_(p), l2_(l2), w_(VectorXd::Zero(p + 1)) {}

  ModelKind kind() const override { return ModelKind::kLogistic; }
  std::size_t NumFeatures() const override { return p_; }
  std::size_t NumParams() const override { return p_ + 1; }
  Params Get() const override { return ToParams(w_); }
  Status Set(const Params& params) override {
    if (params.size() != NumParams() || !AllFinite(params)) {
      return InvalidArgument("logistic: expected " + std::to_string(NumParams()) +
                             " finite parameters, got " + std::to_string(params.size()));
    }
    w_ = Eigen::Map<const VectorXd>(params.data(), static_cast<Eigen::Index>(params.size()));
    return Status::Ok();
  }

  double Loss(const Dataset& d, std::span<const std::size_t> rows) const override {
    RowMat x = Gather(d, rows);
    VectorXd y = GatherVec(d.y, rows);
    VectorXd eta = Eta(x);
    double s = 0;
    for (Eigen::Index i = 0; i < eta.size(); ++i) s += Softplus(eta[i]) - y[i] * eta[i];
    return s / static_cast<double>(eta.size()) + 0.5 * l2_ * w_.tail(p_).squaredNorm();
  }

  Params Gradient(const Dataset& d, std::span<const std::size_t> rows) const override {
    RowMat x = Gather(d, rows);
    VectorXd y = GatherVec(d.y, rows);
    VectorXd r = Eta(x).unaryExpr([](double z) { return Sigmoid(z); }) - y;
    const double n = static_cast<double>(r.size());
    VectorXd g(p_ + 1);
    g[0] = r.sum() / n;
    g.tail(p_) = x.transpose() * r / n + l2_ * w_.tail(p_);
    return ToParams(g);
  }

  std::optional<std::vector<double>> Hessian(const Dataset& d) const override {
    RowMat x = Gather(d, {});
    VectorXd pr = Eta(x).unaryExpr([](double z) { return Sigmoid(z); });
    VectorXd wt = pr.array() * (1.0 - pr.array());
    const double n = static_cast<double>(d.rows);
    // [1 x] augmented design; H = X~' W X~ / n + l2 on the weights.
    MatrixXd xa(x.rows(), x.cols() + 1);
    xa.col(0).setOnes();
    xa.rightCols(x.cols()) = x;
    MatrixXd h = xa.transpose() * wt.asDiagonal() * xa / n;
    for (std::size_t j = 1; j <= p_; ++j) h(j, j) += l2_;
    RowMat hr = h;
    return std::vector<double>(hr.data(), hr.data() + hr.size());
  }

  std::vector<double> Predict(const Dataset& d) const override {
    VectorXd eta = Eta(Gather(d, {}));
    std::vector<double> out(static_cast<std::size_t>(eta.size()));
    for (Eigen::Index i = 0; i < eta.size(); ++i)
      out[static_cast<std::size_t>(i)] = Sigmoid(eta[i]);
    return out;
  }

  std::unique_ptr<Model> Clone() const override { return std::make_unique<LogisticModel>(*this); }

 private:
  VectorXd Eta(const RowMat& x) const { return (x * w_.tail(p_)).array() + w_[0]; }

  std::size_t p_;
  double l2_;
  VectorXd w_;
};

// ---- MLP: input -> 1 or 2 hidden layers -> one logit ----

class MlpModel final : public Model {
 public:
  MlpModel(std::size_t p, const std::vector<int>& hidden, Activation act, double l2,
           std::uint64_t seed)
      : p_(p), act_(act), l2_(l2) {
    dims_.push_back(p);
    for (int h : hidden) dims_.push_back(static_cast<std::size_t>(h));
    dims_.push_back(1);
    std::size_t n = 0;
    for (std::size_t l = 0; l + 1 < dims_.size(); ++l) n += dims_[l + 1] * (dims_[l] + 1);
    w_.assign(n, 0.0);
    // Xavier/Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); biases 0.
    SplitMix64 rng(seed);
    std::size_t off = 0;
    for (std::size_t l = 0; l + 1 < dims_.size(); ++l) {
      const double a = std::sqrt(6.0 / static_cast<double>(dims_[l] + dims_[l + 1]));
      for (std::size_t k = 0; k < dims_[l + 1] * dims_[l]; ++k) {
        w_[off + k] = a * (2.0 * rng.Uniform() - 1.0);
      }
      off += dims_[l + 1] * (dims_[l] + 1);
    }
  }

  ModelKind kind() const override { return ModelKind::kMlp; }
  std::size_t NumFeatures() const override { return p_; }
  std::size_t NumParams() const override { return w_.size(); }
  Params Get() const override { return w_; }
  Status Set(const Params& params) override {
    if (params.size() != NumParams() || !AllFinite(params)) {
      return InvalidArgument("mlp: expected " + std::to_string(NumParams()) +
                             " finite parameters, got " + std::to_string(params.size()));
    }
    w_ = params;
    return Status::Ok();
  }

  double Loss(const Dataset& d, std::span<const std::size_t> rows) const override {
    Forward f = Run(Gather(d, rows));
    VectorXd y = GatherVec(d.y, rows);
    const VectorXd& z = f.z.back();
    double s = 0;
    for (Eigen::Index i = 0; i < z.size(); ++i) s += Softplus(z[i]) - y[i] * z[i];
    return s / static_cast<double>(z.size()) + Penalty();
  }

  Params Gradient(const Dataset& d, std::span<const std::size_t> rows) const override {
    Forward f = Run(Gather(d, rows));
    VectorXd y = GatherVec(d.y, rows);
    const auto n = static_cast<double>(y.size());
    Params g(w_.size(), 0.0);
    // dLoss/dz of the output layer.
    MatrixXd dz = (f.z.back().unaryExpr([](double v) { return Sigmoid(v); }) - y) / n;
    for (std::size_t l = dims_.size() - 1; l-- > 0;) {
      const std::size_t out = dims_[l + 1], in = dims_[l];
      const std::size_t off = Offset(l);
      Eigen::Map<RowMat> gw(g.data() + off, static_cast<Eigen::Index>(out),
                            static_cast<Eigen::Index>(in));
      Eigen::Map<VectorXd> gb(g.data() + off + out * in, static_cast<Eigen::Index>(out));
      gw = dz.transpose() * f.a[l];
      gw += l2_ * Weights(l);
      gb = dz.colwise().sum().transpose();
      if (l == 0) break;
      MatrixXd da = dz * Weights(l);
      dz = da.array() * Derivative(f.z[l - 1], f.a[l]).array();
    }
    return g;
  }

  std::vector<double> Predict(const Dataset& d) const override {
    Forward f = Run(Gather(d, {}));
    const VectorXd& z = f.z.back();
    std::vector<double> out(static_cast<std::size_t>(z.size()));
    for (Eigen::Index i = 0; i < z.size(); ++i) out[static_cast<std::size_t>(i)] = Sigmoid(z[i]);
    return out;
  }

  std::unique_ptr<Model> Clone() const override { return std::make_unique<MlpModel>(*this); }

 private:
  struct Forward {
    std::vector<MatrixXd> a;  // a[0] = x, a[l] = activation of hidden layer l
    std::vector<MatrixXd> z;  // pre-activations of layers 1..L (the last is the logit, n x 1)
  };

  std::size_t Offset(std::size_t layer) const {
    std::size_t off = 0;
    for (std::size_t l = 0; l < layer; ++l) off += dims_[l + 1] * (dims_[l] + 1);
    return off;
  }
  Eigen::Map<const RowMat> Weights(std::size_t l) const {
    return {w_.data() + Offset(l), static_cast<Eigen::Index>(dims_[l + 1]),
            static_cast<Eigen::Index>(dims_[l])};
  }
  Eigen::Map<const VectorXd> Biases(std::size_t l) const {
    return {w_.data() + Offset(l) + dims_[l + 1] * dims_[l],
            static_cast<Eigen::Index>(dims_[l + 1])};
  }

  Forward Run(const RowMat& x) const {
    Forward f;
    f.a.emplace_back(x);
    for (std::size_t l = 0; l + 1 < dims_.size(); ++l) {
      MatrixXd z = f.a.back() * Weights(l).transpose();
      z.rowwise() += Biases(l).transpose();
      if (l + 2 < dims_.size()) {
        MatrixXd a = act_ == Activation::kRelu ? MatrixXd(z.cwiseMax(0.0))
                                               : MatrixXd(z.array().tanh().matrix());
        f.a.push_back(std::move(a));
      }
      f.z.push_back(std::move(z));
    }
    return f;
  }

  MatrixXd Derivative(const MatrixXd& z, const MatrixXd& a) const {
    if (act_ == Activation::kRelu) return (z.array() > 0.0).cast<double>().matrix();
    return (1.0 - a.array().square()).matrix();
  }

  double Penalty() const {
    if (l2_ == 0) return 0;
    double s = 0;
    for (std::size_t l = 0; l + 1 < dims_.size(); ++l) s += Weights(l).squaredNorm();
    return 0.5 * l2_ * s;
  }

  std::size_t p_;
  Activation act_;
  double l2_;
  std::vector<std::size_t> dims_;
  Params w_;
};

// ---- Cox proportional hazards (Breslow) ----

struct CoxSums {
  double loss = 0;  // sum over events of log S0 - x'b (not yet divided by n)
  VectorXd grad;
  MatrixXd hess;
};

// The negative log partial likelihood and its derivatives, summed, over the rows of x with
// risk sets within strata. exp(x'b) is taken relative to its maximum, which cancels.
CoxSums CoxDirect(const RowMat& x, const VectorXd& time, const VectorXd& event,
                  const std::vector<std::int32_t>& strata, const VectorXd& beta, bool hessian) {
  const Eigen::Index n = x.rows(), p = x.cols();
  CoxSums out{0, VectorXd::Zero(p), hessian ? MatrixXd::Zero(p, p) : MatrixXd()};
  if (n == 0) return out;
  VectorXd eta = x * beta;
  const double shift = eta.maxCoeff();
  VectorXd w = (eta.array() - shift).exp();
  std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  auto stratum = [&](Eigen::Index i) {
    return strata.empty() ? 0 : strata[static_cast<std::size_t>(i)];
  };
  std::sort(order.begin(), order.end(), [&](Eigen::Index a, Eigen::Index b) {
    if (stratum(a) != stratum(b)) return stratum(a) < stratum(b);
    return time[a] > time[b];
  });
  double s0 = 0;
  VectorXd s1 = VectorXd::Zero(p);
  MatrixXd s2 = hessian ? MatrixXd::Zero(p, p) : MatrixXd();
  std::size_t i = 0;
  while (i < order.size()) {
    if (i > 0 && stratum(order[i]) != stratum(order[i - 1])) {
      s0 = 0;
      s1.setZero();
      if (hessian) s2.setZero();
    }
    // The tie group: rows of this stratum with this time; all join the risk set first.
    std::size_t j = i;
    while (j < order.size() && stratum(order[j]) == stratum(order[i]) &&
           time[order[j]] == time[order[i]]) {
      const Eigen::Index r = order[j];
      s0 += w[r];
      s1 += w[r] * x.row(r).transpose();
      if (hessian) s2.selfadjointView<Eigen::Lower>().rankUpdate(x.row(r).transpose(), w[r]);
      ++j;
    }
    double d = 0, eta_sum = 0;
    VectorXd x_sum = VectorXd::Zero(p);
    for (std::size_t k = i; k < j; ++k) {
      const Eigen::Index r = order[k];
      if (event[r] > 0.5) {
        d += 1;
        eta_sum += eta[r];
        x_sum += x.row(r).transpose();
      }
    }
    if (d > 0) {
      out.loss += d * (std::log(s0) + shift) - eta_sum;
      VectorXd mean = s1 / s0;
      out.grad += d * mean - x_sum;
      if (hessian) {
        MatrixXd s2_full = s2.selfadjointView<Eigen::Lower>();
        out.hess += d * (s2_full / s0 - mean * mean.transpose());
      }
    }
    i = j;
  }
  return out;
}

class CoxModel final : public Model {
 public:
  CoxModel(std::size_t p, double l2) : p_(p), l2_(l2), b_(VectorXd::Zero(p)) {}

  ModelKind kind() const override { return ModelKind::kCox; }
  std::size_t NumFeatures() const override { return p_; }
  std::size_t NumParams() const override { return p_; }
  Params Get() const override { return ToParams(b_); }
  Status Set(const Params& params) override {
    if (params.size() != NumParams() || !AllFinite(params)) {
      return InvalidArgument("cox: expected " + std::to_string(NumParams()) +
                             " finite parameters, got " + std::to_string(params.size()));
    }
    b_ = Eigen::Map<const VectorXd>(params.data(), static_cast<Eigen::Index>(params.size()));
    return Status::Ok();
  }

  double Loss(const Dataset& d, std::span<const std::size_t> rows) const override {
    CoxSums s = Sums(d, rows, false);
    return s.loss / Count(d, rows) + 0.5 * l2_ * b_.squaredNorm();
  }
  Params Gradient(const Dataset& d, std::span<const std::size_t> rows) const override {
    CoxSums s = Sums(d, rows, false);
    return ToParams(s.grad / Count(d, rows) + l2_ * b_);
  }
  std::optional<std::vector<double>> Hessian(const Dataset& d) const override {
    CoxSums s = Sums(d, {}, true);
    RowMat h = s.hess / Count(d, {});
    h.diagonal().array() += l2_;
    return std::vector<double>(h.data(), h.data() + h.size());
  }
  std::vector<double> Predict(const Dataset& d) const override {
    VectorXd eta = Gather(d, {}) * b_;
    return std::vector<double>(eta.data(), eta.data() + eta.size());
  }
  std::unique_ptr<Model> Clone() const override { return std::make_unique<CoxModel>(*this); }

 private:
  static double Count(const Dataset& d, std::span<const std::size_t> rows) {
    return static_cast<double>(rows.empty() ? d.rows : rows.size());
  }
  CoxSums Sums(const Dataset& d, std::span<const std::size_t> rows, bool hessian) const {
    std::vector<std::int32_t> strata;
    if (d.strata.size() == d.rows) {
      if (rows.empty()) {
        strata = d.strata;
      } else {
        for (std::size_t r : rows) strata.push_back(d.strata[r]);
      }
    }
    return CoxDirect(Gather(d, rows), GatherVec(d.time, rows), GatherVec(d.event, rows), strata, b_,
                     hessian);
  }

  std::size_t p_;
  double l2_;
  VectorXd b_;
};

// ---- Newton-Raphson ----

// The Newton step H^-1 g; InvalidArgument when H is singular.
Result<VectorXd> NewtonStep(const std::vector<double>& hessian, const Params& gradient) {
  const auto p = static_cast<Eigen::Index>(gradient.size());
  Eigen::Map<const RowMat> h(hessian.data(), p, p);
  Eigen::Map<const VectorXd> g(gradient.data(), p);
  Eigen::LDLT<MatrixXd> ldlt(h);
  if (ldlt.info() != Eigen::Success || !ldlt.isPositive() || ldlt.rcond() < 1e-13) {
    return InvalidArgument(
        "the Hessian is singular: a constant or duplicated column (or separated data)?");
  }
  VectorXd step = ldlt.solve(g);
  if (!step.allFinite()) return InvalidArgument("the Newton step is not finite");
  return step;
}

// One Newton iteration's bookkeeping, shared by FitPooled and CoxNewton: given the loss,
// gradient and Hessian at the proposed point, accept it and propose the Newton step, or halve
// the last step when the loss rose.
struct NewtonState {
  Params proposed, accepted;
  double accepted_loss = 0;
  bool have_accepted = false;
  int halvings = 0, iterations = 0;
  bool done = false, converged = false;

  Status Update(const NewtonTerms& t, const FitOptions& o) {
    const bool rose =
        have_accepted && !(t.loss <= accepted_loss + 1e-12 * (1.0 + std::abs(accepted_loss)));
    if (rose) {
      if (++halvings > 40) {
        done = true;
        proposed = accepted;
        return Status::Ok();
      }
      for (std::size_t j = 0; j < proposed.size(); ++j) {
        proposed[j] = 0.5 * (proposed[j] + accepted[j]);
      }
      return Status::Ok();
    }
    halvings = 0;
    accepted = proposed;
    accepted_loss = t.loss;
    have_accepted = true;
    SUND_ASSIGN_OR_RETURN(VectorXd step, NewtonStep(t.hessian, t.gradient));
    for (std::size_t j = 0; j < proposed.size(); ++j) {
      proposed[j] = accepted[j] - step[static_cast<Eigen::Index>(j)];
    }
    ++iterations;
    if (step.cwiseAbs().maxCoeff() <= o.tolerance) {
      converged = done = true;
    } else if (iterations >= o.max_iterations) {
      done = true;
    }
    return Status::Ok();
  }
};

Status CheckLocalOptions(const LocalOptions& o) {
  if (o.epochs < 1) return InvalidArgument("local training: epochs must be at least 1");
  if (!std::isfinite(o.learning_rate) || !(o.learning_rate > 0)) {
    return InvalidArgument("local training: the learning rate must be positive");
  }
  if (!std::isfinite(o.mu) || o.mu < 0) {
    return InvalidArgument("local training: mu must be zero or positive");
  }
  return Status::Ok();
}

}  // namespace

std::string_view ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kLogistic:
      return "logistic";
    case ModelKind::kMlp:
      return "mlp";
    case ModelKind::kCox:
      return "cox";
  }
  return "logistic";
}

std::optional<ModelKind> ParseModelKind(std::string_view name) {
  for (auto k : {ModelKind::kLogistic, ModelKind::kMlp, ModelKind::kCox}) {
    if (ModelKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view ActivationName(Activation a) { return a == Activation::kRelu ? "relu" : "tanh"; }

std::optional<Activation> ParseActivation(std::string_view name) {
  if (name == "relu") return Activation::kRelu;
  if (name == "tanh") return Activation::kTanh;
  return std::nullopt;
}

Status Model::Check(const Dataset& data) const {
  if (data.cols() != NumFeatures() || data.x.size() != data.rows * data.cols()) {
    return InvalidArgument("the data has " + std::to_string(data.cols()) + " columns, the model " +
                           std::to_string(NumFeatures()));
  }
  if (kind() == ModelKind::kCox) {
    if (data.rows > 0 && !data.has_survival()) {
      return InvalidArgument("a Cox model needs a time and an event column");
    }
  } else if (data.rows > 0 && !data.has_binary()) {
    return InvalidArgument(std::string(ModelKindName(kind())) + " needs a binary target");
  }
  if (!data.strata.empty() && data.strata.size() != data.rows) {
    return InvalidArgument("the strata do not cover the rows");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Model>> MakeModel(const ModelSpec& spec, std::size_t num_features) {
  if (num_features == 0) return InvalidArgument("a model needs at least one feature");
  if (!std::isfinite(spec.l2) || spec.l2 < 0) {
    return InvalidArgument("the l2 penalty must be zero or positive");
  }
  switch (spec.kind) {
    case ModelKind::kLogistic:
      return std::unique_ptr<Model>(std::make_unique<LogisticModel>(num_features, spec.l2));
    case ModelKind::kCox:
      return std::unique_ptr<Model>(std::make_unique<CoxModel>(num_features, spec.l2));
    case ModelKind::kMlp:
      if (spec.hidden.empty() || spec.hidden.size() > 2 ||
          std::any_of(spec.hidden.begin(), spec.hidden.end(),
                      [](int h) { return h < 1 || h > 4096; })) {
        return InvalidArgument("an MLP has one or two hidden layers of 1 to 4096 units");
      }
      return std::unique_ptr<Model>(std::make_unique<MlpModel>(
          num_features, spec.hidden, spec.activation, spec.l2, spec.seed));
  }
  return InvalidArgument("unknown model kind");
}

Result<LocalUpdate> TrainLocal(Model& model, const Dataset& data, const LocalOptions& o) {
  SUND_RETURN_IF_ERROR(model.Check(data));
  SUND_RETURN_IF_ERROR(CheckLocalOptions(o));
  if (data.rows == 0) return InvalidArgument("local training: no rows");
  const Params global = model.Get();
  Params w = global;
  const std::size_t n = w.size();
  const std::size_t batch = o.batch_size == 0 ? data.rows : std::min(o.batch_size, data.rows);
  std::vector<double> m(n, 0.0), v(n, 0.0);
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
  std::int64_t t = 0;
  std::vector<std::size_t> order(data.rows);
  std::iota(order.begin(), order.end(), 0);
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    SplitMix64 rng = SplitMix64::Stream(o.seed, static_cast<std::uint64_t>(epoch));
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Below(i)]);
    for (std::size_t start = 0; start < order.size(); start += batch) {
      std::size_t end = std::min(order.size(), start + batch);
      std::span<const std::size_t> rows(order.data() + start, end - start);
      // A full-data batch in original order is the same rows: pass all (no gather).
      Params g =
          model.Gradient(data, rows.size() == data.rows ? std::span<const std::size_t>() : rows);
      if (o.mu > 0) {
        for (std::size_t j = 0; j < n; ++j) g[j] += o.mu * (w[j] - global[j]);
      }
      if (o.optimizer == Optimizer::kSgd) {
        for (std::size_t j = 0; j < n; ++j) w[j] -= o.learning_rate * g[j];
      } else {
        ++t;
        const double c1 = 1.0 - std::pow(kBeta1, static_cast<double>(t));
        const double c2 = 1.0 - std::pow(kBeta2, static_cast<double>(t));
        for (std::size_t j = 0; j < n; ++j) {
          m[j] = kBeta1 * m[j] + (1 - kBeta1) * g[j];
          v[j] = kBeta2 * v[j] + (1 - kBeta2) * g[j] * g[j];
          w[j] -= o.learning_rate * (m[j] / c1) / (std::sqrt(v[j] / c2) + kEps);
        }
      }
      if (!AllFinite(w)) {
        SUND_RETURN_IF_ERROR(model.Set(global));
        return InvalidArgument("local training diverged: lower the learning rate");
      }
      SUND_RETURN_IF_ERROR(model.Set(w));
    }
  }
  LocalUpdate out;
  out.params = std::move(w);
  out.samples = data.rows;
  out.loss = model.Loss(data);
  return out;
}

Result<FitReport> FitPooled(Model& model, const Dataset& data, const FitOptions& options) {
  SUND_RETURN_IF_ERROR(model.Check(data));
  if (data.rows == 0) return InvalidArgument("fit: no rows");
  FitReport report;
  if (!model.Hessian(data).has_value()) {
    SUND_ASSIGN_OR_RETURN(LocalUpdate u, TrainLocal(model, data, options.sgd));
    report.iterations = options.sgd.epochs;
    report.converged = true;
    report.loss = u.loss;
    return report;
  }
  const Params start = model.Get();
  NewtonState state;
  state.proposed = start;
  while (!state.done) {
    SUND_RETURN_IF_ERROR(model.Set(state.proposed));
    NewtonTerms t;
    t.loss = model.Loss(data);
    t.gradient = model.Gradient(data);
    t.hessian = *model.Hessian(data);
    if (!std::isfinite(t.loss)) t.loss = std::numeric_limits<double>::infinity();
    Status s = state.have_accepted || std::isfinite(t.loss)
                   ? state.Update(t, options)
                   : InvalidArgument("fit: the loss is not finite at the start");
    if (!s.ok()) {
      model.Set(state.have_accepted ? state.accepted : start).IgnoreError();
      return s;
    }
  }
  SUND_RETURN_IF_ERROR(model.Set(state.proposed));
  report.iterations = state.iterations;
  report.converged = state.converged;
  report.loss = model.Loss(data);
  return report;
}

// ---- Exact federated Cox ----

std::vector<double> CoxEventTimes(const Dataset& data) {
  std::vector<double> out;
  if (!data.has_survival()) return out;
  for (std::size_t r = 0; r < data.rows; ++r) {
    if (data.event[r] > 0.5) out.push_back(data.time[r]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<double> MergeEventTimes(const std::vector<std::vector<double>>& per_node) {
  std::vector<double> out;
  for (const auto& v : per_node) out.insert(out.end(), v.begin(), v.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::size_t CoxRiskSetSumsSize(std::size_t p, std::size_t k) {
  return 1 + p + k * (2 + p + p * (p + 1) / 2);
}

Result<Params> CoxRiskSetSums(const Dataset& data, const Params& beta,
                              const std::vector<double>& grid) {
  const std::size_t p = data.cols(), k_n = grid.size();
  if (data.rows > 0 && !data.has_survival()) {
    return InvalidArgument("cox: the data has no time and event columns");
  }
  if (beta.size() != p) return InvalidArgument("cox: beta does not match the columns");
  const std::size_t block = 2 + p + p * (p + 1) / 2;
  Params out(CoxRiskSetSumsSize(p, k_n), 0.0);
  out[0] = static_cast<double>(data.rows);
  if (data.rows == 0) return out;
  Eigen::Map<const VectorXd> b(beta.data(), static_cast<Eigen::Index>(p));
  VectorXd eta = AllRows(data) * b;
  VectorXd w = eta.array().exp();
  if (!w.allFinite()) {
    return InvalidArgument("cox: exp(x'b) overflows (standardise the features?)");
  }
  std::vector<std::size_t> order(data.rows);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t c) { return data.time[a] > data.time[c]; });
  // Walk the grid from the last time down; rows join the risk set once time >= grid time.
  double s0 = 0;
  VectorXd s1 = VectorXd::Zero(static_cast<Eigen::Index>(p));
  MatrixXd s2 = MatrixXd::Zero(static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p));
  std::size_t next = 0;
  for (std::size_t k = k_n; k-- > 0;) {
    double* blk = out.data() + 1 + p + k * block;
    while (next < order.size() && data.time[order[next]] >= grid[k]) {
      const std::size_t r = order[next++];
      const auto ri = static_cast<Eigen::Index>(r);
      auto xr = AllRows(data).row(ri).transpose();
      s0 += w[ri];
      s1 += w[ri] * xr;
      s2.selfadjointView<Eigen::Upper>().rankUpdate(xr, w[ri]);
      if (data.event[r] > 0.5) {
        if (data.time[r] != grid[k]) {
          return InvalidArgument("cox: an event time the grid lacks (rerun the setup round)");
        }
        blk[0] += 1;
        for (std::size_t j = 0; j < p; ++j) out[1 + j] += data.at(r, j);
      }
    }
    blk[1] = s0;
    for (std::size_t j = 0; j < p; ++j) blk[2 + j] = s1[static_cast<Eigen::Index>(j)];
    std::size_t t = 2 + p;
    for (std::size_t a = 0; a < p; ++a) {
      for (std::size_t c = a; c < p; ++c) {
        blk[t++] = s2(static_cast<Eigen::Index>(a), static_cast<Eigen::Index>(c));
      }
    }
  }
  // Events before the first grid time (never reached by the walk) are off the grid too.
  for (std::size_t i = next; i < order.size(); ++i) {
    if (data.event[order[i]] > 0.5) {
      return InvalidArgument("cox: an event time the grid lacks (rerun the setup round)");
    }
  }
  return out;
}

Result<NewtonTerms> CoxTermsFromSums(const Params& summed, const Params& beta,
                                     const std::vector<double>& grid, double l2) {
  const std::size_t p = beta.size(), k_n = grid.size();
  if (summed.size() != CoxRiskSetSumsSize(p, k_n)) {
    return InvalidArgument("cox: the risk-set sums have the wrong length");
  }
  if (!AllFinite(summed)) return InvalidArgument("cox: a risk-set sum is not finite");
  const double n = summed[0];
  if (!(n >= 1)) return InvalidArgument("cox: no rows");
  const std::size_t block = 2 + p + p * (p + 1) / 2;
  const auto pe = static_cast<Eigen::Index>(p);
  Eigen::Map<const VectorXd> b(beta.data(), pe);
  Eigen::Map<const VectorXd> x_events(summed.data() + 1, pe);
  double loss = -b.dot(x_events);
  VectorXd grad = -x_events;
  MatrixXd hess = MatrixXd::Zero(pe, pe);
  for (std::size_t k = 0; k < k_n; ++k) {
    const double* blk = summed.data() + 1 + p + k * block;
    const double d = blk[0], s0 = blk[1];
    if (d <= 0) continue;
    if (!(s0 > 0)) return InvalidArgument("cox: an empty risk set at an event time");
    Eigen::Map<const VectorXd> s1(blk + 2, pe);
    VectorXd mean = s1 / s0;
    loss += d * std::log(s0);
    grad += d * mean;
    std::size_t t = 2 + p;
    MatrixXd s2(pe, pe);
    for (Eigen::Index a = 0; a < pe; ++a) {
      for (Eigen::Index c = a; c < pe; ++c) s2(a, c) = s2(c, a) = blk[t++];
    }
    hess += d * (s2 / s0 - mean * mean.transpose());
  }
  NewtonTerms out;
  out.loss = loss / n + 0.5 * l2 * b.squaredNorm();
  out.gradient = ToParams(grad / n + l2 * b);
  RowMat h = hess / n;
  h.diagonal().array() += l2;
  out.hessian.assign(h.data(), h.data() + h.size());
  return out;
}

CoxNewton::CoxNewton(std::size_t num_features, std::vector<double> grid, double l2,
                     const FitOptions& options, Params start)
    : p_(num_features),
      grid_(std::move(grid)),
      l2_(l2),
      options_(options),
      beta_(start.size() == num_features ? std::move(start) : Params(num_features, 0.0)) {}

Status CoxNewton::Update(const Params& summed) {
  if (done_) return Status::Ok();
  SUND_ASSIGN_OR_RETURN(NewtonTerms t, CoxTermsFromSums(summed, beta_, grid_, l2_));
  NewtonState s;
  s.proposed = beta_;
  s.accepted = accepted_;
  s.accepted_loss = accepted_loss_;
  s.have_accepted = have_accepted_;
  s.halvings = halvings_;
  s.iterations = iterations_;
  SUND_RETURN_IF_ERROR(s.Update(t, options_));
  beta_ = s.proposed;
  accepted_ = s.accepted;
  accepted_loss_ = s.accepted_loss;
  have_accepted_ = s.have_accepted;
  halvings_ = s.halvings;
  iterations_ = s.iterations;
  done_ = s.done;
  converged_ = s.converged;
  return Status::Ok();
}

// ---- Metrics ----

double Auc(const std::vector<double>& score, const std::vector<double>& label) {
  const std::size_t n = std::min(score.size(), label.size());
  if (std::any_of(score.begin(), score.begin() + static_cast<std::ptrdiff_t>(n),
                  [](double v) { return std::isnan(v); })) {
    return kNaN;
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  // Sum of the positives' mid-ranks (1-based) -> Mann-Whitney U.
  double rank_sum = 0, pos = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j < n && score[order[j]] == score[order[i]]) ++j;
    const double mid = 0.5 * static_cast<double>(i + 1 + j);
    for (std::size_t k = i; k < j; ++k) {
      if (label[order[k]] > 0.5) {
        rank_sum += mid;
        pos += 1;
      }
    }
    i = j;
  }
  const double neg = static_cast<double>(n) - pos;
  if (pos == 0 || neg == 0) return kNaN;
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

double LogLoss(const std::vector<double>& prob, const std::vector<double>& label) {
  const std::size_t n = std::min(prob.size(), label.size());
  if (n == 0) return kNaN;
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double q = std::clamp(prob[i], 1e-15, 1 - 1e-15);
    s -= label[i] > 0.5 ? std::log(q) : std::log1p(-q);
  }
  return s / static_cast<double>(n);
}

double Accuracy(const std::vector<double>& prob, const std::vector<double>& label,
                double threshold) {
  const std::size_t n = std::min(prob.size(), label.size());
  if (n == 0) return kNaN;
  std::size_t right = 0;
  for (std::size_t i = 0; i < n; ++i) right += (prob[i] >= threshold) == (label[i] > 0.5);
  return static_cast<double>(right) / static_cast<double>(n);
}

double ConcordanceIndex(const std::vector<double>& risk, const std::vector<double>& time,
                        const std::vector<double>& event) {
  const std::size_t n = std::min({risk.size(), time.size(), event.size()});
  double pairs = 0, concordant = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!(event[i] > 0.5)) continue;
    for (std::size_t j = 0; j < n; ++j) {
      if (!(time[i] < time[j])) continue;
      pairs += 1;
      if (risk[i] > risk[j]) {
        concordant += 1;
      } else if (risk[i] == risk[j]) {
        concordant += 0.5;
      }
    }
  }
  return pairs == 0 ? kNaN : concordant / pairs;
}

}  // namespace sund::fl
