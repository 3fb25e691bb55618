// A search as the API receives it: "TYPE?query" (the query percent-encoded as in a URL), parsed
// with the URL decoder of the HTTP layer and compiled against the R4 search parameters.
#include <cstdint>
#include <string>

#include "fhir/model.h"
#include "fhir/search_query.h"
#include "fuzz_input.h"
#include "http/query.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = sund::fuzz::AsView(data, size);
  std::size_t q = in.find('?');
  std::string_view type = q == std::string_view::npos ? std::string_view() : in.substr(0, q);
  std::string_view query = q == std::string_view::npos ? in : in.substr(q + 1);
  auto params = sund::http::ParseQuery(query);
  for (bool strict : {false, true}) {
    auto parsed = sund::fhir::ParseSearch(sund::fhir::Model::R4(), type, params, strict);
    (void)parsed;
  }
  return 0;
}
