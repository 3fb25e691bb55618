// A federated task file: what the coordinator trains with the nodes, and how. JSON; examples
// in examples/fl/ (logistic.json, mlp.json, cox.json). Unknown keys are errors so that typos
// are caught; every error names the key.
//
//   id                 the task's name (letters, digits, '.', '_', '-')
//   model              {"type": "logistic", "l2": 0}
//                      {"type": "mlp", "hidden": [16], "activation": "relu"|"tanh", "l2": 0}
//                      {"type": "cox", "l2": 0}
//   features           column names (of the node's CSV or its cohort spec's features)
//   target, positive   the binary target and its positive value (logistic, mlp)
//   time, event        survival time and event columns, event "1" = happened (cox)
//   strategy           {"name": "fedavg"} | {"name": "fedprox", "mu": 0.01} |
//                      {"name": "fedadam", "server_learning_rate": 0.05, "beta1": 0.9,
//                       "beta2": 0.99, "tau": 1e-3} |
//                      {"name": "newton"}: cox only, exact federated Newton-Raphson on the
//                       nodes' summed risk-set sums (models.h); every node takes part in every
//                       round, rounds is the most Newton iterations, no DP
//   where              {"column": "value", ...}: only the rows whose cells equal the values
//                      (e.g. colon.csv's {"etype": "1"}, the recurrence rows)
//   local              {"epochs": 1, "batch_size": 32, "learning_rate": 0.1,
//                       "optimizer": "sgd"|"adam"}
//   rounds             at most this many rounds (1..10000)
//   clients_per_round  nodes asked each round (at most the nodes joined)
//   min_clients        a round needs this many updates, else it is retried (>= 2; >= 3 with
//                      secure aggregation, whose threshold is then min_clients)
//   min_samples        a node with fewer rows does not take part (default 20)
//   round_timeout_s    a node that has not answered by then counts as dropped (default 60)
//   secure_aggregation true: the coordinator sees only the sum of the updates (default true)
//   privacy            {"clip": 1.0, "noise_multiplier": 1.1, "epsilon": 5, "delta": 1e-6}:
//                      node-level DP; absent: none
//   seed               for the initial model and the nodes' sampling (default 1)
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sund::fl {

enum class ModelType : std::uint8_t { kLogistic, kMlp, kCox };
enum class StrategyName : std::uint8_t { kFedAvg, kFedProx, kFedAdam, kNewton };
std::string_view ModelTypeName(ModelType t);
std::string_view StrategyNameText(StrategyName s);

struct TaskModelSpec {
  ModelType type = ModelType::kLogistic;
  std::vector<int> hidden;  // mlp
  std::string activation = "relu";
  double l2 = 0;
};

struct StrategySpec {
  StrategyName name = StrategyName::kFedAvg;
  double mu = 0;                                                              // fedprox
  double server_learning_rate = 0.05, beta1 = 0.9, beta2 = 0.99, tau = 1e-3;  // fedadam
};

struct LocalSpec {
  int epochs = 1;
  int batch_size = 32;
  double learning_rate = 0.1;
  std::string optimizer = "sgd";
};

struct PrivacySpec {
  double clip = 1.0;
  double noise_multiplier = 1.0;
  double epsilon = 5;
  double delta = 1e-6;
};

struct Task {
  std::string id;
  TaskModelSpec model;
  std::vector<std::string> features;
  std::string target, positive;                            // logistic, mlp
  std::string time, event;                                 // cox
  std::vector<std::pair<std::string, std::string>> where;  // row filter (column, value)
  StrategySpec strategy;
  LocalSpec local;
  int rounds = 20;
  int clients_per_round = 5;
  int min_clients = 3;
  int min_samples = 20;
  int round_timeout_s = 60;
  bool secure_aggregation = true;
  std::optional<PrivacySpec> privacy;
  std::uint64_t seed = 1;
};

Result<Task> ParseTask(std::string_view json_text);
Result<Task> ReadTaskFile(const std::string& path);
// Canonical JSON (what the coordinator sends the nodes); ParseTask reads it back unchanged.
std::string TaskToJson(const Task& task);

// What a coordinator sends a joining node: the task and the shared feature encoding (dataset.h,
// its JSON text carried as a string, byte for byte; empty when there is none):
// {"task": {...}, "encoding": "{...}"}.
struct TaskEnvelope {
  Task task;
  std::string encoding;
};
std::string TaskEnvelopeJson(const Task& task, std::string_view encoding_json);
// Also accepts a bare task (no encoding).
Result<TaskEnvelope> ParseTaskEnvelope(std::string_view json_text);

}  // namespace sund::fl
