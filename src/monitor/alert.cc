#include "monitor/alert.h"

#include "core/time.h"
#include "fhir/model.h"
#include "fhir/search_query.h"

namespace sund::monitor {
std::string AlertFlagJson(const Alert& a, std::string_view patient, std::int64_t now_ms) {
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Flag");
  w.Key("identifier");
  w.StartArray();
  fhir::WriteIdentifier(w, a.system + "-flag", a.key);
  w.EndArray();
  w.Key("status");
  w.String("active");
  w.Key("category");
  w.StartArray();
  fhir::WriteConcept(w, "http://terminology.hl7.org/CodeSystem/flag-category", "clinical");
  w.EndArray();
  w.Key("code");
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  fhir::WriteCoding(w, a.code_system, a.code);
  w.EndArray();
  w.Key("text");
  fhir::WriteString(w, a.text);
  w.EndObject();
  w.Key("subject");
  fhir::WriteReference(w, "Patient/" + std::string(patient));
  w.Key("period");
  w.StartObject();
  w.Key("start");
  fhir::WriteString(w, FormatInstant(now_ms * 1000));
  w.EndObject();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::string AlertCommunicationJson(const Alert& a, std::string_view patient,
                                   const std::vector<std::string>& recipients,
                                   std::int64_t now_ms) {
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Communication");
  w.Key("identifier");
  w.StartArray();
  fhir::WriteIdentifier(w, a.system + "-alert", a.key);
  w.EndArray();
  w.Key("status");
  w.String("in-progress");  // until a clinician acknowledges it (completed, with `received`)
  w.Key("category");
  w.StartArray();
  fhir::WriteConcept(w, "http://terminology.hl7.org/CodeSystem/communication-category", "alert");
  w.EndArray();
  int within = a.within_minutes;
  w.Key("priority");
  w.String(within <= 0 ? "stat" : within <= 30 ? "asap" : within <= 120 ? "urgent" : "routine");
  w.Key("subject");
  fhir::WriteReference(w, "Patient/" + std::string(patient));
  w.Key("about");
  w.StartArray();
  w.StartObject();  // the Flag of the same key, by its identifier
  w.Key("type");
  w.String("Flag");
  w.Key("identifier");
  fhir::WriteIdentifier(w, a.system + "-flag", a.key);
  w.EndObject();
  w.EndArray();
  if (!recipients.empty()) {
    w.Key("recipient");
    w.StartArray();
    for (const auto& r : recipients) fhir::WriteReference(w, r);
    w.EndArray();
  }
  w.Key("sent");
  fhir::WriteString(w, FormatInstant(now_ms * 1000));
  w.Key("payload");
  w.StartArray();
  w.StartObject();
  w.Key("contentString");
  fhir::WriteString(w, a.text);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

Status AddAlert(storage::Store& store, const Alert& alert, std::string_view patient,
                std::int64_t now_ms, fhir::ConditionalCreates& bundle) {
  SUND_ASSIGN_OR_RETURN(
      fhir::SearchQuery q,
      fhir::ParseSearch(fhir::Model::R4(), "CareTeam",
                        {{"subject", "Patient/" + std::string(patient)}, {"status", "active"}},
                        true));
  q.count = 20;
  SUND_ASSIGN_OR_RETURN(storage::SearchPage teams, store.Search(q));
  std::vector<std::string> recipients;
  for (const auto& t : teams.matches) recipients.push_back("CareTeam/" + t.id);
  bundle.Add("Flag", AlertFlagJson(alert, patient, now_ms), alert.system + "-flag", alert.key);
  bundle.Add("Communication", AlertCommunicationJson(alert, patient, recipients, now_ms),
             alert.system + "-alert", alert.key);
  return Status::Ok();
}

}  // namespace sund::monitor
