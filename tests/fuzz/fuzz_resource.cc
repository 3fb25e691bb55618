// A FHIR resource body as the API receives it: parse, validate against the R4 model, extract
// every search parameter's index values (the FHIRPath of the official definitions) and write
// the canonical stored form.
#include <cstdint>

#include "fhir/model.h"
#include "fhir/resource.h"
#include "fhir/search_index.h"
#include "fhir/validate.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto doc = sund::fhir::ParseResource(sund::fuzz::AsView(data, size));
  if (!doc.ok()) return 0;
  sund::fhir::ValidateResource(sund::fhir::Model::R4(), *doc).IgnoreError();
  auto entries = sund::fhir::Extractor::R4().Extract(sund::fhir::ResourceType(*doc), *doc);
  (void)entries;
  std::string canonical = sund::fhir::CanonicalJson(*doc);
  // The stored form parses back (what reads serve is what was stored).
  if (!sund::fhir::ParseJson(canonical).ok()) __builtin_trap();
  return 0;
}
