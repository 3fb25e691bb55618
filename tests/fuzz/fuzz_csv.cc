// A CSV file as `sund synth fit --csv` and `sund fl` read it.
#include <cstdint>

#include "core/csv.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto table = sund::ParseCsv(sund::fuzz::AsView(data, size));
  (void)table;
  return 0;
}
