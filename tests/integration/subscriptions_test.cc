// Topic-based Subscriptions (src/monitor/subscriptions.h) on the real stack: a rest-hook
// receiver (Sund's own HTTP server on loopback) gets the handshake and then a notification per
// alert of its patient; a failing endpoint ends in status error; what is not offered is refused.
#include "monitor/subscriptions.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "api_fixture.h"
#include "core/json.h"
#include "fhir/resource.h"
#include "http/server.h"

namespace sund::itest {
namespace {

using namespace std::chrono_literals;

class Receiver {
 public:
  explicit Receiver(int status = 200) : status_(status) {
    http::ServerOptions o;
    o.io_threads = 1;
    o.worker_threads = 1;
    server_ = std::make_unique<http::Server>(
        o,
        [this](http::Request& r) {
          std::lock_guard lock(mu_);
          bodies_.push_back(r.body);
          auth_.push_back(std::string(r.headers.Get("Authorization")));
          http::Response resp;
          resp.status = status_;
          return resp;
        },
        nullptr);
    EXPECT_TRUE(server_->Start().ok());
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/hook";
  }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  std::vector<std::string> auth() {
    std::lock_guard lock(mu_);
    return auth_;
  }
  // Waits until `n` notifications arrived.
  bool WaitFor(std::size_t n) {
    for (int i = 0; i < 100; ++i) {
      if (bodies().size() >= n) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

 private:
  int status_;
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::vector<std::string> auth_;
  std::unique_ptr<http::Server> server_;
};

// The SubscriptionStatus parameter `name` of a notification Bundle.
std::string StatusParam(const std::string& bundle, std::string_view name) {
  rapidjson::Document d;
  d.Parse(bundle.data(), bundle.size());
  const auto& params = d["entry"][0]["resource"]["parameter"];
  for (const auto& p : params.GetArray()) {
    if (json::GetString(p, "name") != name) continue;
    if (name == "notification-event") {
      for (const auto& part : p["part"].GetArray()) {
        if (json::GetString(part, "name") == "focus") {
          return std::string(json::GetString(part["valueReference"], "reference"));
        }
      }
    }
    for (const char* k : {"valueCode", "valueString", "valueCanonical"}) {
      if (p.HasMember(k)) return std::string(json::GetString(p, k));
    }
  }
  return "";
}

class SubscriptionsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    patient_ = Create("Patient", R"({"resourceType":"Patient","name":[{"family":"Abonnent"}]})");
    other_ = Create("Patient", R"({"resourceType":"Patient","name":[{"family":"Anden"}]})");
    monitor::SubscriptionsOptions o;
    o.store = &stack_->store();
    o.write = BundleWriter();
    o.base_url = "http://sund.test/fhir";
    o.first_retry = 10ms;
    o.max_attempts = 3;
    o.delivery_timeout = 200ms;
    feed_ = std::make_unique<monitor::ChangeFeed>(stack_->store(), 20ms);
    subs_ = std::make_unique<monitor::Subscriptions>(std::move(o), *feed_);
    auto cursor = feed_->Newest();
    ASSERT_TRUE(cursor.ok());
    ASSERT_TRUE(subs_->Start().ok());
    ASSERT_TRUE(feed_->Start(*cursor).ok());
  }
  void TearDown() override {
    feed_->Stop();
    subs_.reset();
    feed_.reset();
    ApiTest::TearDown();
  }
  std::string Subscribe(const std::string& endpoint, const std::string& topic,
                        const std::string& patient, const std::string& content = "id-only") {
    return Create(
        "Subscription",
        R"({"resourceType":"Subscription","status":"requested","reason":"test",)"
        R"("criteria":")" +
            topic +
            R"(",)"
            R"("_criteria":{"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria",)"
            R"("valueString":"Flag?patient=Patient/)" +
            patient +
            R"("}]},)"
            R"("channel":{"type":"rest-hook","endpoint":")" +
            endpoint +
            R"(",)"
            R"("payload":"application/fhir+json","header":["Authorization: Bearer hook-secret"],)"
            R"("_payload":{"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",)"
            R"("valueCode":")" +
            content + R"("}]}}})");
  }
  std::string StatusOf(const std::string& id) {
    for (int i = 0; i < 100; ++i) {
      ApiResponse r = Get("/fhir/Subscription/" + id);
      std::string s(json::GetString(r.json, "status"));
      if (s != "requested") return s;
      std::this_thread::sleep_for(50ms);
    }
    return "requested";
  }
  std::string Flag(const std::string& patient) {
    return Create("Flag", R"({"resourceType":"Flag","status":"active","code":{"text":"test"},)"
                          R"("subject":{"reference":"Patient/)" +
                              patient + R"("}})");
  }

  std::string patient_, other_;
  std::unique_ptr<monitor::ChangeFeed> feed_;
  std::unique_ptr<monitor::Subscriptions> subs_;
};

// Verifies: REQ-MON-020, REQ-MON-021, REQ-MON-022, REQ-MON-023
TEST_F(SubscriptionsTest, AlertsOfThePatientArriveAtTheRestHook) {
  Receiver hook;
  std::string id = Subscribe(hook.url(), std::string(monitor::kAlertTopic), patient_);
  ASSERT_TRUE(hook.WaitFor(1));
  EXPECT_EQ(StatusParam(hook.bodies()[0], "type"), "handshake");
  EXPECT_EQ(StatusOf(id), "active");
  Flag(other_);  // another patient's alert: not for this subscriber
  std::string flag = Flag(patient_);
  ASSERT_TRUE(hook.WaitFor(2));
  std::this_thread::sleep_for(200ms);
  auto bodies = hook.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(StatusParam(bodies[1], "type"), "event-notification");
  EXPECT_EQ(StatusParam(bodies[1], "events-since-subscription-start"), "1");
  EXPECT_EQ(StatusParam(bodies[1], "notification-event"), "http://sund.test/fhir/Flag/" + flag);
  EXPECT_EQ(StatusParam(bodies[1], "topic"), monitor::kAlertTopic);
  EXPECT_EQ(hook.auth()[1], "Bearer hook-secret");
  // id-only: the notification names the Flag, it does not carry it.
  EXPECT_EQ(bodies[1].find("\"test\""), std::string::npos);
}

// Issue #10: the clinician portal's worklist follows NEWS2 scores as they are stored; a vital sign
// goes to the vital-signs topic and not to this one.
// Verifies: REQ-MON-020, REQ-MON-024
TEST_F(SubscriptionsTest, News2ScoresHaveATopicOfTheirOwn) {
  Receiver hook;
  std::string id = Subscribe(hook.url(), std::string(monitor::kNews2Topic), patient_);
  ASSERT_TRUE(hook.WaitFor(1));
  EXPECT_EQ(StatusOf(id), "active");
  Create("Observation",
         R"({"resourceType":"Observation","status":"final","category":[{"coding":[{"system":)"
         R"("http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],)"
         R"("code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
         R"("subject":{"reference":"Patient/)" +
             patient_ +
             R"("},"effectiveDateTime":"2026-11-29T10:00:00Z","valueQuantity":{"value":72,)"
             R"("unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})");
  std::string score = Create(
      "Observation",
      R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":)"
      R"("http://snomed.info/sct","code":"1104051000000101"}]},"subject":{"reference":"Patient/)" +
          patient_ + R"("},"effectiveDateTime":"2026-11-29T10:00:00Z","valueInteger":7})");
  ASSERT_TRUE(hook.WaitFor(2));
  std::this_thread::sleep_for(200ms);
  auto bodies = hook.bodies();
  ASSERT_EQ(bodies.size(), 2u) << "the vital sign was delivered on the NEWS2 topic";
  EXPECT_EQ(StatusParam(bodies[1], "topic"), monitor::kNews2Topic);
  EXPECT_EQ(StatusParam(bodies[1], "notification-event"),
            "http://sund.test/fhir/Observation/" + score);
}

// A corrected measurement is a new version of its Observation: the vital-signs topic notifies
// it again (its trigger is create and update, so the subscriber re-reads the value), a deletion
// notifies nothing, and a Flag's later version (a clinician resolving it) raises no new alert.
// Each negative case is followed by a new resource, so that its notification, had there been
// one, would have come first (the feed and each subscriber keep commit order).
// Verifies: REQ-MON-029, REQ-MON-030
TEST_F(SubscriptionsTest, ACorrectedVitalSignNotifiesAgain) {
  Receiver vitals;
  Receiver alerts;
  std::string vid = Subscribe(vitals.url(), std::string(monitor::kVitalSignsTopic), patient_);
  std::string aid = Subscribe(alerts.url(), std::string(monitor::kAlertTopic), patient_);
  ASSERT_TRUE(vitals.WaitFor(1));
  ASSERT_TRUE(alerts.WaitFor(1));
  EXPECT_EQ(StatusOf(vid), "active");
  EXPECT_EQ(StatusOf(aid), "active");
  auto pulse = [&](const std::string& id, const std::string& status, int value) {
    std::string out = R"({"resourceType":"Observation",)";
    if (!id.empty()) out += R"("id":")" + id + R"(",)";
    out += R"("status":")" + status +
           R"(","category":[{"coding":[{"system":)"
           R"("http://terminology.hl7.org/CodeSystem/observation-category",)"
           R"("code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org",)"
           R"("code":"8867-4"}]},"subject":{"reference":"Patient/)" +
           patient_ + R"("},"effectiveDateTime":"2026-11-29T10:00:00Z","valueQuantity":{)" +
           R"("value":)" + std::to_string(value) +
           R"(,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})";
    return out;
  };
  const std::string base = "http://sund.test/fhir/";

  std::string obs = Create("Observation", pulse("", "final", 27));
  ASSERT_TRUE(vitals.WaitFor(2));
  ApiResponse corrected = Put("/fhir/Observation/" + obs, pulse(obs, "corrected", 72));
  ASSERT_EQ(corrected.status, 200) << corrected.body;
  ASSERT_TRUE(vitals.WaitFor(3)) << "the corrected vital sign notified nobody";
  auto bodies = vitals.bodies();
  EXPECT_EQ(StatusParam(bodies[2], "topic"), monitor::kVitalSignsTopic);
  EXPECT_EQ(StatusParam(bodies[2], "events-since-subscription-start"), "2");
  EXPECT_EQ(StatusParam(bodies[2], "notification-event"), base + "Observation/" + obs);

  // Deleted: no notification before the next new measurement's.
  EXPECT_EQ(Delete("/fhir/Observation/" + obs).status, 204);
  std::string next = Create("Observation", pulse("", "final", 70));
  ASSERT_TRUE(vitals.WaitFor(4));
  bodies = vitals.bodies();
  EXPECT_EQ(StatusParam(bodies[3], "notification-event"), base + "Observation/" + next);
  EXPECT_EQ(StatusParam(bodies[3], "events-since-subscription-start"), "3");

  // A Flag resolved: no alert before the next new Flag's.
  std::string flag = Flag(patient_);
  ASSERT_TRUE(alerts.WaitFor(2));
  ApiResponse resolved =
      Put("/fhir/Flag/" + flag,
          R"({"resourceType":"Flag","id":")" + flag +
              R"(","status":"inactive","code":{"text":"test"},"subject":{"reference":"Patient/)" +
              patient_ + R"("}})");
  ASSERT_EQ(resolved.status, 200) << resolved.body;
  std::string flag2 = Flag(patient_);
  ASSERT_TRUE(alerts.WaitFor(3));
  auto alert_bodies = alerts.bodies();
  EXPECT_EQ(StatusParam(alert_bodies[2], "notification-event"), base + "Flag/" + flag2);
  EXPECT_EQ(StatusParam(alert_bodies[2], "events-since-subscription-start"), "2");
}

// Verifies: REQ-MON-025
TEST_F(SubscriptionsTest, AnEndpointThatKeepsFailingEndsInError) {
  Receiver broken(500);
  std::string id = Subscribe(broken.url(), std::string(monitor::kAlertTopic), patient_);
  EXPECT_EQ(StatusOf(id), "error");
  EXPECT_EQ(broken.bodies().size(), 3u);  // max_attempts
}

// An endpoint that takes the connection and never answers: each attempt times out, the
// Subscription ends in error, and nothing hangs.
// Verifies: REQ-MON-026
TEST_F(SubscriptionsTest, AnEndpointThatNeverAnswersEndsInError) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 16), 0);  // connections queue; nobody reads them
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::string id = Subscribe("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/hook",
                             std::string(monitor::kAlertTopic), patient_);
  EXPECT_EQ(StatusOf(id), "error");
  close(fd);
}

// Verifies: REQ-MON-027
TEST_F(SubscriptionsTest, WhatIsNotOfferedIsRefused) {
  Receiver hook;
  EXPECT_EQ(StatusOf(Subscribe(hook.url(), "https://example.org/no-such-topic", patient_)),
            "error");
  std::string full =
      Subscribe(hook.url(), std::string(monitor::kAlertTopic), patient_, "full-resource");
  EXPECT_EQ(StatusOf(full), "error");
  ApiResponse r = Get("/fhir/Subscription/" + full);
  EXPECT_NE(std::string(json::GetString(r.json, "error")).find("full-resource"), std::string::npos);
  EXPECT_TRUE(hook.bodies().empty());
}

}  // namespace
}  // namespace sund::itest
