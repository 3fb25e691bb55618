// A FHIRPath expression, and (after a NUL byte) a resource to evaluate it on.
#include <cstdint>

#include "fhir/fhirpath.h"
#include "fhir/resource.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [expression, body] = sund::fuzz::SplitAtNul(sund::fuzz::AsView(data, size));
  auto path = sund::fhir::FhirPath::Compile(expression);
  if (!path.ok()) return 0;
  auto doc = sund::fhir::ParseJson(body.empty() ? std::string_view(R"({"resourceType":"Patient"})")
                                                : body);
  if (!doc.ok()) return 0;
  auto values = path->Evaluate(*doc);
  (void)values;
  return 0;
}
