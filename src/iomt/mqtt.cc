#include "iomt/mqtt.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "http/query.h"

namespace sund::iomt::mqtt {
namespace {

using SteadyClock = std::chrono::steady_clock;

void AppendU16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void AppendString(std::string& out, std::string_view s) {
  AppendU16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

// Fixed header: the type and flags byte, then the remaining length in 1-4 bytes of 7 bits.
std::string Frame(std::uint8_t header, std::string_view body) {
  std::string out;
  out.reserve(body.size() + 5);
  out.push_back(static_cast<char>(header));
  std::size_t n = body.size();
  do {
    std::uint8_t b = n % 128;
    n /= 128;
    if (n > 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (n > 0);
  out.append(body);
  return out;
}

std::uint16_t ReadU16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(s[at]) << 8 |
                                    static_cast<std::uint8_t>(s[at + 1]));
}

Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

}  // namespace

Result<Url> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "mqtt://";
  if (!url.starts_with(kScheme)) return InvalidArgument("an MQTT URL starts with mqtt://");
  url.remove_prefix(kScheme.size());
  if (auto slash = url.find('/'); slash != std::string_view::npos) {
    if (slash + 1 != url.size()) return InvalidArgument("an MQTT URL has no path");
    url = url.substr(0, slash);
  }
  Url out;
  if (auto at = url.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = url.substr(0, at);
    url.remove_prefix(at + 1);
    auto colon = userinfo.find(':');
    out.user = http::PercentDecode(userinfo.substr(0, colon), false);
    if (colon != std::string_view::npos) {
      out.password = http::PercentDecode(userinfo.substr(colon + 1), false);
    }
  }
  std::string_view port;
  if (url.starts_with('[')) {  // [::1]:1883
    auto close = url.find(']');
    if (close == std::string_view::npos) return InvalidArgument("unclosed [ in the MQTT host");
    out.host = std::string(url.substr(1, close - 1));
    url.remove_prefix(close + 1);
    if (url.starts_with(':'))
      port = url.substr(1);
    else if (!url.empty())
      return InvalidArgument("unexpected text after the MQTT host");
  } else {
    auto colon = url.find(':');
    out.host = std::string(url.substr(0, colon));
    if (colon != std::string_view::npos) port = url.substr(colon + 1);
  }
  if (out.host.empty()) return InvalidArgument("the MQTT URL names no host");
  if (!port.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535) {
      return InvalidArgument("the MQTT port must be 1-65535");
    }
    out.port = static_cast<std::uint16_t>(p);
  }
  return out;
}

std::string EncodeConnect(const ConnectOptions& o) {
  std::string body;
  AppendString(body, "MQTT");
  body.push_back(4);  // protocol level: 3.1.1
  std::uint8_t flags = o.clean_session ? 0x02 : 0;
  if (!o.user.empty()) flags |= 0x80;
  if (!o.password.empty()) flags |= 0x40;
  body.push_back(static_cast<char>(flags));
  AppendU16(body, o.keep_alive_s);
  AppendString(body, o.client_id);
  if (!o.user.empty()) AppendString(body, o.user);
  if (!o.password.empty()) AppendString(body, o.password);
  return Frame(static_cast<std::uint8_t>(PacketType::kConnect) << 4, body);
}

std::string EncodePublish(std::string_view topic, std::string_view payload, int qos,
                          std::uint16_t packet_id, bool dup) {
  std::string body;
  body.reserve(topic.size() + payload.size() + 4);
  AppendString(body, topic);
  if (qos > 0) AppendU16(body, packet_id);
  body.append(payload);
  std::uint8_t header = static_cast<std::uint8_t>(PacketType::kPublish) << 4 |
                        static_cast<std::uint8_t>(qos << 1) | (dup ? 0x08 : 0);
  return Frame(header, body);
}

std::string EncodePuback(std::uint16_t packet_id) {
  std::string body;
  AppendU16(body, packet_id);
  return Frame(static_cast<std::uint8_t>(PacketType::kPuback) << 4, body);
}

std::string EncodeSubscribe(std::uint16_t packet_id, std::string_view topic_filter, int qos) {
  std::string body;
  AppendU16(body, packet_id);
  AppendString(body, topic_filter);
  body.push_back(static_cast<char>(qos));
  // SUBSCRIBE's reserved flags are 0010.
  return Frame(static_cast<std::uint8_t>(PacketType::kSubscribe) << 4 | 0x02, body);
}

std::string EncodePingreq() {
  return Frame(static_cast<std::uint8_t>(PacketType::kPingreq) << 4, {});
}

std::string EncodeDisconnect() {
  return Frame(static_cast<std::uint8_t>(PacketType::kDisconnect) << 4, {});
}

Result<std::optional<Packet>> Decoder::Next() {
  if (buffer_.size() < 2) return std::optional<Packet>();
  std::size_t length = 0;
  std::size_t at = 1;
  for (int shift = 0;; shift += 7, ++at) {
    if (shift > 21) return InvalidArgument("MQTT remaining length longer than 4 bytes");
    if (at >= buffer_.size()) return std::optional<Packet>();
    auto b = static_cast<std::uint8_t>(buffer_[at]);
    length |= static_cast<std::size_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  if (length > max_packet_) {
    return Status(StatusCode::kTooLarge, "MQTT packet of " + std::to_string(length) +
                                             " bytes, over the limit of " +
                                             std::to_string(max_packet_));
  }
  ++at;
  if (buffer_.size() - at < length) return std::optional<Packet>();
  Packet p;
  p.header = static_cast<std::uint8_t>(buffer_[0]);
  p.body = buffer_.substr(at, length);
  buffer_.erase(0, at + length);
  return std::optional<Packet>(std::move(p));
}

Result<Message> ParsePublish(const Packet& packet) {
  if (packet.type() != PacketType::kPublish) return InvalidArgument("not a PUBLISH packet");
  Message m;
  m.qos = (packet.header >> 1) & 0x03;
  m.dup = (packet.header & 0x08) != 0;
  m.retain = (packet.header & 0x01) != 0;
  if (m.qos > 1) return InvalidArgument("QoS 2 is not supported");
  std::string_view body = packet.body;
  if (body.size() < 2) return InvalidArgument("PUBLISH without a topic");
  std::size_t topic_len = ReadU16(body, 0);
  std::size_t at = 2 + topic_len;
  if (body.size() < at + (m.qos > 0 ? 2 : 0)) return InvalidArgument("PUBLISH cut short");
  m.topic = std::string(body.substr(2, topic_len));
  if (m.qos > 0) {
    m.packet_id = ReadU16(body, at);
    at += 2;
  }
  m.payload = std::string(body.substr(at));
  return m;
}

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  std::unique_ptr<Client> c(new Client(options));
  c->decoder_ = Decoder(options.max_packet);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(options.url.port);
  if (int rc = getaddrinfo(options.url.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Unavailable("MQTT broker " + options.url.host + ": " + gai_strerror(rc));
  }
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      c->fd_ = fd;
      break;
    }
    error = std::strerror(errno);
    close(fd);
  }
  freeaddrinfo(found);
  if (c->fd_ < 0) {
    return Unavailable("MQTT broker " + options.url.host + ":" + port + ": " + error);
  }
  int one = 1;
  setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  ConnectOptions co;
  co.client_id = options.client_id;
  co.clean_session = options.clean_session;
  co.keep_alive_s = options.keep_alive_s;
  co.user = options.url.user;
  co.password = options.url.password;
  SUND_RETURN_IF_ERROR(c->Send(EncodeConnect(co)));
  auto deadline = SteadyClock::now() + options.connect_timeout;
  SUND_ASSIGN_OR_RETURN(auto packet, c->ReadPacket(deadline));
  if (!packet) return Unavailable("MQTT broker did not answer CONNECT in time");
  if (packet->type() != PacketType::kConnack || packet->body.size() != 2) {
    return Unavailable("MQTT broker answered CONNECT with something other than CONNACK");
  }
  auto code = static_cast<std::uint8_t>(packet->body[1]);
  switch (code) {
    case 0:
      break;
    case 4:
    case 5:
      return Status(
          StatusCode::kUnauthenticated,
          "MQTT broker refused the user name or password (CONNACK " + std::to_string(code) + ")");
    default:
      return Unavailable("MQTT broker refused the connection (CONNACK " + std::to_string(code) +
                         ")");
  }
  c->session_present_ = (packet->body[0] & 0x01) != 0;
  return c;
}

Client::~Client() {
  if (fd_ >= 0) close(fd_);
}

Status Client::Send(std::string_view bytes) {
  // Callers hold mu_ or are the only thread (Connect, Subscribe).
  while (!bytes.empty()) {
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(std::string("MQTT connection lost: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  last_send_ = SteadyClock::now();
  return Status::Ok();
}

Result<std::optional<Packet>> Client::ReadPacket(SteadyClock::time_point deadline) {
  for (;;) {
    SUND_ASSIGN_OR_RETURN(auto packet, decoder_.Next());
    if (packet) {
      last_receive_ = SteadyClock::now();
      return packet;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() < 0) return std::optional<Packet>();
    pollfd p{fd_, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) {
      return Unavailable(std::string("MQTT poll: ") + std::strerror(errno));
    }
    if (rc <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n == 0) return Unavailable("MQTT broker closed the connection");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Unavailable(std::string("MQTT connection lost: ") + std::strerror(errno));
    }
    decoder_.Feed({buf, static_cast<std::size_t>(n)});
  }
}

Result<PacketType> Client::Dispatch(Packet packet) {
  switch (packet.type()) {
    case PacketType::kPublish: {
      SUND_ASSIGN_OR_RETURN(Message m, ParsePublish(packet));
      received_.push_back(std::move(m));
      break;
    }
    case PacketType::kPuback: {
      if (packet.body.size() != 2) return Unavailable("malformed PUBACK from the broker");
      std::lock_guard lock(mu_);
      inflight_.erase(ReadU16(packet.body, 0));
      break;
    }
    case PacketType::kSuback:
      if (packet.body.size() < 3) return Unavailable("malformed SUBACK from the broker");
      suback_ = static_cast<std::uint8_t>(packet.body[2]);
      break;
    case PacketType::kPingresp:
      break;
    default:
      return Unavailable("unexpected MQTT packet type " + std::to_string(packet.header >> 4));
  }
  return packet.type();
}

Status Client::KeepAlive() {
  std::lock_guard lock(mu_);
  auto half = std::chrono::seconds(options_.keep_alive_s) / 2;
  if (options_.keep_alive_s == 0 || SteadyClock::now() - last_send_ < half) return Status::Ok();
  return Send(EncodePingreq());
}

Status Client::Subscribe(std::string_view topic_filter, int qos) {
  std::uint16_t id;
  {
    std::lock_guard lock(mu_);
    id = ++next_id_ == 0 ? ++next_id_ : next_id_;
    SUND_RETURN_IF_ERROR(Send(EncodeSubscribe(id, topic_filter, qos)));
  }
  suback_.reset();
  auto deadline = SteadyClock::now() + options_.connect_timeout;
  while (!suback_) {
    SUND_ASSIGN_OR_RETURN(auto packet, ReadPacket(deadline));
    if (!packet) return Unavailable("MQTT broker did not answer SUBSCRIBE in time");
    SUND_RETURN_IF_ERROR(Dispatch(std::move(*packet)).status());
  }
  if (*suback_ == 0x80) {
    return Status(StatusCode::kPermissionDenied,
                  "MQTT broker refused the subscription to " + std::string(topic_filter));
  }
  return Status::Ok();
}

Status Client::Publish(std::string_view topic, std::string_view payload, int qos) {
  if (qos < 0 || qos > 1) return InvalidArgument("QoS must be 0 or 1");
  auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (qos == 1 && inflight() >= options_.max_inflight) {
    SUND_ASSIGN_OR_RETURN(auto packet, ReadPacket(deadline));
    if (!packet) return Unavailable("MQTT broker acknowledged nothing for 30 s");
    SUND_RETURN_IF_ERROR(Dispatch(std::move(*packet)).status());
  }
  std::lock_guard lock(mu_);
  std::uint16_t id = 0;
  if (qos == 1) {
    do {
      id = ++next_id_;
    } while (id == 0 || inflight_.contains(id));
    inflight_.insert(id);
  }
  return Send(EncodePublish(topic, payload, qos, id));
}

std::size_t Client::inflight() const {
  std::lock_guard lock(mu_);
  return inflight_.size();
}

Status Client::WaitAcknowledged(std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (inflight() > 0) {
    SUND_RETURN_IF_ERROR(KeepAlive());
    SUND_ASSIGN_OR_RETURN(auto packet, ReadPacket(deadline));
    if (!packet) {
      return Unavailable(std::to_string(inflight()) + " MQTT publishes still unacknowledged");
    }
    SUND_RETURN_IF_ERROR(Dispatch(std::move(*packet)).status());
  }
  return Status::Ok();
}

Result<std::optional<Message>> Client::Receive(std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  while (received_.empty()) {
    SUND_RETURN_IF_ERROR(KeepAlive());
    // Wake at least once a keep-alive half period to ping.
    auto wake = std::min(
        deadline, SteadyClock::now() + std::chrono::milliseconds(options_.keep_alive_s * 500 + 1));
    SUND_ASSIGN_OR_RETURN(auto packet, ReadPacket(wake));
    if (packet) {
      SUND_RETURN_IF_ERROR(Dispatch(std::move(*packet)).status());
      continue;
    }
    if (options_.keep_alive_s > 0 &&
        SteadyClock::now() - last_receive_ > std::chrono::seconds(options_.keep_alive_s) * 2) {
      return Unavailable("MQTT broker silent for two keep-alive periods");
    }
    if (SteadyClock::now() >= deadline) return std::optional<Message>();
  }
  Message m = std::move(received_.front());
  received_.pop_front();
  return std::optional<Message>(std::move(m));
}

Status Client::Ack(std::uint16_t packet_id) {
  std::lock_guard lock(mu_);
  return Send(EncodePuback(packet_id));
}

void Client::Disconnect() {
  if (fd_ < 0) return;
  {
    std::lock_guard lock(mu_);
    (void)Send(EncodeDisconnect());
  }
  shutdown(fd_, SHUT_RDWR);
}

}  // namespace sund::iomt::mqtt
