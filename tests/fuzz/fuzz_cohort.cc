// A cohort spec (`sund synth fit --cohort`, `sund fl node --cohort`, `sund stats`; the synth
// service's `cohort` parameter), JSON or YAML: parsed, written in its JSON form (which must read
// back to the same spec), its dates resolved and its schema derived.
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "synth/cohort.h"
#include "synth/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto spec = sund::synth::ParseCohortSpec(sund::fuzz::AsView(data, size));
  if (!spec.ok()) return 0;
  // CohortSpecToJson is what ParseCohortSpec reads back to an equal spec (cohort.h).
  std::string json = sund::synth::CohortSpecToJson(*spec);
  auto again = sund::synth::ParseCohortSpec(json);
  if (!again.ok()) __builtin_trap();
  if (sund::synth::CohortSpecToJson(*again) != json) __builtin_trap();
  sund::synth::CohortSpec resolved = sund::synth::ResolveDates(*spec, 1'795'000'000'000);
  std::string stored = sund::synth::CohortSpecToJson(resolved);  // kept with a fitted model
  (void)stored;
  sund::synth::Schema schema = sund::synth::CohortSchema(resolved);
  (void)schema;
  return 0;
}
