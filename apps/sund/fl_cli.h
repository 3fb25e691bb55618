// `sund fl ...` and `sund stats`: federated learning and statistics (issue #8; docs/fl.md as it
// lands). Registers the subcommands on the app; each runs from its callback and exits non-zero
// on failure.
#pragma once

#include "synth_cli.h"

namespace CLI {
class App;
}

// `open_store` opens a data directory's FHIR store for nodes that read a cohort (--data).
void AddFlCommands(CLI::App& app, StoreOpener open_store);
