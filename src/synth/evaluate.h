// Evaluation of synthetic data against the real data it imitates: fidelity (how alike the
// distributions are), utility (how well a model trained on synthetic rows predicts real ones)
// and privacy (how close synthetic rows come to the training rows). Used by `sund synth
// evaluate`, and by the tests of the generators. Thread-safety: pure functions; Evaluate runs
// its own worker threads and shares nothing between calls.
//
// Definitions (figures are comparable between runs and tools only as far as these hold):
//
// Columns are matched by name; the schema is inferred from the real (training) table with
// InferSchema. Each column is cut into cells: a categorical column by value; an integer or date
// column whose real values span at most 100 whole numbers by value (one cell for each number of
// that range); any other numeric column into `bins` equal-frequency bins [edge, next edge)
// whose edges are the real values' quantiles (repeated edges merged). A missing (empty) value is
// its own cell; a synthetic or holdout value outside the real domain (an unknown category, a number
// the real column never takes or outside its range, text that does not parse) counts in one further
// "other" cell.
//  - tvd1: mean over the columns of 0.5 * sum over cells |p_real - p_synthetic|.
//  - tvd2: the same on the 2-way joint cells, averaged over all column pairs (nullopt for one
//    column). Real data against an independent sample of the same population scores about 0.03
//    on Adult; sampling each column independently about 0.08.
//  - corr_diff: mean over all column pairs of |assoc_real - assoc_synthetic|, where assoc is
//    Pearson's correlation (pairwise-complete values) when both columns are numeric (integer,
//    continuous, date) and Cramér's V on the cells above when either is categorical. An
//    undefined association (a constant column) counts as 0.
//  - tstr / trtr (only with a target and a holdout): an L2-regularised logistic regression
//    (penalty 0.5*|w|^2 on the summed log-loss, scikit-learn's C = 1; intercept not penalised;
//    L-BFGS until no gradient component of the mean objective exceeds 1e-5) predicting target ==
//    positive from the other columns, trained on the synthetic rows (TSTR) or the real training
//    rows (TRTR) and scored on the holdout. Features: every column's cells one-hot (the missing
//    cell included, the "other" cell all zeros), and numeric columns also as a standardised value
//    (mean and sd of the rows trained on; missing -> the mean). Rows whose target is missing are
//    left out. AUC is the Mann-Whitney statistic (ties count half); accuracy predicts positive when
//    p >= 0.5. A training set holding one class predicts that class for every row (AUC 0.5).
//    nullopt when the holdout lacks either class.
//  - Distances (privacy): the Gower distance, the mean over the columns of a categorical
//    column's mismatch (0 or 1) and a numeric column's min(1, |a - b| / (real max - real min)); a
//    missing value against a present one is 1, two missing values 0; a value that does not parse
//    counts as missing. Nearest neighbours are found by brute force.
//  - exact_copy_rate and nndr need only the training rows and are computed without a holdout.
//  - exact_copy_rate: the share of all synthetic rows equal in every column to some training
//    row (numbers compared as numbers: "1.0" equals "1").
//  - nndr: the median, over up to `privacy_sample` synthetic rows, of (distance to the nearest
//    training row) / (distance to the second nearest); 0/0 counts as 1 (the row singles out no
//    one record). Low values mean synthetic rows sit on individual training records.
//  - dcr_share (needs a holdout): the share of up to `privacy_sample` synthetic rows that are
//    closer to their nearest training row than to their nearest holdout row, ties counting half.
//    The larger of training and holdout is first subsampled to the smaller's size, so 0.5 is
//    what a generator that never saw the training rows scores.
//  - mia_auc (needs a holdout): a distance-based membership-inference attack. For equal-size
//    samples (up to `privacy_sample` each) of training rows (members) and holdout rows
//    (non-members), the score is -(distance to the nearest synthetic row); mia_auc is that
//    score's AUC for telling members from non-members (0.5: nothing leaks, 1: every member is
//    recognised).
// Samples are drawn with `seed`; the same inputs and seed give the same figures whatever the
// thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/csv.h"
#include "core/status.h"
#include "synth/schema.h"

namespace sund::synth {

struct EvaluateOptions {
  // The column TSTR/TRTR predict; empty: not computed.
  std::string target;
  // The target's positive class (its text as in the CSV). Empty: the less frequent value of a
  // binary target (ties: the later one in the column's order).
  std::string positive;
  // Synthetic rows (and members, non-members) sampled for the nearest-neighbour figures.
  std::size_t privacy_sample = 2000;
  std::uint64_t seed = 1;
  // Equal-frequency bins for numeric columns not cut by value (2..1000).
  int bins = 20;
  int threads = 0;  // 0: std::thread::hardware_concurrency()
  // Passed to InferSchema: a categorical column with more distinct values is an error.
  std::size_t max_categories = 1000;
};

// One column's distribution, real against synthetic, over its cells.
struct Marginal {
  std::vector<std::string> labels;  // a value, "[a, b)", "(missing)" or "(other)"
  std::vector<double> real;         // shares, each vector summing to 1
  std::vector<double> synthetic;
  double tvd = 0;
};

// One pair of columns (a < b, indexes into Evaluation::columns).
struct PairFigures {
  std::size_t a = 0;
  std::size_t b = 0;
  double tvd = 0;
  double assoc_real = 0;
  double assoc_synthetic = 0;
  bool pearson = false;  // both numeric: Pearson's r; else Cramér's V
};

struct Evaluation {
  std::vector<std::string> columns;  // the real table's, in its order
  std::vector<ColumnKind> kinds;
  std::size_t rows_real = 0;
  std::size_t rows_holdout = 0;  // 0 without a holdout
  std::size_t rows_synthetic = 0;

  // Fidelity.
  double tvd1 = 0;
  std::optional<double> tvd2;       // nullopt with a single column
  std::optional<double> corr_diff;  // nullopt with a single column
  std::vector<Marginal> marginals;  // per column
  std::vector<PairFigures> pairs;   // all pairs, (0,1), (0,2), ...
  // Associations as columns x columns matrices, row-major, 1 on the diagonal.
  std::vector<double> assoc_real;
  std::vector<double> assoc_synthetic;

  // Utility.
  std::string target;
  std::string positive;
  std::optional<double> tstr_auc;
  std::optional<double> trtr_auc;
  std::optional<double> tstr_accuracy;
  std::optional<double> trtr_accuracy;

  // Privacy.
  std::optional<double> exact_copy_rate;
  std::optional<double> nndr;
  std::optional<double> dcr_share;
  std::optional<double> mia_auc;
  // The distance samples behind them (in sample order): of the sampled synthetic rows to their
  // nearest (subsampled) training and holdout rows; of the members and non-members to their
  // nearest synthetic row.
  std::vector<double> dcr_train;
  std::vector<double> dcr_holdout;
  std::vector<double> mia_members;
  std::vector<double> mia_nonmembers;

  double seconds = 0;  // wall time of Evaluate
};

// Evaluates `synthetic` against `real` (the rows the generator was fitted on) and `holdout`
// (real rows it never saw; may be null, then dcr_share, mia_auc and TSTR/TRTR are nullopt).
// Errors (InvalidArgument; messages name columns, never values): a table without rows; the
// synthetic or holdout table lacks a column of the real one; the real table's schema cannot be
// inferred (see InferSchema); the target is not a column; the target has fewer than two values,
// more than two and no positive class, or (numeric) is not cut by value; the positive
// class is not a value of the target; bins outside 2..1000.
Result<Evaluation> Evaluate(const CsvTable& real, const CsvTable* holdout,
                            const CsvTable& synthetic, const EvaluateOptions& options = {});

// One JSON object: tvd1, tvd2, corr_diff, tstr_auc, trtr_auc, tstr_accuracy, trtr_accuracy,
// exact_copy_rate, nndr, dcr_share, mia_auc (null where not computed), rows_real, rows_holdout,
// rows_synthetic, columns (the count), target, positive, seconds, and column_tvd (an array of
// {"column", "kind", "tvd"}).
std::string EvaluationJson(const Evaluation& e);

// A self-contained HTML page (inline SVG, no scripts, no requests): the figures with what good
// looks like, per-column marginals, association heatmaps and the privacy distance histograms.
std::string EvaluationReportHtml(const Evaluation& e, std::string_view title);

// Building blocks, exposed for tests and for the generators' own checks.

// Mann-Whitney AUC of `scores` for telling positives from the rest; ties count half. nullopt
// when either class is empty.
std::optional<double> Auc(const std::vector<double>& scores, const std::vector<bool>& positive);

// Pearson's r over the pairs where both are finite; 0 when undefined.
double Pearson(const std::vector<double>& x, const std::vector<double>& y);

// Cramér's V of a contingency table (rows x cols counts, row-major); empty rows and columns are
// ignored; 0 when undefined.
double CramersV(const std::vector<double>& counts, std::size_t rows, std::size_t cols);

}  // namespace sund::synth
