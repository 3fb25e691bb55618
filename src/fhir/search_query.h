// A FHIR search, parsed and checked against the model: what the client asked for, in a form that
// every storage backend compiles to its own parameterised SQL (storage/sqlite, storage/postgres).
//
// Spec: FHIR R4 search.html. Parsing covers parameter types, modifiers, prefixes, chains, _has,
// _include/_revinclude, _sort, _count, _summary, _elements, _total. Thread-safety: values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "fhir/model.h"

namespace sund::fhir {

enum class Prefix : std::uint8_t { kEq, kNe, kGt, kLt, kGe, kLe, kSa, kEb, kAp };

enum class Modifier : std::uint8_t {
  kNone,
  kExact,
  kContains,
  kMissing,
  kNot,
  kText,
  kIdentifier,
  kAbove,
  kBelow,
  kType,
  kOfType,
  kIn,
  kNotIn,
  kIterate
};

// One alternative of a parameter value (the comma-separated parts are OR'ed).
struct SearchValue {
  Prefix prefix = Prefix::kEq;
  std::string raw;  // as given (unescaped)
  // string / uri / token text: normalised text
  std::string text;
  // token: system|code; has_system distinguishes "code" (any system) from "|code" (no system)
  std::string system, code;
  bool has_system = false;
  // reference: local type/id, or url for absolute references
  std::string ref_type, ref_id, url;
  // date: the range the value covers; number/quantity: the value and the range its precision
  // implies ([lo, hi)), plus the UCUM-canonical form when the unit converts
  std::int64_t lo_ms = 0, hi_ms = 0;
  double number = 0, lo = 0, hi = 0;
  std::string canonical_unit;
  double canonical_number = 0, canonical_lo = 0, canonical_hi = 0;
  bool has_canonical = false;
  bool missing = false;  // :missing=true
  // composite: the component values, in component order
  std::vector<SearchValue> components;
};

struct SearchCriterion;

// `subject:Patient.identifier=...`: the reference parameter, the target type, and the criterion
// the target must meet.
struct Chain {
  std::string target_type;
  std::unique_ptr<SearchCriterion> criterion;
};

// `_has:Observation:patient:code=...`: resources of `source_type` whose `reference_param`
// points at the candidate and that meet `criterion`.
struct ReverseChain {
  std::string source_type;
  const SearchParamDef* reference_param = nullptr;
  std::unique_ptr<SearchCriterion> criterion;
};

enum class SpecialParam : std::uint8_t { kNone, kId, kLastUpdated };

// One AND-term: a parameter with its alternatives.
struct SearchCriterion {
  const SearchParamDef* param = nullptr;  // null for _id/_lastUpdated and _has
  SpecialParam special = SpecialParam::kNone;
  SearchParamType type = SearchParamType::kString;
  Modifier modifier = Modifier::kNone;
  std::string type_modifier;        // subject:Patient=...
  std::vector<SearchValue> values;  // OR
  std::optional<Chain> chain;
  std::optional<ReverseChain> reverse_chain;
};

struct SortKey {
  const SearchParamDef* param = nullptr;
  SpecialParam special = SpecialParam::kNone;
  bool descending = false;
};

struct Include {
  std::string source_type;                // "*" allowed for _include
  const SearchParamDef* param = nullptr;  // null for "*"
  std::string target_type;                // optional
  bool iterate = false;
};

enum class SummaryMode : std::uint8_t { kNone, kTrue, kCount, kData, kText, kFalse };
enum class TotalMode : std::uint8_t { kNone, kEstimate, kAccurate };

struct SearchQuery {
  std::string type;                       // "" for a search across all types
  std::vector<SearchCriterion> criteria;  // AND
  std::vector<SortKey> sort;
  std::vector<Include> includes, revincludes;
  int count = 20;
  std::int64_t offset = 0;  // paging position (_offset / _getpagesoffset)
  std::int64_t cursor = 0;  // keyset paging (_cursor): after this position in
                            // the default order; 0 for the first page
  SummaryMode summary = SummaryMode::kNone;
  std::vector<std::string> elements;
  TotalMode total = TotalMode::kNone;
  std::vector<std::string> unknown_params;  // ignored in lenient mode, reported as warnings
  // Access restrictions the API adds for the caller (never parsed from a query string):
  // matches and totals are limited to the compartment of this Patient id
  // (CompartmentDefinition/patient) when it is set, and so are included resources of the
  // compartment's types (Practitioner, Organization ... stay includable) ...
  std::string compartment_patient;
  // ... and, when not empty, to resources of `type` matching every criterion of at least one
  // group (SMART granular scopes such as patient/Observation.rs?category=...|vital-signs).
  std::vector<std::vector<SearchCriterion>> access_any_of;
  // ... and, when consent.active, to what the patients' Consents let the caller see (built by the
  // API from src/consent). A resource in the compartment of one or more Patients (its own
  // Patient resource included) is visible when every one of those Patients is open to the
  // caller and it is not listed in `hidden`. Open means listed in `patients` when
  // `hidden_by_default`, and not listed there otherwise. Resources in no Patient's compartment
  // are not affected. Applies to matches, totals and includes.
  struct ConsentFilter {
    bool active = false;
    bool hidden_by_default = false;
    std::vector<std::string> patients;  // Patient ids
    std::vector<std::string> hidden;    // "Type/id"
  };
  ConsentFilter consent;
};

struct SearchLimits {
  int default_count = 20;
  int max_count = 1000;
};

// Parses query parameters (already percent-decoded, in order) for a search on `type` ("" for
// all types). InvalidArgument for a malformed value, an unknown modifier or an unsupported
// combination; unknown parameters are errors when `strict`, else listed in unknown_params.
Result<SearchQuery> ParseSearch(const Model& model, std::string_view type,
                                const std::vector<std::pair<std::string, std::string>>& params,
                                bool strict, const SearchLimits& limits = {});

// Parses one parameter value of the given type (exposed for tests and composite components).
Result<SearchValue> ParseSearchValue(SearchParamType type, std::string_view raw, Modifier modifier);

std::string_view PrefixName(Prefix p);

}  // namespace sund::fhir
