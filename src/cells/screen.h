// The screen-level results of `sund cells`: after `analyze` has written a results folder
// (analysis.h: Image.csv, failures.csv, pipeline.json, overlays/), AnalyzeScreen joins the
// per-image readout with a plate map (plate.h) into per-well values, plate quality and
// dose-response fits, and WriteReport renders the run as one self-contained HTML page.
//
// Files written into the results folder (CSV as core/csv.h writes it, numbers as FormatValue
// writes them, "nan" where a value is undefined; every column is always present):
//   Wells.csv        plate, well, role, compound, concentration, unit, n, mean,
//                    percent_of_negative, percent_inhibition, robust_z
//                    (one row per well with images; role "unmapped" for a well the plate map
//                    does not name: such wells are left out of every statistic)
//   Plates.csv       plate, n_negative, mean_negative, sd_negative, cv_negative, n_positive,
//                    mean_positive, sd_positive, cv_positive, z_prime, ssmd, quality
//                    (quality: PlateVerdict of z_prime)
//   DoseResponse.csv compound, unit, readout, n, top, bottom, ic50, ic50_ci_low, ic50_ci_high,
//                    hill, hill_ci_low, hill_ci_high, r_squared, converged, error
//                    (converged "true"/"false"; when no curve could be fitted the numbers are
//                    empty, converged is empty and error says why)
//   report.html      WriteReport: no scripts, no external resources (inline CSS and SVG; the
//                    only links are relative ones to overlays/*.png), charts labelled for
//                    screen readers.
// The definitions of the statistics are plate.h's.
//
// Thread-safety: free functions and values; two calls must not write the same folder at once.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cells/analysis.h"
#include "cells/plate.h"
#include "core/status.h"

namespace sund::cells {

// "mean", "percent_of_negative", "percent_inhibition", "robust_z".
std::string_view ReadoutName(Readout readout);
// The inverse of ReadoutName; InvalidArgument names the accepted values.
Result<Readout> ParseReadout(std::string_view name);

// A plate's verdict by its Z'-factor: "good" (Z' >= 0.5), "marginal" (0 <= Z' < 0.5),
// "fail" (Z' < 0), "n/a" (undefined: too few control wells, or no spread between them).
std::string_view PlateVerdict(double z_prime);

struct ScreenOptions {
  // The Image.csv column each image set contributes; "" = Count_<the first object set of the
  // pipeline in pipeline.json> (without pipeline.json: the only Count_ column).
  std::string readout;
  // The well value the dose-response curves are fitted to.
  Readout dose_readout = Readout::kPercentOfNegative;
};

// One compound's points (one per sample well with a concentration > 0) and its 4PL fit.
struct CompoundResponse {
  std::string compound;
  std::string unit;
  std::vector<DosePoint> points;
  bool fitted = false;  // `fit` holds the fit (which may still not have converged)
  DoseResponseFit fit;
  std::string error;  // why no curve was fitted (when !fitted)
};

struct ScreenResult {
  std::string readout;  // the Image.csv column used
  Readout dose_readout = Readout::kPercentOfNegative;
  int images = 0;                           // Image.csv rows read
  int unmapped_images = 0;                  // of them, in wells the plate map does not name
  std::vector<std::string> unmapped_wells;  // "plate/well", each once
  std::vector<NormalisedWell> wells;        // plate, then row-major well order
  // Wells the plate map names on a plate of Image.csv that have no image there (e.g. every
  // site failed); a blank-plate entry appears once per plate, with the plate filled in.
  std::vector<PlateMapEntry> wells_without_images;
  std::vector<PlateQuality> plates;         // in plate order
  std::vector<CompoundResponse> compounds;  // by compound name
};

// Reads `results_dir`/Image.csv (columns ImageNumber, Metadata_Plate, Metadata_Well and the
// readout), averages the images (sites) of each well, normalises each plate against its controls,
// computes plate quality and fits one dose-response curve per compound, and writes Wells.csv,
// Plates.csv and DoseResponse.csv into `results_dir`. A compound whose curve cannot be fitted
// (too few concentrations, a flat response) is no error: its CompoundResponse says why.
// Errors:
// - NotFound: Image.csv is missing;
// - InvalidArgument: Image.csv is malformed or has no rows; it lacks Metadata_Plate or
//   Metadata_Well, or an image set has them blank (the message names the first ImageNumber and
//   says that the manifest must give them); the readout column is missing or ambiguous, or holds
//   something other than a number (nan and blank count as missing values); a well name is bad;
//   a compound appears with two units;
// - Internal: a file cannot be written.
Result<ScreenResult> AnalyzeScreen(const std::string& results_dir, const PlateMap& map,
                                   const ScreenOptions& o);

struct ReportInput {
  std::string title = "sund cells analysis";
  // The plate results; absent when the run had no plate map (then the report shows the run
  // summary, the counts per image set and the overlays).
  std::optional<ScreenResult> screen;
  // What Analyze returned, when known: its wall time; otherwise the report takes what it shows
  // from Image.csv and failures.csv (time: the ExecutionTime_ columns summed).
  std::optional<AnalyzeSummary> analysis;
  int max_thumbnails = 12;  // overlay images shown, spread over the run
};

// Writes `results_dir`/report.html from Image.csv, failures.csv (when present), overlays/ (when
// present) and `input`. Every text taken from files or names is HTML-escaped. Errors:
// NotFound when Image.csv is missing, InvalidArgument when it is malformed, Internal when the
// report cannot be written.
Status WriteReport(const std::string& results_dir, const ReportInput& input);

// What the CLI runs after `analyze`: AnalyzeScreen with the plate map read from
// `plate_map_path` (skipped when it is ""), then WriteReport. Errors: those of ReadPlateMap,
// AnalyzeScreen and WriteReport. Without a plate map the result holds no plates or compounds.
Result<ScreenResult> RunScreen(const std::string& results_dir, const std::string& plate_map_path,
                               const ScreenOptions& o,
                               const std::optional<AnalyzeSummary>& analysis = std::nullopt);

// A few lines for a terminal: plates with Z', SSMD and verdict, IC50 per compound with its
// interval, unmapped wells.
std::string ScreenSummaryText(const ScreenResult& result);

}  // namespace sund::cells
