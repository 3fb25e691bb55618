// `sund synth ...`: synthetic data (docs/synth.md). Registers the subcommands on the app; each
// runs from its callback and exits non-zero on failure.
#pragma once

namespace CLI {
class App;
}

void AddSynthCommands(CLI::App& app);
