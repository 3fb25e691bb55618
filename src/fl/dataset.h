// The numeric design matrix that fl's models train on, built from a CSV table with a feature
// encoding that every node of a federation shares: categorical features one-hot with the first
// category as the reference (dropped), numeric features standardised with the encoding's means
// and standard deviations, a missing value imputed (numeric: the mean, categorical: the
// reference) with a 0/1 missing-indicator column where the encoding has one.
//
// The encoding is fitted once (`FitEncoding`, by the coordinator or on a public/pilot table) or
// given in a task, and travels as canonical JSON (`EncodingToJson`); its fingerprint
// (`SchemaFingerprint`) lets a coordinator refuse a node whose encoding differs. The encoding
// carries category lists and column means: it is metadata the whole federation sees, the rows
// stay at the nodes. Splits (`SplitTrainTest`, `SplitNodes`) serve `sund fl simulate` and tests;
// they are reproducible from a seed (core/splitmix.h) on every platform.
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/csv.h"
#include "core/status.h"

namespace sund::fl {

// Which columns a task uses. Set `target` (+ `positive`) for a binary outcome, or `time` and
// `event` for a survival outcome (Cox), or both.
struct FeatureSpec {
  std::vector<std::string> features;
  std::string target;    // binary outcome column; 1 where the cell equals `positive`, else 0
  std::string positive;  // the target value that counts as 1
  std::string time;      // survival: follow-up time (a number)
  std::string event;     // survival: 1 where the cell equals `event_value` (numerically), else 0
  std::string event_value = "1";
  // Features that are categorical with their levels in this order (the first is the reference).
  // A feature not named here is numeric when all its values are numbers, else categorical with
  // its values sorted.
  std::map<std::string, std::vector<std::string>> levels;
  // Rows with a missing feature value are dropped instead of imputed (complete-case analysis,
  // what R's model functions do by default).
  bool drop_missing = false;
};

enum class FeatureKind : std::uint8_t { kNumeric, kCategorical };

struct EncodedFeature {
  std::string name;
  FeatureKind kind = FeatureKind::kNumeric;
  double mean = 0;                      // numeric: value -> (value - mean) / sd
  double sd = 1;                        // numeric: > 0 (a constant column gets 1)
  std::vector<std::string> categories;  // categorical: the first is the reference level
  bool missing_indicator = false;       // a 0/1 column "<name>:missing" follows its columns
};

// The shared encoding: the outcome columns and each feature's transformation.
struct Encoding {
  FeatureSpec spec;  // `features` lists the names in `features` order; `levels` is not used
  std::vector<EncodedFeature> features;

  // The design matrix's column names: "age", "rx=Lev", "nodes:missing" ...
  std::vector<std::string> ColumnNames() const;
};

// Fits the encoding on a table: each feature's kind, categories, mean and sd (population sd over
// the rows that have an outcome and the value), and a missing indicator for each feature that is
// missing in some such row (none when spec.drop_missing). Errors (InvalidArgument, naming the
// column): a column the table lacks; no features; no outcome columns; a feature without any
// value; a value outside spec.levels; more than 1000 categories (an identifier?).
Result<Encoding> FitEncoding(const CsvTable& table, const FeatureSpec& spec);

// Canonical one-line JSON (fixed key order, numbers that read back exactly):
// {"version":1,"target":..,"positive":..,"time":..,"event":..,"event_value":..,
//  "drop_missing":false,"features":[{"name":..,"type":"numeric","mean":..,"sd":..,
//  "missing":false} | {"name":..,"type":"categorical","categories":[..],"missing":false}]}
std::string EncodingToJson(const Encoding& encoding);
// InvalidArgument when the text is not such an object (the message says which field).
Result<Encoding> ParseEncoding(std::string_view json_text);
// Lower-case hex SHA-256 of EncodingToJson: equal on every node that encodes the same way.
std::string SchemaFingerprint(const Encoding& encoding);

// A numeric data set: row-major features, and the outcomes the encoding names.
struct Dataset {
  std::vector<std::string> columns;  // the design matrix's column names
  std::size_t rows = 0;
  std::vector<double> x;      // rows * columns.size(), row-major
  std::vector<double> y;      // binary outcome (0/1) per row; empty without a target
  std::vector<double> time;   // survival time per row; empty without a time column
  std::vector<double> event;  // 0/1 per row; empty without an event column
  // Optional stratum per row (Cox: risk sets within a stratum); empty means one stratum.
  std::vector<std::int32_t> strata;
  // The source table's row index of each row (Subset and Concat carry it along).
  std::vector<std::size_t> source;
  // Rows of the source table left out: a missing outcome (target, time or event), or with
  // drop_missing a missing feature.
  std::size_t dropped_outcome = 0;
  std::size_t dropped_feature = 0;
  // Missing cells filled in (mean or reference level) for a feature the encoding gives no
  // missing indicator (the encoding was fitted where that feature was never missing).
  std::size_t imputed = 0;

  std::size_t cols() const { return columns.size(); }
  double at(std::size_t r, std::size_t c) const { return x[r * columns.size() + c]; }
  bool has_binary() const { return y.size() == rows && rows > 0; }
  bool has_survival() const { return time.size() == rows && event.size() == rows && rows > 0; }
};

// Coefficients of a linear predictor over the design columns (after a leading intercept when
// `intercept`), restated for the features on their original scale: a numeric feature's b / sd,
// the intercept less the sum of b * mean / sd; one-hot and indicator coefficients unchanged.
// `coef` must have ColumnNames().size() (+ 1) entries.
std::vector<double> OriginalScale(const Encoding& encoding, const std::vector<double>& coef,
                                  bool intercept);

// The rows of `table` whose cells equal every (column, value) of `where` (a task's "where").
// InvalidArgument naming the column when the table lacks it.
Result<CsvTable> SelectRows(const CsvTable& table,
                            const std::vector<std::pair<std::string, std::string>>& where);

// Encodes a table. Errors (InvalidArgument, naming the column and line, never the value): a
// column the encoding names is absent; a value that is not a number where one is needed; a
// category the encoding does not list.
Result<Dataset> BuildDataset(const CsvTable& table, const Encoding& encoding);

// The listed rows of `data`, in that order (indexes must be < data.rows).
Dataset Subset(const Dataset& data, const std::vector<std::size_t>& rows);
// The parts' rows one after the other (the parts must have the same columns). With `stratify`,
// each row's stratum is its part's index (the pooled reference of node-stratified Cox);
// otherwise the parts' own strata are kept.
Dataset Concat(const std::vector<Dataset>& parts, bool stratify);

struct TrainTest {
  Dataset train;
  Dataset test;
};
// A random split that puts round(test_fraction * n) of each label's n rows in `test` (the label:
// the binary outcome, else the event indicator, else one group for all rows). Rows keep their
// order within each part.
TrainTest SplitTrainTest(const Dataset& data, double test_fraction, std::uint64_t seed);

enum class SplitMode : std::uint8_t { kIid, kLabelSkew };
struct SplitOptions {
  SplitMode mode = SplitMode::kIid;
  // kLabelSkew: each label's rows go to nodes in proportions drawn from Dirichlet(alpha, ...,
  // alpha); small alpha gives nodes dominated by one label. The label is the binary outcome,
  // else the event indicator.
  double alpha = 0.5;
  std::size_t min_rows = 10;  // every node gets at least this many rows (draws are repeated)
};
// Splits the rows over `nodes` nodes; together they hold each row once. kIid deals a shuffled
// deck. Errors (InvalidArgument): nodes < 1; fewer than nodes * min_rows rows; kLabelSkew
// without a label or with alpha <= 0; no Dirichlet draw in 1000 meeting min_rows.
Result<std::vector<Dataset>> SplitNodes(const Dataset& data, int nodes, const SplitOptions& options,
                                        std::uint64_t seed);

}  // namespace sund::fl
