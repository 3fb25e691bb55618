// The Mosquitto broker's side of device authentication (docs/iomt.md, "MQTT"): the password
// file in Mosquitto 2.0's format and a configuration in which no one connects anonymously, the
// gateway user may only read the measurement topics, and each device may only publish to its own
// topic (`sund/v1/devices/<user name>/measurements`). `sund iomt broker-config` and
// `sund iomt credentials` are the command-line face. Thread-safety: functions are independent;
// two processes changing one password file at once may lose one change (the file is replaced
// whole).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sund::iomt {

inline constexpr std::string_view kMeasurementTopicFilter = "sund/v1/devices/+/measurements";
inline constexpr std::string_view kGatewayUser = "sund-gateway";
// A user that may publish for every device: `sund iomt simulate` in demos and benchmarks only.
inline constexpr std::string_view kSimulatorUser = "sund-simulator";

// The device a measurement topic names ("sund/v1/devices/oxi-7/measurements" -> "oxi-7"), or
// empty when the topic is not one.
std::string_view DeviceOfTopic(std::string_view topic);
std::string MeasurementTopic(std::string_view device);

// Mosquitto 2.0's password hash: "$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>".
std::string MosquittoPasswordHash(std::string_view password, std::string_view salt, int iterations);

// Sets `user`'s password in a Mosquitto password file (created when missing, mode 0600, replaced
// atomically), with a fresh salt; the other users' lines stay. InvalidArgument for a user name
// that cannot be an MQTT user and device id (1-128 of A-Z a-z 0-9 . _ -), with its own message
// for a device id with ':' (valid over HTTP, but the file separates with it); Internal when the
// file exists but cannot be read.
Status SetBrokerPassword(const std::string& password_file, std::string_view user,
                         std::string_view password);

struct BrokerConfig {
  std::string dir;  // where mosquitto.conf, passwd, acl and the broker's persistence go
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  std::string gateway_password;  // a random one when empty
  bool simulator = false;        // also the simulator user (never with real devices)
};

struct BrokerUrls {
  std::string gateway;    // for `sund serve --mqtt`: mqtt://sund-gateway:PASSWORD@HOST:PORT
  std::string simulator;  // for `sund iomt simulate --mqtt`, when asked for
};

// Writes DIR/mosquitto.conf, DIR/acl and DIR/passwd (with the gateway user, and the simulator's
// when asked) and returns their URLs with fresh passwords. Run again, it keeps the devices' users
// already in DIR/passwd, and removes the simulator user when it is not asked for. The
// configuration keeps
// QoS 1 messages for a disconnected gateway (persistent sessions, no queue limit) and lets 1,000
// be in flight to it at once, so a gateway that commits in batches is not starved.
Result<BrokerUrls> WriteBrokerConfig(const BrokerConfig& config);

}  // namespace sund::iomt
