// A small MQTT 3.1.1 client (OASIS standard, 2014) for the IoMT gateway and the device
// simulator: connect with a user name and password, subscribe, publish and receive at QoS 0 and
// 1, keep-alive pings. Written here instead of using libmosquitto because the gateway must
// acknowledge a message (PUBACK) only after its Observations are durably stored, and
// libmosquitto sends PUBACK before the application sees the message (eclipse-mosquitto/
// mosquitto#118, #2884): a crash between the two would lose it. With a persistent session
// (clean_session false) the broker sends every unacknowledged message again after a reconnect,
// so a killed gateway loses nothing (docs/decisions/0006-mqtt-client.md).
//
// Not supported: QoS 2, MQTT 5, TLS (run the broker's TLS listener behind stunnel or on
// loopback until #11), wills, retained-message handling beyond the flag.
//
// The packet codec (Encode*, Decoder, ParsePublish) is pure and unit-tested; Client does the
// I/O on a blocking socket. Thread-safety: one thread may Receive while others Publish or Ack
// (writes are serialised); Subscribe before the receiving thread starts.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sund::iomt::mqtt {

// mqtt://[user[:password]@]host[:port] (port 1883 by default). User and password are
// percent-decoded.
struct Url {
  std::string host;
  std::uint16_t port = 1883;
  std::string user;
  std::string password;
};
Result<Url> ParseUrl(std::string_view url);

enum class PacketType : std::uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kSubscribe = 8,
  kSuback = 9,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

struct ConnectOptions {
  std::string client_id;      // 1-23 characters is what every broker must accept
  bool clean_session = true;  // false: the broker keeps subscriptions and unacked messages
  std::uint16_t keep_alive_s = 30;
  std::string user;
  std::string password;
};

std::string EncodeConnect(const ConnectOptions& options);
// QoS 0 ignores packet_id.
std::string EncodePublish(std::string_view topic, std::string_view payload, int qos,
                          std::uint16_t packet_id, bool dup = false);
std::string EncodePuback(std::uint16_t packet_id);
std::string EncodeSubscribe(std::uint16_t packet_id, std::string_view topic_filter, int qos);
std::string EncodePingreq();
std::string EncodeDisconnect();

struct Packet {
  std::uint8_t header = 0;  // type << 4 | flags
  std::string body;         // everything after the remaining-length field
  PacketType type() const { return static_cast<PacketType>(header >> 4); }
};

// Splits a byte stream into packets. A packet longer than max_packet bytes, or a malformed
// remaining length, is an error (the connection must be closed).
class Decoder {
 public:
  explicit Decoder(std::size_t max_packet) : max_packet_(max_packet) {}
  void Feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next whole packet, or nullopt when more bytes are needed.
  Result<std::optional<Packet>> Next();

 private:
  std::size_t max_packet_;
  std::string buffer_;
};

struct Message {
  std::string topic;
  std::string payload;
  int qos = 0;
  std::uint16_t packet_id = 0;  // QoS 1: acknowledge with Client::Ack
  bool dup = false;             // the broker sent it before
  bool retain = false;
};
Result<Message> ParsePublish(const Packet& packet);

struct ClientOptions {
  Url url;
  std::string client_id;
  bool clean_session = true;
  std::uint16_t keep_alive_s = 30;
  std::chrono::milliseconds connect_timeout{5000};
  std::size_t max_packet = 1 << 20;
  // QoS 1 publishes unacknowledged at once; Publish waits (reading acknowledgements) beyond.
  std::size_t max_inflight = 1000;
};

class Client {
 public:
  // Connects and waits for CONNACK. kUnauthenticated when the broker refuses the user or
  // password (CONNACK 4 or 5), kUnavailable when it cannot be reached.
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Whether the broker still had a session for this client id (clean_session false).
  bool session_present() const { return session_present_; }

  // Subscribes and waits for SUBACK; kPermissionDenied when the broker refuses (ACL).
  Status Subscribe(std::string_view topic_filter, int qos);

  // QoS 0 is sent and done; QoS 1 is in flight until the broker acknowledges it (see
  // WaitAcknowledged). Blocks while max_inflight are in flight, reading acknowledgements.
  Status Publish(std::string_view topic, std::string_view payload, int qos);
  // Reads until every QoS 1 publish is acknowledged, or the timeout passes (kUnavailable).
  Status WaitAcknowledged(std::chrono::milliseconds timeout);
  std::size_t inflight() const;

  // The next message from the broker, waiting at most `timeout`; nullopt when none came.
  // Sends keep-alive pings while idle; an error means the connection is gone.
  Result<std::optional<Message>> Receive(std::chrono::milliseconds timeout);
  // Acknowledges a QoS 1 message received on this connection.
  Status Ack(std::uint16_t packet_id);

  // Pings the broker when nothing was sent for half the keep-alive period (for a receiver that
  // pauses between Receive calls).
  Status KeepAlive();

  // Sends DISCONNECT (the broker then drops no will) and closes.
  void Disconnect();

 private:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}
  Status Send(std::string_view bytes);
  // One packet from the socket within the deadline; nullopt on timeout.
  Result<std::optional<Packet>> ReadPacket(std::chrono::steady_clock::time_point deadline);
  // Handles acknowledgements and pings; queues PUBLISH packets. Returns the packet's type.
  Result<PacketType> Dispatch(Packet packet);

  ClientOptions options_;
  int fd_ = -1;
  bool session_present_ = false;
  Decoder decoder_{1 << 20};
  std::deque<Message> received_;
  std::optional<std::uint8_t> suback_;
  std::uint16_t next_id_ = 0;
  mutable std::mutex mu_;  // guards writes to fd_, inflight_, last_send_
  std::set<std::uint16_t> inflight_;
  std::chrono::steady_clock::time_point last_send_;
  std::chrono::steady_clock::time_point last_receive_;
};

}  // namespace sund::iomt::mqtt
