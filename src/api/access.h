// AccessGuard: what a verified access token (auth::Access) lets its caller do in the FHIR API,
// per request. SMART scopes decide the interaction (c r u d s per type); patient/ scopes bind
// everything to the launched patient's compartment (CompartmentDefinition/patient), compiled into
// the search SQL so that pages and totals never count what the caller may not see; granular
// scopes (patient/Observation.rs?category=...) become "matches one of these queries". A
// resource the caller may not see is answered as if it did not exist (404). Types outside the
// Patient compartment (Practitioner, Organization, Medication ...) hold no patient data and are
// readable under patient/ scopes without the compartment.
//
// Consent (api/consent_gate.h): with a ConsentScope, every resource read must also be permitted
// by the Consents of the patients it concerns, and searches and histories carry the consent
// filter into their SQL; a denied resource is answered as unknown too. Reads inside a batch are
// refused while Consents could hide part of their answer.
//
// Not yet (documented in docs/auth.md): granular scopes allow reads and searches only, and
// conditional writes are refused under patient/ or granular restrictions.
//
// Thread-safety: one guard per request; the engine is shared.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/consent_gate.h"
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

// What one request touched, for its audit record.
struct RequestTrail {
  std::set<std::string> patients;      // Patient ids
  std::vector<std::string> resources;  // "Type/id/_history/N" read or written
  static constexpr std::size_t kMaxResources = 100;
  void AddResource(std::string ref) {
    if (resources.size() < kMaxResources) resources.push_back(std::move(ref));
  }
  // The patients `json` (type/id) concerns.
  void AddPatientsOf(std::string_view type, std::string_view id, std::string_view json);
};

class AccessGuard {
 public:
  // `access` null: everything is allowed (--insecure-dev, in-process tests). `consent` null: no
  // Consents apply. `trail` (may be null) collects what the request touched.
  AccessGuard(Engine& engine, const auth::Access* access, ConsentScope* consent = nullptr,
              RequestTrail* trail = nullptr)
      : engine_(engine), access_(access), consent_(consent), trail_(trail) {}

  bool unrestricted() const { return access_ == nullptr && consent_ == nullptr; }
  RequestTrail* trail() const { return trail_; }
  // The verified token (null without authorization) and the request's consent view (null when
  // no Consents apply), for operations that keep them beyond the request (bulk export jobs).
  const auth::Access* access() const { return access_; }
  const ConsentScope* consent() const { return consent_; }

  // NotFound when the Consents do not let the caller see `json`, the content of type/id.
  Status CheckContent(std::string_view type, std::string_view id, std::string_view json) const;
  // Adds the consent filter to a history query.
  Status ApplyConsent(storage::HistoryQuery& q) const;

  // The restriction under which permission `p` on `type` ("*" for all types at once) is
  // granted; kPermissionDenied when no scope grants it. The least restricted context wins
  // (system/ and user/ over patient/).
  Result<Restriction> Check(std::string_view type, auth::Perm p) const;

  // Whether a system/ scope grants `p` on `type` (auditors' access to the whole audit log).
  bool SystemGrants(std::string_view type, auth::Perm p) const;

  // Adds `r` to a search on `type` (compartment and granular queries).
  Status Apply(const Restriction& r, std::string_view type, fhir::SearchQuery& q) const;

  // Runs a search prepared by Apply. Under Consents, every match is decided too (a denied one
  // is dropped); when that could make pages, totals or includes reveal a dropped resource, the
  // denied matches of partially consenting patients are listed in the query and it runs again.
  Result<storage::SearchPage> Search(fhir::SearchQuery& q) const;

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
  ConsentScope* consent_;
  RequestTrail* trail_;
};

}  // namespace sund::api
