// `sund import`: loads FHIR Bundles (transaction or batch; JSON, .json.bz2, .json.gz) and NDJSON
// files (one resource per line; resources with an id are upserted, others created) through the
// Engine, so imported data is indexed and versioned exactly like data sent to the API.
//
// Files are read and decompressed on several threads while one writer applies them in file
// order; each Bundle is one transaction and each NDJSON batch of up to 1,000 lines is one
// transaction. Thread-safety: one Import() at a time per Engine.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "api/engine.h"
#include "core/status.h"

namespace sund::api {

struct ImportOptions {
  int reader_threads = 0;  // 0: hardware_concurrency
  bool progress = true;    // draw a progress bar on a terminal
  std::string base = "urn:sund:import";
};

struct ImportSummary {
  std::int64_t files = 0;
  std::int64_t resources = 0;  // entries written (created, updated or matched)
  std::int64_t failed_files = 0;
  double seconds = 0;
  std::vector<std::string> errors;  // "file: reason" (no content)
  // (seconds since start, resources written so far) after each file, for rate measurements.
  std::vector<std::pair<double, std::int64_t>> timeline;
};

// Imports `files` in order (a directory argument imports its files in name order).
Result<ImportSummary> Import(Engine& engine, const std::vector<std::string>& files,
                             const ImportOptions& options);

}  // namespace sund::api
