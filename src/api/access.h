// AccessGuard: what a verified access token (auth::Access) lets its caller do in the FHIR API,
// per request. SMART scopes decide the interaction (c r u d s per type); patient/ scopes bind
// everything to the launched patient's compartment (CompartmentDefinition/patient), compiled into
// the search SQL so that pages and totals never count what the caller may not see; granular
// scopes (patient/Observation.rs?category=...) become "matches one of these queries". A
// resource the caller may not see is answered as if it did not exist (404). Types outside the
// Patient compartment (Practitioner, Organization, Medication ...) hold no patient data and are
// readable under patient/ scopes without the compartment.
//
// Not yet (documented in docs/auth.md): user/ scopes are not narrowed by the practitioner's
// relations to patients (the consent engine of issue #4 does that); granular scopes allow
// reads and searches only, and conditional writes are refused under patient/ or granular
// restrictions.
//
// Thread-safety: one guard per request; the engine is shared.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/engine.h"
#include "auth/scopes.h"
#include "auth/server.h"

namespace sund::api {

// Limits on what a permitted interaction may touch.
struct Restriction {
  std::string patient;                    // "" = not bound to a compartment
  std::vector<auth::ScopeQuery> queries;  // empty = no granular restriction
  bool none() const { return patient.empty() && queries.empty(); }
};

class AccessGuard {
 public:
  // `access` null: everything is allowed (--insecure-dev, in-process tests).
  AccessGuard(Engine& engine, const auth::Access* access) : engine_(engine), access_(access) {}

  bool unrestricted() const { return access_ == nullptr; }

  // The restriction under which permission `p` on `type` ("*" for all types at once) is
  // granted; kPermissionDenied when no scope grants it. The least restricted context wins
  // (system/ and user/ over patient/).
  Result<Restriction> Check(std::string_view type, auth::Perm p) const;

  // Adds `r` to a search on `type` (compartment and granular queries).
  Status Apply(const Restriction& r, std::string_view type, fhir::SearchQuery& q) const;

  // Whether the current resource type/id exists and is visible under `r`.
  Result<bool> Visible(std::string_view type, std::string_view id, const Restriction& r) const;

  // Whether `resource` (new content of `type`) lies in `patient`'s compartment.
  static bool InCompartment(std::string_view type, const rapidjson::Value& resource,
                            std::string_view patient);

  // A write (create, update, patch, delete) of type/id with optional new content; `conditional`
  // for requests by criteria. Returns kPermissionDenied, or kNotFound where the target exists
  // but is not visible.
  Status CheckWrite(std::string_view type, std::string_view id, auth::Perm p,
                    const rapidjson::Value* content, bool conditional) const;

  // The per-entry check of batches and transactions.
  Status CheckEntry(const Engine::EntryView& e) const;

  // Drops included resources the caller may not read (types without read permission, or
  // outside the restriction of their type). `in_compartment_of`: the hits are known to lie in
  // this patient's compartment (the search was restricted to it), which then needs no check.
  void FilterIncludes(std::vector<storage::SearchHit>& hits,
                      std::string_view in_compartment_of = {}) const;

 private:
  Engine& engine_;
  const auth::Access* access_;
};

}  // namespace sund::api
