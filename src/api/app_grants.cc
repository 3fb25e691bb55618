#include "api/app_grants.h"

#include <algorithm>

#include "auth/scopes.h"
#include "consent/policy.h"
#include "core/json.h"
#include "core/log.h"
#include "core/time.h"
#include "fhir/resource.h"

namespace sund::api {

std::string AppGrantConsentId(std::string_view grant_id) {
  std::string id = "app-" + std::string(grant_id);
  std::replace(id.begin(), id.end(), '_', '.');
  return id;
}

std::optional<AppGrantRecord> ReadAppGrant(std::string_view consent_json) {
  if (consent_json.find(kAppGrantSystem) == std::string_view::npos) return std::nullopt;
  auto doc = fhir::ParseJson(consent_json);
  if (!doc.ok() || !doc->IsObject()) return std::nullopt;
  const rapidjson::Value* ids = json::Find(*doc, "identifier");
  if (ids == nullptr || !ids->IsArray()) return std::nullopt;
  AppGrantRecord r;
  for (const auto& i : ids->GetArray()) {
    if (i.IsObject() && json::GetString(i, "system") == kAppGrantSystem) {
      r.grant_id = std::string(json::GetString(i, "value"));
    }
  }
  if (r.grant_id.empty()) return std::nullopt;
  r.active = json::GetString(*doc, "status") == "active";
  if (const rapidjson::Value* p = json::Find(*doc, "patient"); p != nullptr && p->IsObject()) {
    std::string_view ref = json::GetString(*p, "reference");
    if (ref.starts_with("Patient/")) r.patient_id = std::string(ref.substr(8));
  }
  return r;
}

std::string AppGrantConsentJson(const auth::Grant& grant, const auth::Client& app,
                                const auth::User& user) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&](std::string_view v) {
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  auto coding = [&](std::string_view system, std::string_view code) {
    w.StartObject();
    w.Key("system");
    str(system);
    w.Key("code");
    str(code);
    w.EndObject();
  };
  std::string created = FormatInstant(grant.created * 1'000'000);
  w.StartObject();
  w.Key("resourceType");
  w.String("Consent");
  w.Key("id");
  str(AppGrantConsentId(grant.grant_id));
  w.Key("identifier");
  w.StartArray();
  w.StartObject();
  w.Key("system");
  str(kAppGrantSystem);
  w.Key("value");
  str(grant.grant_id);
  w.EndObject();
  w.EndArray();
  w.Key("status");
  w.String("active");
  w.Key("scope");
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  coding("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy");
  w.EndArray();
  w.EndObject();
  w.Key("category");
  w.StartArray();
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  coding("http://loinc.org", "59284-0");
  w.EndArray();
  w.Key("text");
  w.String("app access granted by sign-in (SMART on FHIR)");
  w.EndObject();
  w.EndArray();
  w.Key("patient");
  w.StartObject();
  w.Key("reference");
  str("Patient/" + grant.patient);
  w.EndObject();
  w.Key("dateTime");
  str(created);
  if (!user.fhir_user.empty()) {
    w.Key("performer");
    w.StartArray();
    w.StartObject();
    w.Key("reference");
    str(user.fhir_user);
    w.EndObject();
    w.EndArray();
  }
  w.Key("provision");
  w.StartObject();
  w.Key("type");
  w.String("permit");
  w.Key("period");
  w.StartObject();
  w.Key("start");
  str(created);
  if (grant.expires > 0) {
    w.Key("end");
    str(FormatInstant(grant.expires * 1'000'000));
  }
  w.EndObject();
  w.Key("actor");
  w.StartArray();
  w.StartObject();
  w.Key("role");
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP");
  w.EndArray();
  w.EndObject();
  w.Key("reference");
  w.StartObject();
  w.Key("identifier");
  w.StartObject();
  w.Key("system");
  str(consent::kClientIdSystem);
  w.Key("value");
  str(app.client_id);
  w.EndObject();
  w.Key("display");
  str(app.name.empty() ? app.client_id : app.name);
  w.EndObject();
  w.EndObject();
  w.EndArray();
  w.Key("action");
  w.StartArray();
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  coding("http://terminology.hl7.org/CodeSystem/consentaction", "access");
  w.EndArray();
  w.EndObject();
  w.EndArray();
  // The granted types; none when some scope grants every type.
  std::vector<std::string> types;
  bool all = false;
  for (const auto& r : auth::ParseScopes(grant.scope).resources) {
    if (r.type == "*") all = true;
    if (std::find(types.begin(), types.end(), r.type) == types.end()) types.push_back(r.type);
  }
  if (!all && !types.empty()) {
    w.Key("class");
    w.StartArray();
    for (const auto& t : types) coding(consent::kResourceTypesSystem, t);
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

void RecordAppGrants(auth::AuthOptions& options, Engine& engine) {
  options.on_grant = [&engine](const auth::Grant& grant, const auth::Client& app,
                               const auth::User& user) -> Status {
    SUND_ASSIGN_OR_RETURN(rapidjson::Document doc,
                          fhir::ParseJson(AppGrantConsentJson(grant, app, user)));
    return engine.Update("Consent", AppGrantConsentId(grant.grant_id), std::move(doc)).status();
  };
  options.on_grant_revoked = [&engine](const std::string& grant_id) -> Status {
    std::string id = AppGrantConsentId(grant_id);
    auto current = engine.Read("Consent", id);
    if (!current.ok() || current->deleted) return Status::Ok();  // none recorded, or deleted
    auto record = ReadAppGrant(current->json);
    if (!record || !record->active || record->grant_id != grant_id) return Status::Ok();
    SUND_ASSIGN_OR_RETURN(rapidjson::Document doc, fhir::ParseJson(current->json));
    doc["status"].SetString("inactive", doc.GetAllocator());
    return engine.Update("Consent", id, std::move(doc), current->version).status();
  };
}

void RevokeWithdrawnAppGrants(ConsentGate& gate, auth::AuthServer& auth) {
  gate.OnAppGrantWithdrawn([&auth](const AppGrantRecord& record) {
    // Only the grant of the Consent's own patient: a Consent that names another patient's
    // grant must not revoke it.
    auto grant = auth.db().GetGrant(record.grant_id);
    if (!grant.ok() || grant->patient != record.patient_id) return;
    if (Status s = auth.RevokeGrant(record.grant_id, "its Consent was withdrawn"); !s.ok()) {
      log::Warn("consent: an app grant was not revoked: {}", s.ToString());
    }
  });
}

}  // namespace sund::api
