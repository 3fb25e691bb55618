// Federated statistics (`sund stats`): each node computes sufficient statistics of its own rows
// (sums keyed by what they count), the coordinator adds them up, and only the totals, with small
// cells suppressed, are released. The same code computes the pooled figures, so federated and
// pooled results agree exactly.
//
// A query file (JSON):
//   {"id": "pima-overview", "suppress_below": 5, "queries": [
//     {"name": "n", "type": "count"},
//     {"name": "glucose", "type": "mean", "column": "glucose"},          // also its variance
//     {"name": "age", "type": "histogram", "column": "age", "edges": [20, 30, 40, 60, 90]},
//     {"name": "bmi", "type": "quantiles", "column": "mass", "probabilities": [0.25, 0.5, 0.75],
//      "min": 10, "max": 70, "resolution": 0.1},
//     {"name": "by_outcome", "type": "table", "rows": "diabetes", "columns": "pregnant"},
//     {"name": "survival", "type": "kaplan_meier", "time": "time", "event": "status",
//      "event_value": "1", "times": [365, 730, 1095], "group": "rx"}]}
// Every query may have "where": {"column": value, ...} (rows whose cells equal the values).
//
// Optional differential privacy: "privacy": {"epsilon": 1, "delta": 1e-6} adds Gaussian noise
// to the summed statistics before release (AddStatsNoise), in zero-concentrated DP (synth/dp.h):
// the budget rho (from epsilon and delta) is split evenly over the queries, a person adds one to
// one cell of a count, histogram or quantile grid (L2 sensitivity 1), and a mean's n, sum and sum
// of squares share its query's rho, the values clamped to the query's "min" and "max" (required
// for a mean under privacy). Every cell of the public domain is released (empty bins too), so
// the key set says nothing; tables and Kaplan-Meier curves, whose cells (categories, event times)
// come from the data, are refused under privacy. Noisy counts are rounded and kept >= 0
// (post-processing). The coordinator sees the exact totals (secure aggregation hides each
// node's); the noise protects what is released.
//
// Suppression (Danish statistics practice: no cell under 5 persons): a count, histogram bin or
// table cell of 1..suppress_below-1 is released as null with "suppressed": true; a mean,
// variance or quantile over fewer rows than that is null; a Kaplan-Meier estimate at a time
// where fewer than that are still at risk is null. The coordinator never releases per-node
// figures, only totals.
//
// Thread-safety: values and pure functions.
#pragma once

#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/csv.h"
#include "core/status.h"

namespace sund::fl {

enum class StatType { kCount, kMean, kHistogram, kQuantiles, kTable, kKaplanMeier };

struct StatQuery {
  std::string name;
  StatType type = StatType::kCount;
  std::string column;                       // mean, histogram, quantiles
  std::vector<double> edges;                // histogram (ascending; bins [e_i, e_i+1), last closed)
  std::vector<double> probabilities;        // quantiles
  double min = 0, max = 0, resolution = 0;  // quantiles: the public grid; mean: the clamp
                                            // (when max > min)
  std::string rows, columns;                // table
  std::string time, event, event_value = "1", group;  // kaplan_meier
  std::vector<double> times;                          // kaplan_meier: report S(t) at these times
  std::vector<std::pair<std::string, std::string>> where;
};

struct StatsPrivacy {
  double epsilon = 1;
  double delta = 1e-6;
};

struct StatsRequest {
  std::string id;
  int suppress_below = 5;
  std::vector<StatQuery> queries;
  std::optional<StatsPrivacy> privacy;
};

Result<StatsRequest> ParseStatsRequest(std::string_view json_text);

// Sufficient statistics: per query, sums keyed by what they count ("n", "sum", "bin:3",
// "cell:pos|2", "km:rx=Obs|t=365|d" ...). Keys are strings so that nodes with different
// categories merge by key.
struct LocalStats {
  std::vector<std::map<std::string, double>> sums;  // one map per query
};

// A node's contribution. Errors name the query and column (never a value).
Result<LocalStats> ComputeLocalStats(const CsvTable& table, const StatsRequest& request);
// Adds contributions (the coordinator's sum; with secure aggregation, done under masks).
LocalStats MergeStats(const std::vector<LocalStats>& parts);
// Under request.privacy: completes `total` with every cell of the public domain and adds the
// Gaussian noise (see above), drawn from `rng` (seed it from the operating system for a
// release). Without privacy: nothing.
void AddStatsNoise(LocalStats& total, const StatsRequest& request, std::mt19937_64& rng);
// The released figures as one JSON object, suppression applied (and the privacy settings, when
// noised).
std::string FinalizeStats(const LocalStats& total, const StatsRequest& request);
// What is published, by the coordinator and by a local run alike: AddStatsNoise seeded from the
// operating system (under privacy), then FinalizeStats.
std::string ReleaseStats(LocalStats total, const StatsRequest& request);

// Wire form of LocalStats (JSON).
std::string LocalStatsToJson(const LocalStats& s);
Result<LocalStats> ParseLocalStats(std::string_view json_text, std::size_t queries);

}  // namespace sund::fl
