#include "iomt/broker.h"

#include <openssl/evp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/crypto.h"

namespace sund::iomt {
namespace {

constexpr std::string_view kTopicPrefix = "sund/v1/devices/";
constexpr std::string_view kTopicSuffix = "/measurements";
// Mosquitto's own tool uses 101; the broker reads the count from each line, and devices connect
// rarely, so a stronger count costs little.
constexpr int kIterations = 10'000;

bool ValidUser(std::string_view user) {
  if (user.empty() || user.size() > 128) return false;
  for (char c : user) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The lines of the password file `path` other than `user`'s; none when there is no file yet.
// Internal when the file is there but cannot be read: replacing it would drop every device.
Result<std::vector<std::string>> OtherUsers(const std::string& path, std::string_view user) {
  std::vector<std::string> lines;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return Internal("cannot read " + path + ": " + ec.message());
    return lines;
  }
  std::ifstream in(path);
  if (!in) return Internal("cannot read " + path);
  const std::string prefix = std::string(user) + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.starts_with(prefix)) continue;
    lines.push_back(std::move(line));
  }
  if (in.bad()) return Internal("cannot read " + path);
  return lines;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

// Writes `text` to `path` through a temporary file and a rename, readable by the owner only.
Status ReplaceFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Internal("cannot write " + tmp);
    out << text;
    if (!out.flush()) return Internal("cannot write " + tmp);
  }
  if (chmod(tmp.c_str(), 0600) != 0) return Internal("cannot chmod " + tmp);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Internal("cannot replace " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

std::string_view DeviceOfTopic(std::string_view topic) {
  // Longer than prefix and suffix together: they share no characters of the topic
  // ("sund/v1/devices/measurements" has both, overlapping; found by tests/fuzz/fuzz_iomt).
  if (topic.size() <= kTopicPrefix.size() + kTopicSuffix.size() ||
      !topic.starts_with(kTopicPrefix) || !topic.ends_with(kTopicSuffix)) {
    return {};
  }
  topic.remove_prefix(kTopicPrefix.size());
  topic.remove_suffix(kTopicSuffix.size());
  if (topic.empty() || topic.find('/') != std::string_view::npos) return {};
  return topic;
}

std::string MeasurementTopic(std::string_view device) {
  return std::string(kTopicPrefix) + std::string(device) + std::string(kTopicSuffix);
}

std::string MosquittoPasswordHash(std::string_view password, std::string_view salt,
                                  int iterations) {
  unsigned char hash[64];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha512(), sizeof hash, hash);
  return "$7$" + std::to_string(iterations) + "$" + crypto::Base64Encode(salt) + "$" +
         crypto::Base64Encode({reinterpret_cast<const char*>(hash), sizeof hash});
}

Status SetBrokerPassword(const std::string& password_file, std::string_view user,
                         std::string_view password) {
  if (user.find(':') != std::string_view::npos) {
    // Device ids may hold ':' (the HTTP gateway takes them), the broker's users may not.
    return InvalidArgument(
        "a device id with ':' cannot have broker credentials (Mosquitto's password file "
        "separates the user name with ':'); give an MQTT device an id without ':'");
  }
  if (!ValidUser(user)) {
    return InvalidArgument("an MQTT user (device id) is 1-128 of A-Z a-z 0-9 . _ -");
  }
  if (password.size() < 16) return InvalidArgument("a broker password has at least 16 characters");
  SUND_ASSIGN_OR_RETURN(std::vector<std::string> lines, OtherUsers(password_file, user));
  lines.push_back(std::string(user) + ":" +
                  MosquittoPasswordHash(password, crypto::RandomBytes(12), kIterations));
  return ReplaceFile(password_file, JoinLines(lines));
}

Result<BrokerUrls> WriteBrokerConfig(const BrokerConfig& c) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(c.dir, ec);
  if (ec) return Internal("cannot create " + c.dir + ": " + ec.message());
  std::string dir = fs::absolute(c.dir).lexically_normal().string();
  if (!dir.ends_with('/')) dir += '/';
  // The files are the writer's alone (0600): a broker started as root must run as the same
  // user to read them (it would otherwise switch to the user "mosquitto").
  const passwd* owner = getpwuid(geteuid());
  std::ostringstream conf;
  conf << "# Written by sund iomt broker-config (docs/iomt.md, MQTT).\n";
  if (owner != nullptr) conf << "user " << owner->pw_name << "\n";
  conf << "listener " << c.port << " " << c.host << "\n"
       << "allow_anonymous false\n"
       << "password_file " << dir << "passwd\n"
       << "acl_file " << dir << "acl\n"
       << "# The gateway's session and its unacknowledged QoS 1 messages survive its restarts\n"
       << "# (and the broker's: persistence), with no limit on what is kept for it.\n"
       << "persistence true\n"
       << "persistence_location " << dir << "\n"
       << "max_queued_messages 0\n"
       << "max_inflight_messages 1000\n"
       << "max_packet_size 1048576\n"
       << "log_dest file " << dir << "mosquitto.log\n"
       << "log_type error\nlog_type warning\nlog_type notice\n";
  SUND_RETURN_IF_ERROR(ReplaceFile(dir + "mosquitto.conf", conf.str()));
  std::string gateway(kGatewayUser);
  std::string simulator(kSimulatorUser);
  std::string filter(kMeasurementTopicFilter);
  std::string acl = "# Written by sund iomt broker-config (docs/iomt.md, MQTT).\n";
  acl += "# The gateway reads every device's measurements.\n";
  acl += "user " + gateway + "\ntopic read " + filter + "\n\n";
  if (c.simulator) {
    acl += "# The simulator publishes for every device (demos and benchmarks only).\n";
    acl += "user " + simulator + "\ntopic write " + filter + "\n\n";
  }
  acl += "# A device (user name = device id) publishes only to its own topic.\n";
  acl += "pattern write " + MeasurementTopic("%u") + "\n";
  SUND_RETURN_IF_ERROR(ReplaceFile(dir + "acl", acl));
  // The devices' credentials stay (they are given once, by `sund iomt credentials`); the gateway
  // and the simulator get fresh passwords below, and a simulator no longer asked for loses its.
  if (!c.simulator) {
    SUND_ASSIGN_OR_RETURN(std::vector<std::string> kept, OtherUsers(dir + "passwd", simulator));
    if (fs::exists(dir + "passwd", ec)) {
      SUND_RETURN_IF_ERROR(ReplaceFile(dir + "passwd", JoinLines(kept)));
    }
  }
  auto user_url = [&](const std::string& user, std::string password) -> Result<std::string> {
    if (password.empty()) password = crypto::RandomToken(24);
    SUND_RETURN_IF_ERROR(SetBrokerPassword(dir + "passwd", user, password));
    return "mqtt://" + user + ":" + password + "@" + c.host + ":" + std::to_string(c.port);
  };
  BrokerUrls urls;
  SUND_ASSIGN_OR_RETURN(urls.gateway, user_url(gateway, c.gateway_password));
  if (c.simulator) {
    SUND_ASSIGN_OR_RETURN(urls.simulator, user_url(simulator, ""));
  }
  return urls;
}

}  // namespace sund::iomt
