#include "iomt/gateway.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include "core/json.h"
#include "core/json_bounded.h"
#include "core/log.h"
#include "fhir/json_writer.h"
#include "fhir/model.h"
#include "fhir/search_query.h"
#include "http/query.h"

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

// A query parameter that must be a whole number in [lo, hi]; nullopt when it is not.
std::optional<long long> IntParam(const std::string& v, long long lo, long long hi) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > hi) return std::nullopt;
  return n;
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

Result<Gateway::KnownDevice> Gateway::LookUp(const std::string& device) {
  // The cache holds while no Device or DeviceUseStatement was written since it was filled (in
  // the store), or for device_ttl (through find_device).
  std::string stamp;
  if (options_.store != nullptr) {
    SUND_ASSIGN_OR_RETURN(std::string devices_stamp, options_.store->TypeStamp("Device"));
    SUND_ASSIGN_OR_RETURN(std::string uses_stamp, options_.store->TypeStamp("DeviceUseStatement"));
    stamp = devices_stamp + "|" + uses_stamp;
  }
  const std::int64_t now_us = options_.clock->NowMicros();
  {
    std::lock_guard lock(devices_mu_);
    bool expired =
        options_.store == nullptr &&
        now_us - devices_filled_us_ > std::chrono::microseconds(options_.device_ttl).count();
    if (stamp != devices_stamp_ || expired) {
      devices_.clear();
      devices_stamp_ = stamp;
      devices_filled_us_ = now_us;
    }
    if (auto it = devices_.find(device); it != devices_.end()) return it->second;
  }
  DeviceResources found;
  if (options_.store != nullptr) {
    SUND_ASSIGN_OR_RETURN(found.devices, Find(*options_.store, "Device", "identifier",
                                              std::string(kDeviceIdSystem) + "|" + device));
    if (found.devices.size() == 1) {
      SUND_ASSIGN_OR_RETURN(auto uses, Find(*options_.store, "DeviceUseStatement", "device",
                                            "Device/" + found.devices[0].id));
      for (auto& u : uses) found.uses.push_back(std::move(u.json));
    }
  } else {
    SUND_ASSIGN_OR_RETURN(found, options_.find_device(device));
  }
  KnownDevice known;
  if (found.devices.size() == 1) {
    known.id = found.devices[0].id;
    auto a = DeviceAssignments::From(found.devices[0].json, found.uses);
    if (a.ok()) {
      known.assignments = std::move(a).value();
    } else {
      known.problem = "the Device cannot be read";
    }
  } else {
    known.problem = found.devices.empty() ? "no Device with this identifier"
                                          : "the identifier names several Devices";
  }
  std::lock_guard lock(devices_mu_);
  if (stamp == devices_stamp_) devices_.emplace(device, known);
  return known;
}

Result<IngestResult> Gateway::Ingest(std::string_view payload) {
  SUND_ASSIGN_OR_RETURN(auto results, IngestBatch({Incoming{payload, {}}}));
  return std::move(results[0]);
}

Result<std::vector<Result<IngestResult>>> Gateway::IngestBatch(
    const std::vector<Incoming>& payloads) {
  const std::int64_t now_us = options_.clock->NowMicros();
  std::vector<DeadLetter> letters;
  auto dead_letter = [&](std::string_view payload, const std::string& device, const Refused& r) {
    DeadLetter d;
    d.received_us = now_us;
    d.device = device;
    d.index = r.index;
    d.reason = std::string(RejectionName(r.reason));
    d.detail = r.detail;
    d.payload = std::string(payload);
    letters.push_back(std::move(d));
  };
  ParseOptions po;
  po.now_ms = now_us / 1000;
  po.max_clock_skew_ms = options_.max_clock_skew_ms;

  std::vector<Result<IngestResult>> results;
  results.reserve(payloads.size());
  std::vector<int> entries_of;  // per payload: its Observations in the bundle
  std::vector<std::string> all_patients;
  fhir::ConditionalCreates bundle;
  std::set<std::string> keys;  // the measurements in the bundle
  std::vector<DeviceActivity> activity;
  for (const Incoming& in : payloads) {
    entries_of.push_back(0);
    if (in.payload.size() > options_.max_payload_bytes) {
      std::string why = "payload of " + std::to_string(in.payload.size()) +
                        " bytes, over the limit of " + std::to_string(options_.max_payload_bytes);
      dead_letter(in.payload, std::string(in.sender), Refused{-1, Rejection::kOversized, why});
      results.emplace_back(InvalidArgument(std::move(why)));
      continue;
    }
    std::optional<std::string> mapped;
    if (options_.mappings != nullptr) {
      auto m = options_.mappings->Apply(in.payload);
      if (!m.ok()) {
        dead_letter(in.payload, std::string(in.sender),
                    Refused{-1, Rejection::kMalformed, m.status().message()});
        results.emplace_back(m.status());
        continue;
      }
      mapped = std::move(m).value();
    }
    auto parsed = ParsePayload(mapped ? std::string_view(*mapped) : in.payload, po);
    if (parsed.ok() && !in.sender.empty() && parsed->device != in.sender) {
      std::string why = "the payload names another device than the one that sent it";
      dead_letter(in.payload, std::string(in.sender), Refused{-1, Rejection::kWrongDevice, why});
      results.emplace_back(InvalidArgument(std::move(why)));
      continue;
    }
    if (!parsed.ok()) {
      dead_letter(in.payload, std::string(in.sender),
                  Refused{-1, Rejection::kMalformed, parsed.status().message()});
      results.push_back(parsed.status());
      continue;
    }
    IngestResult out;
    out.device = parsed->device;
    out.refused = parsed->refused;
    SUND_ASSIGN_OR_RETURN(KnownDevice known, LookUp(out.device));

    // Measurements by time, to pair blood pressure halves; index in parsed->accepted.
    std::map<std::int64_t, std::size_t> diastolic_at;
    for (std::size_t i = 0; i < parsed->accepted.size(); ++i) {
      if (parsed->accepted[i].kind == Kind::kDiastolicPressure) {
        diastolic_at[parsed->accepted[i].time_ms] = i;
      }
    }
    for (std::size_t i = 0; i < parsed->accepted.size(); ++i) {
      const Measurement& m = parsed->accepted[i];
      if (m.kind == Kind::kDiastolicPressure) continue;  // written with its systolic half
      const Measurement* dia = nullptr;
      if (m.kind == Kind::kSystolicPressure) dia = &parsed->accepted[diastolic_at.at(m.time_ms)];
      auto refuse = [&](Rejection why, std::string detail) {
        out.refused.push_back(Refused{m.index, why, detail});
        if (dia != nullptr) out.refused.push_back(Refused{dia->index, why, std::move(detail)});
      };
      if (!known.assignments) {
        refuse(Rejection::kUnknownDevice, known.problem);
        continue;
      }
      PatientAt at = known.assignments->At(m.time_ms);
      if (!at.patient) {
        refuse(Rejection::kUnassigned,
               "device " + std::string(at.reason) + " at the measurement's time");
        continue;
      }
      const std::string& patient = *at.patient;
      std::string obs = ObservationJson(m, patient, known.id, dia);
      if (options_.may_collect) {
        SUND_ASSIGN_OR_RETURN(bool permitted, options_.may_collect(patient, obs, known.id));
        if (!permitted) {
          refuse(Rejection::kNoConsent,
                 "the patient's Consents do not permit collecting this measurement");
          continue;
        }
      }
      // The same measurement twice in one batch (a device resending before its acknowledgement
      // came) is one create: conditional creates within one transaction do not see each other.
      std::string key = MeasurementKey(known.id, m);
      if (keys.insert(key).second) {
        bundle.Add("Observation", obs, kObservationIdSystem, key);
        ++entries_of.back();
      } else {
        ++out.duplicates;
      }
      out.accepted += dia != nullptr ? 2 : 1;
      for (auto* list : {&out.patients, &all_patients}) {
        if (std::find(list->begin(), list->end(), patient) == list->end()) {
          list->push_back(patient);
        }
      }
    }
    for (const Refused& r : out.refused) dead_letter(in.payload, out.device, r);
    DeviceActivity seen;
    seen.device = out.device;
    seen.time_ms = now_us / 1000;
    if (!parsed->accepted.empty()) {
      seen.time_ms = std::max_element(parsed->accepted.begin(), parsed->accepted.end(),
                                      [](const Measurement& a, const Measurement& b) {
                                        return a.time_ms < b.time_ms;
                                      })
                         ->time_ms;
    }
    seen.measurements = out.accepted;
    seen.battery = parsed->battery;
    activity.push_back(std::move(seen));
    results.emplace_back(std::move(out));
  }

  if (bundle.size() > 0) {
    // One transaction for the whole batch; the response's entries are in the bundle's order.
    SUND_ASSIGN_OR_RETURN(std::string response, options_.write(bundle.Finish()));
    rapidjson::Document r;
    json::ParseBounded(r, response);  // a remote Sund's answer, with `sund iomt gateway`
    const rapidjson::Value* list = r.HasParseError() ? nullptr : json::Find(r, "entry");
    if (list != nullptr && list->IsArray()) {
      auto entry = list->GetArray().begin();
      auto entries_end = list->GetArray().end();
      for (std::size_t p = 0; p < results.size(); ++p) {
        for (int e = 0; e < entries_of[p] && entry != entries_end; ++e, ++entry) {
          const rapidjson::Value* resp = json::Find(*entry, "response");
          std::string_view status = resp != nullptr ? json::GetString(*resp, "status") : "";
          if (status.starts_with("201")) {
            ++results[p]->stored;
          } else if (status.starts_with("200")) {
            ++results[p]->duplicates;
          }
        }
      }
    }
  }
  if (options_.on_filed && !all_patients.empty()) {
    if (Status s = options_.on_filed(all_patients); !s.ok()) {
      log::Error("iomt: scoring after filing failed: {}", s.message());
    }
  }
  SUND_RETURN_IF_ERROR(options_.dead_letters->Add(letters));
  if (options_.device_log != nullptr) {
    // Reporting only: a failure is logged, the measurements stay filed.
    if (Status s = options_.device_log->Record(activity); !s.ok()) {
      log::Error("iomt: recording device activity failed: {}", s.message());
    }
  }
  for (const auto& r : results) {
    payloads_.fetch_add(1, std::memory_order_relaxed);
    if (!r.ok()) {
      rejected_payloads_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    filed_.fetch_add(r->accepted, std::memory_order_relaxed);
    refused_.fetch_add(static_cast<std::int64_t>(r->refused.size()), std::memory_order_relaxed);
  }
  return results;
}

GatewayStats Gateway::stats() const {
  GatewayStats s;
  s.payloads = payloads_.load(std::memory_order_relaxed);
  s.rejected_payloads = rejected_payloads_.load(std::memory_order_relaxed);
  s.filed = filed_.load(std::memory_order_relaxed);
  s.refused = refused_.load(std::memory_order_relaxed);
  return s;
}

std::pair<http::Response, std::vector<std::string>> Gateway::DeviceReportResponse(
    const http::Request& req) {
  int days = 7;
  int plan = 1;
  bool csv = false;
  bool citizens = false;
  for (const auto& [k, v] : http::ParseQuery(req.query)) {
    if (k == "_format") {
      csv = v == "csv" || v == "text/csv";
      continue;
    }
    if (k == "view") {
      citizens = v == "citizens";
      continue;
    }
    auto n = IntParam(v, 1, 366);
    if (!n) return {ErrorResponse(400, "invalid-parameter", k + " must be 1-366"), {}};
    if (k == "days") days = static_cast<int>(*n);
    if (k == "plan") plan = static_cast<int>(*n);
  }
  if (std::string_view accept = req.headers.Get("Accept"); accept.find("text/csv") == 0) csv = true;
  const std::int64_t now_ms = options_.clock->NowMicros() / 1000;
  auto devices = options_.device_log->Report(now_ms, days, plan);
  if (!devices.ok()) return {ErrorResponse(503, "unavailable", devices.status().message()), {}};
  // Whom each device is with now.
  struct Row {
    const DeviceReport* d;
    std::string patient;
  };
  std::vector<Row> rows;
  struct Citizen {
    int devices = 0;
    int days_meeting_plan = 0;  // the best of their devices'
  };
  std::map<std::string, Citizen> by_patient;
  for (const DeviceReport& d : *devices) {
    Row row{&d, ""};
    auto known = LookUp(d.device);
    if (known.ok() && known->assignments) {
      if (auto p = known->assignments->At(now_ms).patient) row.patient = *p;
    }
    if (!row.patient.empty()) {
      Citizen& c = by_patient[row.patient];
      ++c.devices;
      c.days_meeting_plan = std::max(c.days_meeting_plan, d.days_meeting_plan);
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> patients;
  for (const auto& [p, c] : by_patient) patients.push_back(p);
  auto hours = [](std::int64_t ms) { return static_cast<double>(ms) / 3'600'000.0; };
  auto fixed1 = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return std::string(buf);
  };
  if (csv) {
    std::string out;
    if (citizens) {
      out = "patient,devices,days,plan_per_day,days_meeting_plan,adherence\r\n";
      for (const auto& [p, c] : by_patient) {
        out += p + "," + std::to_string(c.devices) + "," + std::to_string(days) + "," +
               std::to_string(plan) + "," + std::to_string(c.days_meeting_plan) + "," +
               fixed1(100.0 * c.days_meeting_plan / days) + "%\r\n";
      }
    } else {
      out =
          "device,patient,last_seen,battery,battery_at,days_reported,payloads_per_day,"
          "measurements_per_day,longest_gap_hours\r\n";
      for (const Row& r : rows) {
        const DeviceReport& d = *r.d;
        out += d.device + "," + r.patient + "," + FormatInstant(d.last_seen_ms * 1000) + "," +
               (d.battery ? fixed1(*d.battery) : "") + "," +
               (d.battery ? FormatInstant(d.battery_ms * 1000) : "") + "," +
               std::to_string(d.days_reported) + "," +
               fixed1(static_cast<double>(d.payloads) / days) + "," +
               fixed1(static_cast<double>(d.measurements) / days) + "," +
               fixed1(hours(d.longest_gap_ms)) + "\r\n";
      }
    }
    http::Response resp;
    resp.status = 200;
    resp.headers.Set("Content-Type", "text/csv; charset=utf-8");
    resp.headers.Set("Cache-Control", "no-store");
    resp.body = std::move(out);
    return {std::move(resp), std::move(patients)};
  }
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("generated");
  fhir::WriteString(w, FormatInstant(now_ms * 1000));
  w.Key("days");
  w.Int(days);
  w.Key("plan_per_day");
  w.Int(plan);
  w.Key("devices");
  w.StartArray();
  for (const Row& r : rows) {
    const DeviceReport& d = *r.d;
    w.StartObject();
    w.Key("device");
    fhir::WriteString(w, d.device);
    if (!r.patient.empty()) {
      w.Key("patient");
      fhir::WriteString(w, "Patient/" + r.patient);
    }
    w.Key("last_seen");
    fhir::WriteString(w, FormatInstant(d.last_seen_ms * 1000));
    if (d.battery) {
      w.Key("battery");
      w.Double(*d.battery);
      w.Key("battery_at");
      fhir::WriteString(w, FormatInstant(d.battery_ms * 1000));
    }
    w.Key("days_reported");
    w.Int(d.days_reported);
    w.Key("days_meeting_plan");
    w.Int(d.days_meeting_plan);
    w.Key("payloads_per_day");
    w.Double(static_cast<double>(d.payloads) / days);
    w.Key("measurements_per_day");
    w.Double(static_cast<double>(d.measurements) / days);
    w.Key("longest_gap_hours");
    w.Double(hours(d.longest_gap_ms));
    w.EndObject();
  }
  w.EndArray();
  w.Key("citizens");
  w.StartArray();
  for (const auto& [p, c] : by_patient) {
    w.StartObject();
    w.Key("patient");
    fhir::WriteString(w, "Patient/" + p);
    w.Key("devices");
    w.Int(c.devices);
    w.Key("days_meeting_plan");
    w.Int(c.days_meeting_plan);
    w.Key("adherence");
    w.Double(static_cast<double>(c.days_meeting_plan) / days);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {JsonResponse(200, {sb.GetString(), sb.GetSize()}), std::move(patients)};
}

namespace {

// The routes Gateway::Handle dispatches with: ingest, rejected payloads, device report (it tells
// them apart by position).
constexpr http::Endpoint kEndpoints[] = {
    {"POST", "/iomt/v1/measurements", "iomt"},
    {"GET", "/iomt/v1/rejected", "iomt"},
    {"GET", "/iomt/v1/reports/devices", "iomt"},
};

}  // namespace

bool Gateway::Handles(std::string_view path) { return path.starts_with("/iomt/v1/"); }

std::span<const http::Endpoint> Gateway::Endpoints() { return kEndpoints; }

http::Response Gateway::Handle(const http::Request& req) {
  const http::Endpoint* route = nullptr;
  for (const http::Endpoint& e : kEndpoints) {
    if (e.path == req.path) route = &e;
  }
  bool ingest = route == &kEndpoints[0];
  bool rejected = route == &kEndpoints[1];
  bool report = route == &kEndpoints[2] && options_.device_log != nullptr;
  if (!ingest && !rejected && !report) {
    return ErrorResponse(404, "not-found", "no such IoMT route");
  }
  if (req.method != route->method) {
    return ErrorResponse(405, "method-not-allowed", "use " + std::string(route->method));
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
  if (report) {
    auto r = DeviceReportResponse(req);
    std::vector<std::string> patients = std::move(r.second);
    return audited(std::move(r.first), std::move(patients), "iomt: device report");
  }
  int count = 50;
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  for (const auto& [k, v] : http::ParseQuery(req.query)) {
    auto n = IntParam(v, 1, std::numeric_limits<long long>::max());
    if (!n) return ErrorResponse(400, "invalid-parameter", k + " must be a positive integer");
    if (k == "_count") count = static_cast<int>(std::min<long long>(*n, 1000));
    if (k == "before") before = *n;
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
