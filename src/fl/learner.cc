#include "fl/learner.h"

#include "core/splitmix.h"

namespace sund::fl {

FeatureSpec TaskFeatures(const Task& task) {
  FeatureSpec f;
  f.features = task.features;
  if (task.model.type == ModelType::kCox) {
    f.time = task.time;
    f.event = task.event;
  } else {
    f.target = task.target;
    f.positive = task.positive;
  }
  return f;
}

namespace {

Result<std::unique_ptr<Model>> TaskModelFor(const Task& task, std::size_t columns) {
  ModelSpec m;
  m.kind = task.model.type == ModelType::kLogistic ? ModelKind::kLogistic
           : task.model.type == ModelType::kMlp    ? ModelKind::kMlp
                                                   : ModelKind::kCox;
  m.l2 = task.model.l2;
  if (!task.model.hidden.empty()) m.hidden = task.model.hidden;
  m.activation = task.model.activation == "tanh" ? Activation::kTanh : Activation::kRelu;
  m.seed = task.seed;
  return MakeModel(m, columns);
}

}  // namespace

Result<std::unique_ptr<Model>> TaskModel(const Task& task, const Encoding& encoding) {
  return TaskModelFor(task, encoding.ColumnNames().size());
}

Result<std::unique_ptr<ModelLearner>> ModelLearner::Create(const Task& task, Dataset data,
                                                           std::uint64_t seed) {
  SUND_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, TaskModelFor(task, data.cols()));
  return std::unique_ptr<ModelLearner>(
      new ModelLearner(task, std::move(data), std::move(model), seed));
}

Result<Params> ModelLearner::Train(const Params& global, std::uint32_t round) {
  SUND_RETURN_IF_ERROR(model_->Set(global));
  LocalOptions o;
  o.epochs = task_.local.epochs;
  o.batch_size = static_cast<std::size_t>(task_.local.batch_size);
  o.learning_rate = task_.local.learning_rate;
  o.mu = task_.strategy.name == StrategyName::kFedProx ? task_.strategy.mu : 0.0;
  o.optimizer = task_.local.optimizer == "adam" ? Optimizer::kAdam : Optimizer::kSgd;
  o.seed = SplitMix64::StreamSeed(seed_, round);
  SUND_ASSIGN_OR_RETURN(LocalUpdate u, TrainLocal(*model_, data_, o));
  return u.params;
}

Metrics ModelLearner::Evaluate(const Params& params) const {
  std::unique_ptr<Model> m = model_->Clone();
  if (!m->Set(params).ok() || !m->Check(data_).ok() || data_.rows == 0) return {};
  Metrics out{{"loss", m->Loss(data_)}};
  std::vector<double> predicted = m->Predict(data_);
  if (data_.has_binary()) {
    out.emplace_back("accuracy", Accuracy(predicted, data_.y));
    out.emplace_back("auc", Auc(predicted, data_.y));
  } else if (data_.rows <= 20000) {  // Harrell's C is quadratic in the rows
    out.emplace_back("c_index", ConcordanceIndex(predicted, data_.time, data_.event));
  }
  return out;
}

Result<std::vector<double>> ModelLearner::EventTimes() const {
  if (model_->kind() != ModelKind::kCox) {
    return Status(StatusCode::kNotImplemented, "event times are for a Cox task");
  }
  return CoxEventTimes(data_);
}

Result<Params> ModelLearner::RiskSetSums(const Params& beta,
                                         const std::vector<double>& grid) const {
  if (model_->kind() != ModelKind::kCox) {
    return Status(StatusCode::kNotImplemented, "risk-set sums are for a Cox task");
  }
  return CoxRiskSetSums(data_, beta, grid);
}

}  // namespace sund::fl
