// A research cohort as a table, for the commands that learn from one (`sund synth fit`,
// `sund fl node`, `sund stats`): the patients whose Consents permit research (the consent
// engine, synth/cohort.h) and the spec's features, read from a data directory's FHIR store or
// through a running server. Prints one summary line (counts only, never who) to stdout.
#pragma once

#include <string>

#include "core/csv.h"
#include "core/status.h"
#include "synth/schema.h"
#include "synth_cli.h"

struct CohortSource {
  std::string data;    // a data directory (its FHIR store), or
  std::string url;     // a running server's FHIR base, read with
  std::string token;   // this bearer token
  std::string cohort;  // the spec file (JSON or YAML, docs/synth.md)
};

struct CohortTable {
  sund::CsvTable table;
  sund::synth::Schema schema;
  std::string cohort_json;  // the resolved spec
};

// Errors: no spec; both or neither of data and url; the spec's or the store's errors; an empty
// cohort (no patient passed the research consent and the population filter).
sund::Result<CohortTable> LoadCohortTable(const CohortSource& source,
                                          const StoreOpener& open_store);
