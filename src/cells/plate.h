// Plate statistics and dose-response for `sund cells`: the plate map (which compound, at which
// concentration, in which well, and which wells are controls), per-well aggregates of a per-image
// readout (e.g. Count_Nuclei of several sites per well), per-plate normalisation and quality
// (Z'-factor, SSMD), and four-parameter logistic (4PL) dose-response fits per compound.
//
// Definitions (x is a well's mean; "neg" and "pos" are the means, over a plate's control wells,
// of those wells' means; "samples" are the plate's wells whose role is `sample`):
// - percent of negative control:         POC = 100 * x / mean_neg
// - normalised percent inhibition:       NPI = 100 * (mean_neg - x) / (mean_neg - mean_pos)
//   (0 at the negative, 100 at the positive control; percent activity is 100 - NPI)
// - robust z-score:                      z = (x - median(samples)) / (1.4826 * MAD(samples))
// - Z'-factor (Zhang et al. 1999):       Z' = 1 - 3 (sd_pos + sd_neg) / |mean_pos - mean_neg|
// - SSMD (Zhang 2007):                   SSMD = (mean_pos - mean_neg) / sqrt(sd_pos^2 + sd_neg^2)
// - coefficient of variation:            CV = 100 * sd / |mean|
// sd is always the sample standard deviation (n - 1). A value that is undefined (a zero
// denominator, too few wells) is NaN; the functions computing them do not fail.
//
// 4PL: y = bottom + (top - bottom) / (1 + (x / ic50)^hill), x = concentration > 0, fitted by
// Levenberg-Marquardt in log10 concentration. The curve is reported with top >= bottom, so
// hill > 0 is a decreasing curve (inhibition) and hill < 0 an increasing one (activation);
// ic50 is the concentration half-way between bottom and top, i.e. the EC50 of an increasing
// curve (one parameter, two names).
//
// Errors (InvalidArgument) name the plate-map line, the plate and well, or the compound and the
// reason. Thread-safety: free functions and values.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::cells {

// --- Plate map ------------------------------------------------------------------------------

enum class WellRole : std::uint8_t {
  kNegative,  // e.g. DMSO: full signal of an inhibition assay
  kPositive,  // e.g. a reference inhibitor at full effect
  kSample,
  kUnmapped,  // the plate map does not name the well (never read from a plate map)
};

// "negative", "positive", "sample", "unmapped".
std::string_view WellRoleName(WellRole role);

struct PlateMapEntry {
  std::string plate;  // "" = every plate
  std::string well;   // normalised: "A01"
  std::string compound;
  double concentration = 0;  // in `unit`; 0 when the CSV field is blank
  std::string unit;
  WellRole role = WellRole::kSample;
};

struct PlateMap {
  std::vector<PlateMapEntry> entries;  // in file order

  // The entry for a well (normalised, "A01") on a plate: one naming the plate wins over one
  // with a blank plate; nullptr when neither exists.
  const PlateMapEntry* Find(std::string_view plate, std::string_view well) const;
};

// "A1", "a01", "AF48" -> "A01", "A01", "AF48". Rows A-Z then AA-AF (1536-well plates),
// columns 1-48 written with one or two digits. InvalidArgument for anything else.
Result<std::string> NormaliseWell(std::string_view well);

// Parses a plate map CSV with the columns `well, compound, concentration, unit, role` and an
// optional `plate` (other columns are ignored). Fields are trimmed; the role is one of
// `negative`, `positive`, `sample` (any case). Errors (InvalidArgument, with the line): a
// missing column, a bad well, an unknown role, a concentration that is negative, not a number or
// not finite, the same well twice for one plate (a blank plate counts as its own plate; an entry
// naming a plate overrides a blank-plate entry for the same well).
Result<PlateMap> ParsePlateMap(std::string_view text);

// ParsePlateMap on the file's content; NotFound when the file cannot be opened.
Result<PlateMap> ReadPlateMap(const std::string& csv_path);

// --- Per-well aggregates ----------------------------------------------------------------------

// One per-image value of one readout (e.g. Image_Count_Nuclei of one site).
struct ImageValue {
  std::string plate;
  std::string well;  // "A1" or "A01"
  double value = 0;
};

struct WellStats {
  std::string plate;
  std::string well;   // normalised
  int n = 0;          // finite values
  int n_missing = 0;  // NaN or infinite values, left out
  double mean = 0;    // NaN when n == 0
  double sd = 0;      // sample sd; NaN when n < 2
};

// Groups by (plate, well) and summarises each group. The result is sorted by plate, then by
// well in row-major order (A01, A02, ..., B01, ...). InvalidArgument names the first bad well.
Result<std::vector<WellStats>> AggregateWells(const std::vector<ImageValue>& values);

// --- Normalisation and plate quality ---------------------------------------------------------

struct NormalisedWell {
  std::string plate;
  std::string well;
  WellRole role = WellRole::kUnmapped;
  std::string compound;  // "" when unmapped
  double concentration = 0;
  std::string unit;
  int n = 0;                       // images
  double mean = 0;                 // the well's mean
  double percent_of_negative = 0;  // POC
  double percent_inhibition = 0;   // NPI
  double robust_z = 0;             // z against the plate's sample wells
};

// Every well of `wells`, normalised against its own plate's controls and samples (roles from
// `map`). Wells without a finite mean are left out of the control and sample statistics; wells
// the map does not name are normalised too but count as neither controls nor samples.
std::vector<NormalisedWell> NormaliseWells(const PlateMap& map,
                                           const std::vector<WellStats>& wells);

// Quality of a pair of control groups (each value one well's mean).
struct ControlQuality {
  int n_negative = 0;
  int n_positive = 0;
  double mean_negative = 0;
  double sd_negative = 0;
  double mean_positive = 0;
  double sd_positive = 0;
  double cv_negative = 0;  // percent
  double cv_positive = 0;  // percent
  double z_prime = 0;
  double ssmd = 0;
};

ControlQuality ComputeControlQuality(std::span<const double> negative,
                                     std::span<const double> positive);

struct PlateQuality {
  std::string plate;
  ControlQuality controls;
};

// One entry per plate of `wells`, in plate order, from the well means of its control wells.
std::vector<PlateQuality> ComputePlateQuality(const PlateMap& map,
                                              const std::vector<WellStats>& wells);

// (v - median(reference)) / (1.4826 * MAD(reference)) for each v of `values`; NaN for all when
// `reference` is empty or its MAD is 0.
std::vector<double> RobustZ(std::span<const double> values, std::span<const double> reference);

// --- Dose-response ---------------------------------------------------------------------------

struct DosePoint {
  double concentration = 0;  // > 0
  double response = 0;
};

// A parameter with its standard error and 95% confidence interval.
struct Estimate {
  double value = 0;
  double std_error = 0;
  double ci_low = 0;
  double ci_high = 0;
};

struct DoseResponseFit {
  Estimate top;
  Estimate bottom;
  // The interval is computed on log10 IC50 (the fitted parameter) and transformed back, so it is
  // not symmetric; std_error is the delta-method one, ic50 * ln(10) * se(log10 ic50).
  Estimate ic50;
  Estimate log10_ic50;
  Estimate hill;
  double r_squared = 0;  // 1 - RSS / TSS
  double rss = 0;
  int n = 0;    // points
  int dof = 0;  // n - 4
  int iterations = 0;
  // Levenberg-Marquardt met its convergence test within its iteration limit, and not against
  // a safeguard (|hill| at its limit of 20, or the IC50 1000-fold outside the tested
  // concentrations: a step, or no transition in the tested range). When the
  // curvature matrix is singular at the solution (a parameter the data cannot determine, e.g. a
  // plateau never reached) the standard errors are infinite and the intervals unbounded (the
  // IC50's from 0 to infinity), never NaN.
  bool converged = false;
};

// Fits the 4PL to the points (replicates as separate points). Starting values: bottom and top
// from the smallest and largest mean response per concentration, ic50 at the concentration
// whose mean is nearest their midpoint, hill +1 or -1 by the trend of the means. Covariance
// s^2 (J^T J)^-1 with s^2 = RSS / (n - 4) at the solution; 95% intervals from the t distribution
// with n - 4 degrees of freedom. InvalidArgument: fewer than 5 distinct concentrations (so also
// n <= 4), a concentration <= 0 or not finite, a response not finite, all responses equal.
Result<DoseResponseFit> FitDoseResponse(std::span<const DosePoint> points);

// Which value of a NormalisedWell a dose-response uses.
enum class Readout : std::uint8_t { kMean, kPercentOfNegative, kPercentInhibition, kRobustZ };

// The sample wells with a concentration > 0 and a finite value, one point per well, grouped by
// compound. InvalidArgument when one compound appears with two units.
Result<std::map<std::string, std::vector<DosePoint>>> CollectDosePoints(
    const std::vector<NormalisedWell>& wells, Readout readout);

// The quantile function of Student's t distribution with `dof` >= 1 degrees of freedom, for
// 0 < p < 1 (e.g. StudentTQuantile(0.975, 10) = 2.228).
double StudentTQuantile(double p, int dof);

}  // namespace sund::cells
