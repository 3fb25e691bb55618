// `sund iomt simulate` (docs/iomt.md, "Simulating devices").
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

struct SimulateFlags {
  int patients = 10;
  double rate = 4;  // measurement rounds per citizen per simulated hour
  int deteriorating = 1;
  std::string mqtt;
  std::string url;
  std::string token;
  double duration_s = 0;  // wall-clock seconds; 0: until interrupted
  double speed = 1;
  std::uint64_t seed = 1;
};

sund::Status RunSimulation(const SimulateFlags& flags);
