// ConsentGate: the consent engine (src/consent) enforced on the FHIR API. It keeps the compiled
// Consents of every patient who has any, reloads them when a Consent was written since (the
// store's Consent stamp is read on every request, so a change takes effect on the next one),
// and hands each request a ConsentScope that answers "may this caller see this resource" and
// turns the same rule into the search filter the store compiles into SQL
// (fhir::SearchQuery::ConsentFilter), so that pages, totals and includes never count a denied
// resource. Design and limits: docs/decisions/0005-consent-in-the-api.md.
//
// Whose data a resource is: for a decision on one resource, the Patients it references
// ("Patient/ID" anywhere in it, plus itself for a Patient): a resource is visible only when
// every one of them permits. The search filter uses the Patient compartment's references, a
// subset of those, so a read is never more permissive than a search.
//
// Thread-safety: ConsentGate is shared by all requests (Current() is thread-safe); a
// ConsentScope belongs to one request.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/server.h"
#include "consent/engine.h"
#include "core/status.h"
#include "fhir/search_query.h"
#include "http/message.h"
#include "storage/store.h"

namespace sund::api {

// An app grant recorded as a Consent (api/app_grants.h).
struct AppGrantRecord {
  std::string grant_id;
  std::string patient_id;
  bool active = false;  // the Consent's status is active
};

// The compiled Consents of every patient who has at least one, at one Consent stamp.
struct ConsentSnapshot {
  std::string stamp;
  // Consent id -> the app grant it records (Consents that record one only).
  std::unordered_map<std::string, AppGrantRecord> app_grants;
  // Patient id -> policy. A null policy: the patient's Consents could not be read (a stored
  // Consent that no longer parses); then only the patient may see their data (fail closed).
  std::unordered_map<std::string, std::shared_ptr<const consent::PatientPolicy>> policies;
};

class ConsentGate {
 public:
  ConsentGate(storage::Store& store, consent::BasePolicy base) : store_(store), engine_(base) {}

  const consent::Engine& engine() const { return engine_; }
  storage::Store& store() const { return store_; }

  // The snapshot of the store's current Consents (reloaded when the stamp changed).
  Result<std::shared_ptr<const ConsentSnapshot>> Current();

  // The research filter for later modules (synthetic data, federated learning, statistics):
  // the ids of the patients whose current Consents opt them into research at `now_ms`
  // (consent::AllowsResearch), sorted. Research is opt-in under every base policy, so every
  // other patient is out; finer rules inside a research Consent (classes, codes) are decided
  // per resource with a research purpose.
  Result<std::vector<std::string>> ResearchPatients(std::int64_t now_ms);

  // Whether the patient's current Consents let the deployment's own services collect
  // `resource` (a new resource of theirs, FHIR JSON) from device `device_id`: consent::Action
  // kCollect, purpose TREAT, as a system. A patient can withdraw consent to home monitoring
  // with a deny provision for the action `collect` (optionally for certain classes or the
  // device as actor). Unreadable Consents fail closed.
  Result<bool> AllowsCollection(std::string_view patient, std::string_view resource,
                                std::string_view device_id, std::int64_t now_ms);

  // InvalidArgument (naming the element, never its value) when `resource` is a Consent the
  // engine cannot read; writes of such Consents are refused so that every stored one counts.
  static Status ValidateConsent(const rapidjson::Value& resource);

  // Called, on the thread that reloads, for each app-grant Consent found withdrawn: its status
  // is no longer active or it was deleted since the last reload (at the first load: every
  // inactive one). Confirmed against the store's current version first, so that a reload that
  // raced with a newer one never reports a grant whose Consent is active. Set before use.
  void OnAppGrantWithdrawn(std::function<void(const AppGrantRecord&)> fn) {
    on_withdrawn_ = std::move(fn);
  }

 private:
  Result<std::shared_ptr<const ConsentSnapshot>> Load(std::string stamp);
  void ReportWithdrawn(const ConsentSnapshot* previous, const ConsentSnapshot& now);

  storage::Store& store_;
  consent::Engine engine_;
  std::mutex mu_;
  std::shared_ptr<const ConsentSnapshot> snapshot_;  // guarded by mu_
  std::function<void(const AppGrantRecord&)> on_withdrawn_;
};

// The Patient ids `json` (a resource type/id) references, plus its own id for a Patient.
std::vector<std::string> ReferencedPatients(std::string_view type, std::string_view id,
                                            std::string_view json);

// The caller as the consent engine sees it, from the verified token and the request:
// - fhirUser Patient/ID: the patient themself; RelatedPerson/ID, Practitioner/ID,
//   PractitionerRole/ID: that actor; without fhirUser a client with system/ scopes is a system,
//   any other user a practitioner without a known id;
// - purpose of use: the `X-Purpose-Of-Use` header (a v3-ActReason code), TREAT when absent;
// - break-the-glass: `X-Break-Glass-Reason: <stated reason>` sets the purpose to ETREAT.
// InvalidArgument for a malformed purpose code or a reason over 500 bytes.
Result<consent::Request> ConsentRequest(const auth::Access& access, const http::Request& req,
                                        std::int64_t now_ms);

// One request's view: the caller as the engine sees it, and what the decisions were based on
// (for the audit record).
class ConsentScope {
 public:
  ConsentScope(const ConsentGate& gate, std::shared_ptr<const ConsentSnapshot> snapshot,
               consent::Request request);

  const consent::Request& request() const { return request_; }

  // Whether the caller may see `json`, the content of type/id. Records the basis.
  bool Allows(std::string_view type, std::string_view id, std::string_view json);

  // The filter for a search (`query`) or a history (`query` null), see ConsentFilter. A patient
  // whose Consents permit or deny only part of their data ("partial") is let through whole for
  // a search, and Settle decides the matches one by one afterwards; a history hides such a
  // patient's data altogether (conservative).
  Status Restrict(fhir::SearchQuery::ConsentFilter& filter, fhir::SearchQuery* query = nullptr);

  // Decides each match of `page` (the answer to `query`, searched under Restrict's filter) and
  // drops the denied ones. True when the page is then exactly the filtered answer: nothing was
  // dropped and no total could count a partial patient's denied resource, or the whole answer
  // was on this page (the total is corrected). False when pages, totals or includes could still
  // reveal a dropped resource: the caller then runs HidePartial and searches again.
  bool Settle(const fhir::SearchQuery& query, storage::SearchPage& page);

  // Lists in query.consent.hidden every resource of a partial patient that matches `query`
  // and that the caller may not see (one search per partial patient, within their
  // compartment), so that the store leaves them out of pages, totals and includes.
  Status HidePartial(fhir::SearchQuery& query);

  // Whether a query's answer can differ from the unfiltered one (some patient's Consents or the
  // base policy hide something from this caller).
  bool MayHide();

  // For the audit record: the Consents that decided ("Consent/ID"), and whether break-the-glass
  // was used (some resource was visible only because of it).
  const std::set<std::string>& basis() const { return basis_; }
  bool break_glass_used() const { return break_glass_used_; }

 private:
  // The decision for one patient's part of a resource; facts are parsed lazily into `doc`.
  bool PatientAllows(const std::string& patient, std::string_view type, std::string_view id,
                     std::string_view json, rapidjson::Document& doc, bool& parsed,
                     consent::ResourceFacts& facts);
  void Note(const consent::Decision& d);

  const ConsentGate& gate_;
  std::shared_ptr<const ConsentSnapshot> snapshot_;
  consent::Request request_;
  consent::PatientPolicy empty_;  // for patients without Consents
  bool default_permit_ = false;   // the base decision for a patient without Consents
  bool default_break_glass_ = false;
  std::set<std::string> basis_;
  bool break_glass_used_ = false;
  // Set by Restrict: whether its filter may hide anything, and the partial patients.
  bool filtering_ = false;
  std::vector<std::string> partial_;
};

}  // namespace sund::api
