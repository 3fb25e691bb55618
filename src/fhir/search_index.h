// Search-parameter extraction: turns a resource into the typed index entries that storage keeps
// for search (string, token, reference, date, number, quantity, uri; composite later).
//
// Driven by the bundled R4 SearchParameter definitions (Model) and evaluated with Sund's FHIRPath
// subset; see docs/storage.md for how each entry maps to an index table and FHIR R4 search.html
// (3.1.1.4) for the value semantics. Thread-safety: an Extractor is immutable after construction
// and may be shared by any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "fhir/model.h"

namespace sund::fhir {

// One index row. Which fields are used depends on `type`:
//   kString:    text = normalised value (lower case, accents folded), raw = value as written
//   kToken:     system, code, text (display / CodeableConcept.text, for :text)
//   kReference: ref_type, ref_id (local references), url (absolute, canonical or logical)
//   kDate:      lo_ms .. hi_ms, the inclusive range the value covers
//   kNumber:    number
//   kQuantity:  number, system, code, unit; canonical_unit/canonical_value when UCUM-convertible
//   kUri:       url
//   kComposite: the first component in system/code (token; a reference's type/id), the second
//               in system2/code2 (token; quantity system/code; string: normalised text), lo2/hi2
//               (quantity value; date range in ms) and canonical_unit/canonical_value (UCUM)
// A reference parameter may also produce kToken entries (Reference.identifier, for :identifier).
struct IndexEntry {
  const SearchParamDef* param = nullptr;
  SearchParamType type = SearchParamType::kString;
  std::string text, raw;
  std::string system, code;
  std::string ref_type, ref_id, url;
  std::string unit, canonical_unit;
  double number = 0, canonical_value = 0;
  bool has_canonical = false;
  std::int64_t lo_ms = 0, hi_ms = 0;
  std::string system2, code2;
  double lo2 = 0, hi2 = 0;
};

// Lower-cases ASCII and Latin-1 letters and folds common accents (é -> e), so that string search
// is case- and accent-insensitive as FHIR asks. Danish æ, ø, å are kept as letters of their own.
std::string NormalizeString(std::string_view s);

// Composite parameters Sund indexes: two components, the first a token or reference, the
// second a token, quantity, date or string (42 of R4's 46; the three-component
// MolecularSequence variants are not supported yet).
bool IsSupportedComposite(const Model& model, const SearchParamDef& def);

class Extractor {
 public:
  // Compiles the expressions of every search parameter for every resource type in `model`.
  // `fast_paths`: evaluate plain path expressions by walking the JSON directly (the default);
  // false evaluates everything with FHIRPath (for tests that compare the two).
  explicit Extractor(const Model& model, bool fast_paths = true);
  ~Extractor();
  Extractor(const Extractor&) = delete;
  Extractor& operator=(const Extractor&) = delete;

  // Index entries for `resource` (a parsed resource of type `type`). Never fails on content:
  // values of the wrong shape are skipped, as search on them would be meaningless.
  std::vector<IndexEntry> Extract(std::string_view type, const rapidjson::Value& resource) const;

  // How many of the model's search-parameter expressions compile and run (for the docs).
  struct Coverage {
    int total = 0;
    int compiled = 0;
    std::vector<std::string> failed;  // "url: reason"
  };
  Coverage coverage() const;

  static const Extractor& R4();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool fast_paths_;
};

}  // namespace sund::fhir
