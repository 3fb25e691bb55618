// Basic validation of a resource against the R4 model before it is stored: every element is
// known for its type, cardinality (single vs array) matches, primitives have the right JSON type
// and lexical form (boolean, integer, decimal, date, dateTime, instant, time, id, code ...), a
// primitive's `_name` sibling is an Element shaped like the value (one object, or an array of
// objects and nulls as long as the values), and contained resources are valid too. Profiles,
// invariants and terminology are not checked.
//
// Spec: FHIR R4 json.html (JSON representation), datatypes.html (primitive forms), http.html
// ("400 Bad Request: failed basic FHIR validation rules"). Messages name the element path and
// the rule broken, never the value (values may be patient data). Thread-safety: pure function.
#pragma once

#include "core/json.h"
#include "core/status.h"
#include "fhir/model.h"

namespace sund::fhir {

// OK, or InvalidArgument naming the first problem ("Patient.birthDate: not a valid date").
Status ValidateResource(const Model& model, const rapidjson::Value& resource);

}  // namespace sund::fhir
