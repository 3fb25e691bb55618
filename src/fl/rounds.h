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

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "fl/params.h"
#include "fl/stats.h"
#include "fl/task.h"
#include "fl/transport.h"

namespace sund::fl {

// Without DP, a coordinate of an update beyond this is clamped (secure aggregation's codec
// needs a bound).
inline constexpr double kPlainClip = 100.0;
// newton under secure aggregation: a coordinate of a node's risk-set sums may be at most this
// times the largest node's rows (exp(x'b) x^2 per row, with standardised x); a node whose sums
// exceed it stops with a clear error rather than send clamped (wrong) sums.
inline constexpr double kCoxSumBound = 1e6;

// Named metrics, in order: {"loss", 0.47}, {"accuracy", 0.77}, {"auc", 0.83} ...
using Metrics = std::vector<std::pair<std::string, double>>;
// As a JSON object in that order; a non-finite value as null.
std::string MetricsJson(const Metrics& metrics);

// A node's local work.
class LocalLearner {
 public:
  virtual ~LocalLearner() = default;
  // FedAvg, FedProx, FedAdam: new parameters from the global ones.
  virtual Result<Params> Train(const Params& global, std::uint32_t round) = 0;
  virtual std::uint64_t samples() const = 0;
  // The model with `params` on the node's own rows: "loss" (the training loss) and, for binary
  // models, "accuracy" and "auc"; Cox "c_index". Empty when the learner has no metrics. Each
  // round the node sends loss and accuracy at the global parameters, weighted by its rows and
  // summed with the update (never under DP: they are not noised); after the last round every
  // node reports its metrics of the final model.
  virtual Metrics Evaluate(const Params& params) const { return {}; }
  // Exact federated Cox (strategy "newton", models.h): the node's distinct event times (the
  // setup step), and its risk-set sums at beta on the merged grid (each round).
  virtual Result<std::vector<double>> EventTimes() const {
    return Status(StatusCode::kNotImplemented, "this node cannot fit a Cox model");
  }
  virtual Result<Params> RiskSetSums(const Params& beta, const std::vector<double>& grid) const {
    return Status(StatusCode::kNotImplemented, "this node cannot fit a Cox model");
  }
};

struct RoundLog {
  std::uint32_t round = 0;
  std::size_t selected = 0, contributed = 0, dropped = 0;
  double seconds = 0;
  std::uint64_t bytes_to_nodes = 0, bytes_from_nodes = 0;
  double epsilon = 0;      // spent so far (0 without DP)
  double update_norm = 0;  // FedAvg: of the averaged update; newton: of the step
  // The global model's mean loss and accuracy over the contributing nodes' rows, at the start of
  // the round (newton: the pooled loss at the accepted coefficients); absent under DP.
  std::optional<double> loss, accuracy;
};

struct CoordinatorRun {
  Task task;
  Params initial;
  std::string checkpoint;  // a file; resumed from when it exists ("" = none)
  std::function<void(const RoundLog&, const Params&)> on_round;
  // How long to wait for enough nodes to join before giving up.
  std::chrono::seconds join_timeout{600};
  // Before the first round, once min_clients have joined, wait up to `gather` more for all
  // `expected` nodes (the allow-list; 0: do not wait) so that the first rounds have everyone.
  std::size_t expected = 0;
  std::chrono::seconds gather{30};
};

struct NodeReport {
  std::string node;
  std::uint64_t rows = 0;
  Metrics metrics;  // of the final model on the node's rows
};

struct CoordinatorResult {
  Params params;
  std::uint32_t rounds = 0;  // completed
  double epsilon = 0;
  std::string stopped_because;    // "rounds", "privacy budget", "converged" (newton)
  std::vector<NodeReport> nodes;  // the nodes that answered the final evaluation
};

Result<CoordinatorResult> RunCoordinator(CoordinatorServer& server, const CoordinatorRun& run);

struct NodeRun {
  std::string task_id;
  std::string fingerprint;  // of the node's feature encoding
  std::uint64_t seed = 1;   // its DP noise (the task's seed is mixed in)
  int max_rejoins = 100;    // failed calls in a row (200 ms apart) before the node gives up
};

// Joins, answers every step until the task is done, and returns the final global parameters.
Result<Params> RunNode(NodeClient& client, LocalLearner& learner, const NodeRun& run);

// ---- Federated statistics over the transport (`sund stats`, stats.h) ----
//
// The coordinator sends the query (the envelope {"stats": QUERY}); each node computes its
// sufficient statistics (ComputeLocalStats). Two steps: the nodes send the keys of their sums
// (which categories, bins and event times occur, never how often) and the power of two that
// bounds their values; the coordinator merges the keys and runs one summing round over them,
// under secure aggregation unless switched off, so it learns only the totals; FinalizeStats
// applies the suppression and the result goes to every node with "done".

struct StatsRun {
  StatsRequest request;
  std::string query_json;  // the query file's text, sent to the nodes
  bool secure_aggregation = true;
  int min_nodes = 3;  // >= 2; >= 3 with secure aggregation
  int timeout_s = 60;
  std::chrono::seconds join_timeout{600};
  std::size_t expected = 0;  // as CoordinatorRun's
  std::chrono::seconds gather{30};
};

struct StatsResult {
  std::string json;  // FinalizeStats' released figures, with "nodes" added
  std::size_t nodes = 0;
};

Result<StatsResult> RunStatsCoordinator(CoordinatorServer& server, const StatsRun& run);

// The envelope a stats coordinator sends ({"stats": query, "secure_aggregation": b}).
std::string StatsEnvelopeJson(const StatsRun& run);
// The query of a stats envelope; nullopt when the envelope is a training task.
Result<std::optional<StatsRequest>> ParseStatsEnvelope(std::string_view json_text);

// A node's part: `table` is its rows. Returns the released figures (JSON).
Result<std::string> RunStatsNode(NodeClient& client, const CsvTable& table,
                                 const StatsRequest& request, const NodeRun& run);

}  // namespace sund::fl
