#include "fhir/embedded_data.h"

extern "C" {
extern const char sund_r4_definitions_json[];
extern const char sund_r4_definitions_json_end[];
extern const char sund_ucum_json[];
extern const char sund_ucum_json_end[];
}

namespace sund::fhir::embedded {

std::string_view R4Definitions() {
  return {sund_r4_definitions_json,
          static_cast<std::size_t>(sund_r4_definitions_json_end - sund_r4_definitions_json)};
}

std::string_view UcumTable() {
  return {sund_ucum_json, static_cast<std::size_t>(sund_ucum_json_end - sund_ucum_json)};
}

}  // namespace sund::fhir::embedded
