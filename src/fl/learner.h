// The bridge from a task file to the models: the task's model and feature encoding as a
// models.h Model, and a node's LocalLearner that trains it on the node's own rows as the task
// says (epochs, batch size, learning rate, optimiser, FedProx's mu). Thread-safety: one thread.
#pragma once

#include <memory>

#include "fl/dataset.h"
#include "fl/models.h"
#include "fl/rounds.h"
#include "fl/task.h"

namespace sund::fl {

// The task's features and outcome as a FeatureSpec (for FitEncoding).
FeatureSpec TaskFeatures(const Task& task);
// The task's model over the encoding's columns, initialised from the task's seed.
Result<std::unique_ptr<Model>> TaskModel(const Task& task, const Encoding& encoding);

class ModelLearner final : public LocalLearner {
 public:
  static Result<std::unique_ptr<ModelLearner>> Create(const Task& task, Dataset data,
                                                      std::uint64_t seed);
  Result<Params> Train(const Params& global, std::uint32_t round) override;
  std::uint64_t samples() const override { return data_.rows; }
  // loss, and accuracy and auc (binary models) or c_index (Cox); empty when params do not fit.
  Metrics Evaluate(const Params& params) const override;
  Result<std::vector<double>> EventTimes() const override;
  Result<Params> RiskSetSums(const Params& beta, const std::vector<double>& grid) const override;
  const Dataset& data() const { return data_; }

 private:
  ModelLearner(const Task& task, Dataset data, std::unique_ptr<Model> model, std::uint64_t seed)
      : task_(task), data_(std::move(data)), model_(std::move(model)), seed_(seed) {}
  Task task_;
  Dataset data_;
  std::unique_ptr<Model> model_;
  std::uint64_t seed_;
};

}  // namespace sund::fl
