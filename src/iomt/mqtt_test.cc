#include "iomt/mqtt.h"

#include <gtest/gtest.h>

namespace sund::iomt::mqtt {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// Verifies: REQ-IOMT-055
TEST(MqttUrl, ReadsUserPasswordHostAndPort) {
  auto u = ParseUrl("mqtt://gate%40way:p%3Ass@127.0.0.1:18830");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->user, "gate@way");
  EXPECT_EQ(u->password, "p:ss");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 18830);
  auto plain = ParseUrl("mqtt://broker.example/");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 1883);
  EXPECT_TRUE(plain->user.empty());
  auto v6 = ParseUrl("mqtt://[::1]:1884");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 1884);
}

// Verifies: REQ-IOMT-055
TEST(MqttUrl, RefusesWhatIsNotAnMqttUrl) {
  for (const char* bad : {"http://x", "mqtt://", "mqtt://h:0", "mqtt://h:70000", "mqtt://h:1x",
                          "mqtt://h/topic", "mqtt://[::1"}) {
    EXPECT_FALSE(ParseUrl(bad).ok()) << bad;
  }
}

// Verifies: REQ-IOMT-056
TEST(MqttCodec, ConnectAsTheStandardLaysItOut) {
  ConnectOptions o;
  o.client_id = "gw";
  o.clean_session = false;
  o.keep_alive_s = 60;
  o.user = "u";
  o.password = "pw";
  // MQTT 3.1.1 section 3.1: protocol name, level 4, flags (user, password, no clean session),
  // keep-alive, then client id, user, password as length-prefixed strings.
  EXPECT_EQ(EncodeConnect(o), Bytes({0x10, 21, 0,   4,   'M', 'Q', 'T', 'T', 4, 0xC0, 0,  60,
                                     0,    2,  'g', 'w', 0,   1,   'u', 0,   2, 'p',  'w'}));
}

// Verifies: REQ-IOMT-056
TEST(MqttCodec, PublishSubscribeAndAcknowledgements) {
  EXPECT_EQ(EncodePublish("a/b", "hi", 1, 0x1234),
            Bytes({0x32, 9, 0, 3, 'a', '/', 'b', 0x12, 0x34, 'h', 'i'}));
  EXPECT_EQ(EncodePublish("t", "x", 0, 7), Bytes({0x30, 4, 0, 1, 't', 'x'}));
  EXPECT_EQ(EncodePuback(513), Bytes({0x40, 2, 2, 1}));
  EXPECT_EQ(EncodeSubscribe(1, "s/+", 1), Bytes({0x82, 8, 0, 1, 0, 3, 's', '/', '+', 1}));
  EXPECT_EQ(EncodePingreq(), Bytes({0xC0, 0}));
  EXPECT_EQ(EncodeDisconnect(), Bytes({0xE0, 0}));
}

// Verifies: REQ-IOMT-056, REQ-IOMT-057
TEST(MqttCodec, RemainingLengthOfSeveralBytes) {
  std::string payload(200'000, 'x');
  std::string packet = EncodePublish("t", payload, 1, 9);
  // 200,000 + 5 = 200,005 = 0x30D45: three bytes of seven bits.
  EXPECT_EQ(packet.substr(1, 3), Bytes({0xC5, 0x9A, 0x0C}));
  Decoder d(1 << 20);
  // Byte by byte: no packet until the last one arrives.
  for (std::size_t i = 0; i + 1 < packet.size(); i += 50'000) {
    d.Feed(
        std::string_view(packet).substr(i, std::min<std::size_t>(50'000, packet.size() - 1 - i)));
    auto p = d.Next();
    ASSERT_TRUE(p.ok());
    EXPECT_FALSE(p->has_value());
  }
  d.Feed(std::string_view(packet).substr(packet.size() - 1));
  auto p = d.Next();
  ASSERT_TRUE(p.ok() && p->has_value());
  auto m = ParsePublish(**p);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->topic, "t");
  EXPECT_EQ(m->qos, 1);
  EXPECT_EQ(m->packet_id, 9);
  EXPECT_EQ(m->payload.size(), payload.size());
}

// Verifies: REQ-IOMT-057
TEST(MqttCodec, DecodesPacketsBackToBack) {
  Decoder d(1024);
  d.Feed(EncodePuback(1) + EncodePublish("x/y", "{}", 0, 0) + EncodePingreq());
  auto a = d.Next();
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->type(), PacketType::kPuback);
  auto b = d.Next();
  ASSERT_TRUE(b.ok() && b->has_value());
  auto m = ParsePublish(**b);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload, "{}");
  EXPECT_EQ(m->qos, 0);
  auto c = d.Next();
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->type(), PacketType::kPingreq);
  auto none = d.Next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

// Verifies: REQ-IOMT-057
TEST(MqttCodec, RefusesOversizedAndMalformedPackets) {
  Decoder small(100);
  small.Feed(EncodePublish("t", std::string(200, 'x'), 0, 0));
  auto big = small.Next();
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kTooLarge);

  Decoder endless(1 << 20);
  endless.Feed(Bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_FALSE(endless.Next().ok());

  Packet cut;
  cut.header = 0x32;
  cut.body = Bytes({0, 5, 'a'});
  EXPECT_FALSE(ParsePublish(cut).ok());
  Packet qos2;
  qos2.header = 0x34;
  qos2.body = Bytes({0, 1, 'a', 0, 1});
  EXPECT_FALSE(ParsePublish(qos2).ok());
}

}  // namespace
}  // namespace sund::iomt::mqtt
