// Synthetic-data models of a table: fitting (differentially private MST; non-private
// independent-marginal and Gaussian-copula baselines), the model file, and streaming generation.
//
// MST (McKenna, Miklau & Sheldon 2021, "Winning the NIST Contest"): numeric columns are cut into
// bins at private quantiles; noisy 1-way marginals are measured (Gaussian mechanism) and values
// whose noisy count is below 3 sigma merged into one rare value; a maximum spanning tree over the
// column pairs is chosen privately (exponential mechanism, scores: how badly the 1-way model
// explains each pair); the tree's 2-way marginals are measured; a graphical model on the tree is
// fitted to all measurements by mirror descent (Private-PGM, McKenna et al. 2019) and sampled
// from. docs/synth.md gives the budget split, the model file's format and every choice recorded.
//
// Thread-safety: Fit is a pure function of its inputs (and the seed); a Sampler belongs to one
// thread; Models are immutable values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/csv.h"
#include "core/status.h"
#include "synth/schema.h"

namespace sund::synth {

enum class Method : std::uint8_t { kMst, kIndependent, kCopula };
std::string_view MethodName(Method m);  // "mst", "independent", "copula"
std::optional<Method> ParseMethod(std::string_view name);

// How one column's values become integer codes 0..size()-1: categories, integer values (one per
// value when the range is small) or bins; the missing value last.
struct ColumnCoding {
  std::vector<double> edges;  // binned numeric columns: interior edges; bin j is [e[j-1], e[j])
  std::size_t base = 0;       // codes for present values
  bool missing = false;       // code `base` stands for an empty cell
  std::size_t size() const { return base + (missing ? 1 : 0); }
};

// One spending of privacy budget.
struct PrivacyStep {
  std::string step;    // "quantiles", "1-way marginals", "tree selection", "2-way marginals"
  std::string detail;  // e.g. the column, the noise scale
  double rho = 0;
};

struct Privacy {
  bool is_private = false;  // MST; the baselines are not private
  double epsilon = 0;
  double delta = 0;
  double rho_budget = 0;  // CdpRho(epsilon, delta)
  double rho_spent = 0;   // sum of steps (<= budget)
  std::vector<PrivacyStep> steps;
  bool domain_from_data = false;  // the schema was inferred: its domain is not protected
  std::optional<std::uint64_t> seed;
};

struct Model {
  Method method = Method::kMst;
  Schema schema;
  std::vector<ColumnCoding> coding;  // one per schema column
  // MST and independent: a forest over the columns in sampling order; parent -1 for a root.
  // tables[i] is the root's marginal, or the joint (parent code x own code, row-major) of the
  // column with its parent, over the compressed codes; normalised to sum 1.
  std::vector<int> order;
  std::vector<int> parent;                  // by column
  std::vector<std::vector<double>> tables;  // by column
  // MST's domain compression: per column, the codes kept, in compressed order; a column with
  // more codes than kept gets one more compressed code for "one of the rest" (all of them when
  // none is kept). Empty (the baselines): no compression.
  std::vector<std::vector<std::uint32_t>> kept;
  // MST: per column, the weights of the merged codes (ascending, those not kept) when the
  // merged value is drawn: the noisy 1-way counts projected onto the simplex. Empty: uniform.
  std::vector<std::vector<double>> rest_weights;
  // Copula: per column the cumulative distribution over its codes, and the correlation of the
  // normal scores (d x d, row-major).
  std::vector<std::vector<double>> cdf;
  std::vector<double> correlation;
  double rows = 0;  // rows of the training table (a noisy estimate for MST)
  Privacy privacy;
  // The cohort spec (cohort.h, JSON, dates resolved) the table was extracted with, when it came
  // from the FHIR store: generation writes FHIR patients with it. Empty for a CSV table.
  std::string cohort;
  // What the fit chose and how it went, for people ("tree": ["age-sex", ...], "iterations": ...).
  std::vector<std::pair<std::string, std::string>> notes;
};

struct FitOptions {
  Method method = Method::kMst;
  double epsilon = 1.0;
  double delta = 1e-6;
  std::optional<std::uint64_t> seed;  // none: entropy from the operating system
  double quantile_share = 0.1;        // of rho, for the bin edges of numeric columns
  int iterations = 10000;             // mirror-descent iterations at most
  // Called with a stage name and a fraction done (0..1), for the progress bar.
  std::function<void(std::string_view stage, double done)> progress;
};

// Fits a model to the table's columns named in the schema. Errors: a value that is not of its
// column's kind (line and column named), epsilon or delta out of range, no rows.
Result<Model> Fit(const CsvTable& table, const Schema& schema, const FitOptions& options);

// The model file (JSON; docs/synth.md). ParseModel checks everything a sampler relies on, so
// a damaged or hand-edited file is an error, never a crash.
std::string ModelToJson(const Model& model);
Result<Model> ParseModel(std::string_view json_text);

// Draws rows from a model, a chunk at a time: memory does not grow with the rows drawn.
// Deterministic for a seed.
class Sampler {
 public:
  Sampler(const Model& model, std::uint64_t seed);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  std::string Header() const;  // the CSV header line, with "\n"
  // Appends `n` CSV rows (each ending in "\n").
  void AppendRows(std::size_t n, std::string& out);
  // Draws one row as codes (one per column, uncompressed), for FHIR output and tests.
  void DrawCodes(std::vector<std::uint32_t>& codes);
  // Appends one code's value as CSV text, or plain text with csv = false (empty for missing).
  void AppendValue(std::size_t column, std::uint32_t code, std::string& out, bool csv = true);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Draws `rows` rows with `seed` and writes them as CSV (with the header) to `path` ("-":
// standard output), 16,384 rows at a time: memory does not grow with `rows`. progress(rows done)
// after each chunk; `cancelled` is asked as often and stops the run (kUnavailable). kInternal
// when the file cannot be written.
Status WriteSyntheticCsv(const Model& model, std::uint64_t rows, std::uint64_t seed,
                         const std::string& path,
                         const std::function<void(std::uint64_t)>& progress = {},
                         const std::function<bool()>& cancelled = {});

// Encodes a table's column values to codes under a coding; for tests and evaluation.
Result<std::vector<std::vector<std::uint32_t>>> EncodeTable(
    const CsvTable& table, const Schema& schema, const std::vector<ColumnCoding>& coding);

}  // namespace sund::synth
