#include "iomt/simulator.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <thread>

#include "core/time.h"
#include "fhir/json_writer.h"

namespace sund::iomt {
namespace {

constexpr std::int64_t kHourMs = 3600LL * 1000;
constexpr std::int64_t kDayMs = 24 * kHourMs;

double Round(double v, int decimals) {
  double f = std::pow(10.0, decimals);
  return std::round(v * f) / f;
}

void WriteMeasurement(fhir::JsonWriter& w, std::string_view mdc, double value,
                      std::string_view unit) {
  w.StartObject();
  w.Key("code");
  w.StartObject();
  w.Key("system");
  w.String("mdc");
  w.Key("code");
  fhir::WriteString(w, mdc);
  w.EndObject();
  w.Key("value");
  w.Double(value);
  w.Key("unit");
  fhir::WriteString(w, unit);
  w.EndObject();
}

}  // namespace

Simulator::Simulator(SimulationOptions options) : options_(std::move(options)) {
  interval_ms_ = std::max<std::int64_t>(
      1000, static_cast<std::int64_t>(kHourMs / std::max(options_.rounds_per_hour, 1e-6)));
  citizens_.reserve(static_cast<std::size_t>(std::max(options_.patients, 0)));
  for (int i = 0; i < options_.patients; ++i) {
    Citizen c;
    c.rng.seed(options_.seed * 1'000'003 + static_cast<std::uint64_t>(i));
    std::uniform_real_distribution<double> u(0, 1);
    c.heart_rate = 60 + 25 * u(c.rng);
    c.respiration = 12 + 6 * u(c.rng);
    c.spo2 = 95 + 4 * u(c.rng);
    c.temperature = 36.4 + 0.6 * u(c.rng);
    c.systolic = 110 + 30 * u(c.rng);
    c.diastolic = c.systolic * (0.58 + 0.08 * u(c.rng));
    c.weight = 55 + 55 * u(c.rng);
    c.glucose = 5 + 4 * u(c.rng);
    c.battery = 60 + 40 * u(c.rng);
    // Citizens measure at different moments of the interval.
    auto first = options_.start_ms + static_cast<std::int64_t>(u(c.rng) * interval_ms_);
    citizens_.push_back(std::move(c));
    due_.push(Due{first, i});
  }
}

std::string Simulator::PatientId(int i) { return "sim-p-" + std::to_string(i); }
std::string Simulator::DeviceId(int i) { return "sim-hub-" + std::to_string(i); }

double Simulator::Severity(int patient, std::int64_t time_ms) const {
  if (patient >= options_.deteriorating) return 0;
  // Illness sets in a fifth into the run and peaks at four fifths (open-ended runs: after half
  // a day, peaking two days later).
  std::int64_t onset = options_.span_ms > 0 ? options_.span_ms / 5 : kDayMs / 2;
  std::int64_t peak = options_.span_ms > 0 ? options_.span_ms * 4 / 5 : onset + 2 * kDayMs;
  double x = static_cast<double>(time_ms - options_.start_ms - onset) /
             static_cast<double>(std::max<std::int64_t>(peak - onset, 1));
  x = std::clamp(x, 0.0, 1.0);
  return x * x * (3 - 2 * x);  // smoothstep
}

SimulatedPayload Simulator::Next() {
  Due due = due_.top();
  due_.pop();
  Citizen& c = citizens_[static_cast<std::size_t>(due.patient)];
  std::normal_distribution<double> noise(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  double s = Severity(due.patient, due.time_ms);
  // Daily rhythm, highest in the late afternoon.
  double hour = static_cast<double>(due.time_ms % kDayMs) / kHourMs;
  double rhythm = std::cos(2 * std::numbers::pi * (hour - 16) / 24);

  double hr =
      std::clamp(std::round(c.heart_rate + 4 * rhythm + 40 * s + 3 * noise(c.rng)), 35.0, 210.0);
  double rr = std::clamp(std::round(c.respiration + 12 * s + noise(c.rng)), 6.0, 45.0);
  double spo2 = std::clamp(std::round(c.spo2 - 10 * s + 0.8 * noise(c.rng)), 70.0, 100.0);
  double temp = std::clamp(Round(c.temperature + 0.25 * rhythm + 1.8 * s + 0.15 * noise(c.rng), 1),
                           34.0, 42.0);
  double sys = std::round(c.systolic + 5 * rhythm - 35 * s + 6 * noise(c.rng));
  double dia = std::min(std::round(c.diastolic - 15 * s + 4 * noise(c.rng)), sys - 15);

  SimulatedPayload out;
  out.patient = due.patient;
  out.device = DeviceId(due.patient);
  out.time_ms = due.time_ms;  // to the millisecond: latency is measured from it
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  w.StartObject();
  w.Key("device");
  fhir::WriteString(w, out.device);
  w.Key("time");
  fhir::WriteString(w, FormatInstant(out.time_ms * 1000));
  w.Key("battery");
  w.Int(static_cast<int>(c.battery));
  w.Key("measurements");
  w.StartArray();
  WriteMeasurement(w, "149530", hr, "/min");     // pulse rate (oximeter)
  WriteMeasurement(w, "150456", spo2, "%");      // SpO2
  WriteMeasurement(w, "151562", rr, "/min");     // respiration rate
  WriteMeasurement(w, "150364", temp, "Cel");    // body temperature
  WriteMeasurement(w, "150021", sys, "mm[Hg]");  // systolic
  WriteMeasurement(w, "150022", dia, "mm[Hg]");  // diastolic
  out.measurements = 6;
  if (c.last_daily_ms < 0 || due.time_ms - c.last_daily_ms >= kDayMs) {
    c.last_daily_ms = due.time_ms;
    WriteMeasurement(w, "188736", Round(c.weight + 0.3 * noise(c.rng), 1), "kg");
    ++out.measurements;
    if (due.patient % 3 == 0) {
      WriteMeasurement(w, "160184", Round(std::max(2.5, c.glucose + 0.8 * noise(c.rng)), 1),
                       "mmol/L");
      ++out.measurements;
    }
  }
  w.EndArray();
  w.EndObject();
  out.json.assign(sb.GetString(), sb.GetSize());

  // The hub drains with every round and is charged when nearly empty.
  c.battery -= 0.4;
  if (c.battery < 10) c.battery = 100;
  auto jitter =
      static_cast<std::int64_t>((u(c.rng) - 0.5) * 0.2 * static_cast<double>(interval_ms_));
  due_.push(Due{due.time_ms + interval_ms_ + jitter, due.patient});
  return out;
}

std::string Simulator::SetupBundle(int first, int last) const {
  rapidjson::StringBuffer sb;
  fhir::JsonWriter w(sb);
  auto put = [&w](std::string_view url, auto&& body) {
    w.StartObject();
    w.Key("resource");
    w.StartObject();
    body();
    w.EndObject();
    w.Key("request");
    w.StartObject();
    w.Key("method");
    w.String("PUT");
    w.Key("url");
    fhir::WriteString(w, url);
    w.EndObject();
    w.EndObject();
  };
  w.StartObject();
  w.Key("resourceType");
  w.String("Bundle");
  w.Key("type");
  w.String("transaction");
  w.Key("entry");
  w.StartArray();
  for (int i = first; i < last; ++i) {
    std::string patient = PatientId(i);
    std::string device = DeviceId(i);
    std::string use = "sim-use-" + std::to_string(i);
    put("Patient/" + patient, [&] {
      w.Key("resourceType");
      w.String("Patient");
      w.Key("id");
      fhir::WriteString(w, patient);
      w.Key("name");
      w.StartArray();
      w.StartObject();
      w.Key("family");
      w.String("Simulatorsen");
      w.Key("given");
      w.StartArray();
      fhir::WriteString(w, "Borger " + std::to_string(i));
      w.EndArray();
      w.EndObject();
      w.EndArray();
      w.Key("gender");
      w.String(i % 2 == 0 ? "female" : "male");
      w.Key("birthDate");
      fhir::WriteString(w, std::to_string(1935 + i % 50) + "-0" + std::to_string(1 + i % 9) + "-1" +
                               std::to_string(i % 10));
    });
    put("Device/" + device, [&] {
      w.Key("resourceType");
      w.String("Device");
      w.Key("id");
      fhir::WriteString(w, device);
      w.Key("identifier");
      w.StartArray();
      fhir::WriteIdentifier(w, "urn:sund:device", device);
      w.EndArray();
      w.Key("status");
      w.String("active");
      w.Key("type");
      w.StartObject();
      w.Key("text");
      w.String("home-monitoring hub (simulated)");
      w.EndObject();
    });
    put("DeviceUseStatement/" + use, [&] {
      w.Key("resourceType");
      w.String("DeviceUseStatement");
      w.Key("id");
      fhir::WriteString(w, use);
      w.Key("status");
      w.String("active");
      w.Key("subject");
      fhir::WriteReference(w, "Patient/" + patient);
      w.Key("device");
      fhir::WriteReference(w, "Device/" + device);
      w.Key("timingPeriod");
      w.StartObject();
      w.Key("start");
      fhir::WriteString(w, FormatInstant(options_.start_ms * 1000));
      w.EndObject();
    });
  }
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

Result<SimulationRun> RunPaced(Simulator& sim, const SimulationOptions& o, double speed,
                               const std::function<Status(const SimulatedPayload&)>& sink,
                               const std::atomic<bool>& stop,
                               const std::function<void(const SimulatedPayload&)>& sent) {
  SimulationRun run;
  run.last_ms = o.start_ms;
  const auto wall_start = std::chrono::steady_clock::now();
  // Sleeps in short steps so `stop` is noticed.
  auto sleep_until = [&stop](auto pred) {
    while (!stop.load() && !pred()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  while (!stop.load()) {
    SimulatedPayload p = sim.Next();
    if (o.span_ms > 0 && p.time_ms >= o.start_ms + o.span_ms) break;
    auto due = wall_start + std::chrono::microseconds(static_cast<std::int64_t>(
                                static_cast<double>(p.time_ms - o.start_ms) * 1000 / speed));
    if (due > std::chrono::steady_clock::now() + std::chrono::milliseconds(20)) {
      sleep_until([due] { return std::chrono::steady_clock::now() >= due; });
    } else {
      std::this_thread::sleep_until(due);
    }
    sleep_until([&p] { return p.time_ms <= SystemClock::Get().NowMicros() / 1000; });
    if (stop.load()) break;
    SUND_RETURN_IF_ERROR(sink(p));
    ++run.payloads;
    run.measurements += p.measurements;
    run.last_ms = std::max(run.last_ms, p.time_ms);
    if (sent) sent(p);
  }
  return run;
}

}  // namespace sund::iomt
