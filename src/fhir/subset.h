// _summary and _elements: the subsetted views of a resource a client may ask for
// (FHIR R4 search.html#summary, #elements). Subsetted resources carry the SUBSETTED tag.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fhir/search_query.h"

namespace sund::fhir {

// Returns the subsetted JSON of `json` (a stored resource), or `json` unchanged for kNone/kFalse
// with no elements. Elements are top-level element names ("name", "birthDate").
std::string SubsetResource(std::string_view json, SummaryMode summary,
                           const std::vector<std::string>& elements);

}  // namespace sund::fhir
