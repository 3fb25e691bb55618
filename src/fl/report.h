// The report of a federated run (`sund fl coordinator` writes it as report.html beside
// model.json and rounds.jsonl): one self-contained HTML page (inline SVG, no scripts, no network
// requests) with a summary of the run, line charts by round (loss and accuracy of the global
// model, seconds, bytes to and from the nodes, epsilon spent, update norm), the final model
// evaluated at each node and the final parameters. Missing values (absent, NaN, infinite) are
// left out of the charts and shown as "–" in the tables; every text taken from the input is
// HTML-escaped. Thread-safety: FlReportHtml is a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fl/rounds.h"

namespace sund::fl {

struct ReportInput {
  std::string task_id, model, strategy;  // e.g. "pima-logistic", "logistic", "fedavg"
  bool secure_aggregation = false;
  std::optional<double> epsilon_budget;  // the task's DP budget when DP is on
  std::string stopped_because;           // "rounds", "privacy budget", "converged"
  std::vector<RoundLog> rounds;
  std::vector<NodeReport> nodes;  // the final model evaluated at each node
  // Weighted over all nodes, e.g. loss, accuracy, auc_weighted_mean. A name "<m>_weighted_mean"
  // is shown in the nodes' column <m> when they have one.
  std::vector<std::pair<std::string, double>> overall;
  std::vector<std::string> param_names;  // may be empty (then index numbers are shown)
  std::vector<double> params;            // the final parameters
};

// The page, UTF-8. DP counts as on when epsilon_budget is set or a round spent epsilon. The
// parameter table shows at most the first 1000 parameters (the rest are in model.json).
std::string FlReportHtml(const ReportInput& in);

}  // namespace sund::fl
