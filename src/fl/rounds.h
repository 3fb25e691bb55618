// The round logic of federated training over the transport (docs/fl.md, "Protocol"): the
// coordinator selects nodes, sends the global parameters, collects their updates (plain, or
// under secure aggregation in four steps), averages them and applies the task's strategy
// (FedAvg, FedProx's averaging, FedAdam); the node answers each step with its LocalLearner.
//
// What a node sends: its update delta = local - global. Without DP it is weighted by the node's
// sample count (weighted FedAvg); with the task's privacy settings it is clipped to `clip`,
// noised (privacy.h) and unweighted, as DP-FedAvg needs a bounded contribution per node. Under
// secure aggregation the vector [weight * delta, weight] is fixed-point encoded (fixed_point.h)
// with a bound of clip (DP) or kPlainClip per coordinate times the largest weight, and masked.
//
// The coordinator checkpoints after every round and resumes from the checkpoint file when it is
// started again; nodes whose session it no longer knows join again and carry on.
// Thread-safety: RunCoordinator and RunNode each own their thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "fl/params.h"
#include "fl/task.h"
#include "fl/transport.h"

namespace sund::fl {

// Without DP, a coordinate of an update beyond this is clamped (secure aggregation's codec
// needs a bound).
inline constexpr double kPlainClip = 100.0;

// A node's local training: new parameters from the global ones.
class LocalLearner {
 public:
  virtual ~LocalLearner() = default;
  virtual Result<Params> Train(const Params& global, std::uint32_t round) = 0;
  virtual std::uint64_t samples() const = 0;
};

struct RoundLog {
  std::uint32_t round = 0;
  std::size_t selected = 0, contributed = 0, dropped = 0;
  double seconds = 0;
  std::uint64_t bytes_to_nodes = 0, bytes_from_nodes = 0;
  double epsilon = 0;  // spent so far (0 without DP)
  double update_norm = 0;
};

struct CoordinatorRun {
  Task task;
  Params initial;
  std::string checkpoint;  // a file; resumed from when it exists ("" = none)
  std::function<void(const RoundLog&, const Params&)> on_round;
  // How long to wait for enough nodes to join before giving up.
  std::chrono::seconds join_timeout{600};
};

struct CoordinatorResult {
  Params params;
  std::uint32_t rounds = 0;  // completed
  double epsilon = 0;
  std::string stopped_because;  // "rounds", "privacy budget"
};

Result<CoordinatorResult> RunCoordinator(CoordinatorServer& server, const CoordinatorRun& run);

struct NodeRun {
  std::string task_id;
  std::string fingerprint;  // of the node's feature encoding
  std::uint64_t seed = 1;   // its DP noise (the task's seed is mixed in)
  int max_rejoins = 100;
};

// Joins, answers every step until the task is done, and returns the final global parameters.
Result<Params> RunNode(NodeClient& client, LocalLearner& learner, const NodeRun& run);

}  // namespace sund::fl
