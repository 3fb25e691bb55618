// A JSON Patch document, and (after a NUL byte) the resource it is applied to.
#include <cstdint>

#include "fhir/json_patch.h"
#include "fhir/resource.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [patch_text, body] = sund::fuzz::SplitAtNul(sund::fuzz::AsView(data, size));
  auto patch = sund::fhir::ParseJson(patch_text);
  if (!patch.ok()) return 0;
  auto doc = sund::fhir::ParseJson(
      body.empty() ? std::string_view(R"({"resourceType":"Patient","name":[{"family":"A"}]})")
                   : body);
  if (!doc.ok()) return 0;
  sund::fhir::ApplyJsonPatch(*patch, *doc).IgnoreError();
  return 0;
}
