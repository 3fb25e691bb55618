// JSON Patch (RFC 6902, https://www.rfc-editor.org/rfc/rfc6902) over RapidJSON documents, with
// JSON Pointer paths (RFC 6901, https://www.rfc-editor.org/rfc/rfc6901). Used by the FHIR PATCH
// interaction (application/json-patch+json, FHIR R4 http.html#patch).
//
// Supports the six operations add, remove, replace, move, copy and test; pointers with the ~0
// ("~") and ~1 ("/") escapes and "-" for the end of an array. The `test` operation compares
// values deeply: object members in any order, numbers by value (1 equals 1.0), no type coercion
// ("10" is not 10). Members of an operation other than op/path/from/value are ignored
// (RFC 6902 section 4).
//
// Thread-safety: a pure function; callers must not share `doc` with other threads during the call.
#pragma once

#include "core/json.h"
#include "core/status.h"

namespace sund::fhir {

// Applies an RFC 6902 patch document (a JSON array of operations) to `doc` in place, atomically:
// on any error `doc` is left unchanged. Values from `patch` are deep-copied into `doc`'s
// allocator, so `patch` may be freed afterwards.
// Errors (messages name the operation's index, op and path, never values):
//   InvalidArgument: a malformed patch: not an array, an operation that is not an object, an
//     unknown or missing "op", a missing or non-string "path"/"from", a missing "value", a
//     pointer with bad syntax (not starting with "/", a "~" not followed by 0 or 1).
//   Unprocessable: a well-formed patch that does not apply: a path or parent that does not exist,
//     an array index out of range or not a number, a failed `test`, a move into its own child,
//     removing the whole document.
Status ApplyJsonPatch(const rapidjson::Value& patch, rapidjson::Document& doc);

// Deep JSON equality as RFC 6902 `test` defines it (exposed for tests and FHIRPath callers).
bool JsonDeepEqual(const rapidjson::Value& a, const rapidjson::Value& b);

}  // namespace sund::fhir
