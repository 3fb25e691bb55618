#include "api/consent_gate.h"

#include <algorithm>
#include <utility>

#include "api/app_grants.h"
#include "consent/facts.h"
#include "consent/policy.h"
#include "core/log.h"
#include "fhir/resource.h"

namespace sund::api {
namespace {

bool IdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

// Runs `q` page by page (keyset paging) and calls `fn` for every match.
template <typename Fn>
Status ForEachMatch(storage::Store& store, fhir::SearchQuery& q, Fn&& fn) {
  while (true) {
    SUND_ASSIGN_OR_RETURN(storage::SearchPage page, store.Search(q));
    for (const auto& h : page.matches) SUND_RETURN_IF_ERROR(fn(h));
    if (!page.has_more) return Status::Ok();
    q.cursor = page.next_cursor;
  }
}

}  // namespace

std::vector<std::string> ReferencedPatients(std::string_view type, std::string_view id,
                                            std::string_view json) {
  std::vector<std::string> out;
  if (type == "Patient") out.emplace_back(id);
  constexpr std::string_view kPrefix = "Patient/";
  std::size_t at = 0;
  while ((at = json.find(kPrefix, at)) != std::string_view::npos) {
    // A reference's type starts after '"' or '/' (an absolute URL); "RelatedPatient/" is not one.
    bool starts = at > 0 && (json[at - 1] == '"' || json[at - 1] == '/');
    at += kPrefix.size();
    if (!starts) continue;
    std::size_t end = at;
    while (end < json.size() && end - at < 64 && IdChar(json[end])) ++end;
    if (end == at || end >= json.size() || (json[end] != '"' && json[end] != '/')) continue;
    std::string_view ref = json.substr(at, end - at);
    if (std::find(out.begin(), out.end(), ref) == out.end()) out.emplace_back(ref);
  }
  return out;
}

Result<consent::Request> ConsentRequest(const auth::Access& access, const http::Request& req,
                                        std::int64_t now_ms) {
  consent::Request q;
  q.now_ms = now_ms;
  q.client_id = access.client_id;
  std::string_view user = access.fhir_user;
  std::size_t slash = user.find('/');
  std::string_view type = user.substr(0, slash);
  std::string id(slash == std::string_view::npos ? "" : user.substr(slash + 1));
  if (type == "Patient" && !id.empty()) {
    q.user = consent::UserKind::kPatientSelf;
    q.patient = id;
  } else if (type == "RelatedPerson" && !id.empty()) {
    q.user = consent::UserKind::kRelatedPerson;
    q.related_person = id;
  } else if (type == "Practitioner" && !id.empty()) {
    q.practitioner = id;
  } else if (type == "PractitionerRole" && !id.empty()) {
    q.practitioner_role = id;
  } else if (std::any_of(access.scopes.resources.begin(), access.scopes.resources.end(),
                         [](const auth::ResourceScope& r) {
                           return r.context == auth::ScopeContext::kSystem;
                         })) {
    q.user = consent::UserKind::kSystem;
  }
  std::string_view purpose = req.headers.Get("X-Purpose-Of-Use");
  if (!purpose.empty()) {
    bool valid = purpose.size() <= 16 && std::all_of(purpose.begin(), purpose.end(), [](char c) {
                   return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                 });
    if (!valid) return InvalidArgument("X-Purpose-Of-Use must be a v3-ActReason code");
    q.purpose = std::string(purpose);
  }
  std::string_view reason = req.headers.Get("X-Break-Glass-Reason");
  if (!reason.empty()) {
    if (reason.size() > 500) return InvalidArgument("X-Break-Glass-Reason is over 500 bytes");
    q.purpose = "ETREAT";
    q.break_glass_reason = std::string(reason);
  }
  if (q.purpose == "ETREAT" && q.break_glass_reason.empty()) {
    return InvalidArgument("purpose ETREAT (break-the-glass) needs an X-Break-Glass-Reason");
  }
  return q;
}

Status ConsentGate::ValidateConsent(const rapidjson::Value& resource) {
  return consent::ParseConsent(resource).status();
}

Result<std::shared_ptr<const ConsentSnapshot>> ConsentGate::Current() {
  SUND_ASSIGN_OR_RETURN(std::string stamp, store_.TypeStamp("Consent"));
  {
    std::lock_guard<std::mutex> l(mu_);
    if (snapshot_ && snapshot_->stamp == stamp) return snapshot_;
  }
  SUND_ASSIGN_OR_RETURN(auto loaded, Load(stamp));
  std::shared_ptr<const ConsentSnapshot> previous;
  {
    std::lock_guard<std::mutex> l(mu_);
    previous = std::exchange(snapshot_, loaded);
  }
  if (on_withdrawn_) ReportWithdrawn(previous.get(), *loaded);
  return loaded;
}

Result<std::vector<std::string>> ConsentGate::ResearchPatients(std::int64_t now_ms) {
  SUND_ASSIGN_OR_RETURN(auto snapshot, Current());
  std::vector<std::string> out;
  for (const auto& [patient, policy] : snapshot->policies) {
    if (policy != nullptr && consent::AllowsResearch(*policy, now_ms)) out.push_back(patient);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<bool> ConsentGate::AllowsCollection(std::string_view patient, std::string_view resource,
                                           std::string_view device_id, std::int64_t now_ms) {
  SUND_ASSIGN_OR_RETURN(auto snapshot, Current());
  consent::PatientPolicy none;
  const consent::PatientPolicy* policy = &none;
  if (auto it = snapshot->policies.find(std::string(patient)); it != snapshot->policies.end()) {
    if (it->second == nullptr) return false;  // unreadable Consents: fail closed
    policy = it->second.get();
  }
  return consent::AllowsCollection(engine_, *policy, resource, device_id, now_ms);
}

void ConsentGate::ReportWithdrawn(const ConsentSnapshot* previous, const ConsentSnapshot& now) {
  std::vector<std::pair<std::string, AppGrantRecord>> candidates;
  for (const auto& [id, g] : now.app_grants) {
    if (g.active) continue;
    const AppGrantRecord* before = nullptr;
    if (previous != nullptr) {
      auto it = previous->app_grants.find(id);
      if (it != previous->app_grants.end()) before = &it->second;
    }
    if (previous == nullptr || before == nullptr || before->active) candidates.emplace_back(id, g);
  }
  if (previous != nullptr) {
    for (const auto& [id, g] : previous->app_grants) {
      if (g.active && !now.app_grants.contains(id)) candidates.emplace_back(id, g);
    }
  }
  for (const auto& [id, g] : candidates) {
    auto current = store_.Read("Consent", id);
    if (current.ok() && !current->deleted) {
      auto record = ReadAppGrant(current->json);
      if (record && (record->active || record->grant_id != g.grant_id)) continue;
    } else if (!current.ok() && current.status().code() != StatusCode::kNotFound &&
               current.status().code() != StatusCode::kGone) {
      log::Warn("consent: Consent/{} cannot be read: {}", id, current.status().message());
      continue;
    }
    on_withdrawn_(g);
  }
}

Result<std::shared_ptr<const ConsentSnapshot>> ConsentGate::Load(std::string stamp) {
  auto snap = std::make_shared<ConsentSnapshot>();
  snap->stamp = std::move(stamp);
  std::unordered_map<std::string, std::vector<consent::Consent>> by_patient;
  std::set<std::string> broken;
  fhir::SearchQuery all_consents;
  all_consents.type = "Consent";
  all_consents.count = 1000;
  SUND_RETURN_IF_ERROR(
      ForEachMatch(store_, all_consents, [&](const storage::SearchHit& h) -> Status {
        if (auto grant = ReadAppGrant(h.json)) snap->app_grants[h.id] = std::move(*grant);
        auto c = consent::ParseConsentJson(h.json);
        if (!c.ok()) {
          // Stored before validation existed, or by the importer: its patient cannot be trusted
          // to be read either, so every Patient it names loses access by others.
          for (auto& p : ReferencedPatients("Consent", h.id, h.json)) broken.insert(p);
          log::Warn("consent: Consent/{} cannot be read: {}", h.id, c.status().message());
          return Status::Ok();
        }
        by_patient[c->patient_id].push_back(std::move(c).value());
        return Status::Ok();
      }));
  // "related" data references are expanded to what the referenced resource refers to.
  consent::RelatedResolver resolver = [this](std::string_view type, std::string_view id) {
    std::vector<std::string> out;
    auto r = store_.Read(type, id);
    if (!r.ok() || r->deleted) return out;
    auto doc = fhir::ParseJson(r->json);
    if (!doc.ok()) return out;
    for (auto ref : consent::ExtractFacts(*doc).references) out.emplace_back(ref);
    return out;
  };
  for (auto& [patient, consents] : by_patient) {
    auto policy = consent::Engine::Compile(patient, consents, resolver);
    if (!policy.ok()) {
      log::Warn("consent: the Consents of a patient cannot be compiled: {}",
                policy.status().message());
      snap->policies[patient] = nullptr;
      continue;
    }
    snap->policies[patient] =
        std::make_shared<const consent::PatientPolicy>(std::move(policy).value());
  }
  for (const auto& p : broken) snap->policies[p] = nullptr;
  return std::shared_ptr<const ConsentSnapshot>(std::move(snap));
}

ConsentScope::ConsentScope(const ConsentGate& gate, std::shared_ptr<const ConsentSnapshot> snapshot,
                           consent::Request request)
    : gate_(gate), snapshot_(std::move(snapshot)), request_(std::move(request)) {
  // A patient without Consents: the base policy alone decides (the same for all of them).
  consent::ResourceFacts none;
  consent::Decision d = gate_.engine().Decide(empty_, request_, none);
  default_permit_ = d.permitted();
  default_break_glass_ = d.break_glass;
}

void ConsentScope::Note(const consent::Decision& d) {
  for (const auto& b : d.basis) basis_.insert("Consent/" + b.consent_id);
  if (d.break_glass) break_glass_used_ = true;
}

bool ConsentScope::PatientAllows(const std::string& patient, std::string_view type,
                                 std::string_view id, std::string_view json,
                                 rapidjson::Document& doc, bool& parsed,
                                 consent::ResourceFacts& facts) {
  if (request_.user == consent::UserKind::kPatientSelf && request_.patient == patient) return true;
  auto it = snapshot_->policies.find(patient);
  if (it == snapshot_->policies.end()) {
    if (default_break_glass_) break_glass_used_ = true;
    return default_permit_;
  }
  if (it->second == nullptr) return false;  // unreadable Consents: fail closed
  if (!parsed) {
    parsed = true;
    if (doc.Parse(json.data(), json.size()).HasParseError()) return false;
    facts = consent::ExtractFacts(doc);
    facts.type = type;
    facts.id = id;
  }
  consent::Decision d = gate_.engine().Decide(*it->second, request_, facts);
  Note(d);
  return d.permitted();
}

bool ConsentScope::Allows(std::string_view type, std::string_view id, std::string_view json) {
  rapidjson::Document doc;
  bool parsed = false;
  consent::ResourceFacts facts;
  for (const auto& p : ReferencedPatients(type, id, json)) {
    if (!PatientAllows(p, type, id, json, doc, parsed, facts)) return false;
  }
  return true;
}

bool ConsentScope::MayHide() {
  if (!default_permit_) return true;
  for (const auto& [patient, policy] : snapshot_->policies) {
    if (request_.user == consent::UserKind::kPatientSelf && request_.patient == patient) continue;
    if (policy == nullptr) return true;
    if (gate_.engine().Filter(*policy, request_).mode != consent::SearchFilter::Mode::kAll) {
      return true;
    }
  }
  return false;
}

Status ConsentScope::Restrict(fhir::SearchQuery::ConsentFilter& out, fhir::SearchQuery* query) {
  fhir::SearchQuery::ConsentFilter filter;
  filter.hidden_by_default = !default_permit_;
  partial_.clear();
  if (default_break_glass_) break_glass_used_ = true;
  bool self = request_.user == consent::UserKind::kPatientSelf && !request_.patient.empty();
  if (self && filter.hidden_by_default) filter.patients.push_back(request_.patient);
  for (const auto& [patient, policy] : snapshot_->policies) {
    if (self && patient == request_.patient) continue;
    bool open = false;
    if (policy != nullptr) {
      consent::SearchFilter f = gate_.engine().Filter(*policy, request_);
      if (f.break_glass) break_glass_used_ = true;
      for (const auto& c : f.deny) basis_.insert("Consent/" + c.source.consent_id);
      if (f.mode == consent::SearchFilter::Mode::kClauses && query != nullptr) {
        // Part of this patient's data: open in SQL, decided match by match (Settle).
        open = true;
        partial_.push_back(patient);
      } else {
        open = f.mode == consent::SearchFilter::Mode::kAll;
      }
    }
    // hidden_by_default lists the open patients, otherwise the closed ones.
    if (open == filter.hidden_by_default) filter.patients.push_back(patient);
  }
  filter.active = filter.hidden_by_default || !filter.patients.empty();
  filtering_ = filter.active || !partial_.empty();
  out = std::move(filter);
  return Status::Ok();
}

bool ConsentScope::Settle(const fhir::SearchQuery& query, storage::SearchPage& page) {
  if (!filtering_) return true;
  std::size_t before = page.matches.size();
  std::erase_if(page.matches,
                [&](const storage::SearchHit& h) { return !Allows(h.type, h.id, h.json); });
  auto removed = static_cast<std::int64_t>(before - page.matches.size());
  bool whole = query.cursor == 0 && query.offset == 0 && !page.has_more &&
               query.summary != fhir::SummaryMode::kCount;
  if (removed == 0) {
    // Other pages and the total may still hold a partial patient's denied resources.
    return partial_.empty() || whole || (!page.total && query.summary != fhir::SummaryMode::kCount);
  }
  // A page short of its count, a total or an include could tell that something was dropped,
  // unless this page was the whole answer and nothing was included.
  if (!whole || !page.includes.empty()) return false;
  if (page.total) *page.total -= removed;
  return true;
}

Status ConsentScope::HidePartial(fhir::SearchQuery& query) {
  for (const auto& patient : partial_) {
    // The caller's criteria, without its paging, sorting, includes or compartment.
    fhir::SearchQuery mine;
    mine.type = query.type;
    std::swap(mine.criteria, query.criteria);
    std::swap(mine.access_any_of, query.access_any_of);
    mine.compartment_patient = patient;
    mine.count = 1000;
    Status s = ForEachMatch(gate_.store(), mine, [&](const storage::SearchHit& h) {
      if (!Allows(h.type, h.id, h.json)) query.consent.hidden.push_back(h.type + "/" + h.id);
      return Status::Ok();
    });
    std::swap(mine.criteria, query.criteria);
    std::swap(mine.access_any_of, query.access_any_of);
    SUND_RETURN_IF_ERROR(s);
  }
  if (!query.consent.hidden.empty()) query.consent.active = true;
  return Status::Ok();
}

}  // namespace sund::api
