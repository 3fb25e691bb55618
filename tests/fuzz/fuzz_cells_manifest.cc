// A cells manifest (CellProfiler's LoadData CSV, `sund cells analyze --manifest`) and a
// channel map (`--channels d0=DNA,d1=PH3`). The manifest is read from a file, as the command
// reads it.
#include <cstdint>
#include <string>

#include "cells/manifest.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = sund::fuzz::AsView(data, size);
  std::string path = sund::fuzz::WriteTempFile("manifest.csv", in);
  if (auto sets = sund::cells::ReadManifest(path); sets.ok()) {
    for (const auto& set : *sets) (void)set.Name();
    (void)sund::cells::RequireChannels(*sets, {"DNA"});
  }
  (void)sund::cells::ParseChannelMap(std::string(in));
  return 0;
}
