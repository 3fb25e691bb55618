// `sund demo`: the demo's accounts and app, and its own Mosquitto broker for the simulated
// home-monitoring devices (docs/demo.md). Everything here is for demonstrations: the passwords
// are printed on purpose and the data is synthetic.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "core/status.h"
#include "iomt/broker.h"
#include "storage/store.h"

// The demo's accounts, created on first start (an existing account is left as it is): a
// citizen linked to the first Patient, a nurse linked to the first Practitioner, an app
// developer, an administrator, and a sandbox citizen (a simulated patient) for trying SMART
// launches; and a public demo app.
sund::Status SetUpDemoAccounts(const std::string& data, sund::storage::Store& store);
// "user / password" of each demo account, for the welcome text.
std::string DemoLogins();

// A Mosquitto broker run by the demo on a free loopback port, configured by
// iomt::WriteBrokerConfig in DATA/mosquitto (no anonymous access; the gateway and the
// simulator have users of their own). Stopped (SIGTERM) when destroyed, and by the kernel when
// sund dies (PR_SET_PDEATHSIG).
class DemoBroker {
 public:
  // Unavailable when Debian's mosquitto is not installed or does not come up within 10 s.
  static sund::Result<std::unique_ptr<DemoBroker>> Start(const std::string& data);
  ~DemoBroker();
  DemoBroker(const DemoBroker&) = delete;
  DemoBroker& operator=(const DemoBroker&) = delete;

  const sund::iomt::BrokerUrls& urls() const { return urls_; }
  std::uint16_t port() const { return port_; }

 private:
  DemoBroker() = default;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  sund::iomt::BrokerUrls urls_;
};
