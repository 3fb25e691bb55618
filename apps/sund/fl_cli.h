// `sund fl ...` and `sund stats`: federated learning and statistics (issue #8; docs/fl.md as it
// lands). Registers the subcommands on the app; each runs from its callback and exits non-zero
// on failure.
#pragma once

namespace CLI {
class App;
}

void AddFlCommands(CLI::App& app);
