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
  double min = 0, max = 0, resolution = 0;  // quantiles: the public grid
  std::string rows, columns;                // table
  std::string time, event, event_value = "1", group;  // kaplan_meier
  std::vector<double> times;                          // kaplan_meier: report S(t) at these times
  std::vector<std::pair<std::string, std::string>> where;
};

struct StatsRequest {
  std::string id;
  int suppress_below = 5;
  std::vector<StatQuery> queries;
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
// The released figures as one JSON object, suppression applied.
std::string FinalizeStats(const LocalStats& total, const StatsRequest& request);

// Wire form of LocalStats (JSON).
std::string LocalStatsToJson(const LocalStats& s);
Result<LocalStats> ParseLocalStats(std::string_view json_text, std::size_t queries);

}  // namespace sund::fl
