#include "api/access.h"

#include "fhir/model.h"
#include "fhir/resource.h"
#include "fhir/search_index.h"

namespace sund::api {
namespace {

std::string_view PermName(auth::Perm p) {
  switch (p) {
    case auth::kCreate:
      return "create";
    case auth::kRead:
      return "read";
    case auth::kUpdate:
      return "update";
    case auth::kDelete:
      return "delete";
    case auth::kSearch:
      return "search";
  }
  return "access";
}

Status Denied(std::string_view type, auth::Perm p) {
  return Status(StatusCode::kPermissionDenied, "the access token's scopes do not allow " +
                                                   std::string(PermName(p)) + " on " +
                                                   std::string(type == "*" ? "all types" : type));
}

}  // namespace

Result<Restriction> AccessGuard::Check(std::string_view type, auth::Perm p) const {
  if (access_ == nullptr) return Restriction{};
  std::optional<Restriction> best;
  for (auth::ScopeContext ctx : {auth::ScopeContext::kSystem, auth::ScopeContext::kUser}) {
    auto q = auth::QueriesFor(access_->scopes, ctx, type, p);
    if (!q) continue;
    if (q->empty()) return Restriction{};
    if (!best) best = Restriction{"", *q};
  }
  if (best) return *best;
  auto q = auth::QueriesFor(access_->scopes, auth::ScopeContext::kPatient, type, p);
  if (!q) return Denied(type, p);
  if (access_->patient.empty()) {
    return Status(StatusCode::kPermissionDenied, "patient/ scopes without a patient context");
  }
  // Types outside the Patient compartment (Practitioner, Organization, Location, Medication
  // ...) hold no one's health data: patient/ scopes read and search them without the
  // compartment, so an app can show who treated the patient where. Writes stay bound.
  bool outside =
      type != "*" && type != "Patient" && fhir::Model::R4().PatientCompartmentParams(type).empty();
  if (outside && (p == auth::kRead || p == auth::kSearch)) return Restriction{"", *q};
  return Restriction{access_->patient, *q};
}

void RequestTrail::AddPatientsOf(std::string_view type, std::string_view id,
                                 std::string_view json) {
  for (auto& p : ReferencedPatients(type, id, json)) patients.insert(std::move(p));
}

Status AccessGuard::CheckContent(std::string_view type, std::string_view id,
                                 std::string_view json) const {
  if (consent_ == nullptr || consent_->Allows(type, id, json)) return Status::Ok();
  return NotFound(std::string(type) + "/" + std::string(id) + " is not known");
}

Status AccessGuard::ApplyConsent(storage::HistoryQuery& q) const {
  if (consent_ == nullptr) return Status::Ok();
  return consent_->Restrict(q.consent);
}

bool AccessGuard::SystemGrants(std::string_view type, auth::Perm p) const {
  if (access_ == nullptr) return true;
  auto q = auth::QueriesFor(access_->scopes, auth::ScopeContext::kSystem, type, p);
  return q.has_value() && q->empty();
}

Status AccessGuard::Apply(const Restriction& r, std::string_view type, fhir::SearchQuery& q) const {
  if (consent_ != nullptr) SUND_RETURN_IF_ERROR(consent_->Restrict(q.consent, &q));
  q.compartment_patient = r.patient;
  if (r.queries.empty()) return Status::Ok();
  if (type.empty() || type == "*") {
    return Status(StatusCode::kPermissionDenied,
                  "granular scopes allow searches of their own type only");
  }
  for (const auto& query : r.queries) {
    SUND_ASSIGN_OR_RETURN(fhir::SearchQuery parsed,
                          fhir::ParseSearch(fhir::Model::R4(), type, query, true));
    q.access_any_of.push_back(std::move(parsed.criteria));
  }
  return Status::Ok();
}

Result<storage::SearchPage> AccessGuard::Search(fhir::SearchQuery& q) const {
  SUND_ASSIGN_OR_RETURN(storage::SearchPage page, engine_.Search(q));
  if (consent_ == nullptr || consent_->Settle(q, page)) return page;
  SUND_RETURN_IF_ERROR(consent_->HidePartial(q));
  SUND_ASSIGN_OR_RETURN(page, engine_.Search(q));
  // Exact now, but for a resource whose other Patient references lie outside the compartment
  // filter: Settle drops it, which may leave this page short.
  consent_->Settle(q, page);
  return page;
}

Result<bool> AccessGuard::Visible(std::string_view type, std::string_view id,
                                  const Restriction& r) const {
  if (r.none()) return true;
  if (r.queries.empty()) return engine_.store().InPatientCompartment(type, id, r.patient);
  SUND_ASSIGN_OR_RETURN(fhir::SearchQuery q, fhir::ParseSearch(fhir::Model::R4(), type,
                                                               {{"_id", std::string(id)}}, true));
  SUND_RETURN_IF_ERROR(Apply(r, type, q));
  q.count = 1;
  SUND_ASSIGN_OR_RETURN(storage::SearchPage page, Search(q));
  return !page.matches.empty();
}

bool AccessGuard::InCompartment(std::string_view type, const rapidjson::Value& resource,
                                std::string_view patient) {
  if (type == "Patient" && fhir::ResourceId(resource) == patient) return true;
  const auto& params = fhir::Model::R4().PatientCompartmentParams(type);
  if (params.empty()) return false;
  for (const auto& e : fhir::Extractor::R4().Extract(type, resource)) {
    if (e.type != fhir::SearchParamType::kReference || e.ref_type != "Patient" ||
        e.ref_id != patient || e.param == nullptr) {
      continue;
    }
    for (const auto& code : params) {
      if (e.param->code == code) return true;
    }
  }
  return false;
}

Status AccessGuard::CheckWrite(std::string_view type, std::string_view id, auth::Perm p,
                               const rapidjson::Value* content, bool conditional) const {
  if (access_ == nullptr) return Status::Ok();
  SUND_ASSIGN_OR_RETURN(Restriction r, Check(type, p));
  if (r.none()) return Status::Ok();
  if (!r.queries.empty()) {
    return Status(StatusCode::kPermissionDenied, "granular scopes allow reads and searches only");
  }
  if (conditional) {
    return Status(StatusCode::kPermissionDenied, "conditional writes need user/ or system/ scopes");
  }
  if (!id.empty() && p != auth::kCreate) {
    // The target must be visible; one that does not exist yet may be created (update as create).
    auto current = engine_.store().Read(type, id);
    if (current.ok() && !current->deleted) {
      SUND_ASSIGN_OR_RETURN(bool visible, Visible(type, id, r));
      if (!visible) return NotFound(std::string(type) + "/" + std::string(id) + " is not known");
    }
  }
  if (content != nullptr && !InCompartment(type, *content, r.patient)) {
    return Status(StatusCode::kPermissionDenied,
                  "the resource must belong to the patient of the access token");
  }
  if (content == nullptr && p == auth::kCreate) return Denied(type, p);
  return Status::Ok();
}

Status AccessGuard::CheckEntry(const Engine::EntryView& e) const {
  std::string_view m = e.method;
  if ((m == "GET" || m == "HEAD") && consent_ != nullptr && consent_->MayHide()) {
    return Status(StatusCode::kPermissionDenied,
                  "reads inside a batch are refused while Consents apply to them; use the REST "
                  "interactions");
  }
  if (access_ == nullptr) return Status::Ok();
  if (m == "GET" || m == "HEAD") {
    auth::Perm p = e.id.empty() ? auth::kSearch : auth::kRead;
    SUND_ASSIGN_OR_RETURN(Restriction r, Check(e.type, p));
    if (!r.none()) {
      return Status(StatusCode::kPermissionDenied,
                    "reads inside a batch need user/ or system/ scopes");
    }
    return Status::Ok();
  }
  auth::Perm p = m == "POST" ? auth::kCreate : m == "DELETE" ? auth::kDelete : auth::kUpdate;
  if (m == "PATCH") {
    // A PATCH entry's result depends on the entries before it, which have not run when entries
    // are checked, so its result cannot be held to the compartment here: refused under one.
    SUND_ASSIGN_OR_RETURN(Restriction r, Check(e.type, p));
    if (!r.none()) {
      return Status(StatusCode::kPermissionDenied,
                    "PATCH inside a batch or transaction needs user/ or system/ scopes");
    }
  }
  return CheckWrite(e.type, e.id, p, m == "DELETE" || m == "PATCH" ? nullptr : e.resource,
                    e.conditional);
}

void AccessGuard::FilterIncludes(std::vector<storage::SearchHit>& hits,
                                 std::string_view in_compartment_of) const {
  if (consent_ != nullptr) {
    std::erase_if(
        hits, [&](const storage::SearchHit& h) { return !consent_->Allows(h.type, h.id, h.json); });
  }
  if (access_ == nullptr) return;
  std::erase_if(hits, [&](const storage::SearchHit& h) {
    auto r = Check(h.type, auth::kRead);
    if (!r.ok()) return true;
    if (r->none()) return false;
    if (r->queries.empty() && !in_compartment_of.empty() && r->patient == in_compartment_of) {
      return false;
    }
    auto visible = Visible(h.type, h.id, *r);
    return !visible.ok() || !*visible;
  });
}

}  // namespace sund::api
