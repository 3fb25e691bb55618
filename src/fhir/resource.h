// Resource-level helpers shared by the API, import and storage: parsing request bodies into
// resources, id rules, and writing the server-managed parts (id, meta.versionId,
// meta.lastUpdated) before a version is stored as canonical JSON.
//
// Spec: FHIR R4 http.html (resource ids, versioning), resource.html (Meta).
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/status.h"

namespace sund::fhir {

// FHIR id: [A-Za-z0-9\-\.]{1,64}.
bool IsValidId(std::string_view id);

// Bodies are parsed with numbers kept as written (core/json_preserve.h): numbers in the DOM are
// marked strings, and CanonicalJson writes them back unchanged. Code that needs numeric values
// parses the canonical text with plain RapidJSON.
//
// Parses a JSON resource body. InvalidArgument for malformed JSON (with offset), a non-object,
// a missing or non-string resourceType, or an unknown resource type.
Result<rapidjson::Document> ParseResource(std::string_view body);

// Parses JSON without resource checks (Bundles pass through this too). InvalidArgument on error.
Result<rapidjson::Document> ParseJson(std::string_view body);

std::string_view ResourceType(const rapidjson::Value& resource);
std::string_view ResourceId(const rapidjson::Value& resource);

// Sets id, meta.versionId and meta.lastUpdated (FHIR instant from micros), keeping the rest of
// meta (tags, profiles, security, source) as the client sent it.
void StampResource(rapidjson::Document& doc, std::string_view id, std::int64_t version,
                   std::int64_t last_updated_micros);

// The canonical stored form: compact JSON with the members in the order given.
std::string CanonicalJson(const rapidjson::Value& resource);

}  // namespace sund::fhir
