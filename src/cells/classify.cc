#include "cells/classify.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/csv.h"
#include "core/file_reader.h"
#include "core/json.h"
#include "core/splitmix.h"

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

constexpr char kFormat[] = "sund.cells.random_forest";
constexpr int kVersion = 1;
// Random streams drawn from a seed: 0 deals cross-validation folds, 1 + t grows tree t.
constexpr std::uint64_t kFoldStream = 0;
// Rows per block in prediction: the block's values and probabilities stay in cache while every
// tree is walked over it.
constexpr std::size_t kPredictBlockRows = 256;
// CSV text per parsed block (ForEachCsvBlock).
constexpr std::size_t kCsvBlockBytes = std::size_t{1} << 22;

// Seeded and the same with any standard library, so that a seed gives the same forest.
using Rng = SplitMix64;

std::uint64_t StreamSeed(std::uint64_t seed, std::uint64_t stream) {
  return SplitMix64::StreamSeed(seed, stream);
}

int ThreadCount(int requested, std::size_t work) {
  std::size_t t = requested > 0 ? static_cast<std::size_t>(requested)
                                : std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(std::max<std::size_t>(1, std::min(t, work)));
}

// Calls fn(i, worker) for each i in [0, n), each once, on up to ThreadCount(threads, n) threads
// (the caller's among them), worker being the thread's number in [0, that count). Should a thread
// fail to start, the others do its share.
void ParallelFor(std::size_t n, int threads, const std::function<void(std::size_t, int)>& fn) {
  std::atomic<std::size_t> next{0};
  auto work = [&](int worker) {
    for (std::size_t i = next++; i < n; i = next++) fn(i, worker);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < ThreadCount(threads, n); ++t) {
    try {
      pool.emplace_back(work, t);
    } catch (const std::system_error&) {
      break;  // fewer threads; the work still gets done
    }
  }
  work(0);
  for (auto& th : pool) th.join();
}

// A number as CellProfiler writes one: decimal or exponent form, "nan", "inf", "-inf"; an empty
// field is NaN. False for anything else.
bool ParseNumber(std::string_view s, double& out) {
  if (s.empty()) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (s.front() == '+') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (end != s.data() + s.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    out = std::strtod(std::string(s).c_str(), nullptr);  // 1e999: inf; 1e-999: 0 (as Python)
    return true;
  }
  return ec == std::errc();
}

bool ParseInteger(std::string_view s, std::int64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc() && end == s.data() + s.size()) return true;
  double d = 0;  // 3.0: pandas writes integers so in a column that also holds NaN
  if (!ParseNumber(s, d) || !(std::abs(d) < 9e15) || d != std::floor(d)) return false;
  out = static_cast<std::int64_t>(d);
  return true;
}

std::string FormatNumber(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

// The position after the record that starts at `pos` (and its line end), reading quotes as
// ParseCsv does; `lines` grows by the line ends passed, counted as ParseCsv counts them.
std::size_t RecordEnd(std::string_view text, std::size_t pos, std::size_t& lines) {
  bool field_start = true;
  std::size_t i = pos;
  while (i < text.size()) {
    char c = text[i];
    if (c == '"' && field_start) {
      for (++i; i < text.size(); ++i) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            ++i;
            continue;
          }
          break;
        }
        if (text[i] == '\n') ++lines;
      }
      if (i < text.size()) ++i;
      field_start = false;
    } else if (c == ',') {
      field_start = true;
      ++i;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++lines;
      return i + 1;
    } else {
      field_start = false;
      ++i;
    }
  }
  return i;
}

// Moves the line number in ParseCsv's "CSV line N: ..." messages by `offset`.
Status ShiftLine(const Status& s, std::size_t offset) {
  constexpr std::string_view kPrefix = "CSV line ";
  const std::string& m = s.message();
  std::size_t line = 0;
  if (!m.starts_with(kPrefix)) return s;
  auto [end, ec] = std::from_chars(m.data() + kPrefix.size(), m.data() + m.size(), line);
  if (ec != std::errc()) return s;
  return {s.code(), std::string(kPrefix) + std::to_string(line + offset) +
                        std::string(end, m.data() + m.size())};
}

// Calls fn with the CSV `text` parsed in blocks of about kCsvBlockBytes, each a CsvTable with the
// file's header and the file's line numbers (at least one call, with no rows for a header-only
// file), so that a large table never exists as strings all at once. Errors: ParseCsv's (with the
// file's line numbers) and fn's.
Status ForEachCsvBlock(std::string_view text, const std::function<Status(const CsvTable&)>& fn) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  // The header: the first record that is not a blank line.
  std::size_t lines = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = pos;
    pos = RecordEnd(text, pos, lines);
    if (text.substr(start, pos - start).find_first_not_of("\r\n") != std::string_view::npos) break;
  }
  const std::string_view header = text.substr(0, pos);
  const std::size_t header_lines = lines;
  std::string block;
  bool called = false;
  while (pos < text.size() || !called) {
    std::size_t first_line = lines + 1;
    std::size_t start = pos;
    while (pos < text.size() && pos - start < kCsvBlockBytes) pos = RecordEnd(text, pos, lines);
    block.assign(header);
    block.append(text.substr(start, pos - start));
    // In `block` the rows start on line header_lines + 1, in the file on first_line.
    std::size_t offset = first_line - (header_lines + 1);
    Result<CsvTable> table = ParseCsv(block);
    if (!table.ok()) return ShiftLine(table.status(), offset);
    for (auto& l : table->lines) l += offset;
    SUND_RETURN_IF_ERROR(fn(*table));
    called = true;
  }
  return Status::Ok();
}

std::string Prefixed(const std::string& path, const Status& s) {
  return fs::path(path).filename().string() + ": " + s.message();
}

bool IsIdentity(std::string_view name) {
  return name == "ImageNumber" || name == "ObjectNumber" || name == "Number_Object_Number" ||
         name == "TableNumber" || name.starts_with("Parent_") || name.starts_with("Children_") ||
         name.starts_with("Location_") || name.starts_with("Metadata_");
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::string ObjectName(std::int64_t image, std::int64_t object) {
  return "(ImageNumber " + std::to_string(image) + ", ObjectNumber " + std::to_string(object) + ")";
}

// A threshold t with a <= t < b for a < b, finite so that JSON can hold it: the midpoint where it
// lies strictly below b, else a; clamped to the finite doubles.
double Threshold(double a, double b) {
  constexpr double kMax = std::numeric_limits<double>::max();
  double t = a / 2 + b / 2;
  if (!(t >= a && t < b)) t = a;
  return std::clamp(t, -kMax, kMax);
}

Status ValidateSet(const TrainingSet& set, const ForestOptions& o) {
  if (o.trees < 1) return InvalidArgument("a forest needs at least one tree");
  if (o.max_depth < 1) return InvalidArgument("max_depth must be at least 1");
  if (o.min_leaf < 1) return InvalidArgument("min_leaf must be at least 1");
  if (o.features_per_split < 0) return InvalidArgument("features_per_split must not be negative");
  if (set.features.empty()) return InvalidArgument("the training set has no features");
  if (set.classes.size() < 2) {
    return InvalidArgument("the training set needs at least two classes, it has " +
                           std::to_string(set.classes.size()));
  }
  if (set.x.empty()) return InvalidArgument("the training set has no rows");
  if (set.x.size() != set.y.size()) {
    return InvalidArgument("the training set has " + std::to_string(set.x.size()) + " rows and " +
                           std::to_string(set.y.size()) + " labels");
  }
  if (set.x.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return InvalidArgument("the training set has too many rows");
  }
  std::unordered_map<std::string_view, int> seen;
  for (const auto& f : set.features) {
    if (!seen.emplace(f, 0).second) return InvalidArgument("feature '" + f + "' appears twice");
  }
  for (std::size_t i = 0; i < set.x.size(); ++i) {
    if (set.x[i].size() != set.features.size()) {
      return InvalidArgument("training row " + std::to_string(i) + " has " +
                             std::to_string(set.x[i].size()) + " values for " +
                             std::to_string(set.features.size()) + " features");
    }
    if (set.y[i] < 0 || static_cast<std::size_t>(set.y[i]) >= set.classes.size()) {
      return InvalidArgument("training row " + std::to_string(i) + " has label " +
                             std::to_string(set.y[i]) + ", outside the " +
                             std::to_string(set.classes.size()) + " classes");
    }
  }
  return Status::Ok();
}

}  // namespace

// --- Growing trees ------------------------------------------------------------------------------

// Grows one tree on a bootstrap sample: depth first, each node's samples a range of idx_ that the
// split partitions in place; no allocation per node beyond the growth of the output vectors.
class RandomForest::TreeBuilder {
 public:
  struct Tree {
    std::vector<Node> nodes;
    std::vector<std::int32_t> leaf_counts;
    std::vector<double> importance;
  };

  // cols: column-major, cols[f * n + i]; y: n labels in [0, k).
  TreeBuilder(const double* cols, const std::int32_t* y, std::size_t n, std::size_t p,
              std::size_t k, const ForestOptions& options)
      : cols_(cols), y_(y), n_(n), p_(p), k_(k), options_(options) {
    mtry_ = options.features_per_split > 0
                ? std::min<std::size_t>(options.features_per_split, p)
                : std::max<std::size_t>(1, static_cast<std::size_t>(std::sqrt(double(p))));
    order_.resize(p);
    counts_.resize(k);
    left_.resize(k);
    right_.resize(k);
    nan_.resize(k);
  }

  Tree Grow(std::uint64_t seed) {
    Rng rng(seed);
    Tree tree;
    tree.importance.assign(p_, 0.0);
    // A tree depends on its seed alone, not on the trees this builder grew before.
    for (std::size_t f = 0; f < p_; ++f) order_[f] = static_cast<std::int32_t>(f);
    idx_.resize(n_);
    for (auto& i : idx_) i = static_cast<std::int32_t>(rng.Below(n_));
    struct Pending {
      std::int32_t node;
      std::size_t start, end;
      int depth;
    };
    std::vector<Pending> stack{{0, 0, n_, 0}};
    tree.nodes.emplace_back();
    while (!stack.empty()) {
      Pending t = stack.back();
      stack.pop_back();
      std::fill(counts_.begin(), counts_.end(), 0);
      for (std::size_t s = t.start; s < t.end; ++s) ++counts_[y_[idx_[s]]];
      const std::size_t m = t.end - t.start;
      const bool pure =
          *std::max_element(counts_.begin(), counts_.end()) == static_cast<std::int64_t>(m);
      Split split;
      if (!pure && t.depth < options_.max_depth &&
          m >= 2 * static_cast<std::size_t>(options_.min_leaf) &&
          FindSplit(t.start, t.end, rng, split)) {
        const auto child = static_cast<std::int32_t>(tree.nodes.size());
        tree.nodes[t.node] = {split.threshold, split.feature, child, split.nan_left};
        tree.nodes.emplace_back();
        tree.nodes.emplace_back();
        tree.importance[split.feature] += split.gain;
        const double* col = cols_ + static_cast<std::size_t>(split.feature) * n_;
        auto mid = std::partition(idx_.begin() + t.start, idx_.begin() + t.end, [&](auto i) {
          double v = col[i];
          return v <= split.threshold || (std::isnan(v) && split.nan_left);
        });
        std::size_t m_start = mid - idx_.begin();
        stack.push_back({child + 1, m_start, t.end, t.depth + 1});
        stack.push_back({child, t.start, m_start, t.depth + 1});
      } else {
        const auto leaf = static_cast<std::int32_t>(tree.leaf_counts.size() / k_);
        tree.nodes[t.node] = {0.0, -1, leaf, 0};
        for (auto c : counts_) tree.leaf_counts.push_back(static_cast<std::int32_t>(c));
      }
    }
    return tree;
  }

 private:
  struct Split {
    double gain = 0;  // decrease in sample-weighted Gini impurity
    double threshold = 0;
    std::int32_t feature = -1;
    std::uint8_t nan_left = 0;
  };

  static std::int64_t SumSquares(const std::vector<std::int64_t>& a) {
    std::int64_t s = 0;
    for (auto v : a) s += v * v;
    return s;
  }
  static std::int64_t SumSquares(const std::vector<std::int64_t>& a,
                                 const std::vector<std::int64_t>& b) {
    std::int64_t s = 0;
    for (std::size_t c = 0; c < a.size(); ++c) s += (a[c] + b[c]) * (a[c] + b[c]);
    return s;
  }

  // The best split of idx_[start, end) over candidate features drawn at random until mtry_ that
  // are not constant there have been tried (more than mtry_ features are drawn when some are
  // constant, as scikit-learn does). counts_ holds the node's class counts. With n samples, a
  // side's n * Gini is n - sum(count^2) / n, so the gain of a split is
  // sum_l(count^2) / n_l + sum_r(count^2) / n_r - sum(count^2) / n.
  bool FindSplit(std::size_t start, std::size_t end, Rng& rng, Split& best) {
    const auto m = static_cast<std::int64_t>(end - start);
    const double parent = double(SumSquares(counts_)) / double(m);
    const std::int64_t min_leaf = options_.min_leaf;
    best.gain = 1e-12 * double(m);  // below this a gain is rounding
    bool found = false;
    auto consider = [&](double score, double threshold, std::int32_t feature, bool nan_left) {
      double gain = score - parent;
      if (gain > best.gain) {
        best = {gain, threshold, feature, static_cast<std::uint8_t>(nan_left)};
        found = true;
      }
    };
    std::size_t tried = 0;
    for (std::size_t i = 0; i < p_ && tried < mtry_; ++i) {
      std::swap(order_[i], order_[i + rng.Below(p_ - i)]);
      const std::int32_t f = order_[i];
      const double* col = cols_ + static_cast<std::size_t>(f) * n_;
      values_.clear();
      std::fill(nan_.begin(), nan_.end(), 0);
      std::int64_t nn = 0;
      for (std::size_t s = start; s < end; ++s) {
        double v = col[idx_[s]];
        std::int32_t c = y_[idx_[s]];
        if (std::isnan(v)) {
          ++nan_[c];
          ++nn;
        } else {
          values_.emplace_back(v, c);
        }
      }
      const auto nv = static_cast<std::int64_t>(values_.size());
      if (nv == 0) continue;
      std::sort(values_.begin(), values_.end());
      if (values_.front().first == values_.back().first && nn == 0) continue;
      ++tried;
      std::fill(left_.begin(), left_.end(), 0);
      for (std::size_t c = 0; c < k_; ++c) right_[c] = counts_[c] - nan_[c];
      std::int64_t sq_left = 0;
      std::int64_t sq_right = SumSquares(right_);
      const std::int64_t sq_values = sq_right;
      for (std::int64_t q = 0; q + 1 < nv; ++q) {
        const std::int32_t c = values_[q].second;
        sq_left += 2 * left_[c] + 1;
        ++left_[c];
        sq_right -= 2 * right_[c] - 1;
        --right_[c];
        const double a = values_[q].first;
        const double b = values_[q + 1].first;
        if (a == b) continue;
        const std::int64_t nl = q + 1;
        const std::int64_t nr = nv - nl;
        if (nn == 0) {
          if (nl >= min_leaf && nr >= min_leaf) {
            consider(double(sq_left) / double(nl) + double(sq_right) / double(nr), Threshold(a, b),
                     f, nl >= nr);
          }
          continue;
        }
        if (nl + nn >= min_leaf && nr >= min_leaf) {
          consider(
              double(SumSquares(left_, nan_)) / double(nl + nn) + double(sq_right) / double(nr),
              Threshold(a, b), f, true);
        }
        if (nl >= min_leaf && nr + nn >= min_leaf) {
          consider(
              double(sq_left) / double(nl) + double(SumSquares(right_, nan_)) / double(nr + nn),
              Threshold(a, b), f, false);
        }
      }
      if (nn > 0 && nv >= min_leaf && nn >= min_leaf) {
        // Every value to the left, every NaN to the right.
        consider(double(sq_values) / double(nv) + double(SumSquares(nan_)) / double(nn),
                 std::numeric_limits<double>::max(), f, false);
      }
    }
    return found;
  }

  const double* cols_;
  const std::int32_t* y_;
  std::size_t n_, p_, k_;
  const ForestOptions& options_;
  std::size_t mtry_ = 1;
  std::vector<std::int32_t> idx_;    // the bootstrap sample, partitioned node by node
  std::vector<std::int32_t> order_;  // features, shuffled as they are drawn
  std::vector<std::pair<double, std::int32_t>> values_;    // (value, class) at a node, sorted
  std::vector<std::int64_t> counts_, left_, right_, nan_;  // per class
};

Result<RandomForest> RandomForest::Train(const TrainingSet& set, const ForestOptions& options) {
  SUND_RETURN_IF_ERROR(ValidateSet(set, options));
  const std::size_t n = set.x.size();
  const std::size_t p = set.features.size();
  const std::size_t k = set.classes.size();
  std::vector<double> cols(n * p);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t f = 0; f < p; ++f) cols[f * n + i] = set.x[i][f];
  }
  std::vector<std::int32_t> y(set.y.begin(), set.y.end());

  std::vector<TreeBuilder::Tree> grown(options.trees);
  const int threads = ThreadCount(options.threads, grown.size());
  std::vector<std::unique_ptr<TreeBuilder>> builders;
  for (int t = 0; t < threads; ++t) {
    builders.push_back(std::make_unique<TreeBuilder>(cols.data(), y.data(), n, p, k, options));
  }
  // Each thread grows its trees with its own builder (scratch space); which trees a thread grows
  // does not change them.
  ParallelFor(grown.size(), threads, [&](std::size_t t, int worker) {
    grown[t] = builders[worker]->Grow(StreamSeed(options.seed, 1 + t));
  });

  RandomForest forest;
  forest.features_ = set.features;
  forest.classes_ = set.classes;
  forest.options_ = options;
  forest.importance_.assign(p, 0.0);
  for (auto& tree : grown) {
    const auto root = static_cast<std::int32_t>(forest.nodes_.size());
    const auto first_leaf = static_cast<std::int32_t>(forest.leaf_counts_.size() / k);
    forest.roots_.push_back(root);
    forest.leaf_starts_.push_back(first_leaf);
    for (Node node : tree.nodes) {
      node.child += node.feature >= 0 ? root : first_leaf;
      forest.nodes_.push_back(node);
    }
    forest.leaf_counts_.insert(forest.leaf_counts_.end(), tree.leaf_counts.begin(),
                               tree.leaf_counts.end());
    double sum = 0;
    for (double v : tree.importance) sum += v;
    if (sum > 0) {
      for (std::size_t f = 0; f < p; ++f) forest.importance_[f] += tree.importance[f] / sum;
    }
  }
  double sum = 0;
  for (double v : forest.importance_) sum += v;
  if (sum > 0) {
    for (double& v : forest.importance_) v /= sum;
  }
  forest.Finish();
  return forest;
}

void RandomForest::Finish() {
  const std::size_t k = classes_.size();
  leaf_probs_.assign(leaf_counts_.size(), 0.0);
  for (std::size_t l = 0; l * k < leaf_counts_.size(); ++l) {
    double sum = 0;
    for (std::size_t c = 0; c < k; ++c) sum += leaf_counts_[l * k + c];
    for (std::size_t c = 0; c < k; ++c) leaf_probs_[l * k + c] = leaf_counts_[l * k + c] / sum;
  }
  walk_.resize(nodes_.size());
  nan_right_.assign(nodes_.size(), 0);
  std::vector<std::int32_t> depth(nodes_.size(), 0);
  depths_.assign(roots_.size(), 0);
  for (std::size_t t = 0; t < roots_.size(); ++t) {
    const std::size_t end = t + 1 < roots_.size() ? roots_[t + 1] : nodes_.size();
    for (std::size_t i = roots_[t]; i < end; ++i) {
      const Node& n = nodes_[i];
      if (n.feature < 0) {
        walk_[i] = {std::numeric_limits<double>::infinity(), 0, static_cast<std::int32_t>(i)};
        depths_[t] = std::max(depths_[t], depth[i]);
      } else {
        walk_[i] = {n.threshold, n.feature, n.child};
        nan_right_[i] = !n.nan_left;
        // Children come after their parents, so each depth is known before it is used.
        depth[n.child] = depth[n.child + 1] = depth[i] + 1;
      }
    }
  }
}

// --- Prediction ---------------------------------------------------------------------------------

void RandomForest::AccumulateBlock(const double* x, std::size_t rows, double* probs) const {
  // kLanes cells walk each tree together: independent chains of loads that the processor
  // overlaps, where one cell at a time would wait on each node in turn. Cells without NaN (most)
  // take a path that does not test for it.
  constexpr std::size_t kLanes = 8;
  const std::size_t p = features_.size();
  const std::size_t k = classes_.size();
  const WalkNode* walk = walk_.data();
  const std::uint8_t* nan_right = nan_right_.data();
  const double* leaves = leaf_probs_.data();
  for (std::size_t first = 0; first < rows; first += kLanes) {
    const std::size_t lanes = std::min(kLanes, rows - first);
    const double* row[kLanes];
    for (std::size_t l = 0; l < kLanes; ++l) row[l] = x + (first + std::min(l, lanes - 1)) * p;
    bool any_nan = false;
    for (std::size_t j = 0; j < lanes * p; ++j) any_nan |= std::isnan(x[first * p + j]);
    for (std::size_t t = 0; t < roots_.size(); ++t) {
      std::int32_t at[kLanes];
      for (std::size_t l = 0; l < kLanes; ++l) at[l] = roots_[t];
      const std::int32_t depth = depths_[t];
      if (!any_nan) {
        for (std::int32_t step = 0; step < depth; ++step) {
#pragma GCC unroll 8
          for (std::size_t l = 0; l < kLanes; ++l) {
            const WalkNode& n = walk[at[l]];
            at[l] = n.left + (row[l][n.feature] > n.threshold);
          }
        }
      } else {
        for (std::int32_t step = 0; step < depth; ++step) {
          for (std::size_t l = 0; l < kLanes; ++l) {
            const WalkNode& n = walk[at[l]];
            const double v = row[l][n.feature];
            at[l] = n.left + ((v > n.threshold) | ((v != v) & nan_right[at[l]]));
          }
        }
      }
      for (std::size_t l = 0; l < lanes; ++l) {
        const double* leaf = leaves + static_cast<std::size_t>(nodes_[at[l]].child) * k;
        double* out = probs + (first + l) * k;
        for (std::size_t c = 0; c < k; ++c) out[c] += leaf[c];
      }
    }
  }
  const double scale = 1.0 / double(roots_.size());
  for (std::size_t j = 0; j < rows * k; ++j) probs[j] *= scale;
}

Prediction RandomForest::Predict(std::span<const double> row) const {
  SUND_CHECK(row.size() == features_.size());
  Prediction out;
  out.probabilities.assign(classes_.size(), 0.0);
  AccumulateBlock(row.data(), 1, out.probabilities.data());
  out.label =
      static_cast<int>(std::max_element(out.probabilities.begin(), out.probabilities.end()) -
                       out.probabilities.begin());
  return out;
}

Predictions RandomForest::PredictRows(std::span<const double> x, int threads) const {
  const std::size_t p = features_.size();
  const std::size_t k = classes_.size();
  SUND_CHECK(x.size() % p == 0);
  const std::size_t rows = x.size() / p;
  Predictions out;
  out.labels.assign(rows, 0);
  out.probabilities.assign(rows * k, 0.0);
  const std::size_t blocks = (rows + kPredictBlockRows - 1) / kPredictBlockRows;
  ParallelFor(blocks, threads, [&](std::size_t b, int) {
    const std::size_t first = b * kPredictBlockRows;
    const std::size_t count = std::min(kPredictBlockRows, rows - first);
    double* probs = out.probabilities.data() + first * k;
    AccumulateBlock(x.data() + first * p, count, probs);
    for (std::size_t r = 0; r < count; ++r) {
      out.labels[first + r] =
          static_cast<int>(std::max_element(probs + r * k, probs + (r + 1) * k) - (probs + r * k));
    }
  });
  return out;
}

Result<std::vector<std::size_t>> RandomForest::MapColumns(
    const std::vector<std::string>& header) const {
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < header.size(); ++i) index.emplace(header[i], i);
  std::vector<std::size_t> cols;
  std::vector<std::string_view> missing;
  for (const auto& f : features_) {
    auto it = index.find(f);
    if (it == index.end()) {
      missing.push_back(f);
    } else {
      cols.push_back(it->second);
    }
  }
  if (missing.empty()) return cols;
  std::string names;
  for (std::size_t i = 0; i < missing.size() && i < 3; ++i) {
    names += (i ? ", '" : "'") + std::string(missing[i]) + "'";
  }
  if (missing.size() > 3) names += " and " + std::to_string(missing.size() - 3) + " more";
  return InvalidArgument("the table lacks " + std::to_string(missing.size()) + " of the model's " +
                         std::to_string(features_.size()) + " feature columns: " + names);
}

// --- JSON ---------------------------------------------------------------------------------------

std::string RandomForest::ToJson() const {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto strings = [&](const char* key, const std::vector<std::string>& v) {
    w.Key(key);
    w.StartArray();
    for (const auto& s : v) w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    w.EndArray();
  };
  w.StartObject();
  w.Key("format");
  w.String(kFormat);
  w.Key("version");
  w.Int(kVersion);
  strings("features", features_);
  strings("classes", classes_);
  w.Key("options");
  w.StartObject();
  w.Key("trees");
  w.Int(options_.trees);
  w.Key("max_depth");
  w.Int(options_.max_depth);
  w.Key("min_leaf");
  w.Int(options_.min_leaf);
  w.Key("features_per_split");
  w.Int(options_.features_per_split);
  w.Key("seed");
  w.Uint64(options_.seed);
  w.EndObject();
  w.Key("importance");
  w.StartArray();
  for (double v : importance_) w.Double(v);
  w.EndArray();
  w.Key("trees");
  w.StartArray();
  const std::size_t k = classes_.size();
  for (std::size_t t = 0; t < roots_.size(); ++t) {
    const std::int32_t begin = roots_[t];
    const auto end =
        static_cast<std::int32_t>(t + 1 < roots_.size() ? roots_[t + 1] : nodes_.size());
    const std::int32_t first_leaf = leaf_starts_[t];
    const auto end_leaf = static_cast<std::int32_t>(
        t + 1 < roots_.size() ? leaf_starts_[t + 1] : leaf_counts_.size() / k);
    w.StartObject();
    w.Key("feature");
    w.StartArray();
    for (std::int32_t i = begin; i < end; ++i) w.Int(nodes_[i].feature);
    w.EndArray();
    w.Key("threshold");
    w.StartArray();
    for (std::int32_t i = begin; i < end; ++i) w.Double(nodes_[i].threshold);
    w.EndArray();
    w.Key("child");
    w.StartArray();
    for (std::int32_t i = begin; i < end; ++i) {
      w.Int(nodes_[i].child - (nodes_[i].feature >= 0 ? begin : first_leaf));
    }
    w.EndArray();
    w.Key("nan_left");
    w.StartArray();
    for (std::int32_t i = begin; i < end; ++i) w.Int(nodes_[i].nan_left);
    w.EndArray();
    w.Key("leaf_counts");
    w.StartArray();
    for (std::size_t j = first_leaf * k; j < end_leaf * k; ++j) w.Int(leaf_counts_[j]);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

namespace {

Status ReadStrings(const rapidjson::Value& doc, const char* key, std::vector<std::string>& out) {
  const rapidjson::Value* v = json::Find(doc, key);
  if (v == nullptr || !v->IsArray()) return InvalidArgument(std::string("model: no '") + key + "'");
  std::unordered_map<std::string_view, int> seen;
  for (const auto& s : v->GetArray()) {
    if (!s.IsString() || s.GetStringLength() == 0) {
      return InvalidArgument(std::string("model: '") + key + "' holds a non-string or empty name");
    }
    out.emplace_back(json::View(s));
  }
  for (const auto& s : out) {
    if (!seen.emplace(s, 0).second) {
      return InvalidArgument(std::string("model: '") + key + "' names '" + s + "' twice");
    }
  }
  return Status::Ok();
}

// The array `key` of `obj`, each element read by `read` (false: not the right type).
template <typename T, typename F>
Status ReadArray(const rapidjson::Value& obj, const char* key, const std::string& where, F read,
                 std::vector<T>& out) {
  const rapidjson::Value* v = json::Find(obj, key);
  if (v == nullptr || !v->IsArray()) {
    return InvalidArgument("model: " + where + " has no array '" + key + "'");
  }
  out.clear();
  out.reserve(v->Size());
  for (const auto& e : v->GetArray()) {
    T value{};
    if (!read(e, value)) {
      return InvalidArgument("model: " + where + " '" + key + "' element " +
                             std::to_string(out.size()) + " has the wrong type");
    }
    out.push_back(value);
  }
  return Status::Ok();
}

bool ReadInt(const rapidjson::Value& v, std::int32_t& out) {
  if (!v.IsInt()) return false;
  out = v.GetInt();
  return true;
}

bool ReadFinite(const rapidjson::Value& v, double& out) {
  if (!v.IsNumber()) return false;
  out = v.GetDouble();
  return std::isfinite(out);
}

}  // namespace

Result<RandomForest> RandomForest::FromJson(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    return InvalidArgument(std::string("model: not JSON (") +
                           rapidjson::GetParseError_En(doc.GetParseError()) + " at offset " +
                           std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (json::GetString(doc, "format") != kFormat) {
    return InvalidArgument(std::string("model: not a ") + kFormat + " file");
  }
  const rapidjson::Value* version = json::Find(doc, "version");
  if (version == nullptr || !version->IsInt() || version->GetInt() != kVersion) {
    return InvalidArgument("model: version " + std::to_string(kVersion) + " expected");
  }
  RandomForest forest;
  SUND_RETURN_IF_ERROR(ReadStrings(doc, "features", forest.features_));
  SUND_RETURN_IF_ERROR(ReadStrings(doc, "classes", forest.classes_));
  const std::size_t p = forest.features_.size();
  const std::size_t k = forest.classes_.size();
  if (p == 0) return InvalidArgument("model: no features");
  if (k < 2) return InvalidArgument("model: fewer than two classes");
  if (const rapidjson::Value* o = json::Find(doc, "options"); o != nullptr) {
    auto opt = [&](const char* key, int& out) {
      const rapidjson::Value* v = json::Find(*o, key);
      if (v != nullptr && v->IsInt()) out = v->GetInt();
    };
    opt("trees", forest.options_.trees);
    opt("max_depth", forest.options_.max_depth);
    opt("min_leaf", forest.options_.min_leaf);
    opt("features_per_split", forest.options_.features_per_split);
    const rapidjson::Value* seed = json::Find(*o, "seed");
    if (seed != nullptr && seed->IsUint64()) forest.options_.seed = seed->GetUint64();
  }
  SUND_RETURN_IF_ERROR(ReadArray(doc, "importance", "the forest", ReadFinite, forest.importance_));
  if (forest.importance_.size() != p) {
    return InvalidArgument("model: 'importance' has " + std::to_string(forest.importance_.size()) +
                           " values for " + std::to_string(p) + " features");
  }
  const rapidjson::Value* trees = json::Find(doc, "trees");
  if (trees == nullptr || !trees->IsArray() || trees->Empty()) {
    return InvalidArgument("model: no trees");
  }
  std::vector<std::int32_t> feature, child, nan_left, counts;
  std::vector<double> threshold;
  for (rapidjson::SizeType t = 0; t < trees->Size(); ++t) {
    const rapidjson::Value& tree = (*trees)[t];
    const std::string where = "tree " + std::to_string(t);
    SUND_RETURN_IF_ERROR(ReadArray(tree, "feature", where, ReadInt, feature));
    SUND_RETURN_IF_ERROR(ReadArray(tree, "threshold", where, ReadFinite, threshold));
    SUND_RETURN_IF_ERROR(ReadArray(tree, "child", where, ReadInt, child));
    SUND_RETURN_IF_ERROR(ReadArray(tree, "nan_left", where, ReadInt, nan_left));
    SUND_RETURN_IF_ERROR(ReadArray(tree, "leaf_counts", where, ReadInt, counts));
    const std::size_t size = feature.size();
    if (size == 0 || threshold.size() != size || child.size() != size || nan_left.size() != size) {
      return InvalidArgument("model: " + where +
                             ": 'feature', 'threshold', 'child' and 'nan_left' must have one "
                             "value per node, and there must be nodes");
    }
    if (counts.empty() || counts.size() % k != 0) {
      return InvalidArgument("model: " + where + ": 'leaf_counts' must hold " + std::to_string(k) +
                             " counts per leaf");
    }
    const std::size_t leaves = counts.size() / k;
    for (std::size_t l = 0; l < leaves; ++l) {
      std::int64_t sum = 0;
      bool negative = false;
      for (std::size_t c = 0; c < k; ++c) {
        negative = negative || counts[l * k + c] < 0;
        sum += counts[l * k + c];
      }
      if (negative || sum == 0) {
        return InvalidArgument("model: " + where + " leaf " + std::to_string(l) +
                               ": counts must be non-negative and not all zero");
      }
    }
    const auto root = static_cast<std::int32_t>(forest.nodes_.size());
    const auto first_leaf = static_cast<std::int32_t>(forest.leaf_counts_.size() / k);
    for (std::size_t i = 0; i < size; ++i) {
      const std::string node = where + " node " + std::to_string(i);
      if (feature[i] < -1 || feature[i] >= static_cast<std::int64_t>(p)) {
        return InvalidArgument("model: " + node + ": feature index out of range");
      }
      if (nan_left[i] != 0 && nan_left[i] != 1) {
        return InvalidArgument("model: " + node + ": nan_left must be 0 or 1");
      }
      if (feature[i] >= 0) {
        if (child[i] <= static_cast<std::int64_t>(i) || child[i] + std::size_t{1} >= size) {
          return InvalidArgument("model: " + node +
                                 ": its children must be nodes of the tree after it");
        }
      } else if (child[i] < 0 || static_cast<std::size_t>(child[i]) >= leaves) {
        return InvalidArgument("model: " + node + ": leaf index out of range");
      }
      forest.nodes_.push_back({threshold[i], feature[i],
                               child[i] + (feature[i] >= 0 ? root : first_leaf),
                               static_cast<std::uint8_t>(nan_left[i])});
    }
    forest.roots_.push_back(root);
    forest.leaf_starts_.push_back(first_leaf);
    forest.leaf_counts_.insert(forest.leaf_counts_.end(), counts.begin(), counts.end());
  }
  if (forest.nodes_.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    return InvalidArgument("model: too many nodes");
  }
  forest.Finish();
  return forest;
}

// --- Cross-validation ---------------------------------------------------------------------------

Result<CrossValidation> CrossValidate(const TrainingSet& set, const ForestOptions& options,
                                      int folds) {
  SUND_RETURN_IF_ERROR(ValidateSet(set, options));
  const std::size_t n = set.x.size();
  const std::size_t k = set.classes.size();
  if (folds < 2 || static_cast<std::size_t>(folds) > n) {
    return InvalidArgument("cross-validation needs 2 to " + std::to_string(n) +
                           " folds (one per row at most), not " + std::to_string(folds));
  }
  std::vector<std::vector<std::size_t>> members(k);
  for (std::size_t i = 0; i < n; ++i) members[set.y[i]].push_back(i);
  Rng rng(StreamSeed(options.seed, kFoldStream));
  CrossValidation cv;
  std::vector<int>& fold = cv.fold;
  fold.assign(n, 0);
  int next = 0;
  for (auto& rows : members) {
    for (std::size_t i = rows.size(); i > 1; --i) std::swap(rows[i - 1], rows[rng.Below(i)]);
    for (std::size_t r : rows) {
      fold[r] = next;
      next = (next + 1) % folds;
    }
  }
  cv.folds = folds;
  cv.confusion.assign(k, std::vector<int>(k, 0));
  cv.predicted.assign(n, 0);
  for (int f = 0; f < folds; ++f) {
    TrainingSet train;
    train.features = set.features;
    train.classes = set.classes;
    for (std::size_t i = 0; i < n; ++i) {
      if (fold[i] == f) continue;
      train.x.push_back(set.x[i]);
      train.y.push_back(set.y[i]);
    }
    SUND_ASSIGN_OR_RETURN(RandomForest forest, RandomForest::Train(train, options));
    for (std::size_t i = 0; i < n; ++i) {
      if (fold[i] != f) continue;
      cv.predicted[i] = forest.Predict(set.x[i]).label;
      ++cv.confusion[set.y[i]][cv.predicted[i]];
    }
  }
  int correct = 0;
  cv.precision.assign(k, 0.0);
  cv.recall.assign(k, 0.0);
  for (std::size_t c = 0; c < k; ++c) {
    correct += cv.confusion[c][c];
    int predicted_as = 0;
    int actual = 0;
    for (std::size_t d = 0; d < k; ++d) {
      predicted_as += cv.confusion[d][c];
      actual += cv.confusion[c][d];
    }
    if (predicted_as > 0) cv.precision[c] = double(cv.confusion[c][c]) / predicted_as;
    if (actual > 0) cv.recall[c] = double(cv.confusion[c][c]) / actual;
  }
  cv.accuracy = double(correct) / double(n);
  return cv;
}

// --- Files --------------------------------------------------------------------------------------

Result<TrainingSet> LoadTrainingSet(const std::string& objects_csv, const std::string& labels_csv,
                                    const std::vector<std::string>& features) {
  // The labels: (ImageNumber, ObjectNumber) -> position in the labels file.
  SUND_ASSIGN_OR_RETURN(std::string labels_text, ReadFileDecompressed(labels_csv));
  Result<CsvTable> labels = ParseCsv(labels_text);
  if (!labels.ok()) return InvalidArgument(Prefixed(labels_csv, labels.status()));
  labels_text = std::string();
  const auto image_col = labels->Column("ImageNumber");
  const auto object_col = labels->Column("ObjectNumber");
  std::optional<std::size_t> class_col;
  for (std::size_t i = 0; i < labels->header.size(); ++i) {
    if (EqualsNoCase(labels->header[i], "Class")) class_col = i;
  }
  if (!image_col || !object_col || !class_col) {
    return InvalidArgument(fs::path(labels_csv).filename().string() +
                           ": the labels need columns ImageNumber, ObjectNumber and Class");
  }
  TrainingSet set;
  std::map<std::pair<std::int64_t, std::int64_t>, std::size_t> wanted;
  const std::size_t count = labels->rows.size();
  set.objects.resize(count);
  set.y.resize(count);
  for (std::size_t r = 0; r < count; ++r) {
    const auto& row = labels->rows[r];
    const std::string at =
        fs::path(labels_csv).filename().string() + " line " + std::to_string(labels->lines[r]);
    std::int64_t image = 0;
    std::int64_t object = 0;
    if (!ParseInteger(row[*image_col], image) || !ParseInteger(row[*object_col], object)) {
      return InvalidArgument(at + ": ImageNumber and ObjectNumber must be integers");
    }
    const std::string& name = row[*class_col];
    if (name.empty()) return InvalidArgument(at + ": the class is empty");
    auto [it, added] = wanted.emplace(std::make_pair(image, object), r);
    if (!added) {
      return InvalidArgument(at + ": object " + ObjectName(image, object) +
                             " is labelled twice (also on line " +
                             std::to_string(labels->lines[it->second]) + ")");
    }
    auto c = std::find(set.classes.begin(), set.classes.end(), name);
    if (c == set.classes.end()) c = set.classes.insert(c, name);
    set.y[r] = static_cast<int>(c - set.classes.begin());
    set.objects[r] = {image, object};
  }
  if (set.classes.size() < 2) {
    return InvalidArgument(fs::path(labels_csv).filename().string() +
                           ": the labels need at least two classes, they have " +
                           std::to_string(set.classes.size()));
  }

  // The objects: the labelled rows' values of the candidate columns.
  SUND_ASSIGN_OR_RETURN(std::string objects_text, ReadFileDecompressed(objects_csv));
  const std::string objects_name = fs::path(objects_csv).filename().string();
  std::vector<std::size_t> candidates;          // columns of the objects CSV
  std::vector<std::size_t> bad_line;            // per candidate: first line with a non-number, or 0
  std::vector<std::size_t> found_on(count, 0);  // per label: the objects line, or 0
  std::vector<std::vector<double>> x(count);
  std::size_t obj_image = 0;
  std::size_t obj_object = 0;
  std::vector<std::string> header;
  Status st = ForEachCsvBlock(objects_text, [&](const CsvTable& block) -> Status {
    if (header.empty()) {
      header = block.header;
      auto i = block.Column("ImageNumber");
      auto o = block.Column("ObjectNumber");
      if (!i || !o) return InvalidArgument("the objects need columns ImageNumber and ObjectNumber");
      obj_image = *i;
      obj_object = *o;
      if (features.empty()) {
        std::unordered_map<std::string_view, int> seen;
        for (std::size_t c = 0; c < header.size(); ++c) {
          if (!IsIdentity(header[c]) && seen.emplace(header[c], 0).second) {
            candidates.push_back(c);
          }
        }
      } else {
        for (const auto& f : features) {
          auto c = block.Column(f);
          if (!c) return InvalidArgument("no column '" + f + "'");
          candidates.push_back(*c);
        }
      }
      bad_line.assign(candidates.size(), 0);
    }
    for (std::size_t r = 0; r < block.rows.size(); ++r) {
      const auto& row = block.rows[r];
      std::int64_t image = 0;
      std::int64_t object = 0;
      if (!ParseInteger(row[obj_image], image) || !ParseInteger(row[obj_object], object)) {
        return InvalidArgument("line " + std::to_string(block.lines[r]) +
                               ": ImageNumber and ObjectNumber must be integers");
      }
      auto it = wanted.find({image, object});
      if (it == wanted.end()) continue;
      const std::size_t label = it->second;
      if (found_on[label] != 0) {
        return InvalidArgument("line " + std::to_string(block.lines[r]) + ": object " +
                               ObjectName(image, object) + " appears twice (also on line " +
                               std::to_string(found_on[label]) + ")");
      }
      found_on[label] = block.lines[r];
      x[label].resize(candidates.size());
      for (std::size_t j = 0; j < candidates.size(); ++j) {
        if (!ParseNumber(row[candidates[j]], x[label][j]) && bad_line[j] == 0) {
          bad_line[j] = block.lines[r];
        }
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) return Status(st.code(), Prefixed(objects_csv, st));
  for (std::size_t r = 0; r < count; ++r) {
    if (found_on[r] == 0) {
      return InvalidArgument(fs::path(labels_csv).filename().string() + " line " +
                             std::to_string(labels->lines[r]) + ": object " +
                             ObjectName(set.objects[r].first, set.objects[r].second) +
                             " is not in " + objects_name);
    }
  }
  std::vector<std::size_t> keep;
  for (std::size_t j = 0; j < candidates.size(); ++j) {
    if (bad_line[j] == 0) {
      keep.push_back(j);
    } else if (!features.empty()) {
      return InvalidArgument(objects_name + " line " + std::to_string(bad_line[j]) + ": column '" +
                             features[j] + "' holds a value that is not a number");
    }
  }
  if (keep.empty()) return InvalidArgument(objects_name + ": no numeric measurement columns");
  for (std::size_t j : keep) set.features.push_back(header[candidates[j]]);
  set.x.resize(count);
  for (std::size_t r = 0; r < count; ++r) {
    set.x[r].reserve(keep.size());
    for (std::size_t j : keep) set.x[r].push_back(x[r][j]);
  }
  return set;
}

Result<ClassifySummary> ClassifyObjects(const RandomForest& model, const std::string& objects_csv,
                                        const std::string& out_dir, int threads) {
  SUND_ASSIGN_OR_RETURN(std::string text, ReadFileDecompressed(objects_csv));
  const std::string name = fs::path(objects_csv).filename().string();
  std::string stem = name;
  for (std::string_view ext : {".gz", ".bz2", ".csv"}) {
    if (stem.size() > ext.size() && stem.ends_with(ext)) stem.resize(stem.size() - ext.size());
  }
  const fs::path dir = out_dir.empty() ? fs::path(objects_csv).parent_path() : fs::path(out_dir);
  std::error_code ec;
  if (!dir.empty()) fs::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
  ClassifySummary summary;
  summary.classes_csv = (dir / (stem + "_classes.csv")).string();
  summary.counts_csv = (dir / (stem + "_class_counts.csv")).string();
  summary.per_class.assign(model.classes().size(), 0);
  std::ofstream classes_out(summary.classes_csv, std::ios::binary | std::ios::trunc);
  if (!classes_out) return Internal("cannot write " + summary.classes_csv);
  classes_out << "ImageNumber,ObjectNumber,Class,Probability\n";

  const std::size_t p = model.features().size();
  const std::size_t k = model.classes().size();
  std::vector<std::string> quoted_classes;
  for (const auto& c : model.classes()) {
    quoted_classes.emplace_back();
    AppendCsvField(quoted_classes.back(), c);
  }
  std::map<std::int64_t, std::vector<std::int64_t>> per_image;
  std::vector<std::size_t> cols;
  std::size_t image_col = 0;
  std::size_t object_col = 0;
  std::vector<double> x;
  std::vector<std::int64_t> ids;
  std::string out;
  Status st = ForEachCsvBlock(text, [&](const CsvTable& block) -> Status {
    if (cols.empty()) {
      auto i = block.Column("ImageNumber");
      auto o = block.Column("ObjectNumber");
      if (!i || !o) return InvalidArgument("the objects need columns ImageNumber and ObjectNumber");
      image_col = *i;
      object_col = *o;
      SUND_ASSIGN_OR_RETURN(cols, model.MapColumns(block.header));
    }
    const std::size_t rows = block.rows.size();
    x.resize(rows * p);
    ids.resize(rows * 2);
    for (std::size_t r = 0; r < rows; ++r) {
      const auto& row = block.rows[r];
      if (!ParseInteger(row[image_col], ids[2 * r]) ||
          !ParseInteger(row[object_col], ids[2 * r + 1])) {
        return InvalidArgument("line " + std::to_string(block.lines[r]) +
                               ": ImageNumber and ObjectNumber must be integers");
      }
      for (std::size_t j = 0; j < p; ++j) {
        if (!ParseNumber(row[cols[j]], x[r * p + j])) {
          return InvalidArgument("line " + std::to_string(block.lines[r]) + ": column '" +
                                 model.features()[j] + "' holds a value that is not a number");
        }
      }
    }
    Predictions pred = model.PredictRows(x, threads);
    out.clear();
    for (std::size_t r = 0; r < rows; ++r) {
      const int label = pred.labels[r];
      out += std::to_string(ids[2 * r]);
      out += ',';
      out += std::to_string(ids[2 * r + 1]);
      out += ',';
      out += quoted_classes[label];
      out += ',';
      out += FormatNumber(pred.probabilities[r * k + label]);
      out += '\n';
      auto& counts = per_image[ids[2 * r]];
      counts.resize(k, 0);
      ++counts[label];
      ++summary.per_class[label];
    }
    summary.objects += static_cast<std::int64_t>(rows);
    classes_out.write(out.data(), static_cast<std::streamsize>(out.size()));
    return Status::Ok();
  });
  if (!st.ok()) return Status(st.code(), Prefixed(objects_csv, st));
  classes_out.close();
  if (!classes_out) return Internal("cannot write " + summary.classes_csv);

  std::ofstream counts_out(summary.counts_csv, std::ios::binary | std::ios::trunc);
  counts_out << "ImageNumber";
  for (const auto& c : model.classes()) {
    counts_out << ',';
    std::string field;
    AppendCsvField(field, "Count_" + c);
    counts_out << field;
  }
  counts_out << '\n';
  for (const auto& [image, counts] : per_image) {
    counts_out << image;
    for (auto c : counts) counts_out << ',' << c;
    counts_out << '\n';
  }
  counts_out.close();
  if (!counts_out) return Internal("cannot write " + summary.counts_csv);
  return summary;
}

Result<std::string> ClassCountsPerWell(const std::string& counts_csv,
                                       const std::string& image_csv) {
  std::error_code ec;
  if (!std::filesystem::exists(image_csv, ec)) return NotFound("no " + image_csv);
  SUND_ASSIGN_OR_RETURN(std::string image_text, ReadFileDecompressed(image_csv));
  SUND_ASSIGN_OR_RETURN(CsvTable image, ParseCsv(image_text));
  auto number = image.Column("ImageNumber");
  auto well = image.Column("Metadata_Well");
  auto plate = image.Column("Metadata_Plate");
  if (!number || !well) {
    return InvalidArgument(image_csv + ": no Metadata_Well column (wells come from the manifest)");
  }
  std::map<std::string, std::pair<std::string, std::string>> where;  // ImageNumber -> plate, well
  for (const auto& r : image.rows) where[r[*number]] = {plate ? r[*plate] : "", r[*well]};
  SUND_ASSIGN_OR_RETURN(std::string counts_text, ReadFileDecompressed(counts_csv));
  SUND_ASSIGN_OR_RETURN(CsvTable counts, ParseCsv(counts_text));
  auto counts_number = counts.Column("ImageNumber");
  if (!counts_number) return InvalidArgument(counts_csv + ": no ImageNumber column");
  std::vector<std::size_t> class_cols;
  for (std::size_t c = 0; c < counts.header.size(); ++c) {
    if (counts.header[c].starts_with("Count_")) class_cols.push_back(c);
  }
  struct Well {
    int images = 0;
    std::vector<double> counts;
  };
  std::map<std::pair<std::string, std::string>, Well> wells;
  for (const auto& r : counts.rows) {
    auto it = where.find(r[*counts_number]);
    if (it == where.end()) continue;
    Well& w = wells[it->second];
    w.counts.resize(class_cols.size(), 0.0);
    ++w.images;
    for (std::size_t k = 0; k < class_cols.size(); ++k) {
      w.counts[k] += std::strtod(r[class_cols[k]].c_str(), nullptr);
    }
  }
  std::filesystem::path out_path(counts_csv);
  std::string stem = out_path.stem().string();
  out_path.replace_filename(stem + "_per_well.csv");
  std::vector<std::string> header = {"Metadata_Plate", "Metadata_Well", "Images"};
  for (auto c : class_cols) header.push_back(counts.header[c]);
  for (auto c : class_cols) header.push_back("Fraction_" + counts.header[c].substr(6));
  std::ofstream out(out_path, std::ios::trunc);
  out << CsvRecord(header) << '\n';
  for (const auto& [key, w] : wells) {
    std::vector<std::string> row = {key.first, key.second, std::to_string(w.images)};
    double total = 0;
    for (double v : w.counts) total += v;
    for (double v : w.counts) row.push_back(FormatNumber(v));
    for (double v : w.counts) row.push_back(total > 0 ? FormatNumber(v / total) : "nan");
    out << CsvRecord(row) << '\n';
  }
  if (!out) return Internal("cannot write " + out_path.string());
  return out_path.string();
}

}  // namespace sund::cells
