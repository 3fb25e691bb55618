// MQTT ingestion (src/iomt/mqtt_ingest.h) against a real Mosquitto on loopback, configured by
// iomt::WriteBrokerConfig (no anonymous access, per-device ACL), into the real store: messages
// filed once, the bad-payload corpus dead-lettered with reasons, a device confined to its own
// topic, and the broker restarted mid-run without a message lost.
#include "iomt/mqtt.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "api_fixture.h"
#include "core/crypto.h"
#include "core/time.h"
#include "fhir/resource.h"
#include "iomt/broker.h"
#include "iomt/dead_letters.h"
#include "iomt/gateway.h"
#include "iomt/mqtt_ingest.h"

namespace sund::itest {
namespace {

using namespace std::chrono_literals;

// A free TCP port on loopback (closed again: the broker binds it next).
std::uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Debian's mosquitto, started on the generated configuration.
class Broker {
 public:
  explicit Broker(std::filesystem::path dir) : dir_(std::move(dir)) {
    iomt::BrokerConfig c;
    c.dir = dir_.string();
    c.port = FreePort();
    auto urls = iomt::WriteBrokerConfig(c);
    EXPECT_TRUE(urls.ok()) << urls.status().ToString();
    if (urls.ok()) gateway_url_ = urls->gateway;
    port_ = c.port;
  }
  ~Broker() { Stop(); }
  void Start() {
    const char* bin = std::getenv("SUND_MOSQUITTO");
    std::string mosquitto = bin != nullptr ? bin : "/usr/sbin/mosquitto";
    std::string conf = (dir_ / "mosquitto.conf").string();
    pid_ = fork();
    if (pid_ == 0) {
      execl(mosquitto.c_str(), mosquitto.c_str(), "-c", conf.c_str(), nullptr);
      _exit(127);
    }
    // Ready once it accepts a connection.
    for (int i = 0; i < 100; ++i) {
      auto c = Connect("probe", "", "");
      if (c.ok() || c.status().code() == StatusCode::kUnauthenticated) return;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "mosquitto did not start (" << mosquitto << ")";
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // A device's own credentials; the broker rereads its password file on SIGHUP.
  std::string AddDevice(const std::string& device) {
    std::string password = crypto::RandomToken(24);
    EXPECT_TRUE(iomt::SetBrokerPassword((dir_ / "passwd").string(), device, password).ok());
    if (pid_ > 0) kill(pid_, SIGHUP);
    std::this_thread::sleep_for(200ms);
    return password;
  }
  Result<std::unique_ptr<iomt::mqtt::Client>> Connect(const std::string& id,
                                                      const std::string& user,
                                                      const std::string& password) {
    iomt::mqtt::ClientOptions o;
    o.url.host = "127.0.0.1";
    o.url.port = port_;
    o.url.user = user;
    o.url.password = password;
    o.client_id = id;
    o.connect_timeout = 2s;
    return iomt::mqtt::Client::Connect(o);
  }
  const std::string& gateway_url() const { return gateway_url_; }
  std::string Log() const {
    std::ifstream in(dir_ / "mosquitto.log");
    return {std::istreambuf_iterator<char>(in), {}};
  }

 private:
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  std::string gateway_url_;
  pid_t pid_ = -1;
};

class MqttTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    broker_ = std::make_unique<Broker>(stack_->dir() / "broker");
    broker_->Start();
    auto letters = iomt::DeadLetters::Open((stack_->dir() / "iomt.db").string());
    ASSERT_TRUE(letters.ok()) << letters.status().ToString();
    letters_ = std::move(letters).value();
    iomt::GatewayOptions o;
    o.store = &stack_->store();
    o.dead_letters = letters_.get();
    o.write = BundleWriter();
    o.authorize = [](const http::Request&, bool) -> Result<audit::Actor> { return audit::Actor{}; };
    gateway_ = std::make_unique<iomt::Gateway>(std::move(o));
    patient_ = Create("Patient", R"({"resourceType":"Patient","name":[{"family":"Testesen"}]})");
    for (const char* d : {"oxi-1", "oxi-2"}) {
      Create("Device", std::string(R"({"resourceType":"Device","identifier":[{"system":)"
                                   R"("urn:sund:device","value":")") +
                           d + R"("}],"patient":{"reference":"Patient/)" + patient_ + R"("}})");
    }
    auto url = iomt::mqtt::ParseUrl(broker_->gateway_url());
    ASSERT_TRUE(url.ok());
    iomt::MqttIngestOptions mo;
    mo.url = *url;
    mo.gateway = gateway_.get();
    ingest_ = std::make_unique<iomt::MqttIngest>(std::move(mo));
    ASSERT_TRUE(ingest_->Start().ok());
  }
  void TearDown() override {
    ingest_.reset();
    broker_.reset();
    ApiTest::TearDown();
  }

  std::unique_ptr<iomt::mqtt::Client> Device(const std::string& device) {
    std::string password = broker_->AddDevice(device);
    auto c = broker_->Connect(device + "-client", device, password);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  // Waits until the gateway has acknowledged `n` messages in all.
  void WaitForMessages(std::int64_t n) {
    for (int i = 0; i < 200 && ingest_->stats().messages < n; ++i)
      std::this_thread::sleep_for(50ms);
    EXPECT_EQ(ingest_->stats().messages, n);
  }
  static std::string Pulse(const std::string& device, const std::string& time, double value) {
    return R"({"device":")" + device + R"(","time":")" + time +
           R"(","measurements":[{"code":{"system":"mdc","code":"149530"},"value":)" +
           std::to_string(value) + R"(,"unit":"/min"}]})";
  }
  static std::string MinutesAgo(int minutes) {
    return FormatInstant((SystemClock::Get().NowMicros() / 1'000'000 - minutes * 60) * 1'000'000);
  }
  std::vector<std::string> Reasons() {
    auto list = letters_->List(100);
    EXPECT_TRUE(list.ok());
    std::vector<std::string> out;
    for (const auto& d : *list) out.push_back(d.reason);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::unique_ptr<Broker> broker_;
  std::unique_ptr<iomt::DeadLetters> letters_;
  std::unique_ptr<iomt::Gateway> gateway_;
  std::unique_ptr<iomt::MqttIngest> ingest_;
  std::string patient_;
};

const std::string kTopic1 = iomt::MeasurementTopic("oxi-1");

// Verifies: REQ-IOMT-022, REQ-IOMT-048
TEST_F(MqttTest, MessagesAreFiledOnceInAnyOrder) {
  auto dev = Device("oxi-1");
  ASSERT_NE(dev, nullptr);
  // Out of order, and the first one again (a device resending after a lost acknowledgement).
  for (int minutes : {10, 30, 20, 30}) {
    ASSERT_TRUE(dev->Publish(kTopic1, Pulse("oxi-1", MinutesAgo(minutes), 70 + minutes), 1).ok());
  }
  ASSERT_TRUE(dev->WaitAcknowledged(5s).ok());
  WaitForMessages(4);
  EXPECT_EQ(Count("Observation?identifier=urn:sund:iomt%7C&subject=Patient/" + patient_), 3);
  EXPECT_EQ(ingest_->stats().measurements, 4);
  EXPECT_TRUE(Reasons().empty());
}

// Verifies: REQ-IOMT-005, REQ-IOMT-006, REQ-IOMT-007, REQ-IOMT-008, REQ-IOMT-011, REQ-IOMT-020
// Verifies: REQ-IOMT-046, REQ-IOMT-047, REQ-IOMT-049
TEST_F(MqttTest, TheBadPayloadCorpusEndsInTheDeadLetterStore) {
  auto dev = Device("oxi-1");
  auto ghost = Device("ghost-9");  // has broker credentials, but no Device in the store
  ASSERT_NE(dev, nullptr);
  ASSERT_NE(ghost, nullptr);
  auto measure = [](std::string code, std::string value, std::string unit, std::string time) {
    return R"({"device":"oxi-1","time":")" + time +
           R"(","measurements":[{"code":{"system":"mdc",)"
           R"("code":")" +
           code + R"("},"value":)" + value + R"(,"unit":")" + unit + R"("}]})";
  };
  std::string now = MinutesAgo(1);
  for (const std::string& bad : {
           std::string("{not json"), measure("149530", "72", "kg", now),  // wrong unit
           measure("149530", "900", "/min", now),                         // impossible value
           measure("149530", "72", "/min", "2099-01-01T00:00:00Z"),       // future time
           measure("424242", "1", "/min", now),                           // unknown code
           Pulse("oxi-2", now, 70),      // another device than the sender
           std::string(300 << 10, ' '),  // oversized
       }) {
    ASSERT_TRUE(dev->Publish(kTopic1, bad, 1).ok());
  }
  ASSERT_TRUE(ghost->Publish(iomt::MeasurementTopic("ghost-9"), Pulse("ghost-9", now, 70), 1).ok());
  ASSERT_TRUE(dev->WaitAcknowledged(5s).ok());
  ASSERT_TRUE(ghost->WaitAcknowledged(5s).ok());
  WaitForMessages(8);
  EXPECT_EQ(Reasons(), (std::vector<std::string>{"bad-unit", "future-time", "impossible-value",
                                                 "malformed", "oversized", "unknown-code",
                                                 "unknown-device", "wrong-device"}));
  EXPECT_EQ(Count("Observation?identifier=urn:sund:iomt%7C"), 0);
}

// Verifies: REQ-IOMT-051, REQ-IOMT-052
TEST_F(MqttTest, NoAnonymousDevicesAndEachOnlyOnItsOwnTopic) {
  auto anonymous = broker_->Connect("anon", "", "");
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status().code(), StatusCode::kUnauthenticated);
  auto wrong = broker_->Connect("wrong", "oxi-1", "not-the-password-at-all");
  EXPECT_FALSE(wrong.ok());

  std::string password = broker_->AddDevice("oxi-1");
  {
    // The ACL drops a publish to another device's topic (Mosquitto 2.0.11 acknowledges it and
    // then drops the connection at the device's next packet).
    auto dev = broker_->Connect("oxi-1-client", "oxi-1", password);
    ASSERT_TRUE(dev.ok());
    ASSERT_TRUE((*dev)
                    ->Publish(iomt::MeasurementTopic("oxi-2"), Pulse("oxi-2", MinutesAgo(5), 70), 1)
                    .ok());
    (void)(*dev)->WaitAcknowledged(2s);
  }
  auto dev = broker_->Connect("oxi-1-client", "oxi-1", password);
  ASSERT_TRUE(dev.ok());
  ASSERT_TRUE((*dev)->Publish(kTopic1, Pulse("oxi-1", MinutesAgo(4), 71), 1).ok());
  Status acked = (*dev)->WaitAcknowledged(5s);
  ASSERT_TRUE(acked.ok()) << acked.ToString() << "\n" << broker_->Log();
  WaitForMessages(1);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(ingest_->stats().messages, 1);
  EXPECT_EQ(Count("Observation?identifier=urn:sund:iomt%7C"), 1);
}

// Verifies: REQ-IOMT-050
TEST_F(MqttTest, TheBrokerRestartedMidRunLosesNothing) {
  std::string password = broker_->AddDevice("oxi-1");
  auto publish = [&](int from, int to) {
    auto dev = broker_->Connect("oxi-1-client", "oxi-1", password);
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    for (int i = from; i < to; ++i) {
      ASSERT_TRUE(
          (*dev)->Publish(kTopic1, Pulse("oxi-1", MinutesAgo(200 - i), 60 + i % 40), 1).ok());
    }
    ASSERT_TRUE((*dev)->WaitAcknowledged(5s).ok());
    (*dev)->Disconnect();
  };
  publish(0, 50);
  WaitForMessages(50);
  broker_->Stop();
  std::this_thread::sleep_for(300ms);
  broker_->Start();
  publish(50, 100);
  WaitForMessages(100);
  EXPECT_GE(ingest_->stats().connections, 2);
  EXPECT_EQ(Count("Observation?identifier=urn:sund:iomt%7C"), 100);
}

}  // namespace
// The bound on what the gateway holds: with the filer stuck on one message, the receiver
// queues up to max_queue more and stops reading; the broker keeps the rest, and all of it is
// filed once the filer moves again.
// Verifies: REQ-IOMT-075
TEST_F(MqttTest, AFullQueueLeavesTheRestWithTheBroker) {
  ingest_.reset();
  std::promise<void> release;
  std::shared_future<void> open = release.get_future().share();
  iomt::GatewayOptions o;
  o.store = &stack_->store();
  o.dead_letters = letters_.get();
  o.write = [inner = BundleWriter(), open](std::string bundle) {
    open.wait();
    return inner(std::move(bundle));
  };
  o.authorize = [](const http::Request&, bool) -> Result<audit::Actor> { return audit::Actor{}; };
  iomt::Gateway gateway(std::move(o));
  auto url = iomt::mqtt::ParseUrl(broker_->gateway_url());
  ASSERT_TRUE(url.ok());
  iomt::MqttIngestOptions mo;
  mo.url = *url;
  mo.gateway = &gateway;
  mo.max_batch = 1;
  mo.max_queue = 3;
  iomt::MqttIngest ingest(std::move(mo));
  ASSERT_TRUE(ingest.Start().ok());
  struct Release {  // the filer must not stay blocked if an assertion below returns early
    std::promise<void>& p;
    bool done = false;
    void operator()() {
      if (!done) p.set_value();
      done = true;
    }
    ~Release() { (*this)(); }
  } unblock{release};

  auto dev = Device("oxi-1");
  ASSERT_NE(dev, nullptr);
  constexpr int kMessages = 20;
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(dev->Publish(kTopic1, Pulse("oxi-1", MinutesAgo(i + 1), 60 + i), 1).ok());
  }
  ASSERT_TRUE(dev->WaitAcknowledged(5s).ok());
  // One message with the filer, three queued: then the receiver stops taking more.
  for (int i = 0; i < 200 && ingest.stats().received < 4; ++i) std::this_thread::sleep_for(25ms);
  std::this_thread::sleep_for(300ms);
  iomt::MqttIngestStats held = ingest.stats();
  EXPECT_EQ(held.received, 4);
  EXPECT_EQ(held.queued, 3);
  EXPECT_EQ(held.messages, 0);
  unblock();
  for (int i = 0; i < 400 && ingest.stats().messages < kMessages; ++i)
    std::this_thread::sleep_for(25ms);
  EXPECT_EQ(ingest.stats().messages, kMessages);
  EXPECT_EQ(ingest.stats().received, kMessages);
  EXPECT_EQ(Count("Observation?identifier=urn:sund:iomt%7C&subject=Patient/" + patient_),
            kMessages);
  ingest.Stop();
}

}  // namespace sund::itest
