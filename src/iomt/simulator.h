// Simulated home monitoring (issue #5: `sund iomt simulate`, the demo and the benchmarks):
// citizens with a measuring hub each (pulse, SpO2, respiration rate, temperature and blood
// pressure every round; weight once a day; glucose once a day for every third citizen), with a
// daily rhythm, measurement noise, hub batteries that drain, and some citizens deteriorating
// over days the way Covid-19 patients at home did: faster breathing and pulse, falling
// saturation and blood pressure, fever.
//
// Everything is fictitious and deterministic from the seed: Patient `sim-p-<i>`, Device
// `sim-hub-<i>` with the identifier `urn:sund:device|sim-hub-<i>`, and a DeviceUseStatement from
// the simulation's start. Patients 0..K-1 deteriorate. Thread-safety: one Simulator per thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "core/status.h"

namespace sund::iomt {

struct SimulationOptions {
  int patients = 10;
  double rounds_per_hour = 4;  // measurement rounds per citizen per simulated hour
  int deteriorating = 1;
  std::int64_t start_ms = 0;  // the first simulated instant
  std::int64_t span_ms = 0;   // simulated time the run covers (0: open-ended)
  std::uint64_t seed = 1;
};

// One hub's message, due at `time_ms` in simulated time.
struct SimulatedPayload {
  int patient = 0;
  std::string device;  // "sim-hub-<i>"
  std::int64_t time_ms = 0;
  int measurements = 0;
  std::string json;  // the device payload of docs/iomt.md
};

class Simulator {
 public:
  explicit Simulator(SimulationOptions options);
  // The next payload in simulated-time order (all citizens interleaved).
  SimulatedPayload Next();
  // How far patient `i` has deteriorated at `time_ms`: 0 (well) to 1 (very ill).
  double Severity(int patient, std::int64_t time_ms) const;

  static std::string PatientId(int i);
  static std::string DeviceId(int i);
  // A FHIR transaction Bundle that creates (by PUT, so running twice changes nothing) the
  // Patients, Devices and DeviceUseStatements of patients [first, last).
  std::string SetupBundle(int first, int last) const;

 private:
  struct Due {
    std::int64_t time_ms;
    int patient;
    bool operator>(const Due& o) const {
      return time_ms != o.time_ms ? time_ms > o.time_ms : patient > o.patient;
    }
  };
  struct Citizen {
    double heart_rate, respiration, spo2, temperature, systolic, diastolic, weight, glucose;
    double battery;  // percent
    std::int64_t last_daily_ms = -1;
    std::mt19937_64 rng;
  };
  SimulationOptions options_;
  std::int64_t interval_ms_;
  std::vector<Citizen> citizens_;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
};

struct SimulationRun {
  std::int64_t payloads = 0;
  std::int64_t measurements = 0;
  std::int64_t last_ms = 0;  // the simulated time reached
};

// Runs `sim` on the wall clock: each payload when it is due (its simulated offset from
// options.start_ms divided by `speed`, and never before its own time, so a run faster than real
// time slows to real time when it reaches the present), handed to `sink`, until options.span_ms
// is simulated (0: until `stop`). `sent` (optional) is told of each payload sent. Stops at the
// sink's first error.
Result<SimulationRun> RunPaced(Simulator& sim, const SimulationOptions& options, double speed,
                               const std::function<Status(const SimulatedPayload&)>& sink,
                               const std::atomic<bool>& stop,
                               const std::function<void(const SimulatedPayload&)>& sent = {});

}  // namespace sund::iomt
