// A cells manifest (CellProfiler's LoadData CSV, `sund cells analyze --manifest`) and a
// channel map (`--channels d0=DNA,d1=PH3`). The manifest is read from a file, as the command
// reads it: each input is written to one file in a private temporary folder.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cells/manifest.h"
#include "fuzz_input.h"

namespace {

const std::string& ManifestPath() {
  static const std::string path = [] {
    char dir[] = "/tmp/sund-fuzz-manifest-XXXXXX";
    if (mkdtemp(dir) == nullptr) std::abort();
    return std::string(dir) + "/manifest.csv";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = sund::fuzz::AsView(data, size);
  FILE* f = std::fopen(ManifestPath().c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(in.data(), 1, in.size(), f);
  std::fclose(f);
  if (auto sets = sund::cells::ReadManifest(ManifestPath()); sets.ok()) {
    for (const auto& set : *sets) (void)set.Name();
    (void)sund::cells::RequireChannels(*sets, {"DNA"});
  }
  (void)sund::cells::ParseChannelMap(std::string(in));
  return 0;
}
