#include "api/fhir_api.h"

#include <algorithm>
#include <mutex>

#include "api/access.h"
#include "api/bulk_export.h"
#include "api/errors.h"
#include "audit/fhir_view.h"
#include "audit/proof_json.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/time.h"
#include "fhir/json_patch.h"
#include "fhir/json_writer.h"
#include "fhir/model.h"
#include "fhir/resource.h"
#include "fhir/search_index.h"
#include "fhir/subset.h"
#include "http/query.h"

namespace sund::api {
namespace {

constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";
// Bulk Data Access IG 2.0 (https://hl7.org/fhir/uv/bulkdata/STU2/).
constexpr const char* kBulkDataCapability =
    "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data";
constexpr const char* kExportDefinition =
    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export";
constexpr const char* kPatientExportDefinition =
    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export";
constexpr const char* kGroupExportDefinition =
    "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export";

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    std::size_t s = path.find('/');
    if (s == 0) {
      path.remove_prefix(1);
      continue;
    }
    parts.push_back(path.substr(0, s));
    if (s == std::string_view::npos) break;
    path.remove_prefix(s + 1);
  }
  return parts;
}

http::Response Error(const Status& s) { return OperationOutcomeResponse(s); }

http::Response Json(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", std::string(kFhirJson));
  r.body = std::move(body);
  return r;
}

std::optional<std::int64_t> ParseIfMatch(std::string_view v, bool& bad) {
  bad = false;
  if (v.empty()) return std::nullopt;
  if (v.substr(0, 2) == "W/") v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  std::string s(v);
  char* end = nullptr;
  long long n = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0') {
    bad = true;
    return std::nullopt;
  }
  return n;
}

void AppendEscaped(std::string& out, std::string_view s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  out.append(sb.GetString(), sb.GetSize());
}

// FHIR R4 (http.html#search): the body of POST _search is a form. A body of another media type
// would be read as a form all the same and search for something the client did not ask for.
Status CheckSearchForm(std::string_view content_type) {
  if (!content_type.empty() &&
      !http::ContainsIgnoreCase(content_type, "application/x-www-form-urlencoded")) {
    return Status(StatusCode::kUnsupportedMedia, "_search takes application/x-www-form-urlencoded");
  }
  return Status::Ok();
}

// Content rules beyond validation: a Consent must be one the consent engine can read, so that
// every stored Consent counts.
Status ValidateContent(std::string_view type, const rapidjson::Value& resource) {
  if (type == "Consent") return ConsentGate::ValidateConsent(resource);
  return Status::Ok();
}

}  // namespace

struct FhirApi::Impl {
  Engine& engine;
  ApiOptions options;
  std::string capability;  // built once
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> errors{0};

  Impl(Engine& e, ApiOptions o) : engine(e), options(std::move(o)) {
    capability = BuildCapability();
  }

  std::string Base(const http::Request& req) const {
    if (!options.base_url.empty()) return options.base_url;
    std::string_view host = req.headers.Get("Host");
    if (host.empty()) host = "localhost";
    return std::string(req.secure ? "https://" : "http://") + std::string(host) + "/fhir";
  }

  std::string BuildCapability() const;
  http::Response Route(http::Request& req, const AccessGuard& guard);
  http::Response Read(const http::Request& req, std::string_view type, std::string_view id,
                      const QueryParams& params, const AccessGuard& guard);
  http::Response VRead(const http::Request& req, std::string_view type, std::string_view id,
                       std::string_view vid, const AccessGuard& guard);
  http::Response WriteResponse(const http::Request& req, const Result<WriteResult>& r,
                               int created_status, RequestTrail* trail);
  http::Response Search(const http::Request& req, std::string_view type, QueryParams params,
                        const AccessGuard& guard);
  http::Response History(const http::Request& req, std::string_view type, std::string_view id,
                         const QueryParams& params, const AccessGuard& guard);
  http::Response Everything(const http::Request& req, std::string_view id,
                            const AccessGuard& guard);
  // 401 for a FHIR request without a valid token (RFC 6750 section 3).
  // Without any credentials the challenge carries no error code (RFC 6750 section 3.1).
  static http::Response Unauthorized(const http::Request& req, const Status& s) {
    http::Response r = Error(s);
    r.status = 401;
    if (req.headers.Get("Authorization").empty()) {
      r.headers.Set("WWW-Authenticate", "Bearer realm=\"sund\"");
    } else {
      r.headers.Set("WWW-Authenticate",
                    "Bearer realm=\"sund\", error=\"invalid_token\", error_description=\"" +
                        s.message() + "\"");
    }
    return r;
  }
  http::Response Metrics();
  // /fhir/$export, /fhir/Patient/$export, /fhir/Group/ID/$export, /fhir/$export-status/ID and
  // /fhir/$export-file/ID/NAME (api/bulk_export.h).
  http::Response BulkData(const http::Request& req, const std::vector<std::string_view>& parts,
                          const AccessGuard& guard);
  // /audit/...: the log's public key, signed checkpoints and proofs (hashes only, no personal
  // data: public, like a transparency log's).
  http::Response AuditProofs(const http::Request& req, const std::vector<std::string_view>& parts);
  // AuditEvent?patient=ID: the audit log's records naming the patient, newest first.
  http::Response AuditEvents(const http::Request& req, const QueryParams& params,
                             const AccessGuard& guard);
  // Attaches the request's audit record to `r`: the response is sent once the record is
  // durable, and replaced by 503 when it cannot be written.
  void Audit(const http::Request& req, http::Response& r, const auth::Access* who,
             const ConsentScope* scope, RequestTrail trail);
};

std::string FhirApi::Impl::BuildCapability() const {
  const auto& model = fhir::Model::R4();
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("CapabilityStatement");
  w.Key("status");
  w.String("active");
  w.Key("date");
  w.String("2026-11-28");
  w.Key("publisher");
  w.String("Sund");
  w.Key("kind");
  w.String("instance");
  w.Key("software");
  w.StartObject();
  w.Key("name");
  w.String("Sund");
  w.Key("version");
  w.String(options.software_version.c_str());
  w.EndObject();
  bool bulk = options.bulk_export != nullptr;
  if (bulk) {
    w.Key("instantiates");
    w.StartArray();
    w.String(kBulkDataCapability);
    w.EndArray();
  }
  w.Key("fhirVersion");
  w.String("4.0.1");
  w.Key("format");
  w.StartArray();
  w.String("application/fhir+json");
  w.String("json");
  w.EndArray();
  w.Key("patchFormat");
  w.StartArray();
  w.String("application/json-patch+json");
  w.EndArray();
  w.Key("rest");
  w.StartArray();
  w.StartObject();
  w.Key("mode");
  w.String("server");
  w.Key("resource");
  w.StartArray();
  for (const auto& type : model.resource_types()) {
    const fhir::TypeDef* def = model.FindType(type);
    if (def == nullptr || def->is_abstract) continue;
    w.StartObject();
    w.Key("type");
    w.String(type.c_str());
    w.Key("interaction");
    w.StartArray();
    for (const char* i : {"read", "vread", "update", "patch", "delete", "history-instance",
                          "history-type", "create", "search-type"}) {
      w.StartObject();
      w.Key("code");
      w.String(i);
      w.EndObject();
    }
    w.EndArray();
    w.Key("versioning");
    w.String("versioned-update");
    w.Key("readHistory");
    w.Bool(true);
    w.Key("updateCreate");
    w.Bool(true);
    w.Key("conditionalCreate");
    w.Bool(true);
    w.Key("conditionalRead");
    w.String("not-supported");
    w.Key("conditionalUpdate");
    w.Bool(true);
    w.Key("conditionalDelete");
    w.String("multiple");
    w.Key("searchInclude");
    w.StartArray();
    w.String("*");
    auto params = model.SearchParams(type);
    for (const auto* p : params) {
      if (p->type == fhir::SearchParamType::kReference) w.String((type + ":" + p->code).c_str());
    }
    w.EndArray();
    w.Key("searchParam");
    w.StartArray();
    for (const char* special : {"_id", "_lastUpdated"}) {
      w.StartObject();
      w.Key("name");
      w.String(special);
      w.Key("definition");
      w.String(
          (std::string("http://hl7.org/fhir/SearchParameter/Resource-") + (special + 1)).c_str());
      w.Key("type");
      w.String(special[1] == 'i' ? "token" : "date");
      w.EndObject();
    }
    for (const auto* p : params) {
      if ((p->type == fhir::SearchParamType::kComposite &&
           !fhir::IsSupportedComposite(model, *p)) ||
          p->type == fhir::SearchParamType::kSpecial || p->expression.empty() || p->code == "_id" ||
          p->code == "_lastUpdated") {
        continue;
      }
      w.StartObject();
      w.Key("name");
      w.String(p->code.c_str());
      w.Key("definition");
      w.String(p->url.c_str());
      w.Key("type");
      w.String(std::string(fhir::SearchParamTypeName(p->type)).c_str());
      w.EndObject();
    }
    w.EndArray();
    if (bulk && (type == "Patient" || type == "Group")) {
      w.Key("operation");
      w.StartArray();
      w.StartObject();
      w.Key("name");
      w.String("export");
      w.Key("definition");
      w.String(type == "Patient" ? kPatientExportDefinition : kGroupExportDefinition);
      w.EndObject();
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("interaction");
  w.StartArray();
  for (const char* i : {"transaction", "batch", "history-system"}) {
    w.StartObject();
    w.Key("code");
    w.String(i);
    w.EndObject();
  }
  w.EndArray();
  w.Key("operation");
  w.StartArray();
  w.StartObject();
  w.Key("name");
  w.String("everything");
  w.Key("definition");
  w.String("http://hl7.org/fhir/OperationDefinition/Patient-everything");
  w.EndObject();
  if (bulk) {
    w.StartObject();
    w.Key("name");
    w.String("export");
    w.Key("definition");
    w.String(kExportDefinition);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

FhirApi::FhirApi(Engine& engine, ApiOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}
FhirApi::~FhirApi() = default;

http::Response FhirApi::ErrorResponse(int status, std::string_view message) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", std::string(kFhirJson));
  const char* code = status == 413 || status == 431 ? "too-costly"
                     : status == 429                ? "throttled"
                     : status >= 500                ? "exception"
                                                    : "structure";
  r.body = fhir::OutcomeJson(status >= 500 ? "fatal" : "error", code, message);
  return r;
}

bool FhirApi::RunsInline(const http::Request& req) {
  // GET /fhir/Type/id: a bounded point read on this thread's connection.
  if (req.method != "GET" || !req.query.empty()) return false;
  auto parts = SplitPath(req.path);
  return parts.size() == 3 && parts[0] == "fhir" && parts[1].find('$') == std::string_view::npos &&
         parts[2].find('$') == std::string_view::npos && parts[2] != "_history" &&
         parts[2] != "_search";
}

http::Response FhirApi::Handle(http::Request& req) {
  impl_->requests.fetch_add(1, std::memory_order_relaxed);
  http::Response r;
  bool fhir = req.path == "/fhir" || req.path.rfind("/fhir/", 0) == 0;
  bool metadata = req.path == "/fhir/metadata";
  RequestTrail trail;
  std::optional<auth::Access> who;
  std::optional<ConsentScope> scope;
  if (impl_->options.auth != nullptr && fhir && !metadata) {
    auto access = impl_->options.auth->Authenticate(req, impl_->Base(req));
    if (!access.ok()) {
      r = Impl::Unauthorized(req, access.status());
    } else {
      who = std::move(access).value();
      Status s = Status::Ok();
      if (impl_->options.consent != nullptr) {
        auto request = ConsentRequest(*who, req, SystemClock::Get().NowMicros() / 1000);
        auto snapshot = impl_->options.consent->Current();
        if (!request.ok()) {
          s = request.status();
        } else if (!snapshot.ok()) {
          log::Error("consent: cannot read the Consents: {}", snapshot.status().message());
          s = Status(StatusCode::kUnavailable, "the consent engine is unavailable");
        } else {
          scope.emplace(*impl_->options.consent, std::move(snapshot).value(),
                        std::move(request).value());
        }
      }
      if (!s.ok()) {
        r = Error(s);
      } else {
        AccessGuard guard(impl_->engine, &*who, scope ? &*scope : nullptr, &trail);
        r = impl_->Route(req, guard);
        if (scope && req.method != "GET" && req.method != "HEAD" && r.status < 400) {
          // A write may have withdrawn a Consent that records an app grant: reloading now
          // revokes the grant before this answer goes out (api/app_grants.h).
          if (auto reloaded = impl_->options.consent->Current(); !reloaded.ok()) {
            log::Error("consent: cannot read the Consents: {}", reloaded.status().message());
          }
        }
      }
    }
  } else {
    AccessGuard guard(impl_->engine, nullptr, nullptr, &trail);
    r = impl_->Route(req, guard);
  }
  if (r.status >= 500) impl_->errors.fetch_add(1, std::memory_order_relaxed);
  if (impl_->options.audit != nullptr && fhir && !metadata) {
    impl_->Audit(req, r, who ? &*who : nullptr, scope ? &*scope : nullptr, std::move(trail));
  }
  return r;
}

namespace {

audit::Action AuditAction(const http::Request& req) {
  auto parts = SplitPath(req.path);
  const std::string& m = req.method;
  std::size_t n = parts.size();
  bool history = std::find(parts.begin(), parts.end(), "_history") != parts.end();
  // Bulk export: the kick-off, its status and its files ($export-status/ID, $export-file/...).
  if (std::any_of(parts.begin(), parts.end(),
                  [](std::string_view p) { return p.starts_with("$export"); })) {
    return audit::Action::kExport;
  }
  bool operation = n > 0 && parts.back().starts_with('$');
  if (operation) return audit::Action::kOperation;
  if (m == "GET" || m == "HEAD") {
    if (history) return n == 5 ? audit::Action::kVread : audit::Action::kHistory;
    return n == 3 ? audit::Action::kRead : audit::Action::kSearch;
  }
  if (m == "POST") {
    if (n <= 1) return audit::Action::kTransaction;
    if (parts.back() == "_search") return audit::Action::kSearch;
    return audit::Action::kCreate;
  }
  if (m == "PUT") return audit::Action::kUpdate;
  if (m == "PATCH") return audit::Action::kPatch;
  if (m == "DELETE") return audit::Action::kDelete;
  return audit::Action::kRead;
}

std::string AuditRole(const auth::Access* who) {
  if (who == nullptr) return "anonymous";
  std::string_view u = who->fhir_user;
  if (u.starts_with("Patient/")) return "citizen";
  if (u.starts_with("RelatedPerson/")) return "related-person";
  if (u.starts_with("Practitioner")) return "practitioner";
  for (const auto& r : who->scopes.resources) {
    if (r.context == auth::ScopeContext::kSystem) return "system";
  }
  return "user";
}

// The caller's correlation id when it is a short token of safe characters, else a new one.
std::string CorrelationId(const http::Request& req) {
  std::string_view given = req.headers.Get("X-Request-Id");
  bool ok =
      !given.empty() && given.size() <= 64 && std::all_of(given.begin(), given.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
  return ok ? std::string(given) : NewUuid();
}

}  // namespace

void FhirApi::Impl::Audit(const http::Request& req, http::Response& r, const auth::Access* who,
                          const ConsentScope* scope, RequestTrail trail) {
  audit::Record rec;
  rec.time_us = SystemClock::Get().NowMicros();
  if (who != nullptr) {
    rec.actor.user_id = who->fhir_user.empty() ? who->subject : who->fhir_user;
    rec.actor.client_id = who->client_id;
  }
  rec.actor.role = AuditRole(who);
  rec.action = AuditAction(req);
  rec.outcome = r.status;
  rec.patient_ids.assign(trail.patients.begin(), trail.patients.end());
  rec.resources = std::move(trail.resources);
  rec.query = req.query;
  if (rec.action == audit::Action::kExport && rec.query.empty() && req.path.size() > 6) {
    // Which job's status or which file: the operation's path below the base.
    rec.query = req.path.substr(6);
  }
  if (scope != nullptr) {
    rec.purpose = scope->request().purpose;
    rec.consent_basis.assign(scope->basis().begin(), scope->basis().end());
    // The stated reason, marked when the override actually opened something a Consent or the
    // base policy closed (the purpose ETREAT marks every emergency request).
    const std::string& reason = scope->request().break_glass_reason;
    if (!reason.empty()) {
      rec.detail =
          (scope->break_glass_used() ? "break-the-glass override: " : "emergency: ") + reason;
    }
  }
  rec.source = req.remote_address;
  rec.correlation_id = CorrelationId(req);
  r.headers.Set("X-Request-Id", rec.correlation_id);
  r.before_send = audit::AppendStep(*options.audit, std::move(rec));
}

namespace {

std::optional<std::int64_t> ParseCount(std::string_view v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  std::int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

std::string_view Param(const QueryParams& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace

http::Response FhirApi::Impl::AuditProofs(const http::Request& req,
                                          const std::vector<std::string_view>& parts) {
  if (req.method != "GET" && req.method != "HEAD") {
    return Error(Status(StatusCode::kMethodNotAllowed, "the audit endpoints are GET only"));
  }
  QueryParams params = http::ParseQuery(req.query);
  auto number = [&](std::string_view name) -> Result<std::int64_t> {
    auto n = ParseCount(Param(params, name));
    if (!n) return InvalidArgument(std::string(name) + " must be a non-negative integer");
    return *n;
  };
  auto json = [](std::string body) {
    http::Response r;
    r.headers.Set("Content-Type", "application/json");
    r.body = std::move(body);
    return r;
  };
  audit::AuditLog& log = *options.audit;
  std::string_view what = parts.size() >= 2 ? parts[1] : "";
  if (parts.size() == 2 && what == "key") return json(log.PublicJwk());
  if (parts.size() == 2 && what == "checkpoints") {
    auto cps = log.Checkpoints();
    if (!cps.ok()) return Error(cps.status());
    std::string out = "{\"size\":" + std::to_string(log.Size()) + ",\"checkpoints\":[";
    for (std::size_t i = 0; i < cps->size(); ++i) {
      out += (i ? "," : "") + audit::CheckpointJson((*cps)[i]);
    }
    return json(out + "]}");
  }
  if (parts.size() == 3 && what == "proof" && parts[2] == "inclusion") {
    auto seq = number("seq");
    auto size = number("tree_size");
    if (!seq.ok()) return Error(seq.status());
    if (!size.ok()) return Error(size.status());
    auto p = log.InclusionProof(*seq, *size);
    if (!p.ok()) return Error(p.status());
    return json(audit::InclusionJson(*p));
  }
  if (parts.size() == 3 && what == "proof" && parts[2] == "consistency") {
    auto size1 = number("size1");
    auto size2 = number("size2");
    if (!size1.ok()) return Error(size1.status());
    if (!size2.ok()) return Error(size2.status());
    auto p = log.ConsistencyProof(*size1, *size2);
    if (!p.ok()) return Error(p.status());
    return json(audit::ConsistencyJson(*p));
  }
  return Error(
      NotFound("no such audit path: /audit/key, /audit/checkpoints, "
               "/audit/proof/inclusion, /audit/proof/consistency"));
}

http::Response FhirApi::Impl::AuditEvents(const http::Request& req, const QueryParams& params,
                                          const AccessGuard& guard) {
  std::string patient;
  int count = 50;
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  for (const auto& [k, v] : params) {
    if (k == "patient") {
      patient = v.starts_with("Patient/") ? v.substr(8) : v;
    } else if (k == "_count") {
      auto n = ParseCount(v);
      if (!n || *n < 1) return Error(InvalidArgument("_count must be >= 1"));
      count = static_cast<int>(std::min<std::int64_t>(*n, 500));
    } else if (k == "_before") {
      auto n = ParseCount(v);
      if (!n) return Error(InvalidArgument("_before must be a record number"));
      before = *n;
    } else if (k != "_format") {
      return Error(Status(StatusCode::kNotImplemented,
                          "AuditEvent searches take patient, _count and _before only"));
    }
  }
  if (patient.empty() || !fhir::IsValidId(patient)) {
    return Error(InvalidArgument("AuditEvent searches need patient=Patient/ID"));
  }
  // A patient (or their app) reads their own log; an auditor needs system/AuditEvent.rs.
  auto r = guard.Check("AuditEvent", auth::kSearch);
  if (!r.ok()) return Error(r.status());
  bool own = !r->patient.empty() && r->patient == patient;
  if (!own && !guard.SystemGrants("AuditEvent", auth::kSearch)) {
    return Error(Status(StatusCode::kPermissionDenied,
                        "the audit log of a patient is for the patient and for auditors"));
  }
  if (RequestTrail* t = guard.trail()) t->patients.insert(patient);
  auto records = options.audit->RecordsForPatient(patient, count + 1, before);
  if (!records.ok()) return Error(records.status());
  std::string base = Base(req);
  std::string self = base + "/AuditEvent?patient=" + http::PercentEncode(patient) +
                     "&_count=" + std::to_string(count);
  std::string next;
  if (static_cast<int>(records->size()) > count) {
    records->resize(count);
    next = self + "&_before=" + std::to_string(records->back().seq);
  }
  if (before != std::numeric_limits<std::int64_t>::max()) {
    self += "&_before=" + std::to_string(before);
  }
  return Json(200, audit::AuditEventBundleJson(*records, base, self, next));
}

http::Response FhirApi::Impl::BulkData(const http::Request& req,
                                       const std::vector<std::string_view>& parts,
                                       const AccessGuard& guard) {
  if (options.bulk_export == nullptr) {
    return Error(Status(StatusCode::kNotImplemented, "bulk export is not configured"));
  }
  BulkExport& bulk = *options.bulk_export;
  std::size_t n = parts.size();
  std::string_view what = parts[1];
  std::string base = Base(req);
  if (n == 2 && what == "$export") return bulk.KickOff(req, ExportLevel::kSystem, "", base, guard);
  if (n == 3 && what == "Patient") return bulk.KickOff(req, ExportLevel::kPatient, "", base, guard);
  if (n == 4 && what == "Group") {
    return bulk.KickOff(req, ExportLevel::kGroup, parts[2], base, guard);
  }
  if (n == 3 && what == "$export-status") return bulk.StatusRequest(req, parts[2], base, guard);
  if (n == 4 && what == "$export-file") return bulk.Download(req, parts[2], parts[3], guard);
  return Error(NotFound("no such path"));
}

http::Response FhirApi::Impl::Metrics() {
  std::string body;
  body += "# HELP sund_build_info The running version of Sund.\n# TYPE sund_build_info gauge\n";
  body += "sund_build_info{version=\"" + options.software_version + "\"} 1\n";
  body += "# HELP sund_http_requests_total FHIR API requests handled.\n";
  body += "# TYPE sund_http_requests_total counter\n";
  body += "sund_http_requests_total " + std::to_string(requests.load()) + "\n";
  body += "# HELP sund_http_errors_total FHIR API requests answered with 5xx.\n";
  body += "# TYPE sund_http_errors_total counter\n";
  body += "sund_http_errors_total " + std::to_string(errors.load()) + "\n";
  auto counts = engine.store().CountByType();
  if (counts.ok()) {
    body += "# HELP sund_resources Current resources per type.\n# TYPE sund_resources gauge\n";
    for (const auto& [type, n] : *counts) {
      body += "sund_resources{type=\"" + type + "\"} " + std::to_string(n) + "\n";
    }
  }
  if (options.extra_metrics) body += options.extra_metrics();
  http::Response r;
  r.headers.Set("Content-Type", "text/plain; version=0.0.4");
  r.body = std::move(body);
  return r;
}

namespace {

// The catalogue of what Route answers (FhirApi::Endpoints), by pattern: {type} is any resource
// type of the model and {id} a resource id. Route dispatches on the path's shape rather than
// on this table, so a new branch there needs its entry here (and a row in the access matrix,
// tests/e2e/access-matrix.json). /healthz, /readyz and /metrics answer every method; GET is
// the one listed.
constexpr http::Endpoint kEndpoints[] = {
    {"GET", "/healthz", "ops"},
    {"GET", "/readyz", "ops"},
    {"GET", "/metrics", "ops"},
    // The audit log's public proofs (audit/log.h), and a patient's records as AuditEvents.
    {"GET", "/audit/key", "audit"},
    {"GET", "/audit/checkpoints", "audit"},
    {"GET", "/audit/proof/inclusion", "audit"},
    {"GET", "/audit/proof/consistency", "audit"},
    {"GET", "/fhir/AuditEvent", "audit"},
    // FHIR R4 interactions (http.html).
    {"GET", "/fhir/metadata", "fhir"},
    {"GET", "/fhir", "fhir"},
    {"POST", "/fhir", "fhir"},
    {"POST", "/fhir/_search", "fhir"},
    {"GET", "/fhir/_history", "fhir"},
    {"GET", "/fhir/{type}", "fhir"},
    {"POST", "/fhir/{type}", "fhir"},
    {"PUT", "/fhir/{type}", "fhir"},
    {"DELETE", "/fhir/{type}", "fhir"},
    {"POST", "/fhir/{type}/_search", "fhir"},
    {"GET", "/fhir/{type}/_history", "fhir"},
    {"GET", "/fhir/{type}/{id}", "fhir"},
    {"HEAD", "/fhir/{type}/{id}", "fhir"},
    {"PUT", "/fhir/{type}/{id}", "fhir"},
    {"PATCH", "/fhir/{type}/{id}", "fhir"},
    {"DELETE", "/fhir/{type}/{id}", "fhir"},
    {"GET", "/fhir/{type}/{id}/_history", "fhir"},
    {"GET", "/fhir/{type}/{id}/_history/{vid}", "fhir"},
    // Operations.
    {"GET", "/fhir/Patient/{id}/$everything", "operation"},
    {"POST", "/fhir/Patient/{id}/$everything", "operation"},
    // Bulk Data (api/bulk_export.h).
    {"GET", "/fhir/$export", "export"},
    {"POST", "/fhir/$export", "export"},
    {"GET", "/fhir/Patient/$export", "export"},
    {"POST", "/fhir/Patient/$export", "export"},
    {"GET", "/fhir/Group/{id}/$export", "export"},
    {"POST", "/fhir/Group/{id}/$export", "export"},
    {"GET", "/fhir/$export-status/{job}", "export"},
    {"DELETE", "/fhir/$export-status/{job}", "export"},
    {"GET", "/fhir/$export-file/{job}/{name}", "export"},
};

}  // namespace

std::span<const http::Endpoint> FhirApi::Endpoints() { return kEndpoints; }

http::Response FhirApi::Impl::Route(http::Request& req, const AccessGuard& guard) {
  auto parts = SplitPath(req.path);
  if (parts.size() == 1 && (parts[0] == "healthz" || parts[0] == "readyz")) {
    http::Response r;
    r.headers.Set("Content-Type", "text/plain");
    r.body = "ok\n";
    return r;
  }
  if (parts.size() == 1 && parts[0] == "metrics") return Metrics();
  if (!parts.empty() && parts[0] == "audit" && options.audit != nullptr) {
    return AuditProofs(req, parts);
  }
  if (parts.empty() || parts[0] != "fhir") {
    return Error(NotFound("no such path; the FHIR API is at /fhir"));
  }
  QueryParams params = http::ParseQuery(req.query);
  // Format negotiation: JSON only.
  for (const auto& [k, v] : params) {
    if (k == "_format" && (http::ContainsIgnoreCase(v, "xml") ||
                           !(http::ContainsIgnoreCase(v, "json") || v.empty()))) {
      return Error(Status(StatusCode::kUnsupportedMedia, "only JSON is supported (_format=json)"));
    }
  }
  std::string_view accept = req.headers.Get("Accept");
  if (http::ContainsIgnoreCase(accept, "xml") && !http::ContainsIgnoreCase(accept, "json") &&
      !http::ContainsIgnoreCase(accept, "*/*")) {
    return Error(Status(StatusCode::kUnsupportedMedia, "only JSON is supported (Accept)"));
  }
  const std::string& m = req.method;
  bool has_body = m == "POST" || m == "PUT" || m == "PATCH";
  std::string_view ctype = req.headers.Get("Content-Type");
  if (has_body && http::ContainsIgnoreCase(ctype, "xml")) {
    return Error(Status(StatusCode::kUnsupportedMedia, "only JSON is supported (Content-Type)"));
  }
  const auto& model = fhir::Model::R4();
  std::size_t n = parts.size();

  if (n == 1) {
    if (m == "POST") {
      auto doc = fhir::ParseJson(req.body);
      if (!doc.ok()) return Error(doc.status());
      auto out = engine.ProcessBundle(
          std::move(doc).value(), Base(req),
          guard.unrestricted() ? Engine::EntryGuard() : [&guard](const Engine::EntryView& e) {
            return guard.CheckEntry(e);
          });
      if (!out.ok()) return Error(out.status());
      return Json(200, std::move(out).value());
    }
    if (m == "GET") return Search(req, "", std::move(params), guard);
    return Error(Status(StatusCode::kMethodNotAllowed, "method not allowed on the base"));
  }
  std::string_view type = parts[1];
  if (n == 2 && type == "metadata") {
    if (m != "GET") return Error(Status(StatusCode::kMethodNotAllowed, "metadata is GET only"));
    if (options.auth == nullptr) return Json(200, capability);
    // The SMART security extension names this origin's OAuth endpoints.
    std::string base = Base(req);
    std::string with_security = capability;
    std::size_t at = with_security.find("\"mode\":\"server\"");
    if (at != std::string::npos) {
      with_security.insert(
          at, "\"security\":" + options.auth->CapabilitySecurity(base.substr(0, base.size() - 5)) +
                  ",");
    }
    return Json(200, std::move(with_security));
  }
  if (n == 2 && type == "_history") {
    if (m != "GET") return Error(Status(StatusCode::kMethodNotAllowed, "history is GET only"));
    return History(req, "", "", params, guard);
  }
  if (n == 2 && type == "_search" && m == "POST") {
    if (Status s = CheckSearchForm(ctype); !s.ok()) return Error(s);
    QueryParams form = http::ParseQuery(req.body);
    form.insert(form.end(), params.begin(), params.end());
    return Search(req, "", std::move(form), guard);
  }
  if (type.starts_with("$export") || (n == 3 && type == "Patient" && parts[2] == "$export") ||
      (n == 4 && type == "Group" && parts[3] == "$export")) {
    return BulkData(req, parts, guard);
  }
  if (!model.IsResourceType(type)) {
    return Error(NotFound("unknown resource type '" + std::string(type) + "'"));
  }
  if (n == 2) {
    if (m == "GET") return Search(req, type, std::move(params), guard);
    if (m == "POST") {
      auto doc = fhir::ParseResource(req.body);
      if (!doc.ok()) return Error(doc.status());
      if (Status s = ValidateContent(type, *doc); !s.ok()) return Error(s);
      if (Status s = guard.CheckWrite(type, "", auth::kCreate, &*doc,
                                      !req.headers.Get("If-None-Exist").empty());
          !s.ok()) {
        return Error(s);
      }
      auto r = engine.Create(type, std::move(doc).value(), req.headers.Get("If-None-Exist"));
      return WriteResponse(req, r, 201, guard.trail());
    }
    if (m == "PUT") {
      if (params.empty()) return Error(InvalidArgument("PUT on a type needs search criteria"));
      auto doc = fhir::ParseResource(req.body);
      if (!doc.ok()) return Error(doc.status());
      if (Status s = ValidateContent(type, *doc); !s.ok()) return Error(s);
      if (Status s = guard.CheckWrite(type, "", auth::kUpdate, &*doc, true); !s.ok()) {
        return Error(s);
      }
      bool bad = false;
      auto if_match = ParseIfMatch(req.headers.Get("If-Match"), bad);
      if (bad) return Error(InvalidArgument("malformed If-Match"));
      auto r = engine.ConditionalUpdate(type, params, std::move(doc).value(), if_match);
      return WriteResponse(req, r, 201, guard.trail());
    }
    if (m == "DELETE") {
      if (params.empty()) return Error(InvalidArgument("DELETE on a type needs search criteria"));
      if (Status s = guard.CheckWrite(type, "", auth::kDelete, nullptr, true); !s.ok()) {
        return Error(s);
      }
      auto r = engine.ConditionalDelete(type, params);
      if (!r.ok()) return Error(r.status());
      http::Response resp;
      resp.status = 204;
      return resp;
    }
    return Error(Status(StatusCode::kMethodNotAllowed, "method not allowed on a type"));
  }
  std::string_view id = parts[2];
  if (n == 3 && id == "_search") {
    if (m != "POST") return Error(Status(StatusCode::kMethodNotAllowed, "_search is POST only"));
    if (Status s = CheckSearchForm(ctype); !s.ok()) return Error(s);
    QueryParams form = http::ParseQuery(req.body);
    form.insert(form.end(), params.begin(), params.end());
    return Search(req, type, std::move(form), guard);
  }
  if (n == 3 && id == "_history") {
    if (m != "GET") return Error(Status(StatusCode::kMethodNotAllowed, "history is GET only"));
    return History(req, type, "", params, guard);
  }
  if (n == 4 && type == "Patient" && parts[3] == "$everything") {
    if (m != "GET" && m != "POST") {
      return Error(Status(StatusCode::kMethodNotAllowed, "$everything is GET or POST"));
    }
    return Everything(req, id, guard);
  }
  if (!fhir::IsValidId(id)) return Error(InvalidArgument("invalid id '" + std::string(id) + "'"));
  if (n == 3) {
    bool bad = false;
    auto if_match = ParseIfMatch(req.headers.Get("If-Match"), bad);
    if (bad) return Error(InvalidArgument("malformed If-Match"));
    if (m == "GET" || m == "HEAD") return Read(req, type, id, params, guard);
    if (m == "PUT") {
      auto doc = fhir::ParseResource(req.body);
      if (!doc.ok()) return Error(doc.status());
      if (Status s = ValidateContent(type, *doc); !s.ok()) return Error(s);
      if (Status s = guard.CheckWrite(type, id, auth::kUpdate, &*doc, false); !s.ok()) {
        return Error(s);
      }
      auto r = engine.Update(type, id, std::move(doc).value(), if_match);
      return WriteResponse(req, r, 201, guard.trail());
    }
    if (m == "PATCH") {
      if (!http::ContainsIgnoreCase(ctype, "json-patch+json")) {
        return Error(
            Status(StatusCode::kUnsupportedMedia, "PATCH takes application/json-patch+json"));
      }
      auto doc = fhir::ParseJson(req.body);
      if (!doc.ok()) return Error(doc.status());
      if (!guard.unrestricted()) {
        // Check the patched content as a whole: a patch must not move data to another patient.
        const rapidjson::Value* content = nullptr;
        rapidjson::Document patched;
        if (auto cur = engine.Read(type, id); cur.ok()) {
          auto parsed = fhir::ParseJson(cur->json);
          if (parsed.ok() && fhir::ApplyJsonPatch(*doc, *parsed).ok()) {
            patched = std::move(parsed).value();
            content = &patched;
          }
        }
        if (Status s = guard.CheckWrite(type, id, auth::kUpdate, content, false); !s.ok()) {
          return Error(s);
        }
      }
      auto r = engine.Patch(type, id, *doc, if_match);
      return WriteResponse(req, r, 200, guard.trail());
    }
    if (m == "DELETE") {
      if (Status s = guard.CheckWrite(type, id, auth::kDelete, nullptr, false); !s.ok()) {
        return Error(s);
      }
      auto r = engine.Delete(type, id, if_match);
      if (!r.ok()) return Error(r.status());
      if (RequestTrail* t = guard.trail())
        t->AddResource(std::string(type) + "/" + std::string(id));
      http::Response resp;
      resp.status = 204;
      if (r->version.version > 0 && !r->unchanged) {
        resp.headers.Set("ETag", "W/\"" + std::to_string(r->version.version) + "\"");
      }
      return resp;
    }
    return Error(Status(StatusCode::kMethodNotAllowed, "method not allowed on an instance"));
  }
  if (parts[3] == "_history") {
    if (m != "GET") return Error(Status(StatusCode::kMethodNotAllowed, "history is GET only"));
    if (n == 4) return History(req, type, id, params, guard);
    if (n == 5) return VRead(req, type, id, parts[4], guard);
  }
  return Error(NotFound("no such path"));
}

// Reads under a restriction: a resource outside it is answered as unknown (404), so that its
// existence is not revealed.
static Status CheckVisible(const AccessGuard& guard, std::string_view type, std::string_view id,
                           auth::Perm p) {
  SUND_ASSIGN_OR_RETURN(Restriction r, guard.Check(type, p));
  if (r.none()) return Status::Ok();
  SUND_ASSIGN_OR_RETURN(bool visible, guard.Visible(type, id, r));
  if (!visible) return NotFound(std::string(type) + "/" + std::string(id) + " is not known");
  return Status::Ok();
}

http::Response FhirApi::Impl::Read(const http::Request& req, std::string_view type,
                                   std::string_view id, const QueryParams& params,
                                   const AccessGuard& guard) {
  auto restriction = guard.Check(type, auth::kRead);
  if (!restriction.ok()) return Error(restriction.status());
  Result<storage::ResourceVersion> r = Status(StatusCode::kInternal, "not read");
  if (!restriction->patient.empty() && restriction->queries.empty()) {
    // Patient context: the compartment check is part of the read's own query.
    if (!fhir::IsValidId(id)) return Error(InvalidArgument("invalid id"));
    r = engine.store().ReadInPatientCompartment(type, id, restriction->patient);
  } else {
    if (Status s = CheckVisible(guard, type, id, auth::kRead); !s.ok()) return Error(s);
    r = engine.Read(type, id);
  }
  if (!r.ok()) return Error(r.status());
  if (Status s = guard.CheckContent(type, id, r->json); !s.ok()) return Error(s);
  if (RequestTrail* t = guard.trail()) {
    t->AddResource(std::string(type) + "/" + std::string(id) + "/_history/" +
                   std::to_string(r->version));
    t->AddPatientsOf(type, id, r->json);
  }
  std::string etag = "W/\"" + std::to_string(r->version) + "\"";
  std::string_view inm = req.headers.Get("If-None-Match");
  if (!inm.empty() && inm == etag) {
    http::Response resp;
    resp.status = 304;
    resp.headers.Set("ETag", etag);
    return resp;
  }
  fhir::SummaryMode summary = fhir::SummaryMode::kNone;
  std::vector<std::string> elements;
  for (const auto& [k, v] : params) {
    if (k == "_summary") {
      if (v == "true")
        summary = fhir::SummaryMode::kTrue;
      else if (v == "data")
        summary = fhir::SummaryMode::kData;
      else if (v == "text")
        summary = fhir::SummaryMode::kText;
    } else if (k == "_elements") {
      std::size_t start = 0;
      while (start <= v.size()) {
        std::size_t c = v.find(',', start);
        std::string e = v.substr(start, c == std::string::npos ? std::string::npos : c - start);
        if (!e.empty()) elements.push_back(e);
        if (c == std::string::npos) break;
        start = c + 1;
      }
    }
  }
  http::Response resp;
  resp.headers.Set("Content-Type", std::string(kFhirJson));
  resp.headers.Set("ETag", etag);
  resp.headers.Set("Last-Modified", FormatHttpDate(r->last_updated_us));
  resp.body = (summary == fhir::SummaryMode::kNone && elements.empty())
                  ? std::move(r->json)
                  : fhir::SubsetResource(r->json, summary, elements);
  return resp;
}

http::Response FhirApi::Impl::VRead(const http::Request& req, std::string_view type,
                                    std::string_view id, std::string_view vid,
                                    const AccessGuard& guard) {
  if (Status s = CheckVisible(guard, type, id, auth::kRead); !s.ok()) return Error(s);
  auto r = engine.VRead(type, id, vid);
  if (!r.ok()) return Error(r.status());
  if (Status s = guard.CheckContent(type, id, r->json); !s.ok()) return Error(s);
  if (RequestTrail* t = guard.trail()) {
    t->AddResource(std::string(type) + "/" + std::string(id) + "/_history/" +
                   std::to_string(r->version));
    t->AddPatientsOf(type, id, r->json);
  }
  http::Response resp;
  resp.headers.Set("Content-Type", std::string(kFhirJson));
  resp.headers.Set("ETag", "W/\"" + std::to_string(r->version) + "\"");
  resp.headers.Set("Last-Modified", FormatHttpDate(r->last_updated_us));
  resp.body = std::move(r->json);
  (void)req;
  return resp;
}

http::Response FhirApi::Impl::WriteResponse(const http::Request& req, const Result<WriteResult>& r,
                                            int created_status, RequestTrail* trail) {
  if (!r.ok()) return Error(r.status());
  const auto& v = r->version;
  if (trail != nullptr) {
    trail->AddResource(v.type + "/" + v.id + "/_history/" + std::to_string(v.version));
    trail->AddPatientsOf(v.type, v.id, v.json);
  }
  http::Response resp;
  resp.status = r->created ? created_status : 200;
  std::string location =
      Base(req) + "/" + v.type + "/" + v.id + "/_history/" + std::to_string(v.version);
  resp.headers.Set("ETag", "W/\"" + std::to_string(v.version) + "\"");
  resp.headers.Set("Last-Modified", FormatHttpDate(v.last_updated_us));
  resp.headers.Set("Location", location);
  if (r->created) resp.headers.Set("Content-Location", location);
  std::string_view prefer = req.headers.Get("Prefer");
  if (http::ContainsIgnoreCase(prefer, "return=minimal")) return resp;
  resp.headers.Set("Content-Type", std::string(kFhirJson));
  if (http::ContainsIgnoreCase(prefer, "return=OperationOutcome")) {
    resp.body = fhir::OutcomeJson(
        "information", "informational",
        (r->created ? "created " : (r->unchanged ? "matched existing " : "updated ")) + v.type +
            "/" + v.id + " version " + std::to_string(v.version));
    return resp;
  }
  resp.body = v.json;
  return resp;
}

http::Response FhirApi::Impl::Search(const http::Request& req, std::string_view type,
                                     QueryParams params, const AccessGuard& guard) {
  bool strict = http::ContainsIgnoreCase(req.headers.Get("Prefer"), "handling=strict");
  // System-level search with _type narrows to one type when only one is given.
  std::string search_type(type);
  for (auto it = params.begin(); it != params.end();) {
    if (type.empty() && it->first == "_type") {
      if (it->second.find(',') != std::string::npos ||
          !fhir::Model::R4().IsResourceType(it->second)) {
        return Error(Status(StatusCode::kNotImplemented, "_type takes one resource type"));
      }
      search_type = it->second;
      it = params.erase(it);
    } else {
      ++it;
    }
  }
  if (search_type == "AuditEvent" && options.audit != nullptr) {
    return AuditEvents(req, params, guard);
  }
  auto q = engine.ParseSearch(search_type, params, strict);
  if (!q.ok()) return Error(q.status());
  auto restriction = guard.Check(search_type.empty() ? "*" : search_type, auth::kSearch);
  if (!restriction.ok()) return Error(restriction.status());
  if (Status s = guard.Apply(*restriction, search_type, *q); !s.ok()) return Error(s);
  auto page = guard.Search(*q);
  if (!page.ok()) return Error(page.status());
  guard.FilterIncludes(page->includes, q->compartment_patient);
  if (RequestTrail* t = guard.trail()) {
    for (const auto* hits : {&page->matches, &page->includes}) {
      for (const auto& h : *hits) t->AddPatientsOf(h.type, h.id, h.json);
    }
  }
  std::string base = Base(req);
  // Links: self and next carry the parsed parameters (minus paging), next moves the offset.
  std::string self_query;
  for (const auto& [k, v] : params) {
    if (k == "_offset" || k == "_getpagesoffset" || k == "_format" || k == "_cursor") continue;
    if (!self_query.empty()) self_query += '&';
    self_query += http::PercentEncode(k) + "=" + http::PercentEncode(v);
  }
  std::string path = base + (search_type.empty() ? "" : "/" + search_type);
  // Without _sort, pages are keyset pages (_cursor: after a position in the default order),
  // stable under concurrent writes and as fast at any depth; with _sort, offsets.
  bool keyset = q->sort.empty() && q->offset == 0;
  auto link = [&](std::int64_t position) {
    std::string u = path;
    if (!self_query.empty()) u += "?" + self_query;
    if (position > 0) {
      u += (self_query.empty() ? "?" : "&") + std::string(keyset ? "_cursor=" : "_offset=") +
           std::to_string(position);
    }
    return u;
  };
  std::string out;
  out.reserve(1024 + page->matches.size() * 2048);
  out += "{\"resourceType\":\"Bundle\",\"id\":\"" + NewUuid() + "\",\"meta\":{\"lastUpdated\":\"" +
         FormatInstant(SystemClock::Get().NowMicros()) + "\"},\"type\":\"searchset\"";
  if (page->total) out += ",\"total\":" + std::to_string(*page->total);
  out += ",\"link\":[{\"relation\":\"self\",\"url\":";
  AppendEscaped(out, link(keyset ? q->cursor : q->offset));
  out += "}";
  if (page->has_more && q->count > 0) {
    out += ",{\"relation\":\"next\",\"url\":";
    AppendEscaped(out, link(keyset ? page->next_cursor : q->offset + q->count));
    out += "}";
  }
  if (keyset && page->prev_cursor) {
    out += ",{\"relation\":\"previous\",\"url\":";
    AppendEscaped(out, link(*page->prev_cursor));
    out += "}";
  }
  if (!keyset && q->offset > 0) {
    out += ",{\"relation\":\"previous\",\"url\":";
    AppendEscaped(out, link(std::max<std::int64_t>(0, q->offset - q->count)));
    out += "}";
  }
  out += "]";
  bool subset = !q->elements.empty() || q->summary == fhir::SummaryMode::kTrue ||
                q->summary == fhir::SummaryMode::kData || q->summary == fhir::SummaryMode::kText;
  auto add_entries = [&](const std::vector<storage::SearchHit>& hits, const char* mode,
                         bool& first) {
    for (const auto& h : hits) {
      out += first ? "" : ",";
      first = false;
      out += "{\"fullUrl\":";
      AppendEscaped(out, base + "/" + h.type + "/" + h.id);
      out += ",\"resource\":";
      if (subset) {
        out += fhir::SubsetResource(h.json, q->summary, q->elements);
      } else {
        out += h.json;
      }
      out += ",\"search\":{\"mode\":\"";
      out += mode;
      out += "\"}}";
    }
  };
  if (q->summary != fhir::SummaryMode::kCount) {
    out += ",\"entry\":[";
    bool first = true;
    add_entries(page->matches, "match", first);
    add_entries(page->includes, "include", first);
    if (!q->unknown_params.empty()) {
      std::string msg = "ignored unknown search parameters:";
      for (const auto& p : q->unknown_params) msg += " " + p;
      out += first ? "" : ",";
      out += "{\"resource\":" + fhir::OutcomeJson("warning", "not-supported", msg) +
             ",\"search\":{\"mode\":\"outcome\"}}";
    }
    out += "]";
  }
  out += "}";
  return Json(200, std::move(out));
}

http::Response FhirApi::Impl::History(const http::Request& req, std::string_view type,
                                      std::string_view id, const QueryParams& params,
                                      const AccessGuard& guard) {
  if (!id.empty()) {
    if (Status s = CheckVisible(guard, type, id, auth::kRead); !s.ok()) return Error(s);
  } else {
    auto r = guard.Check(type.empty() ? "*" : type, auth::kSearch);
    if (!r.ok()) return Error(r.status());
    if (!r->queries.empty()) {
      return Error(
          Status(StatusCode::kPermissionDenied, "history is not available under granular scopes"));
    }
  }
  storage::HistoryQuery hq;
  hq.type = std::string(type);
  hq.id = std::string(id);
  hq.count = engine.options().limits.default_count;
  std::string since_text, at_text;  // as given, for the next link
  for (const auto& [k, v] : params) {
    if (k == "_count") {
      char* end = nullptr;
      long c = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || c < 1) return Error(InvalidArgument("_count must be >= 1"));
      hq.count = static_cast<int>(std::min<long>(c, engine.options().limits.max_count));
    } else if (k == "_since" || k == "_at") {
      auto d = ParseFhirDate(v);
      if (!d.ok()) return Error(InvalidArgument(k + " must be a FHIR instant"));
      // _at: the end of the given period, including every microsecond of its last millisecond.
      if (k == "_since") {
        hq.since_us = d->lo_ms * 1000;
        since_text = v;
      } else {
        hq.at_us = d->hi_ms * 1000 + 999;
        at_text = v;
      }
    } else if (k == "_page") {
      char* end = nullptr;
      long long c = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0') return Error(InvalidArgument("invalid _page"));
      hq.before_vid = c;
    }
  }
  if (!id.empty()) {
    auto cur = engine.store().Read(type, id);
    if (!cur.ok()) return Error(cur.status());
  } else {
    auto r = guard.Check(type.empty() ? "*" : type, auth::kSearch);
    if (r.ok()) hq.compartment_patient = r->patient;
  }
  if (Status s = guard.ApplyConsent(hq); !s.ok()) return Error(s);
  auto page = engine.History(hq);
  if (!page.ok()) return Error(page.status());
  if (!id.empty() && page->versions.empty()) {
    // When a Consent withholds every version of a resource that exists, answer as for an
    // unknown id, so that the history does not tell that the resource exists.
    bool hidden = true;
    if (hq.since_us || hq.at_us || hq.before_vid) {
      storage::HistoryQuery any;
      any.type = hq.type;
      any.id = hq.id;
      any.count = 1;
      if (Status s = guard.ApplyConsent(any); !s.ok()) return Error(s);
      auto some = engine.History(any);
      if (!some.ok()) return Error(some.status());
      hidden = some->versions.empty();
    }
    if (hidden) return Error(NotFound(std::string(type) + "/" + std::string(id) + " is not known"));
  }
  if (RequestTrail* t = guard.trail()) {
    for (const auto& v : page->versions) t->AddPatientsOf(v.type, v.id, v.json);
  }
  std::string base = Base(req);
  std::string path = base;
  if (!type.empty()) path += "/" + std::string(type);
  if (!id.empty()) path += "/" + std::string(id);
  path += "/_history";
  std::string out = "{\"resourceType\":\"Bundle\",\"id\":\"" + NewUuid() +
                    "\",\"type\":\"history\",\"link\":[{\"relation\":\"self\",\"url\":";
  AppendEscaped(out, path + (req.query.empty() ? "" : "?" + req.query));
  out += "}";
  if (page->next_vid) {
    std::string next =
        path + "?_count=" + std::to_string(hq.count) + "&_page=" + std::to_string(*page->next_vid);
    if (hq.since_us) next += "&_since=" + http::PercentEncode(since_text);
    if (hq.at_us) next += "&_at=" + http::PercentEncode(at_text);
    out += ",{\"relation\":\"next\",\"url\":";
    AppendEscaped(out, next);
    out += "}";
  }
  out += "],\"entry\":[";
  bool first = true;
  for (const auto& v : page->versions) {
    out += first ? "" : ",";
    first = false;
    out += "{\"fullUrl\":";
    AppendEscaped(out, base + "/" + v.type + "/" + v.id);
    if (!v.deleted) out += ",\"resource\":" + v.json;
    out += ",\"request\":{\"method\":\"" + v.method + "\",\"url\":\"" + v.type +
           (v.method == "POST" ? "" : "/" + v.id) + "\"}";
    out += ",\"response\":{\"status\":\"" +
           std::string(v.deleted ? "204" : (v.method == "POST" ? "201" : "200")) +
           "\",\"etag\":\"W/\\\"" + std::to_string(v.version) + "\\\"\",\"lastModified\":\"" +
           FormatInstant(v.last_updated_us) + "\"}}";
  }
  out += "]}";
  return Json(200, std::move(out));
}

http::Response FhirApi::Impl::Everything(const http::Request& req, std::string_view id,
                                         const AccessGuard& guard) {
  if (!fhir::IsValidId(id)) return Error(InvalidArgument("invalid id"));
  if (Status s = CheckVisible(guard, "Patient", id, auth::kRead); !s.ok()) return Error(s);
  auto p = engine.Read("Patient", id);
  if (!p.ok()) return Error(p.status());
  if (Status s = guard.CheckContent("Patient", id, p->json); !s.ok()) return Error(s);
  // One more than the limit, so a record that is cut can say so.
  const int limit = std::max(1, options.everything_limit);
  auto hits = engine.store().Everything(id, limit + 1);
  if (!hits.ok()) return Error(hits.status());
  const bool cut = static_cast<int>(hits->size()) > limit;
  if (cut) hits->resize(limit);
  // Not only the compartment: resources that name the patient in other ways (an Observation's
  // focus) and resources the compartment refers to (derivedFrom) come along, so each is checked.
  guard.FilterIncludes(*hits);
  if (RequestTrail* t = guard.trail()) {
    for (const auto& h : *hits) t->AddPatientsOf(h.type, h.id, h.json);
  }
  std::string base = Base(req);
  std::string out = "{\"resourceType\":\"Bundle\",\"id\":\"" + NewUuid() +
                    "\",\"type\":\"searchset\",\"total\":" + std::to_string(hits->size()) +
                    ",\"entry\":[";
  bool first = true;
  for (const auto& h : *hits) {
    out += first ? "" : ",";
    first = false;
    out += "{\"fullUrl\":";
    AppendEscaped(out, base + "/" + h.type + "/" + h.id);
    out += ",\"resource\":" + h.json + ",\"search\":{\"mode\":\"match\"}}";
  }
  if (cut) {
    // Not paged: the client is told that the record goes on beyond these entries.
    out += first ? "" : ",";
    out +=
        "{\"resource\":{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":"
        "\"warning\",\"code\":\"too-costly\",\"diagnostics\":\"the record holds more than " +
        std::to_string(limit) + " resources; only the first " + std::to_string(limit) +
        " are returned\"}]},\"search\":{\"mode\":\"outcome\"}}";
  }
  out += "]}";
  return Json(200, std::move(out));
}

}  // namespace sund::api
