// `sund iomt gateway` (docs/iomt.md, "The gateway as its own service").
#pragma once

#include <string>

#include "core/status.h"

struct GatewayFlags {
  std::string fhir;   // the remote Sund's FHIR base URL
  std::string token;  // a system/ token there (may read Devices, DeviceUseStatements, Consents and
                      // create Observations)
  std::string mqtt;
  std::string data = "gateway-data";  // the dead letters and device activity
  std::string consent_policy = "danish";
  std::string templates;
};

sund::Status RunGateway(const GatewayFlags& flags);
