// `sund iomt simulate`: simulated citizens' hubs sending measurements (src/iomt/simulator.h)
// over MQTT or HTTP, paced in simulated time, with progress on a terminal and a summary (the
// refusals counted over HTTP only: over MQTT they are in the gateway's dead letters).
#include "iomt_simulate.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>

#include "core/json.h"
#include "core/json_bounded.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/time.h"
#include "http/client.h"
#include "iomt/broker.h"
#include "iomt/mqtt.h"
#include "iomt/simulator.h"

namespace {

std::atomic<bool> interrupted{false};  // set by SIGINT/SIGTERM (lock-free, so signal-safe)

}  // namespace

sund::Status RunSimulation(const SimulateFlags& f) {
  using sund::Result;
  using sund::Status;
  if (f.mqtt.empty() && f.url.empty()) {
    return sund::InvalidArgument("give --mqtt URL (publish to the broker) or --url BASE");
  }
  const std::int64_t now_ms = sund::SystemClock::Get().NowMicros() / 1000;
  constexpr std::int64_t kWeekMs = 7LL * 24 * 3600 * 1000;
  sund::iomt::SimulationOptions so;
  so.patients = f.patients;
  so.rounds_per_hour = f.rate;
  so.deteriorating = std::min(f.deteriorating, f.patients);
  so.seed = f.seed;
  so.span_ms = static_cast<std::int64_t>(f.duration_s * 1000 * f.speed);
  // Far enough back that no simulated time lies in the future: after w wall-clock seconds the
  // simulation is at start + w x speed and the clock at now + w, so a run of D seconds starts
  // D x (speed - 1) back and ends at the present (at speed 1: starts now). Open-ended runs
  // faster than real time start a week back and slow to real time when they reach now.
  const auto duration_ms = static_cast<std::int64_t>(f.duration_s * 1000);
  so.start_ms = so.span_ms > 0 ? now_ms - so.span_ms + duration_ms
                               : (f.speed > 1 ? now_ms - kWeekMs : now_ms);
  sund::iomt::Simulator sim(so);

  std::unique_ptr<sund::http::Client> http;
  sund::http::Headers headers;
  headers.Set("Content-Type", "application/fhir+json");
  if (!f.token.empty()) headers.Set("Authorization", "Bearer " + f.token);
  std::string base_path;
  if (!f.url.empty()) {
    SUND_ASSIGN_OR_RETURN(auto url, sund::http::ParseHttpUrl(f.url));
    http = std::make_unique<sund::http::Client>(url.host, url.port, std::chrono::milliseconds(0),
                                                sund::http::ClientTls{url.tls, {}});
    base_path = url.path;
    // The citizens, their hubs and the hubs' assignments, 100 citizens per transaction.
    for (int first = 0; first < f.patients; first += 100) {
      std::string bundle = sim.SetupBundle(first, std::min(first + 100, f.patients));
      SUND_ASSIGN_OR_RETURN(auto r, http->Send("POST", base_path + "/fhir", headers, bundle));
      if (r.status != 200) {
        return sund::Status(
            sund::StatusCode::kUnavailable,
            "setting up the simulated citizens failed: HTTP " + std::to_string(r.status));
      }
    }
    std::fprintf(stderr, "simulate: %d citizens with a hub each are set up at %s\n", f.patients,
                 f.url.c_str());
  }
  std::unique_ptr<sund::iomt::mqtt::Client> mqtt;
  if (!f.mqtt.empty()) {
    SUND_ASSIGN_OR_RETURN(auto url, sund::iomt::mqtt::ParseUrl(f.mqtt));
    sund::iomt::mqtt::ClientOptions co;
    co.url = url;
    co.client_id = "sund-simulator-" + std::to_string(getpid());
    SUND_ASSIGN_OR_RETURN(mqtt, sund::iomt::mqtt::Client::Connect(co));
  }

  interrupted = false;
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  sund::ProgressBar bar("simulate", static_cast<std::uint64_t>(so.span_ms), "measurements");
  const auto wall_start = std::chrono::steady_clock::now();
  std::int64_t refused = 0;
  std::int64_t last_ms = so.start_ms;
  auto sink = [&](const sund::iomt::SimulatedPayload& p) -> sund::Status {
    if (mqtt != nullptr) {
      return mqtt->Publish(sund::iomt::MeasurementTopic(p.device), p.json, 1);
    }
    SUND_ASSIGN_OR_RETURN(auto r,
                          http->Send("POST", base_path + "/iomt/v1/measurements", headers, p.json));
    if (r.status != 200) {
      return sund::Status(sund::StatusCode::kUnavailable,
                          "the gateway answered HTTP " + std::to_string(r.status));
    }
    rapidjson::Document doc;
    sund::json::ParseBounded(doc, r.body);
    const auto* list = doc.IsObject() ? sund::json::Find(doc, "refused") : nullptr;
    if (list != nullptr && list->IsArray()) refused += list->Size();
    return sund::Status::Ok();
  };
  auto progress = [&](const sund::iomt::SimulatedPayload& p) {
    bar.Add(static_cast<std::uint64_t>(std::max<std::int64_t>(p.time_ms - last_ms, 0)),
            static_cast<std::uint64_t>(p.measurements));
    last_ms = std::max(last_ms, p.time_ms);
  };
  SUND_ASSIGN_OR_RETURN(sund::iomt::SimulationRun run,
                        sund::iomt::RunPaced(sim, so, f.speed, sink, interrupted, progress));
  std::int64_t payloads = run.payloads;
  std::int64_t measurements = run.measurements;
  if (mqtt != nullptr) {
    SUND_RETURN_IF_ERROR(mqtt->WaitAcknowledged(std::chrono::seconds(60)));
    mqtt->Disconnect();
  }
  bar.Finish();
  double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  // Over MQTT a PUBACK says that the broker took the message, nothing about its filing: the
  // gateway's dead letters alone know the refusals.
  std::string refusals = mqtt != nullptr ? std::string("refusals not known over MQTT")
                                         : std::to_string(refused) + " refused";
  std::printf(
      "simulate: %lld payloads, %lld measurements (%s) from %d citizens (%d "
      "deteriorating) in %.1f s: %.0f measurements/s; simulated %s to %s\n",
      static_cast<long long>(payloads), static_cast<long long>(measurements), refusals.c_str(),
      f.patients, so.deteriorating, wall_s,
      wall_s > 0 ? static_cast<double>(measurements) / wall_s : 0.0,
      sund::FormatInstant(so.start_ms * 1000).c_str(), sund::FormatInstant(last_ms * 1000).c_str());
  return sund::Status::Ok();
}
