// Access to the data files compiled into the binary (src/fhir/data/embedded.S).
#pragma once

#include <string_view>

namespace sund::fhir::embedded {

// The generated R4 definitions (data/r4-definitions.json).
std::string_view R4Definitions();
// The UCUM unit table (data/ucum.json, generated from ucum-essence.xml).
std::string_view UcumTable();

}  // namespace sund::fhir::embedded
