// The gateway on its own (gateway.h): devices read through `find_device`, and Consents through
// RemoteConsents (remote.h), as `sund iomt gateway` reads them, writes recorded or failed on
// purpose, the dead letters and the audit log in a temporary directory. The store's side is
// tests/integration/iomt_test.cc.
#include "iomt/gateway.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "audit/log.h"
#include "core/crypto.h"
#include "http/message.h"
#include "iomt/dead_letters.h"
#include "iomt/remote.h"
#include "storage/testing/test_store.h"

namespace sund::iomt {
namespace {

namespace fs = std::filesystem;

class TestClock final : public Clock {
 public:
  std::int64_t NowMicros() const override { return now_us; }
  std::int64_t now_us = 1'795'946'400'000'000;  // 2026-11-29T10:00Z
};

constexpr std::string_view kPulseMeasurement =
    R"({"code":{"system":"mdc","code":"149530"},"value":72,"unit":"/min"})";
constexpr std::string_view kUnknownMeasurement =
    R"({"code":{"system":"mdc","code":"424242"},"value":1,"unit":"/min"})";

// A Consent of `patient` withdrawing consent to home monitoring (denying the action collect).
std::string DenyCollect(const std::string& patient) {
  return R"({"resourceType":"Consent","id":"c-deny","status":"active","scope":{"coding":[{)"
         R"("system":"http://terminology.hl7.org/CodeSystem/consentscope","code":)"
         R"("patient-privacy"}]},"patient":{"reference":"Patient/)" +
         patient +
         R"("},"provision":{"type":"deny","action":[{"coding":[{"system":)"
         R"("http://terminology.hl7.org/CodeSystem/consentaction","code":"collect"}]}]}})";
}

// A payload of oxi-7 at `time` with `n` heart rates and, when asked, one unknown code.
std::string Payload(const std::string& time, int n = 1, bool unknown_code = false) {
  std::string p = R"({"device":"oxi-7","time":")" + time + R"(","measurements":[)";
  for (int i = 0; i < n; ++i) {
    if (i > 0) p += ",";
    p += kPulseMeasurement;
  }
  if (unknown_code) {
    p += ",";
    p += kUnknownMeasurement;
  }
  return p + "]}";
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sund-gateway-test-" + crypto::RandomToken(8));
    fs::create_directories(dir_);
    auto letters = DeadLetters::Open((dir_ / "iomt.db").string());
    ASSERT_TRUE(letters.ok()) << letters.status().ToString();
    letters_ = std::move(letters).value();
  }
  void TearDown() override {
    gateway_.reset();
    audit_.reset();
    letters_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // As `sund iomt gateway` has them: oxi-7 is a Device (dev-1) with the patient `patient_` and
  // no DeviceUseStatements, read through find_device; each written bundle is kept.
  GatewayOptions Options() {
    GatewayOptions o;
    o.find_device = [this](const std::string& device) -> Result<DeviceResources> {
      ++lookups_;
      DeviceResources r;
      if (device == "oxi-7") {
        r.devices.push_back(storage::SearchHit{
            "Device", "dev-1",
            R"({"resourceType":"Device","id":"dev-1","patient":{"reference":"Patient/)" + patient_ +
                R"("}})"});
      }
      return r;
    };
    o.dead_letters = letters_.get();
    o.clock = &clock_;
    o.write = [this](std::string bundle) -> Result<std::string> {
      if (!write_status_.ok()) return write_status_;
      bundles_.push_back(std::move(bundle));
      return std::string(R"({"resourceType":"Bundle","type":"transaction-response"})");
    };
    o.authorize = [](const http::Request&, bool) -> Result<audit::Actor> {
      return audit::Actor{"", "system", "", "test-hub"};
    };
    return o;
  }
  // `sund iomt gateway`'s consent check: each patient's Consents as the remote server's search
  // would answer them (`consents_`, or `consent_status_` when it fails), through RemoteConsents
  // on the test clock and under the Danish base policy.
  void UseRemoteConsents(GatewayOptions& o) {
    RemoteConsentsOptions co;
    co.base_policy = consent::BasePolicy::kDanish;
    co.clock = &clock_;
    co.fetch = [this](const std::string& patient) -> Result<std::vector<std::string>> {
      ++consent_reads_;
      if (!consent_status_.ok()) return consent_status_;
      std::vector<std::string> out;
      if (auto it = consents_.find(patient); it != consents_.end()) out = it->second;
      return out;
    };
    remote_consents_ = std::make_unique<RemoteConsents>(std::move(co));
    o.may_collect = [this](const std::string& patient, std::string_view observation,
                           std::string_view device_id) {
      return remote_consents_->MayCollect(patient, observation, device_id);
    };
  }
  void Start(GatewayOptions o) { gateway_ = std::make_unique<Gateway>(std::move(o)); }
  http::Response Post(const std::string& body) {
    http::Request req;
    req.method = "POST";
    req.path = "/iomt/v1/measurements";
    req.body = body;
    return gateway_->Handle(req);
  }
  std::int64_t DeadLetterCount() {
    auto count = letters_->Count();
    EXPECT_TRUE(count.ok()) << count.status().ToString();
    return count.ok() ? *count : -1;
  }

  fs::path dir_;
  TestClock clock_;
  std::string patient_ = "pat-1";
  int lookups_ = 0;
  Status write_status_ = Status::Ok();
  std::vector<std::string> bundles_;
  std::unique_ptr<DeadLetters> letters_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::map<std::string, std::vector<std::string>> consents_;  // patient -> Consents (JSON)
  Status consent_status_ = Status::Ok();
  int consent_reads_ = 0;
  std::unique_ptr<RemoteConsents> remote_consents_;
  std::unique_ptr<Gateway> gateway_;
};

// `sund iomt gateway` reads a device through the remote API at most once a minute: a device
// handed to another citizen files under the first one until the minute has passed.
// Verifies: REQ-IOMT-063
TEST_F(GatewayTest, DevicesReadRemotelyAreReadAgainAfterTheirTtl) {
  Start(Options());  // device_ttl: the default
  auto first = gateway_->Ingest(Payload("2026-11-29T09:50:00Z"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->accepted, 1);
  ASSERT_EQ(bundles_.size(), 1u);
  EXPECT_NE(bundles_.back().find("\"Patient/pat-1\""), std::string::npos);
  EXPECT_EQ(lookups_, 1);

  patient_ = "pat-2";  // reassigned on the remote server
  clock_.now_us += 59'000'000;
  auto cached = gateway_->Ingest(Payload("2026-11-29T09:51:00Z"));
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  ASSERT_EQ(bundles_.size(), 2u);
  EXPECT_NE(bundles_.back().find("\"Patient/pat-1\""), std::string::npos);
  EXPECT_EQ(lookups_, 1);

  clock_.now_us += 2'000'000;  // 61 s after the device was read
  auto fresh = gateway_->Ingest(Payload("2026-11-29T09:52:00Z"));
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  ASSERT_EQ(bundles_.size(), 3u);
  EXPECT_NE(bundles_.back().find("\"Patient/pat-2\""), std::string::npos);
  EXPECT_EQ(bundles_.back().find("\"Patient/pat-1\""), std::string::npos);
  EXPECT_EQ(lookups_, 2);
}

// The store failing is not the device's fault: 503, and nothing of the payload is kept, so the
// device's next try is filed whole.
// Verifies: REQ-IOMT-064
TEST_F(GatewayTest, StoreFailureAnswers503AndKeepsNothing) {
  Start(Options());
  write_status_ = Status(StatusCode::kUnavailable, "the store is down");
  const std::string payload = Payload("2026-11-29T09:50:00Z", 1, true);
  http::Response r = Post(payload);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("\"unavailable\""), std::string::npos) << r.body;
  EXPECT_EQ(DeadLetterCount(), 0);  // not even the unknown code

  write_status_ = Status::Ok();
  http::Response again = Post(payload);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(bundles_.size(), 1u);
  EXPECT_EQ(DeadLetterCount(), 1);
}

// Consent that cannot be read must not count as consent given.
// Verifies: REQ-IOMT-065
TEST_F(GatewayTest, UnreadableConsentAnswers503AndFilesNothing) {
  GatewayOptions o = Options();
  o.may_collect = [](const std::string&, std::string_view, std::string_view) -> Result<bool> {
    return Status(StatusCode::kUnavailable, "the Consents cannot be read");
  };
  Start(std::move(o));
  http::Response r = Post(Payload("2026-11-29T09:50:00Z"));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(bundles_.empty());
  auto direct = gateway_->Ingest(Payload("2026-11-29T09:51:00Z"));
  ASSERT_FALSE(direct.ok());
  EXPECT_NE(direct.status().code(), StatusCode::kInvalidArgument);  // not the device's fault
  EXPECT_TRUE(bundles_.empty());
}

// `sund iomt gateway` reads the Consents itself: one it cannot parse is no consent to collect.
// The patient's measurements are refused as no-consent and dead-lettered (as sund serve does
// with a stored Consent it cannot read), not answered 503, which over MQTT would fail every
// batch holding one of them for as long as the Consent stays; another patient's Consents still
// decide for that patient. A remote server that cannot be read at all is the 503 of
// REQ-IOMT-065.
// Verifies: REQ-IOMT-071, REQ-IOMT-065
TEST_F(GatewayTest, RemoteConsentThatDoesNotParseRefusesAsNoConsent) {
  GatewayOptions o = Options();
  UseRemoteConsents(o);
  Start(std::move(o));
  // No scope and no patient: the consent engine cannot read it.
  consents_["pat-1"] = {R"({"resourceType":"Consent","id":"c-1","status":"active"})"};
  auto refused = gateway_->Ingest(Payload("2026-11-29T09:50:00Z"));
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(refused->accepted, 0);
  ASSERT_EQ(refused->refused.size(), 1u);
  EXPECT_EQ(refused->refused[0].reason, Rejection::kNoConsent);
  EXPECT_TRUE(bundles_.empty());
  EXPECT_EQ(DeadLetterCount(), 1);

  const std::string other_obs =
      R"({"resourceType":"Observation","status":"final","subject":{"reference":"Patient/pat-2"}})";
  auto other = remote_consents_->MayCollect("pat-2", other_obs, "dev-1");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_TRUE(*other);
  consents_["pat-2"] = {DenyCollect("pat-2")};
  clock_.now_us += 61'000'000;  // past the cache of pat-2's (empty) Consents
  auto denied = remote_consents_->MayCollect("pat-2", other_obs, "dev-1");
  ASSERT_TRUE(denied.ok()) << denied.status().ToString();
  EXPECT_FALSE(*denied);

  consent_status_ = Status(StatusCode::kUnavailable, "the FHIR server answered HTTP 502");
  http::Response r = Post(Payload("2026-11-29T09:51:00Z"));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(bundles_.empty());
  EXPECT_EQ(DeadLetterCount(), 1);
}

// `sund iomt gateway` reads a patient's Consents at most once a minute: consent to home
// monitoring withdrawn on the remote server takes effect once the minute since they were read
// has passed, and not before.
// Verifies: REQ-IOMT-072
TEST_F(GatewayTest, RemoteConsentsAreReadAgainAfterTheirTtl) {
  GatewayOptions o = Options();
  UseRemoteConsents(o);
  Start(std::move(o));
  auto first = gateway_->Ingest(Payload("2026-11-29T09:50:00Z"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->accepted, 1);
  EXPECT_EQ(bundles_.size(), 1u);
  EXPECT_EQ(consent_reads_, 1);

  consents_["pat-1"] = {DenyCollect("pat-1")};  // withdrawn on the remote server
  clock_.now_us += 60'000'000;                  // the TTL itself: still the Consents read then
  auto cached = gateway_->Ingest(Payload("2026-11-29T09:51:00Z"));
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  EXPECT_EQ(cached->accepted, 1);
  EXPECT_TRUE(cached->refused.empty());
  EXPECT_EQ(bundles_.size(), 2u);
  EXPECT_EQ(consent_reads_, 1);

  clock_.now_us += 1'000'000;  // 61 s after they were read
  auto withdrawn = gateway_->Ingest(Payload("2026-11-29T09:52:00Z"));
  ASSERT_TRUE(withdrawn.ok()) << withdrawn.status().ToString();
  EXPECT_EQ(withdrawn->accepted, 0);
  ASSERT_EQ(withdrawn->refused.size(), 1u);
  EXPECT_EQ(withdrawn->refused[0].reason, Rejection::kNoConsent);
  EXPECT_EQ(bundles_.size(), 2u);
  EXPECT_EQ(consent_reads_, 2);
}

// A refusal that cannot be kept fails the payload: no measurement may vanish unrecorded.
// Verifies: REQ-IOMT-066
TEST_F(GatewayTest, DeadLetterFailureAnswers503) {
  Start(Options());
  ASSERT_TRUE(storage::testing::ExecOnSqliteFile(
                  (dir_ / "iomt.db").string(),
                  "CREATE TRIGGER refuse_dead_letters BEFORE INSERT ON dead_letter "
                  "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;")
                  .ok());
  http::Response r = Post(Payload("2026-11-29T09:50:00Z", 1, true));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(DeadLetterCount(), 0);
  // A payload with nothing to dead-letter does not need the store.
  http::Response clean = Post(Payload("2026-11-29T09:51:00Z"));
  EXPECT_EQ(clean.status, 200) << clean.body;
}

// The audit record is written before the answer leaves; when it cannot be, the answer is 503.
// Verifies: REQ-IOMT-067
TEST_F(GatewayTest, AuditFailureAnswers503) {
  audit::Options ao;
  ao.maintenance_every_us = 0;
  auto log = audit::AuditLog::Open((dir_ / "audit").string(), ao);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  audit_ = std::move(log).value();
  GatewayOptions o = Options();
  o.audit = audit_.get();
  Start(std::move(o));

  http::Response ok = Post(Payload("2026-11-29T09:50:00Z"));
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_TRUE(ok.before_send) << "the answer carries no audit record";
  EXPECT_TRUE(http::FinishSync(ok));
  EXPECT_EQ(ok.status, 200);

  ASSERT_TRUE(
      storage::testing::ExecOnSqliteFile((dir_ / "audit" / "audit.db").string(),
                                         "CREATE TRIGGER refuse_records BEFORE INSERT ON record "
                                         "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;")
          .ok());
  http::Response failed = Post(Payload("2026-11-29T09:51:00Z"));
  ASSERT_TRUE(failed.before_send);
  EXPECT_FALSE(http::FinishSync(failed));
  EXPECT_EQ(failed.status, 503);
}

// The gateway's limits when the deployment sets none: 256 KiB a payload, 1,000 measurements a
// payload, five minutes of clock skew; each one past its limit is refused.
// Verifies: REQ-IOMT-008, REQ-IOMT-011, REQ-IOMT-047
TEST_F(GatewayTest, DefaultLimits) {
  Start(Options());
  const std::string small = Payload("2026-11-29T09:50:00Z");
  const std::string exact = small + std::string((256 << 10) - small.size(), ' ');
  auto at_limit = gateway_->Ingest(exact);
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().ToString();
  EXPECT_EQ(at_limit->accepted, 1);
  auto over = gateway_->Ingest(exact + " ");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  auto letters = letters_->List(1);
  ASSERT_TRUE(letters.ok() && letters->size() == 1u);
  EXPECT_EQ((*letters)[0].reason, "oversized");

  auto thousand = gateway_->Ingest(Payload("2026-11-29T09:51:00Z", 1000));
  ASSERT_TRUE(thousand.ok()) << thousand.status().ToString();
  EXPECT_EQ(thousand->accepted, 1000);
  auto too_many = gateway_->Ingest(Payload("2026-11-29T09:51:00Z", 1001));
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("more than 1000 measurements"), std::string::npos);

  auto skew = gateway_->Ingest(Payload("2026-11-29T10:05:00Z"));  // now + 5 min
  ASSERT_TRUE(skew.ok()) << skew.status().ToString();
  EXPECT_EQ(skew->accepted, 1);
  auto future = gateway_->Ingest(Payload("2026-11-29T10:05:01Z"));
  ASSERT_TRUE(future.ok()) << future.status().ToString();
  EXPECT_EQ(future->accepted, 0);
  ASSERT_EQ(future->refused.size(), 1u);
  EXPECT_EQ(future->refused[0].reason, Rejection::kFutureTime);
}

// An oversized payload's dead letter keeps its beginning (enough to find the device and the
// fault), not the whole of it.
// Verifies: REQ-IOMT-068
TEST_F(GatewayTest, OversizedPayloadsDeadLetterKeepsTheFirst64KiB) {
  Start(Options());
  const std::string small = Payload("2026-11-29T09:50:00Z");
  const std::string big = small + std::string((300 << 10) - small.size(), ' ');
  ASSERT_FALSE(gateway_->Ingest(big).ok());
  auto letters = letters_->List(1);
  ASSERT_TRUE(letters.ok() && letters->size() == 1u);
  EXPECT_EQ((*letters)[0].reason, "oversized");
  EXPECT_EQ((*letters)[0].index, -1);
  EXPECT_EQ((*letters)[0].payload.size(), std::size_t{64} << 10);
  EXPECT_EQ((*letters)[0].payload, big.substr(0, 64 << 10));
}

}  // namespace
}  // namespace sund::iomt
