// `sund synth ...`: synthetic data (docs/synth.md). Registers the subcommands on the app; each
// runs from its callback and exits non-zero on failure.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/status.h"

namespace CLI {
class App;
}
namespace sund::storage {
class Store;
}

// Opens the FHIR store of a data directory (main.cc's, so that every command opens it alike).
using StoreOpener =
    std::function<sund::Result<std::unique_ptr<sund::storage::Store>>(const std::string& data)>;

void AddSynthCommands(CLI::App& app, StoreOpener open_store);
