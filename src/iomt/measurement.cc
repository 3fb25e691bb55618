#include "iomt/measurement.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "core/json.h"
#include "core/json_bounded.h"
#include "core/time.h"
#include "fhir/json_writer.h"

namespace sund::iomt {
namespace {

std::string Number(double v) {
  // Whole numbers as integers ("40", not "4e+01"); others as the shortest decimal text that
  // reads back as the same double.
  char buf[40];
  if (std::abs(v) < 1e15 && v == std::trunc(v)) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*f", precision, v);
    if (std::strtod(buf, nullptr) == v) return buf;
  }
  std::snprintf(buf, sizeof buf, "%.17g", v);  // very small or large: exponent form
  return buf;
}

void Quantity(fhir::JsonWriter& w, double value, std::string_view unit) {
  w.StartObject();
  w.Key("value");
  std::string number = Number(value);
  w.RawValue(number.c_str(), number.size(), rapidjson::kNumberType);
  w.Key("unit");
  fhir::WriteString(w, unit);
  w.Key("system");
  fhir::WriteString(w, kUcumSystem);
  w.Key("code");
  fhir::WriteString(w, unit);
  w.EndObject();
}

// The code element: LOINC first (the profile's), then MDC.
void Code(fhir::JsonWriter& w, const KindInfo& k, std::uint32_t mdc) {
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  fhir::WriteCoding(w, kLoincSystem, k.loinc, k.loinc_display);
  fhir::WriteCoding(w, kMdcSystem, std::to_string(mdc != 0 ? mdc : k.mdc));
  w.EndArray();
  w.EndObject();
}

// An instant with a time and a zone ("2026-11-29T10:00:00Z", "...+01:00"): ms since the epoch.
std::optional<std::int64_t> ParseInstant(std::string_view text) {
  std::size_t t = text.find('T');
  if (t == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(t);
  if (!rest.ends_with('Z') && rest.find('+') == std::string_view::npos &&
      rest.find('-') == std::string_view::npos) {
    return std::nullopt;
  }
  auto r = ParseFhirDate(text);
  if (!r.ok()) return std::nullopt;
  return r->lo_ms;
}

}  // namespace

const std::vector<KindInfo>& Kinds() {
  static const std::vector<KindInfo> kinds = {
      {Kind::kHeartRate,
       "heart-rate",
       "8867-4",
       "Heart rate",
       149546,
       {149514, 149530, 147842},
       "/min",
       20,
       300},
      {Kind::kSpo2,
       "spo2",
       "59408-5",
       "Oxygen saturation in Arterial blood by Pulse oximetry",
       150456,
       {150324},
       "%",
       40,
       100},
      {Kind::kRespirationRate,
       "respiration-rate",
       "9279-1",
       "Respiratory rate",
       151562,
       {151570, 151578, 151594, 151658},
       "/min",
       2,
       80},
      {Kind::kBodyTemperature,
       "body-temperature",
       "8310-5",
       "Body temperature",
       150364,
       {150368, 150392, 188420, 188424, 188428, 188452},
       "Cel",
       25,
       45},
      {Kind::kSystolicPressure,
       "systolic-pressure",
       "8480-6",
       "Systolic blood pressure",
       150021,
       {},
       "mm[Hg]",
       40,
       300},
      {Kind::kDiastolicPressure,
       "diastolic-pressure",
       "8462-4",
       "Diastolic blood pressure",
       150022,
       {},
       "mm[Hg]",
       20,
       200},
      {Kind::kBodyWeight, "body-weight", "29463-7", "Body weight", 188736, {}, "kg", 0.3, 650},
      {Kind::kBloodGlucose,
       "blood-glucose",
       "15074-8",
       "Glucose [Moles/volume] in Blood",
       160184,
       {160188, 160196},
       "mmol/L",
       0.5,
       60},
  };
  return kinds;
}

const KindInfo& Info(Kind kind) { return Kinds()[static_cast<std::size_t>(kind)]; }

const KindInfo* FindKind(std::string_view system, std::string_view code) {
  bool mdc = system == kMdcSystem || system == "mdc";
  bool loinc = system == kLoincSystem || system == "loinc";
  bool named = system == "sund";
  std::uint32_t number = 0;
  if (mdc) {
    char* end = nullptr;
    std::string text(code);
    unsigned long v = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v == 0 || v > 0xffffffffUL) return nullptr;
    number = static_cast<std::uint32_t>(v);
  }
  for (const auto& k : Kinds()) {
    if (mdc && (k.mdc == number || std::find(k.mdc_aliases.begin(), k.mdc_aliases.end(), number) !=
                                       k.mdc_aliases.end())) {
      return &k;
    }
    if (loinc && k.loinc == code) return &k;
    if (named && k.name == code) return &k;
  }
  return nullptr;
}

Result<double> ToCanonical(const KindInfo& kind, double value, std::string_view ucum) {
  auto bad = [&] {
    return InvalidArgument("unit \"" + std::string(ucum.substr(0, 32)) + "\" does not convert to " +
                           std::string(kind.unit));
  };
  if (ucum == kind.unit) return value;
  std::string_view u = kind.unit;
  if (u == "/min") {
    if (ucum == "{beats}/min" || ucum == "{beat}/min" || ucum == "{breaths}/min" ||
        ucum == "{breath}/min" || ucum == "1/min") {
      return value;
    }
    return bad();
  }
  if (u == "%") {
    if (ucum == "{fraction}" || ucum == "1") return value * 100.0;
    return bad();
  }
  if (u == "Cel") {
    if (ucum == "[degF]") return (value - 32.0) * 5.0 / 9.0;
    if (ucum == "K") return value - 273.15;
    return bad();
  }
  if (u == "mm[Hg]") {
    if (ucum == "kPa") return value * 7.500615;
    return bad();
  }
  if (u == "kg") {
    if (ucum == "g") return value / 1000.0;
    if (ucum == "[lb_av]") return value * 0.45359237;
    return bad();
  }
  if (u == "mmol/L") {
    if (ucum == "mg/dL") return value / 18.016;  // glucose: 180.16 g/mol
    return bad();
  }
  return bad();
}

std::string_view RejectionName(Rejection r) {
  switch (r) {
    case Rejection::kMalformed:
      return "malformed";
    case Rejection::kUnknownCode:
      return "unknown-code";
    case Rejection::kBadUnit:
      return "bad-unit";
    case Rejection::kImpossible:
      return "impossible-value";
    case Rejection::kFutureTime:
      return "future-time";
    case Rejection::kIncomplete:
      return "incomplete";
    case Rejection::kUnknownDevice:
      return "unknown-device";
    case Rejection::kUnassigned:
      return "unassigned";
    case Rejection::kNoConsent:
      return "no-consent";
    case Rejection::kWrongDevice:
      return "wrong-device";
    case Rejection::kOversized:
      return "oversized";
  }
  return "unknown";
}

Result<ParsedPayload> ParsePayload(std::string_view json, const ParseOptions& options) {
  rapidjson::Document doc;
  json::ParseBounded(doc, json);
  if (doc.HasParseError() || !doc.IsObject())
    return InvalidArgument("payload is not a JSON object");
  ParsedPayload out;
  out.device = std::string(json::GetString(doc, "device"));
  bool device_ok = !out.device.empty() && out.device.size() <= 128 &&
                   std::all_of(out.device.begin(), out.device.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                            c == ':' || c == '-';
                   });
  if (!device_ok) {
    return InvalidArgument("payload has no device (1 to 128 of A-Z a-z 0-9 . _ : -)");
  }
  const rapidjson::Value* list = json::Find(doc, "measurements");
  if (list == nullptr || !list->IsArray() || list->Empty()) {
    return InvalidArgument("payload has no measurements array");
  }
  if (list->Size() > options.max_measurements) {
    return InvalidArgument("payload has more than " + std::to_string(options.max_measurements) +
                           " measurements");
  }
  std::optional<std::int64_t> payload_time;
  if (const rapidjson::Value* t = json::Find(doc, "time"); t != nullptr) {
    if (!t->IsString() || !(payload_time = ParseInstant(json::View(*t)))) {
      return InvalidArgument("payload time is not an instant with a time zone");
    }
  }
  if (const rapidjson::Value* b = json::Find(doc, "battery"); b != nullptr) {
    if (!b->IsNumber() || b->GetDouble() < 0 || b->GetDouble() > 100) {
      return InvalidArgument("payload battery is not a number from 0 to 100");
    }
    out.battery = b->GetDouble();
  }
  // Blood pressure halves wait for their partner (same time); index of each in `accepted`.
  std::map<std::int64_t, int> systolic_at, diastolic_at;
  int i = -1;
  for (const auto& m : list->GetArray()) {
    ++i;
    auto refuse = [&](Rejection r, std::string detail) {
      out.refused.push_back(Refused{i, r, std::move(detail)});
    };
    if (!m.IsObject()) {
      refuse(Rejection::kMalformed, "a measurement is not an object");
      continue;
    }
    const rapidjson::Value* code = json::Find(m, "code");
    const rapidjson::Value* value = json::Find(m, "value");
    if (code == nullptr || !code->IsObject() || value == nullptr || !value->IsNumber() ||
        !json::Find(m, "unit") || !json::Find(m, "unit")->IsString()) {
      refuse(Rejection::kMalformed,
             "a measurement needs code {system, code}, a numeric value "
             "and a unit");
      continue;
    }
    std::string_view system = json::GetString(*code, "system");
    std::string_view code_text = json::GetString(*code, "code");
    const KindInfo* kind = FindKind(system, code_text);
    if (kind == nullptr) {
      refuse(Rejection::kUnknownCode, "no known measurement for " +
                                          std::string(system.substr(0, 64)) + "|" +
                                          std::string(code_text.substr(0, 32)));
      continue;
    }
    std::optional<std::int64_t> time = payload_time;
    if (const rapidjson::Value* t = json::Find(m, "time"); t != nullptr) {
      time = t->IsString() ? ParseInstant(json::View(*t)) : std::nullopt;
      if (!time) {
        refuse(Rejection::kMalformed, "measurement time is not an instant with a time zone");
        continue;
      }
    }
    if (!time) {
      refuse(Rejection::kMalformed, "no time for the measurement or the payload");
      continue;
    }
    if (*time > options.now_ms + options.max_clock_skew_ms) {
      refuse(Rejection::kFutureTime, "time lies in the future beyond the allowed clock skew");
      continue;
    }
    auto canonical = ToCanonical(*kind, value->GetDouble(), json::GetString(m, "unit"));
    if (!canonical.ok()) {
      refuse(Rejection::kBadUnit, canonical.status().message());
      continue;
    }
    if (!std::isfinite(*canonical) || *canonical < kind->min || *canonical > kind->max) {
      refuse(Rejection::kImpossible, std::string(kind->name) + " outside " + Number(kind->min) +
                                         "-" + Number(kind->max) + " " + std::string(kind->unit));
      continue;
    }
    Measurement accepted{kind->kind, *canonical, *time, 0, i};
    if (system == kMdcSystem || system == "mdc") {
      accepted.mdc =
          static_cast<std::uint32_t>(std::strtoul(std::string(code_text).c_str(), nullptr, 10));
    }
    if (kind->kind == Kind::kSystolicPressure || kind->kind == Kind::kDiastolicPressure) {
      auto& mine = kind->kind == Kind::kSystolicPressure ? systolic_at : diastolic_at;
      if (mine.contains(*time)) {
        refuse(Rejection::kMalformed, "two " + std::string(kind->name) + " values at one time");
        continue;
      }
      mine[*time] = static_cast<int>(out.accepted.size());
    }
    out.accepted.push_back(accepted);
  }
  // Unpaired or implausible pressure halves are refused; pairs stay, systolic first.
  std::vector<bool> drop(out.accepted.size(), false);
  for (const auto& [time, s] : systolic_at) {
    auto d = diastolic_at.find(time);
    if (d == diastolic_at.end()) {
      drop[s] = true;
      out.refused.push_back(Refused{out.accepted[s].index, Rejection::kIncomplete,
                                    "systolic pressure without a diastolic one of the same time"});
    } else if (out.accepted[s].value <= out.accepted[d->second].value) {
      // Both halves go: neither is known to be the wrong one.
      for (int half : {s, d->second}) {
        drop[half] = true;
        out.refused.push_back(Refused{out.accepted[half].index, Rejection::kImpossible,
                                      "systolic pressure not above the diastolic one"});
      }
    }
  }
  for (const auto& [time, d] : diastolic_at) {
    if (!systolic_at.contains(time)) {
      drop[d] = true;
      out.refused.push_back(Refused{out.accepted[d].index, Rejection::kIncomplete,
                                    "diastolic pressure without a systolic one of the same time"});
    }
  }
  std::vector<Measurement> kept;
  for (std::size_t k = 0; k < out.accepted.size(); ++k) {
    if (!drop[k]) kept.push_back(out.accepted[k]);
  }
  out.accepted = std::move(kept);
  return out;
}

std::string MeasurementKey(std::string_view device, const Measurement& m) {
  return std::string(device) + "/" + std::string(Info(m.kind).name) + "/" +
         std::to_string(m.time_ms);
}

std::string ObservationJson(const Measurement& m, std::string_view patient,
                            std::string_view device_id, const Measurement* diastolic) {
  const KindInfo& k = Info(m.kind);
  bool bp = m.kind == Kind::kSystolicPressure && diastolic != nullptr;
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Observation");
  w.Key("identifier");
  w.StartArray();
  fhir::WriteIdentifier(w, "urn:sund:iomt", MeasurementKey(device_id, m));
  w.EndArray();
  w.Key("status");
  w.String("final");
  w.Key("category");
  w.StartArray();
  w.StartObject();
  w.Key("coding");
  w.StartArray();
  fhir::WriteCoding(w, "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs",
                    "Vital Signs");
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.Key("code");
  if (bp) {
    w.StartObject();
    w.Key("coding");
    w.StartArray();
    fhir::WriteCoding(w, kLoincSystem, "85354-9",
                      "Blood pressure panel with all children optional");
    fhir::WriteCoding(w, kMdcSystem, "150020");
    w.EndArray();
    w.EndObject();
  } else {
    Code(w, k, m.mdc);
  }
  w.Key("subject");
  w.StartObject();
  w.Key("reference");
  fhir::WriteString(w, "Patient/" + std::string(patient));
  w.EndObject();
  w.Key("device");
  w.StartObject();
  w.Key("reference");
  fhir::WriteString(w, "Device/" + std::string(device_id));
  w.EndObject();
  w.Key("effectiveDateTime");
  fhir::WriteString(w, FormatInstant(m.time_ms * 1000));
  if (bp) {
    w.Key("component");
    w.StartArray();
    for (const Measurement* part : {&m, diastolic}) {
      w.StartObject();
      w.Key("code");
      Code(w, Info(part->kind), part->mdc);
      w.Key("valueQuantity");
      Quantity(w, part->value, Info(part->kind).unit);
      w.EndObject();
    }
    w.EndArray();
  } else {
    w.Key("valueQuantity");
    Quantity(w, m.value, k.unit);
  }
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace sund::iomt
