// Synthetic patients as FHIR R4: turns generated rows (one per patient, in the columns of a cohort
// spec's features, cohort.h) into transaction Bundles that `sund import` (or any FHIR server)
// loads: ready-made test data. Used by `sund synth generate --fhir`.
//
// Each patient becomes:
//   Patient              identifier in `urn:sund:synthetic` (value RUN-NNNNNN), a made-up name
//                        (a given name and an invented family name), gender from the sex column,
//                        birthDate drawn so that the age at the spec's reference date falls in
//                        the row's age band or is the row's age, address from region columns
//                        ("other" writes no address element)
//   Condition            per condition column "1": the feature's first code, active, confirmed,
//                        onset in the period
//   Observation          per observation code: valueQuantity in the spec's UCUM unit (value
//                        summaries), as many as the count column says (count summaries), the
//                        feature's category (vital-signs or laboratory by default), effective in
//                        the period
//   MedicationStatement  per medication column "1": the feature's first code, effective in the
//                        period
//   Encounter            as many as each encounter_count column says, of its first class and
//                        type (AMB, or another class no column counts, without a class list);
//                        those a column with a class or type filter wrote count towards the
//                        columns without one (a row whose total covers its parts reads back)
// Every resource carries meta.tag HTEST (v3-ActReason "test health data"), and references the
// Patient by its urn:uuid fullUrl; requests are POSTs (the server assigns ids), so importing
// twice makes two copies. Event dates are drawn in the period, no earlier than the birth date;
// then each patient's dates (birth and events) move together by one random shift of at most
// `max_shift_days`, limited so that the age still fits the row and the events the period. A
// patient born after the period has no events. Reading the Bundles back with the same spec
// (ExtractCohort) gives the rows back, up to clamping and rounding.
//
// Everything is drawn from a generator seeded by (seed, patient number): the same seed and rows
// give the same Bundles, byte for byte, and a patient's output does not depend on the others.
// Thread-safety: a FhirWriter is immutable; Bundle() may run on many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/csv.h"
#include "core/status.h"
#include "synth/cohort.h"
#include "synth/model.h"

namespace sund::synth {

inline constexpr std::string_view kSyntheticIdentifierSystem = "urn:sund:synthetic";

struct FhirWriterOptions {
  std::uint64_t seed = 1;
  int max_shift_days = 90;
  std::string identifier_system = std::string(kSyntheticIdentifierSystem);
  std::string run;  // the identifier values' prefix; "" = "syn" + the seed in hex
  // Resolves a spec with a relative reference date or period (ResolveDates); a spec stored with
  // the model is already resolved, so that generation uses the dates extraction used.
  std::int64_t now_ms = 0;
};

struct GeneratedBundle {
  std::string json;
  std::size_t patients = 0;
  std::size_t resources = 0;
};

struct WriteBundlesSummary {
  std::size_t files = 0;
  std::size_t patients = 0;
  std::size_t resources = 0;
};

class FhirWriter {
 public:
  // `header` names the rows' columns: the spec's feature names, in any order; other columns are
  // ignored. A feature without a column is not written (a missing sex is drawn female or male, a
  // missing age from the population's age range, 0-90 by default). InvalidArgument when the
  // spec's period is empty, its dates are relative and options.now_ms is not set, or a column is
  // named twice.
  static Result<FhirWriter> Create(const CohortSpec& spec, const std::vector<std::string>& header,
                                   FhirWriterOptions options = {});

  // One transaction Bundle holding rows [begin, end) as patients first_number, first_number + 1
  // ... (the number picks the identifier and the random stream). InvalidArgument naming the row
  // and column (never the value) for a row of the wrong length, a category outside the column's
  // domain, or text that is not a number in a numeric column.
  Result<GeneratedBundle> Bundle(const std::vector<std::vector<std::string>>& rows,
                                 std::size_t begin, std::size_t end,
                                 std::uint64_t first_number) const;

  const CohortSpec& spec() const { return spec_; }

 private:
  friend class BundleFiles;
  struct Patient;
  FhirWriter() = default;
  Status ReadRow(const std::vector<std::string>& row, std::size_t row_number, Patient& p) const;
  // Appends the patient's entries (JSON objects, comma-separated) to `out`, after a comma when
  // `out` is not empty; returns how many.
  Result<std::size_t> AppendPatient(const std::vector<std::string>& row, std::size_t row_number,
                                    std::uint64_t number, std::string& out) const;

  CohortSpec spec_;
  Schema schema_;
  FhirWriterOptions options_;
  std::vector<int> column_of_feature_;        // -1: the feature has no column
  std::vector<std::string> encounter_class_;  // per feature: the class its Encounters get
  std::size_t width_ = 0;
};

// The most entries a Bundle may have for Sund's API and importer (api::EngineOptions).
inline constexpr std::size_t kMaxBundleEntries = 10'000;

// Writes the table's rows as transaction Bundles of at most `patients_per_file` patients and
// `max_entries_per_file` resources each, to dir/synthetic-000001.json, synthetic-000002.json ...
// (created if needed; numbered so that `sund import DIR` loads them in order; a patient is never
// split). Patients are numbered from 1 in row order, as Bundle(rows, 0, n, 1) numbers them.
// Errors: those of Bundle(); InvalidArgument for a patient with more resources than a file may
// hold; Internal when a file cannot be written (naming the file).
Result<WriteBundlesSummary> WriteFhirBundles(const FhirWriter& writer, const CsvTable& rows,
                                             const std::string& dir,
                                             std::size_t patients_per_file = 100,
                                             std::size_t max_entries_per_file = kMaxBundleEntries);

// Patients written a Bundle file at a time (what WriteFhirBundles does for a whole table), so
// that generation streams: Add the rows one by one, then Finish.
class BundleFiles {
 public:
  BundleFiles(const FhirWriter& writer, std::string dir, std::size_t patients_per_file = 100,
              std::size_t max_entries_per_file = kMaxBundleEntries);
  // The next patient (numbered from 1 in the order added). Errors as FhirWriter::Bundle, or
  // kInternal when a file cannot be written.
  Status Add(const std::vector<std::string>& row);
  // Writes the last file (and creates `dir` even when there was no row).
  Result<WriteBundlesSummary> Finish();

 private:
  Status Flush();
  const FhirWriter& writer_;
  std::string dir_;
  std::size_t per_file_, max_entries_;
  std::string entries_, patient_;
  std::size_t in_file_ = 0, entries_in_file_ = 0;
  WriteBundlesSummary summary_;
};

// Draws `rows` patients from a model fitted on a cohort (Model::cohort) with `seed` and writes
// them into `dir` as BundleFiles does; memory does not grow with `rows`. progress(rows done)
// every 100 patients; `cancelled` is asked as often and stops the run (kUnavailable).
Result<WriteBundlesSummary> WriteSyntheticPatients(
    const Model& model, std::uint64_t rows, std::uint64_t seed, const std::string& dir,
    const std::function<void(std::uint64_t)>& progress = {},
    const std::function<bool()>& cancelled = {});

}  // namespace sund::synth
