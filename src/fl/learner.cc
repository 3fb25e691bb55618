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

}  // namespace sund::fl
