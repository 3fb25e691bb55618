#include "monitor/news2.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/json.h"
#include "core/time.h"
#include "fhir/json_writer.h"

namespace sund::monitor {
namespace {

// Whole numbers, halves up (the chart's precision; values are never negative). The tiny
// offset makes a decimal half that binary floating point holds as ...4999 round up, as the
// written number does.
constexpr double kHalfUp = 1e-9;
long Whole(double v) { return std::lround(v + kHalfUp); }

// Tenths of a degree, halves up: 38.05 C counts as 38.1.
long Tenths(double celsius) { return std::lround(celsius * 10.0 + kHalfUp); }

Status CheckValue(std::string_view name, const std::optional<double>& v, double ceiling) {
  if (!v) return Status::Ok();
  if (!std::isfinite(*v) || *v < 0 || *v > ceiling) {
    return InvalidArgument(std::string(name) + " value is outside what a body can show");
  }
  return Status::Ok();
}

}  // namespace

std::string_view News2ParameterName(News2Parameter p) {
  switch (p) {
    case News2Parameter::kRespirationRate:
      return "respiration-rate";
    case News2Parameter::kSpo2:
      return "spo2";
    case News2Parameter::kAirOrOxygen:
      return "air-or-oxygen";
    case News2Parameter::kSystolicPressure:
      return "systolic-pressure";
    case News2Parameter::kPulse:
      return "pulse";
    case News2Parameter::kConsciousness:
      return "consciousness";
    case News2Parameter::kTemperature:
      return "temperature";
  }
  return "unknown";
}

std::string_view News2RiskName(News2Risk r) {
  switch (r) {
    case News2Risk::kLow:
      return "low";
    case News2Risk::kLowMedium:
      return "low-medium";
    case News2Risk::kMedium:
      return "medium";
    case News2Risk::kHigh:
      return "high";
  }
  return "unknown";
}

int ScoreRespirationRate(double breaths_per_minute) {
  long v = Whole(breaths_per_minute);
  if (v <= 8) return 3;
  if (v <= 11) return 1;
  if (v <= 20) return 0;
  if (v <= 24) return 2;
  return 3;
}

int ScoreSpo2Scale1(double percent) {
  long v = Whole(percent);
  if (v <= 91) return 3;
  if (v <= 93) return 2;
  if (v <= 95) return 1;
  return 0;
}

std::optional<int> ScoreSpo2Scale2(double percent, std::optional<bool> on_oxygen) {
  long v = Whole(percent);
  if (v <= 83) return 3;
  if (v <= 85) return 2;
  if (v <= 87) return 1;
  if (v <= 92) return 0;
  // 93 % and above: no points on air; on oxygen, a saturation above the target range scores.
  if (!on_oxygen.has_value()) return std::nullopt;
  if (!*on_oxygen) return 0;
  if (v <= 94) return 1;
  if (v <= 96) return 2;
  return 3;
}

int ScoreAirOrOxygen(bool on_oxygen) { return on_oxygen ? 2 : 0; }

int ScoreSystolic(double mmhg) {
  long v = Whole(mmhg);
  if (v <= 90) return 3;
  if (v <= 100) return 2;
  if (v <= 110) return 1;
  if (v <= 219) return 0;
  return 3;
}

int ScorePulse(double beats_per_minute) {
  long v = Whole(beats_per_minute);
  if (v <= 40) return 3;
  if (v <= 50) return 1;
  if (v <= 90) return 0;
  if (v <= 110) return 1;
  if (v <= 130) return 2;
  return 3;
}

int ScoreConsciousness(Consciousness c) { return c == Consciousness::kAlert ? 0 : 3; }

int ScoreTemperature(double celsius) {
  long t = Tenths(celsius);
  if (t <= 350) return 3;
  if (t <= 360) return 1;
  if (t <= 380) return 0;
  if (t <= 390) return 1;
  return 2;
}

Result<News2Score> ScoreNews2(const News2Inputs& in) {
  SUND_RETURN_IF_ERROR(CheckValue("respiration rate", in.respiration_rate, 100));
  SUND_RETURN_IF_ERROR(CheckValue("SpO2", in.spo2, 100));
  SUND_RETURN_IF_ERROR(CheckValue("systolic pressure", in.systolic, 400));
  SUND_RETURN_IF_ERROR(CheckValue("pulse", in.pulse, 400));
  SUND_RETURN_IF_ERROR(CheckValue("temperature", in.temperature, 50));
  News2Score s;
  auto set = [&s](News2Parameter p, std::optional<int> v) {
    s.sub[static_cast<std::size_t>(p)] = v;
  };
  if (in.respiration_rate) {
    set(News2Parameter::kRespirationRate, ScoreRespirationRate(*in.respiration_rate));
  }
  if (in.spo2) {
    set(News2Parameter::kSpo2, in.scale == Spo2Scale::kScale1
                                   ? std::optional<int>(ScoreSpo2Scale1(*in.spo2))
                                   : ScoreSpo2Scale2(*in.spo2, in.on_oxygen));
  }
  if (in.on_oxygen) set(News2Parameter::kAirOrOxygen, ScoreAirOrOxygen(*in.on_oxygen));
  if (in.systolic) set(News2Parameter::kSystolicPressure, ScoreSystolic(*in.systolic));
  if (in.pulse) set(News2Parameter::kPulse, ScorePulse(*in.pulse));
  if (in.consciousness) {
    set(News2Parameter::kConsciousness, ScoreConsciousness(*in.consciousness));
  }
  if (in.temperature) set(News2Parameter::kTemperature, ScoreTemperature(*in.temperature));
  for (std::size_t i = 0; i < kNews2Parameters; ++i) {
    if (s.sub[i]) {
      s.total += *s.sub[i];
      if (*s.sub[i] == 3) s.any_three = true;
    } else {
      s.missing.push_back(static_cast<News2Parameter>(i));
    }
  }
  s.complete = s.missing.empty();
  // Missing parameters can only add points, so the bands of the present ones are a floor.
  if (s.total >= 7) {
    s.risk = News2Risk::kHigh;
  } else if (s.total >= 5) {
    s.risk = News2Risk::kMedium;
  } else if (s.any_three) {
    s.risk = News2Risk::kLowMedium;
  } else {
    s.risk = News2Risk::kLow;
  }
  return s;
}

namespace {

constexpr std::string_view kDataAbsent = "http://terminology.hl7.org/CodeSystem/data-absent-reason";

}  // namespace

namespace {

struct Candidate {
  std::int64_t time_ms = -1;
  std::string ref;
};

// The effective time of an Observation: effectiveDateTime, else effectivePeriod.end or start,
// else effectiveInstant. nullopt without one.
std::optional<std::int64_t> EffectiveMs(const rapidjson::Value& o) {
  for (const char* name : {"effectiveDateTime", "effectiveInstant"}) {
    std::string_view v = json::GetString(o, name);
    if (!v.empty()) {
      auto r = ParseFhirDate(v);
      if (r.ok()) return r->lo_ms;
    }
  }
  if (const rapidjson::Value* p = json::Find(o, "effectivePeriod"); p != nullptr && p->IsObject()) {
    for (const char* name : {"end", "start"}) {
      std::string_view v = json::GetString(*p, name);
      if (!v.empty()) {
        auto r = ParseFhirDate(v);
        if (r.ok()) return r->lo_ms;
      }
    }
  }
  return std::nullopt;
}

bool HasCoding(const rapidjson::Value& cc, std::string_view system, std::string_view code) {
  const rapidjson::Value* codings = json::Find(cc, "coding");
  if (codings == nullptr || !codings->IsArray()) return false;
  for (const auto& c : codings->GetArray()) {
    if (c.IsObject() && json::GetString(c, "system") == system &&
        json::GetString(c, "code") == code) {
      return true;
    }
  }
  return false;
}

bool IsLoinc(const rapidjson::Value& cc, std::string_view code) {
  return HasCoding(cc, "http://loinc.org", code);
}

// valueQuantity.value, converted from [degF] when `celsius`.
std::optional<double> QuantityValue(const rapidjson::Value& holder, bool celsius = false) {
  const rapidjson::Value* q = json::Find(holder, "valueQuantity");
  if (q == nullptr || !q->IsObject()) return std::nullopt;
  const rapidjson::Value* v = json::Find(*q, "value");
  if (v == nullptr || !v->IsNumber()) return std::nullopt;
  double value = v->GetDouble();
  if (celsius) {
    std::string_view unit = json::GetString(*q, "code");
    if (unit.empty()) unit = json::GetString(*q, "unit");
    if (unit == "[degF]") return (value - 32.0) * 5.0 / 9.0;
    if (!unit.empty() && unit != "Cel") return std::nullopt;
  }
  return value;
}

std::optional<Consciousness> Acvpu(const rapidjson::Value& o) {
  const rapidjson::Value* v = json::Find(o, "valueCodeableConcept");
  if (v == nullptr || !v->IsObject()) return std::nullopt;
  constexpr std::string_view kAcvpu = "urn:sund:acvpu";
  if (HasCoding(*v, kAcvpu, "A")) return Consciousness::kAlert;
  if (HasCoding(*v, kAcvpu, "C")) return Consciousness::kConfusion;
  if (HasCoding(*v, kAcvpu, "V")) return Consciousness::kVoice;
  if (HasCoding(*v, kAcvpu, "P")) return Consciousness::kPain;
  if (HasCoding(*v, kAcvpu, "U")) return Consciousness::kUnresponsive;
  return std::nullopt;
}

}  // namespace

News2Selection SelectNews2Inputs(const std::vector<std::string>& observations, std::int64_t now_ms,
                                 std::int64_t window_ms, Spo2Scale scale) {
  News2Selection out;
  out.inputs.scale = scale;
  std::array<Candidate, kNews2Parameters> best{};
  auto offer = [&](News2Parameter p, std::int64_t time, const std::string& ref, auto&& apply) {
    Candidate& c = best[static_cast<std::size_t>(p)];
    if (time <= c.time_ms) return;
    c.time_ms = time;
    c.ref = ref;
    apply();
  };
  constexpr std::string_view kParameter = "urn:sund:news2-parameter";
  for (const std::string& text : observations) {
    rapidjson::Document o;
    o.Parse(text.data(), text.size());
    if (o.HasParseError() || !o.IsObject()) continue;
    if (json::GetString(o, "resourceType") != "Observation") continue;
    std::string_view status = json::GetString(o, "status");
    if (status != "final" && status != "amended" && status != "corrected") continue;
    std::string_view id = json::GetString(o, "id");
    const rapidjson::Value* code = json::Find(o, "code");
    auto time = EffectiveMs(o);
    if (id.empty() || code == nullptr || !code->IsObject() || !time) continue;
    if (*time > now_ms || *time < now_ms - window_ms) continue;
    std::string ref = "Observation/" + std::string(id);
    if (IsLoinc(*code, "9279-1")) {
      if (auto v = QuantityValue(o)) {
        offer(News2Parameter::kRespirationRate, *time, ref,
              [&] { out.inputs.respiration_rate = *v; });
      }
    } else if (IsLoinc(*code, "59408-5") || IsLoinc(*code, "2708-6")) {
      if (auto v = QuantityValue(o))
        offer(News2Parameter::kSpo2, *time, ref, [&] { out.inputs.spo2 = *v; });
    } else if (IsLoinc(*code, "8867-4")) {
      if (auto v = QuantityValue(o))
        offer(News2Parameter::kPulse, *time, ref, [&] { out.inputs.pulse = *v; });
    } else if (IsLoinc(*code, "8480-6")) {
      if (auto v = QuantityValue(o)) {
        offer(News2Parameter::kSystolicPressure, *time, ref, [&] { out.inputs.systolic = *v; });
      }
    } else if (IsLoinc(*code, "85354-9")) {
      const rapidjson::Value* parts = json::Find(o, "component");
      if (parts != nullptr && parts->IsArray()) {
        for (const auto& part : parts->GetArray()) {
          const rapidjson::Value* pc = json::Find(part, "code");
          if (pc == nullptr || !pc->IsObject() || !IsLoinc(*pc, "8480-6")) continue;
          if (auto v = QuantityValue(part)) {
            offer(News2Parameter::kSystolicPressure, *time, ref, [&] { out.inputs.systolic = *v; });
          }
        }
      }
    } else if (IsLoinc(*code, "8310-5")) {
      if (auto v = QuantityValue(o, true)) {
        offer(News2Parameter::kTemperature, *time, ref, [&] { out.inputs.temperature = *v; });
      }
    } else if (IsLoinc(*code, "3151-8")) {
      if (auto v = QuantityValue(o)) {
        offer(News2Parameter::kAirOrOxygen, *time, ref, [&] { out.inputs.on_oxygen = *v > 0; });
      }
    } else if (HasCoding(*code, kParameter, "air-or-oxygen")) {
      const rapidjson::Value* b = json::Find(o, "valueBoolean");
      if (b != nullptr && b->IsBool()) {
        offer(News2Parameter::kAirOrOxygen, *time, ref,
              [&] { out.inputs.on_oxygen = b->GetBool(); });
      }
    } else if (HasCoding(*code, kParameter, "consciousness")) {
      if (auto c = Acvpu(o)) {
        offer(News2Parameter::kConsciousness, *time, ref, [&] { out.inputs.consciousness = *c; });
      }
    }
  }
  for (const Candidate& c : best) {
    if (c.time_ms < 0) continue;
    if (std::find(out.derived_from.begin(), out.derived_from.end(), c.ref) ==
        out.derived_from.end()) {
      out.derived_from.push_back(c.ref);
    }
    out.newest_ms = std::max(out.newest_ms, c.time_ms);
  }
  return out;
}

std::string News2ObservationJson(const News2Score& score, const News2Context& context) {
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("resourceType");
  w.String("Observation");
  w.Key("status");
  w.String("final");
  w.Key("category");
  w.StartArray();
  fhir::WriteConcept(w, "http://terminology.hl7.org/CodeSystem/observation-category", "survey",
                     "Survey");
  w.EndArray();
  w.Key("code");
  fhir::WriteConcept(
      w, "http://snomed.info/sct", kNews2Snomed,
      "Royal College of Physicians NEWS2 (National Early Warning Score 2) total score");
  w.Key("subject");
  fhir::WriteReference(w, "Patient/" + std::string(context.patient));
  w.Key("effectiveDateTime");
  fhir::WriteString(w, FormatInstant(context.effective_ms * 1000));
  w.Key("issued");
  fhir::WriteString(w, FormatInstant(context.issued_ms * 1000));
  if (score.complete) {
    w.Key("valueInteger");
    w.Int(score.total);
  } else {
    std::string missing;
    for (News2Parameter p : score.missing) {
      missing += missing.empty() ? "" : ", ";
      missing += News2ParameterName(p);
    }
    w.Key("dataAbsentReason");
    w.StartObject();
    w.Key("coding");
    w.StartArray();
    w.StartObject();
    w.Key("system");
    fhir::WriteString(w, kDataAbsent);
    w.Key("code");
    w.String("as-text");
    w.EndObject();
    w.EndArray();
    w.Key("text");
    fhir::WriteString(w, "incomplete NEWS2: missing " + missing);
    w.EndObject();
  }
  w.Key("interpretation");
  w.StartArray();
  fhir::WriteConcept(w, "urn:sund:news2-risk", News2RiskName(score.risk));
  w.EndArray();
  w.Key("method");
  fhir::WriteConcept(w, "urn:sund:rule", kNews2RuleVersion);
  if (!context.derived_from.empty()) {
    w.Key("derivedFrom");
    w.StartArray();
    for (const auto& ref : context.derived_from) fhir::WriteReference(w, ref);
    w.EndArray();
  }
  w.Key("component");
  w.StartArray();
  for (std::size_t i = 0; i < kNews2Parameters; ++i) {
    w.StartObject();
    w.Key("code");
    fhir::WriteConcept(w, "urn:sund:news2-parameter",
                       News2ParameterName(static_cast<News2Parameter>(i)));
    if (score.sub[i]) {
      w.Key("valueInteger");
      w.Int(*score.sub[i]);
    } else {
      w.Key("dataAbsentReason");
      fhir::WriteConcept(w, kDataAbsent, "unknown");
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace sund::monitor
