// Per-cell phenotype classification for `sund cells classify`, as CellProfiler Analyst's
// classifier does it: a random forest (Breiman 2001; CART trees, Gini impurity, bootstrap samples,
// sqrt(features) candidate features per split) trained on cells a user has labelled, assessed by
// stratified k-fold cross-validation, explained by mean-decrease-in-impurity feature importance,
// saved as JSON and applied to the per-object tables `sund cells analyze` writes (CellProfiler's
// ExportToSpreadsheet layout: ImageNumber, ObjectNumber, measurement columns; analysis.h).
//
// Missing values: a NaN feature value (CellProfiler writes "nan" for, e.g., the FormFactor of a
// one-pixel object; an empty field reads as NaN) never stops training or prediction. Where the
// training cells at a node have NaNs in the split feature, the split sends them to whichever side
// gives the lower impurity (both are tried, and "NaN versus the rest" is a candidate split too);
// where they have none, a NaN at prediction goes to the side that held more training samples.
// Infinite values are ordinary, ordered values.
//
// Reproducibility: the same training set, options and seed give the same forest, bit for bit,
// whatever the number of threads (each tree draws from its own random stream, derived from the
// seed and the tree's index, with a generator defined here rather than by the standard library).
//
// Model file (JSON, written by ToJson, read by FromJson):
//   {"format": "sund.cells.random_forest", "version": 1,
//    "features": [name, ...], "classes": [name, ...],   // the order the trees index them by
//    "options": {"trees", "max_depth", "min_leaf", "features_per_split", "seed"},
//    "importance": [number per feature],
//    "trees": [{"feature":   [int per node: -1 for a leaf, else an index into features],
//               "threshold": [number per node: a sample goes left when value <= threshold],
//               "child":     [int per node: split: its left child (right = child + 1, both after
//                             the node); leaf: its index into the leaf counts],
//               "nan_left":  [0 or 1 per node: where a NaN value goes],
//               "leaf_counts": [int per leaf and class: the bootstrap samples of each class that
//                               reached the leaf, leaf-major]}, ...]}
// Node 0 of each tree is its root. A leaf's class probabilities are its counts over their sum;
// the forest's are the mean of its trees'.
//
// Thread-safety: a trained RandomForest is immutable; Predict* may be called from any number of
// threads at once. Train and PredictRows use several threads themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sund::cells {

// Labelled cells: row i of x (one value per feature, in `features` order) has class y[i], an
// index into `classes`.
struct TrainingSet {
  std::vector<std::string> features;
  std::vector<std::string> classes;
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  // Where each row came from: (ImageNumber, ObjectNumber); empty for sets built in code.
  std::vector<std::pair<std::int64_t, std::int64_t>> objects;
};

// Reads a per-object CSV (CellProfiler's layout: ImageNumber, ObjectNumber, measurement columns)
// and a labels CSV with columns ImageNumber, ObjectNumber and Class (the name in any case; other
// columns are ignored), and returns the labelled objects' measurements. Classes are numbered in
// the order they first appear in the labels. Without `features`, the features are every column
// whose values in the labelled rows are all numbers ("nan", "inf" and empty fields count as
// numbers: NaN and infinity), except ImageNumber, ObjectNumber, Number_Object_Number and the
// Parent_*, Children_*, Location_* and Metadata_* columns; with it, exactly those columns.
// Either file may be compressed (.gz, .bz2; core/file_reader.h).
// Errors: those of reading the files (NotFound, ...); InvalidArgument for malformed CSV (with its
// line), a missing ImageNumber/ObjectNumber/Class column or a named feature column the objects CSV
// lacks (naming the column), a non-integer ImageNumber/ObjectNumber, an empty class, an object
// labelled twice, a labelled object the objects CSV lacks (naming its ImageNumber, ObjectNumber
// and labels line), an explicitly named feature with a non-numeric value (naming column and
// line), fewer than two classes, or no feature column left.
Result<TrainingSet> LoadTrainingSet(const std::string& objects_csv, const std::string& labels_csv,
                                    const std::vector<std::string>& features = {});

struct ForestOptions {
  int trees = 100;
  int max_depth = 16;  // the root is depth 0; a node at max_depth is a leaf
  int min_leaf = 1;    // bootstrap samples (counted with repetition) each leaf must hold at least
  int features_per_split = 0;  // candidate features per split; 0: max(1, floor(sqrt(features)))
  std::uint64_t seed = 1;
  int threads = 0;  // 0: one per core; never changes the result
};

// The forest's answer for one cell.
struct Prediction {
  int label = 0;                      // index into classes(); the most probable (lowest on a tie)
  std::vector<double> probabilities;  // per class; sums to 1
};

// Answers for many cells.
struct Predictions {
  std::vector<int> labels;            // per row
  std::vector<double> probabilities;  // row-major: rows x classes
};

class RandomForest {
 public:
  // Grows the forest. Errors (InvalidArgument): no rows, no features, fewer than two classes, a
  // row of x with another length than features, a label outside classes, duplicate feature names,
  // trees < 1, max_depth < 1, min_leaf < 1 or features_per_split < 0.
  // Cost: about trees * rows * log(rows) * depth * features_per_split; 500 rows of 100 features,
  // 100 trees: about 0.2 s of one core, spread over options.threads.
  static Result<RandomForest> Train(const TrainingSet& set, const ForestOptions& options = {});

  // Reads a model written by ToJson. Errors (InvalidArgument): malformed JSON, another format or
  // version, and any inconsistency in it (a feature or child index out of range, a child that is
  // not after its parent, leaf counts of the wrong length or that sum to zero ...), naming the
  // tree and node.
  static Result<RandomForest> FromJson(std::string_view json);
  std::string ToJson() const;

  const std::vector<std::string>& features() const { return features_; }
  const std::vector<std::string>& classes() const { return classes_; }
  const ForestOptions& options() const { return options_; }
  int trees() const { return static_cast<int>(roots_.size()); }
  // Mean decrease in Gini impurity per feature (features() order), each tree's normalised to sum
  // to 1 and then averaged (as scikit-learn's feature_importances_); all zero when no tree split.
  const std::vector<double>& importance() const { return importance_; }

  // For each of the model's features, its column in `header`. Errors: InvalidArgument naming the
  // missing columns (the first few, and how many) when the header lacks any.
  Result<std::vector<std::size_t>> MapColumns(const std::vector<std::string>& header) const;

  // `row` holds one value per feature, in features() order (SUND_CHECKed).
  Prediction Predict(std::span<const double> row) const;
  // `x` is row-major, features().size() values per row (its size a multiple of that,
  // SUND_CHECKed). threads: 0 for one per core; the answer does not depend on it.
  Predictions PredictRows(std::span<const double> x, int threads = 0) const;

 private:
  // A tree node; the trees lie one after another in nodes_, children after their parents.
  struct Node {
    double threshold = 0;
    std::int32_t feature = -1;  // -1: a leaf
    std::int32_t child = 0;     // split: left child (right = child + 1); leaf: its leaf index
    std::uint8_t nan_left = 0;
  };
  class TreeBuilder;

  // The nodes as prediction walks them, index for index with nodes_: a leaf leads to itself
  // (threshold +inf), so that several cells walk a tree in lockstep, without branches, for as many
  // steps as the tree is deep.
  struct WalkNode {
    double threshold = 0;
    std::int32_t feature = 0;
    std::int32_t left = 0;  // right = left + 1
  };

  void Finish();  // leaf_probs_, walk_ and depths_ from the rest
  void AccumulateBlock(const double* x, std::size_t rows, double* probs) const;

  std::vector<std::string> features_;
  std::vector<std::string> classes_;
  ForestOptions options_;
  std::vector<double> importance_;
  std::vector<Node> nodes_;                // every tree's, child indices absolute
  std::vector<std::int32_t> roots_;        // per tree: the index of its root in nodes_
  std::vector<std::int32_t> leaf_starts_;  // per tree: its first leaf's index
  std::vector<std::int32_t> leaf_counts_;  // leaves x classes
  std::vector<double> leaf_probs_;         // leaves x classes: leaf_counts_ over their sum
  std::vector<WalkNode> walk_;             // nodes_ for prediction
  std::vector<std::uint8_t> nan_right_;    // per node: 1 for a split that sends NaN right
  std::vector<std::int32_t> depths_;       // per tree: the depth of its deepest leaf
};

struct CrossValidation {
  int folds = 0;
  double accuracy = 0;                      // correct held-out predictions / rows
  std::vector<std::vector<int>> confusion;  // [true class][predicted class]
  std::vector<double> precision;            // per class; 0 when nothing was predicted as it
  std::vector<double> recall;               // per class; 0 when the class has no rows
  std::vector<int> predicted;               // per row of the set: its held-out prediction
  std::vector<int> fold;                    // per row of the set: the fold that held it out
};

// Stratified k-fold cross-validation: each class's rows are shuffled (from options.seed) and dealt
// to the folds in turn, so each fold holds about 1/k of every class; each fold is predicted by a
// forest trained, with `options`, on the other folds. Errors: those of Train, and InvalidArgument
// when folds < 2 or folds > rows.
Result<CrossValidation> CrossValidate(const TrainingSet& set, const ForestOptions& options = {},
                                      int folds = 5);

struct ClassifySummary {
  std::string classes_csv;              // path of <stem>_classes.csv
  std::string counts_csv;               // path of <stem>_class_counts.csv
  std::int64_t objects = 0;             // rows classified
  std::vector<std::int64_t> per_class;  // objects per class, classes() order
};

// Applies `model` to every row of a per-object CSV <dir>/<stem>.csv (optionally .gz or .bz2), and
// writes into `out_dir` (default: the CSV's folder) <stem>_classes.csv (ImageNumber, ObjectNumber,
// Class, Probability: the predicted class's) and <stem>_class_counts.csv (ImageNumber,
// Count_<class> for each class; one row per image, ImageNumber ascending). The CSV is parsed in
// blocks of rows, so memory grows with the file's size, not with its number of fields.
// Errors: those of reading the file; InvalidArgument for malformed CSV, a missing ImageNumber or
// ObjectNumber column, columns of the model missing (named), and a model feature's field that is
// not a number (naming the column and line); Internal when an output cannot be written.
Result<ClassifySummary> ClassifyObjects(const RandomForest& model, const std::string& objects_csv,
                                        const std::string& out_dir = {}, int threads = 0);

// Per-class counts per well: joins <stem>_class_counts.csv with the results' Image.csv
// (ImageNumber -> Metadata_Plate, Metadata_Well) and writes <stem>_class_counts_per_well.csv
// (Metadata_Plate, Metadata_Well, Images, Count_<class> summed over the well's image sets,
// Fraction_<class>), returning its path. NotFound when Image.csv is absent; InvalidArgument when
// it has no Metadata_Well column.
Result<std::string> ClassCountsPerWell(const std::string& counts_csv, const std::string& image_csv);

}  // namespace sund::cells
