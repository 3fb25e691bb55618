// Reads the ResourceFacts the consent engine needs (consent/engine.h) out of a FHIR resource's
// JSON: type and id, codes, class codings, meta.security, the clinically relevant time, the
// references it holds and who authored it. Which elements feed which fact is listed with
// ExtractFacts below and in src/consent/README.md; the API may instead fill ResourceFacts from
// its search index.
//
// Thread-safety: a pure function; the result holds views into the given JSON value.
#pragma once

#include "consent/engine.h"
#include "core/json.h"

namespace sund::consent {

// Fills ResourceFacts from `resource` (views into it: keep it alive while the facts are used).
// Never fails; elements of an unexpected JSON type are skipped.
// - codes:      the codings of top-level `code`, `vaccineCode`, `medicationCodeableConcept`
//               (CodeableConcepts);
// - classes:    the codings of top-level `category` and `type` (CodeableConcept or arrays of
//               them) and Encounter.class (a Coding);
// - security:   meta.security;
// - date:       the first present of effective[x], onset[x], performed[x], occurrence[x]
//               (dateTime, instant or Period), authoredOn, recordedDate, issued, period, date,
//               created, recorded; a Period covers start..end (open ends unbounded);
// - references: every `reference` string anywhere in the resource that is a literal
//               reference, as "Type/id" (a version suffix and an absolute base are cut off;
//               "#contained" and urn: references are skipped);
// - authors:    recorder, asserter, author, requester, performer (References, arrays of them,
//               or elements with an `actor` Reference), as "Type/id".
ResourceFacts ExtractFacts(const rapidjson::Value& resource);

}  // namespace sund::consent
