#include "iomt/broker.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/crypto.h"

namespace sund::iomt {
namespace {

// Verifies: REQ-IOMT-053
TEST(Broker, PasswordHashMatchesMosquittoPasswd) {
  // A line written by Debian's `mosquitto_passwd -b FILE dev1 secret` (2.0.11).
  auto salt = crypto::Base64Decode("Z0frdRN/ojK0brU0");
  ASSERT_TRUE(salt.ok());
  EXPECT_EQ(MosquittoPasswordHash("secret", *salt, 101),
            "$7$101$Z0frdRN/ojK0brU0$3sZKUwHd2TGP+aQYq5zjhdvxmy6SLXMps3uDa40mu18+sJUdELWQ+3zrBU5z"
            "AM22eMJe6BGJ4fU6EM8tPayBjg==");
}

// Verifies: REQ-IOMT-045
TEST(Broker, TopicsNameTheirDevice) {
  EXPECT_EQ(MeasurementTopic("oxi-7"), "sund/v1/devices/oxi-7/measurements");
  EXPECT_EQ(DeviceOfTopic("sund/v1/devices/oxi-7/measurements"), "oxi-7");
  EXPECT_EQ(DeviceOfTopic("sund/v1/devices//measurements"), "");
  EXPECT_EQ(DeviceOfTopic("sund/v1/devices/a/b/measurements"), "");
  EXPECT_EQ(DeviceOfTopic("other/oxi-7/measurements"), "");
}

// Issue #11 (found by tests/fuzz/fuzz_iomt, a heap overflow under ASan): a topic whose prefix and
// suffix overlap names no device, and nothing is read beyond it.
// Verifies: REQ-IOMT-045
TEST(Broker, Issue11OverlappingPrefixAndSuffixNameNoDevice) {
  EXPECT_EQ(DeviceOfTopic("sund/v1/devices/measurements"), "");
  EXPECT_EQ(DeviceOfTopic("sund/v1/devices/"), "");
  EXPECT_EQ(DeviceOfTopic("sund/v1/devices/x/measurements"), "x");
}

// Verifies: REQ-IOMT-051, REQ-IOMT-053, REQ-IOMT-054
TEST(Broker, PasswordFileKeepsOneLinePerUserAndConfigAllowsNoAnonymous) {
  auto dir = std::filesystem::temp_directory_path() / ("sund-broker-" + crypto::RandomToken(6));
  BrokerConfig c;
  c.dir = dir.string();
  c.port = 18999;
  auto urls = WriteBrokerConfig(c);
  ASSERT_TRUE(urls.ok()) << urls.status().message();
  EXPECT_TRUE(urls->gateway.starts_with("mqtt://sund-gateway:"));
  EXPECT_TRUE(urls->gateway.ends_with("@127.0.0.1:18999"));
  EXPECT_TRUE(urls->simulator.empty());
  std::string passwd = (dir / "passwd").string();
  ASSERT_TRUE(SetBrokerPassword(passwd, "oxi-7", "0123456789abcdef").ok());
  ASSERT_TRUE(SetBrokerPassword(passwd, "oxi-7", "fedcba9876543210").ok());
  EXPECT_FALSE(SetBrokerPassword(passwd, "bad:user", "0123456789abcdef").ok());
  EXPECT_FALSE(SetBrokerPassword(passwd, "oxi-8", "short").ok());
  std::ifstream in(passwd);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 2);  // the gateway and oxi-7 once
  std::ifstream conf(dir / "mosquitto.conf");
  std::string text{std::istreambuf_iterator<char>(conf), {}};
  EXPECT_NE(text.find("allow_anonymous false"), std::string::npos);
  EXPECT_EQ(std::filesystem::status(passwd).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  std::filesystem::remove_all(dir);
}

// The line of `user` in a Mosquitto password file, or "" when it has none.
std::string LineOf(const std::filesystem::path& passwd, const std::string& user) {
  std::ifstream in(passwd);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(user + ":")) return line;
  }
  return "";
}

// Running broker-config again (another port, no simulator any more) must not take the devices'
// credentials away: each was printed once, by `sund iomt credentials`, and is not given again.
// Verifies: REQ-IOMT-069
TEST(Broker, ConfigRunAgainKeepsTheDevicesCredentials) {
  auto dir = std::filesystem::temp_directory_path() / ("sund-broker-" + crypto::RandomToken(6));
  BrokerConfig c;
  c.dir = dir.string();
  c.port = 18999;
  c.simulator = true;
  auto first = WriteBrokerConfig(c);
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto passwd = dir / "passwd";
  ASSERT_TRUE(SetBrokerPassword(passwd.string(), "oxi-7", "0123456789abcdef").ok());
  const std::string device = LineOf(passwd, "oxi-7");
  const std::string gateway = LineOf(passwd, "sund-gateway");
  ASSERT_FALSE(device.empty());
  ASSERT_FALSE(gateway.empty());
  ASSERT_FALSE(LineOf(passwd, "sund-simulator").empty());

  c.port = 19000;
  c.simulator = false;
  auto second = WriteBrokerConfig(c);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(LineOf(passwd, "oxi-7"), device);  // the same hash: its password still works
  EXPECT_FALSE(LineOf(passwd, "sund-gateway").empty());
  EXPECT_NE(LineOf(passwd, "sund-gateway"), gateway);  // a fresh one, in the URL printed
  EXPECT_NE(second->gateway, first->gateway);
  EXPECT_TRUE(second->gateway.ends_with("@127.0.0.1:19000"));
  EXPECT_EQ(LineOf(passwd, "sund-simulator"), "");  // not asked for this time
  std::ifstream in(passwd);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 2);  // the device and the gateway
  std::filesystem::remove_all(dir);
}

// Device ids may hold ':' (the payload's device is 1-128 of A-Z a-z 0-9 . _ : -), Mosquitto's
// password file may not: such a device gets an error that says so, and nothing is written.
// Verifies: REQ-IOMT-070
TEST(Broker, DeviceIdWithColonIsRefusedCredentialsWithAClearError) {
  auto dir = std::filesystem::temp_directory_path() / ("sund-broker-" + crypto::RandomToken(6));
  std::filesystem::create_directories(dir);
  auto passwd = dir / "passwd";
  Status s = SetBrokerPassword(passwd.string(), "urn:oxi:7", "0123456789abcdef");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("a device id with ':' cannot have broker credentials"),
            std::string::npos)
      << s.message();
  EXPECT_FALSE(std::filesystem::exists(passwd));
  // Other invalid names keep the general message.
  Status slash = SetBrokerPassword(passwd.string(), "oxi/7", "0123456789abcdef");
  EXPECT_EQ(slash.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(slash.message().find("':'"), std::string::npos) << slash.message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sund::iomt
