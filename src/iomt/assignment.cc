#include "iomt/assignment.h"

#include "core/json.h"
#include "core/json_bounded.h"
#include "core/time.h"

namespace sund::iomt {
namespace {

// "Patient/ID" -> ID; "" for anything else.
std::string PatientId(const rapidjson::Value* reference) {
  if (reference == nullptr || !reference->IsObject()) return "";
  std::string_view ref = json::GetString(*reference, "reference");
  if (!ref.starts_with("Patient/") || ref.size() == 8) return "";
  return std::string(ref.substr(8));
}

}  // namespace

Result<DeviceAssignments> DeviceAssignments::From(std::string_view device_json,
                                                  const std::vector<std::string>& use_statements) {
  rapidjson::Document device;
  json::ParseBounded(device, device_json);
  if (device.HasParseError() || !device.IsObject() ||
      json::GetString(device, "resourceType") != "Device") {
    return InvalidArgument("not a Device resource");
  }
  std::string device_ref = "Device/" + std::string(json::GetString(device, "id"));
  DeviceAssignments out;
  for (const std::string& text : use_statements) {
    rapidjson::Document s;
    json::ParseBounded(s, text);
    if (s.HasParseError() || !s.IsObject() ||
        json::GetString(s, "resourceType") != "DeviceUseStatement") {
      continue;
    }
    std::string_view status = json::GetString(s, "status");
    if (status != "active" && status != "completed" && status != "stopped") continue;
    const rapidjson::Value* dev = json::Find(s, "device");
    if (dev == nullptr || !dev->IsObject() || json::GetString(*dev, "reference") != device_ref) {
      continue;
    }
    std::string patient = PatientId(json::Find(s, "subject"));
    const rapidjson::Value* period = json::Find(s, "timingPeriod");
    if (patient.empty() || period == nullptr || !period->IsObject()) continue;
    auto start = ParseFhirDate(json::GetString(*period, "start"));
    if (!start.ok()) continue;
    AssignmentPeriod p;
    p.patient = std::move(patient);
    p.start_ms = start->lo_ms;
    if (std::string_view end = json::GetString(*period, "end"); !end.empty()) {
      auto e = ParseFhirDate(end);
      if (!e.ok()) continue;
      p.end_ms = e->hi_ms;
    }
    p.source = "DeviceUseStatement/" + std::string(json::GetString(s, "id"));
    out.periods_.push_back(std::move(p));
  }
  if (out.periods_.empty()) {
    std::string patient = PatientId(json::Find(device, "patient"));
    if (!patient.empty()) out.current_ = std::move(patient);
  }
  return out;
}

PatientAt DeviceAssignments::At(std::int64_t time_ms) const {
  if (periods_.empty()) {
    if (current_) return {current_, ""};
    return {std::nullopt, "not assigned"};
  }
  std::optional<std::string> found;
  for (const auto& p : periods_) {
    if (time_ms < p.start_ms || (p.end_ms && time_ms > *p.end_ms)) continue;
    if (found && *found != p.patient) return {std::nullopt, "assigned to two patients"};
    found = p.patient;
  }
  if (!found) return {std::nullopt, "not assigned"};
  return {found, ""};
}

}  // namespace sund::iomt
