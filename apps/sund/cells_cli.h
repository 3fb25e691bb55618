// `sund cells ...`: the microscopy screening commands (docs/cells.md). Registers the
// subcommands on the app; each runs from its callback and exits non-zero on failure.
#pragma once

namespace CLI {
class App;
}

void AddCellsCommands(CLI::App& app);
