// NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017): the score the
// home-monitoring module computes per patient from their latest vital signs. Pure functions, no
// I/O; src/monitor/README.md has the bands as a table and how a score becomes an Observation.
//
// Seven parameters, each scored 0-3 by the RCP 2017 chart: respiration rate, SpO2 (scale 1, or
// scale 2 for patients with hypercapnic respiratory failure, set in their care plan), air or
// supplemental oxygen, systolic blood pressure, pulse, consciousness (ACVPU) and temperature.
// Measured values are rounded to the chart's precision first: whole numbers, temperature to one
// decimal, halves up (a device's 20.5 breaths/min counts as 21).
//
// A missing parameter never scores 0: the result is then incomplete, its total is the sum of the
// parameters present and its risk a lower bound (what the present parameters alone already
// show). Thread-safety: all functions are pure.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sund::monitor {

// Recorded with every stored score, so a later change of the rules is traceable.
inline constexpr std::string_view kNews2RuleVersion = "RCP-NEWS2-2017";

enum class Spo2Scale : std::uint8_t { kScale1, kScale2 };

// ACVPU: alert, or new confusion, or responds to voice, to pain, or unresponsive.
enum class Consciousness : std::uint8_t { kAlert, kConfusion, kVoice, kPain, kUnresponsive };

enum class News2Parameter : std::uint8_t {
  kRespirationRate,
  kSpo2,
  kAirOrOxygen,
  kSystolicPressure,
  kPulse,
  kConsciousness,
  kTemperature,
};
inline constexpr std::size_t kNews2Parameters = 7;
// "respiration-rate", "spo2", "air-or-oxygen", "systolic-pressure", "pulse", "consciousness",
// "temperature".
std::string_view News2ParameterName(News2Parameter p);

// The latest value of each parameter within the scoring window; nullopt when none.
struct News2Inputs {
  std::optional<double> respiration_rate;  // breaths per minute
  std::optional<double> spo2;              // percent
  std::optional<bool> on_oxygen;           // true: supplemental oxygen; false: room air
  std::optional<double> systolic;          // mmHg
  std::optional<double> pulse;             // beats per minute
  std::optional<Consciousness> consciousness;
  std::optional<double> temperature;  // degrees Celsius
  Spo2Scale scale = Spo2Scale::kScale1;
};

// The RCP clinical risk bands, lowest first.
enum class News2Risk : std::uint8_t {
  kLow,        // total 0-4
  kLowMedium,  // a single parameter scored 3 (urgent ward-based response)
  kMedium,     // total 5-6 (key threshold for urgent response)
  kHigh,       // total 7 or more (emergency response)
};
std::string_view News2RiskName(News2Risk r);  // "low", "low-medium", "medium", "high"

struct News2Score {
  // Per parameter (indexed by News2Parameter); nullopt when it was missing.
  std::array<std::optional<int>, kNews2Parameters> sub{};
  int total = 0;           // sum of the present sub-scores
  bool complete = false;   // all seven present
  bool any_three = false;  // some parameter scored 3
  // The risk band; for an incomplete score, the least the present parameters already show.
  News2Risk risk = News2Risk::kLow;
  std::vector<News2Parameter> missing;
};

// Single-parameter scores, on values already validated (finite, not negative). SpO2 on scale 2
// needs to know about oxygen for values of 93 % and above: nullopt there when on_oxygen is
// unknown.
int ScoreRespirationRate(double breaths_per_minute);
int ScoreSpo2Scale1(double percent);
std::optional<int> ScoreSpo2Scale2(double percent, std::optional<bool> on_oxygen);
int ScoreAirOrOxygen(bool on_oxygen);
int ScoreSystolic(double mmhg);
int ScorePulse(double beats_per_minute);
int ScoreConsciousness(Consciousness c);
int ScoreTemperature(double celsius);

// The whole score. InvalidArgument, naming the parameter, for a value that is not finite, is
// negative, or is above a physiological ceiling (respiration 100/min, SpO2 100 %, systolic
// 400 mmHg, pulse 400/min, temperature 50 C); such a value must not reach the score.
Result<News2Score> ScoreNews2(const News2Inputs& in);

// Choosing the inputs: the latest value of each parameter among a patient's Observations
// (FHIR JSON) whose effective time lies within [now - window, now] and whose status is final,
// amended or corrected. Recognised codes (src/monitor/README.md): LOINC 9279-1 respiration rate,
// 59408-5 or 2708-6 SpO2 (%), 8867-4 heart rate, 8480-6 systolic pressure (alone or as a
// component of the 85354-9 panel), 8310-5 body temperature (Cel or [degF]), 3151-8 inhaled
// oxygen flow (> 0 L/min: on oxygen); and urn:sund:news2-parameter codes "consciousness"
// (valueCodeableConcept urn:sund:acvpu A, C, V, P or U) and "air-or-oxygen" (valueBoolean:
// true = supplemental oxygen). Observations that are not JSON, lack an id or a usable value are
// skipped. `derived_from` lists "Observation/ID" of each input chosen; `newest_ms` is the
// latest effective time among them (0 when none).
struct News2Selection {
  News2Inputs inputs;
  std::vector<std::string> derived_from;
  std::int64_t newest_ms = 0;
};
News2Selection SelectNews2Inputs(const std::vector<std::string>& observations, std::int64_t now_ms,
                                 std::int64_t window_ms, Spo2Scale scale);

// SNOMED CT 1104051000000101, "Royal College of Physicians NEWS2 (National Early Warning Score
// 2) total score": the code of the stored score.
inline constexpr std::string_view kNews2Snomed = "1104051000000101";

// What the stored score refers to.
struct News2Context {
  std::string_view patient;               // Patient id
  std::int64_t effective_ms = 0;          // the time of the newest input
  std::int64_t issued_ms = 0;             // when it was scored
  std::vector<std::string> derived_from;  // "Observation/ID" of each input used
};

// The score as a FHIR R4 Observation (JSON): status final, category survey, code SNOMED CT
// kNews2Snomed, subject, effectiveDateTime, issued, derivedFrom, method naming
// kNews2RuleVersion, the risk band as interpretation (urn:sund:news2-risk), and one component
// per parameter (urn:sund:news2-parameter) with its sub-score, or dataAbsentReason "unknown"
// when missing. A complete score has valueInteger = the total; an incomplete one has no value
// but dataAbsentReason "as-text" naming the missing parameters, so that no reader takes a
// partial sum for NEWS2 (its floor is in the interpretation and the components).
std::string News2ObservationJson(const News2Score& score, const News2Context& context);

}  // namespace sund::monitor
