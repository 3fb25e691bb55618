#include "iomt/gateway.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>

#include "core/json.h"
#include "core/log.h"
#include "fhir/json_writer.h"
#include "fhir/model.h"
#include "fhir/search_query.h"
#include "http/query.h"
#include "iomt/assignment.h"

namespace sund::iomt {
namespace {

// Every match of `type?name=value` in the store (at most 1,000).
Result<std::vector<storage::SearchHit>> Find(storage::Store& store, std::string_view type,
                                             std::string name, std::string value) {
  SUND_ASSIGN_OR_RETURN(fhir::SearchQuery q,
                        fhir::ParseSearch(fhir::Model::R4(), type, {{name, value}}, true));
  q.count = 1000;
  SUND_ASSIGN_OR_RETURN(storage::SearchPage page, store.Search(q));
  return std::move(page.matches);
}

http::Response JsonResponse(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.headers.Set("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

http::Response ErrorResponse(int status, std::string_view error, std::string_view detail) {
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("error");
  fhir::WriteString(w, error);
  w.Key("detail");
  fhir::WriteString(w, detail);
  w.EndObject();
  return JsonResponse(status, {sb.GetString(), sb.GetSize()});
}

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kInvalidArgument:
      return 400;
    default:
      return 503;
  }
}

}  // namespace

Gateway::Gateway(GatewayOptions options) : options_(std::move(options)) {
  if (options_.clock == nullptr) options_.clock = &SystemClock::Get();
}

Result<IngestResult> Gateway::Ingest(std::string_view payload) {
  const std::int64_t now_us = options_.clock->NowMicros();
  auto dead_letter = [&](const std::string& device, const Refused& r) {
    DeadLetter d;
    d.received_us = now_us;
    d.device = device;
    d.index = r.index;
    d.reason = std::string(RejectionName(r.reason));
    d.detail = r.detail;
    d.payload = std::string(payload);
    return d;
  };
  ParseOptions po;
  po.now_ms = now_us / 1000;
  po.max_clock_skew_ms = options_.max_clock_skew_ms;
  auto parsed = ParsePayload(payload, po);
  if (!parsed.ok()) {
    std::vector<DeadLetter> letters = {
        dead_letter("", Refused{-1, Rejection::kMalformed, parsed.status().message()})};
    SUND_RETURN_IF_ERROR(options_.dead_letters->Add(letters));
    return parsed.status();
  }
  IngestResult out;
  out.device = parsed->device;
  out.refused = parsed->refused;

  // The device and whom it was assigned to when.
  SUND_ASSIGN_OR_RETURN(auto devices, Find(*options_.store, "Device", "identifier",
                                           std::string(kDeviceIdSystem) + "|" + out.device));
  std::optional<DeviceAssignments> assignments;
  std::string device_id;
  if (devices.size() == 1) {
    device_id = devices[0].id;
    SUND_ASSIGN_OR_RETURN(
        auto uses, Find(*options_.store, "DeviceUseStatement", "device", "Device/" + device_id));
    std::vector<std::string> use_json;
    for (auto& u : uses) use_json.push_back(std::move(u.json));
    auto a = DeviceAssignments::From(devices[0].json, use_json);
    if (a.ok()) assignments = std::move(a).value();
  }

  // Measurements by time, to pair blood pressure halves; index in parsed->accepted.
  std::map<std::int64_t, std::size_t> diastolic_at;
  for (std::size_t i = 0; i < parsed->accepted.size(); ++i) {
    if (parsed->accepted[i].kind == Kind::kDiastolicPressure) {
      diastolic_at[parsed->accepted[i].time_ms] = i;
    }
  }
  fhir::ConditionalCreates bundle;
  for (std::size_t i = 0; i < parsed->accepted.size(); ++i) {
    const Measurement& m = parsed->accepted[i];
    if (m.kind == Kind::kDiastolicPressure) continue;  // written with its systolic half
    const Measurement* dia = nullptr;
    if (m.kind == Kind::kSystolicPressure) dia = &parsed->accepted[diastolic_at.at(m.time_ms)];
    Refused refused{m.index, Rejection::kUnknownDevice, ""};
    std::optional<std::string> patient;
    if (!assignments) {
      refused.detail = devices.empty() ? "no Device with this identifier"
                                       : "the identifier names several Devices";
    } else {
      PatientAt at = assignments->At(m.time_ms);
      patient = at.patient;
      refused.reason = Rejection::kUnassigned;
      refused.detail = "device " + std::string(at.reason) + " at the measurement's time";
    }
    if (!patient) {
      out.refused.push_back(refused);
      if (dia != nullptr) {
        refused.index = dia->index;
        out.refused.push_back(refused);
      }
      continue;
    }
    std::string obs = ObservationJson(m, *patient, device_id, dia);
    if (options_.may_collect) {
      SUND_ASSIGN_OR_RETURN(bool permitted, options_.may_collect(*patient, obs, device_id));
      if (!permitted) {
        Refused no{m.index, Rejection::kNoConsent,
                   "the patient's Consents do not permit collecting this measurement"};
        out.refused.push_back(no);
        if (dia != nullptr) {
          no.index = dia->index;
          out.refused.push_back(no);
        }
        continue;
      }
    }
    bundle.Add("Observation", obs, kObservationIdSystem, MeasurementKey(device_id, m));
    out.accepted += dia != nullptr ? 2 : 1;
    if (std::find(out.patients.begin(), out.patients.end(), *patient) == out.patients.end()) {
      out.patients.push_back(*patient);
    }
  }
  if (bundle.size() > 0) {
    SUND_ASSIGN_OR_RETURN(std::string response, options_.write(bundle.Finish()));
    rapidjson::Document r;
    r.Parse(response.data(), response.size());
    const rapidjson::Value* list = r.HasParseError() ? nullptr : json::Find(r, "entry");
    if (list != nullptr && list->IsArray()) {
      for (const auto& e : list->GetArray()) {
        const rapidjson::Value* resp = json::Find(e, "response");
        std::string_view status = resp != nullptr ? json::GetString(*resp, "status") : "";
        if (status.starts_with("201")) {
          ++out.stored;
        } else if (status.starts_with("200")) {
          ++out.duplicates;
        }
      }
    }
  }
  if (options_.on_filed && !out.patients.empty()) {
    if (Status s = options_.on_filed(out.patients); !s.ok()) {
      log::Error("iomt: scoring after filing failed: {}", s.message());
    }
  }
  std::vector<DeadLetter> letters;
  for (const Refused& r : out.refused) letters.push_back(dead_letter(out.device, r));
  SUND_RETURN_IF_ERROR(options_.dead_letters->Add(letters));
  return out;
}

bool Gateway::Handles(std::string_view path) { return path.starts_with("/iomt/v1/"); }

http::Response Gateway::Handle(const http::Request& req) {
  bool ingest = req.path == "/iomt/v1/measurements";
  bool rejected = req.path == "/iomt/v1/rejected";
  if (!ingest && !rejected) return ErrorResponse(404, "not-found", "no such IoMT route");
  if ((ingest && req.method != "POST") || (rejected && req.method != "GET")) {
    return ErrorResponse(405, "method-not-allowed", ingest ? "use POST" : "use GET");
  }
  auto actor = options_.authorize(req, ingest);
  if (!actor.ok()) {
    return ErrorResponse(HttpStatusOf(actor.status()), "unauthorized", actor.status().message());
  }
  // The audit record, durable before the answer goes out (fail closed: 503).
  auto audited = [&](http::Response r, std::vector<std::string> patients,
                     std::string detail) -> http::Response {
    if (options_.audit == nullptr) return r;
    audit::Record rec;
    rec.time_us = options_.clock->NowMicros();
    rec.actor = *actor;
    rec.action = ingest ? audit::Action::kCreate : audit::Action::kRead;
    rec.outcome = r.status;
    rec.patient_ids = std::move(patients);
    rec.detail = std::move(detail);
    rec.source = req.remote_address;
    // Written before the answer leaves; the connection waits, not the thread.
    r.before_send = audit::AppendStep(*options_.audit, std::move(rec));
    return r;
  };
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  if (ingest) {
    auto result = Ingest(req.body);
    if (!result.ok()) {
      int status = HttpStatusOf(result.status());
      if (status == 503) log::Error("iomt: a payload was not filed: {}", result.status().message());
      return audited(ErrorResponse(status, status == 400 ? "malformed" : "unavailable",
                                   result.status().message()),
                     {}, "iomt: payload refused");
    }
    w.StartObject();
    w.Key("device");
    fhir::WriteString(w, result->device);
    w.Key("accepted");
    w.Int(result->accepted);
    w.Key("stored");
    w.Int(result->stored);
    w.Key("duplicates");
    w.Int(result->duplicates);
    w.Key("refused");
    w.StartArray();
    for (const Refused& r : result->refused) {
      w.StartObject();
      w.Key("index");
      w.Int(r.index);
      w.Key("reason");
      fhir::WriteString(w, RejectionName(r.reason));
      w.Key("detail");
      fhir::WriteString(w, r.detail);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return audited(JsonResponse(200, {sb.GetString(), sb.GetSize()}), result->patients,
                   "iomt: device " + result->device + ", " + std::to_string(result->accepted) +
                       " measurements filed, " + std::to_string(result->refused.size()) +
                       " refused");
  }
  int count = 50;
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  for (const auto& [k, v] : http::ParseQuery(req.query)) {
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 1) {
      return ErrorResponse(400, "invalid-parameter", k + " must be a positive integer");
    }
    if (k == "_count") count = static_cast<int>(std::min<long long>(n, 1000));
    if (k == "before") before = n;
  }
  auto letters = options_.dead_letters->List(count, before);
  if (!letters.ok()) return ErrorResponse(503, "unavailable", letters.status().message());
  w.StartObject();
  w.Key("rejected");
  w.StartArray();
  for (const DeadLetter& d : *letters) {
    w.StartObject();
    w.Key("id");
    w.Int64(d.id);
    w.Key("received");
    fhir::WriteString(w, FormatInstant(d.received_us));
    w.Key("device");
    fhir::WriteString(w, d.device);
    w.Key("index");
    w.Int(d.index);
    w.Key("reason");
    fhir::WriteString(w, d.reason);
    w.Key("detail");
    fhir::WriteString(w, d.detail);
    w.Key("payload");
    fhir::WriteString(w, d.payload);
    w.EndObject();
  }
  w.EndArray();
  if (static_cast<int>(letters->size()) == count) {
    w.Key("next");
    fhir::WriteString(w, "/iomt/v1/rejected?_count=" + std::to_string(count) +
                             "&before=" + std::to_string(letters->back().id));
  }
  w.EndObject();
  return audited(JsonResponse(200, {sb.GetString(), sb.GetSize()}), {},
                 "iomt: dead letters listed");
}

}  // namespace sund::iomt
