// The IoMT gateway (src/iomt/gateway.h) on the real stack: Devices, DeviceUseStatements and
// Patients in the SQLite store, Observations written through the Engine's transactions, the
// dead-letter store in the stack's directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <set>
#include <string>
#include <thread>

#include "api/consent_gate.h"
#include "api_fixture.h"
#include "core/json.h"
#include "fhir/resource.h"
#include "iomt/dead_letters.h"
#include "iomt/gateway.h"
#include "monitor/silence.h"
#include "monitor/subscriptions.h"
#include "monitor/watch.h"

namespace sund::itest {
namespace {

class FixedClock final : public Clock {
 public:
  std::int64_t NowMicros() const override {
    return 1'795'946'400'000'000;  // 2026-11-29T10:00Z
  }
};

class IomtTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    auto letters = iomt::DeadLetters::Open((stack_->dir() / "iomt.db").string());
    ASSERT_TRUE(letters.ok()) << letters.status().ToString();
    letters_ = std::move(letters).value();
    auto devices = iomt::DeviceLog::Open((stack_->dir() / "iomt.db").string());
    ASSERT_TRUE(devices.ok()) << devices.status().ToString();
    devices_ = std::move(devices).value();
    iomt::GatewayOptions o;
    o.store = &stack_->store();
    o.dead_letters = letters_.get();
    o.device_log = devices_.get();
    o.clock = &clock_;
    o.write = BundleWriter();
    o.authorize = [this](const http::Request&, bool) -> Result<audit::Actor> {
      if (!allow_.ok()) return allow_;
      return audit::Actor{"", "system", "", "test-hub"};
    };
    auto log = audit::AuditLog::Open((stack_->dir() / "iomt-audit").string());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    audit_ = std::move(log).value();
    o.audit = audit_.get();
    consent_ = std::make_unique<api::ConsentGate>(stack_->store(), consent::BasePolicy::kDanish);
    o.may_collect = [this](const std::string& patient, std::string_view obs,
                           std::string_view device) {
      return consent_->AllowsCollection(patient, obs, device, clock_.NowMicros() / 1000);
    };
    monitor::WatchOptions wo;
    wo.store = &stack_->store();
    wo.write = o.write;
    wo.clock = &clock_;
    watch_ = std::make_unique<monitor::Watch>(std::move(wo));
    o.on_filed = [this](const std::vector<std::string>& patients) -> Status {
      for (const auto& p : patients) SUND_RETURN_IF_ERROR(watch_->Score(p).status());
      return Status::Ok();
    };
    gateway_ = std::make_unique<iomt::Gateway>(std::move(o));
    aase_ = Create("Patient", R"({"resourceType":"Patient","name":[{"family":"Testesen"}]})");
    bent_ = Create("Patient", R"({"resourceType":"Patient","name":[{"family":"Prøvesen"}]})");
    device_ = Create("Device", R"({"resourceType":"Device","identifier":[{"system":)"
                               R"("urn:sund:device","value":"oxi-7"}]})");
    // Lent to Aase until 09:00 today, to Bent from then on.
    Create("DeviceUseStatement", Use(aase_, "2026-11-01T00:00:00Z", "2026-11-29T08:59:59Z"));
    Create("DeviceUseStatement", Use(bent_, "2026-11-29T09:00:00Z", ""));
  }
  std::string Use(const std::string& patient, const std::string& start, const std::string& end) {
    return R"({"resourceType":"DeviceUseStatement","status":"active","subject":{"reference":)"
           R"("Patient/)" +
           patient + R"("},"device":{"reference":"Device/)" + device_ +
           R"("},"timingPeriod":{"start":")" + start + "\"" +
           (end.empty() ? "" : R"(,"end":")" + end + "\"") + "}}";
  }
  static std::string Payload(const std::string& device, const std::string& time) {
    return R"({"device":")" + device + R"(","time":")" + time + R"(","measurements":[
      {"code":{"system":"mdc","code":"149530"},"value":72,"unit":"/min"},
      {"code":{"system":"mdc","code":"150456"},"value":96,"unit":"%"},
      {"code":{"system":"mdc","code":"150021"},"value":128,"unit":"mm[Hg]"},
      {"code":{"system":"mdc","code":"150022"},"value":84,"unit":"mm[Hg]"},
      {"code":{"system":"mdc","code":"424242"},"value":1,"unit":"/min"}]})";
  }

  FixedClock clock_;
  Status allow_ = Status::Ok();
  std::unique_ptr<api::ConsentGate> consent_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<monitor::Watch> watch_;
  std::unique_ptr<iomt::DeadLetters> letters_;
  std::unique_ptr<iomt::DeviceLog> devices_;
  std::unique_ptr<iomt::Gateway> gateway_;
  std::string aase_, bent_, device_;
};

// Measurements file under the patient who had the device then, as vital-signs Observations;
// the same payload again is stored once; the unknown code is dead-lettered with its reason.
// Verifies: REQ-IOMT-004, REQ-IOMT-005, REQ-IOMT-015, REQ-IOMT-017, REQ-IOMT-022, REQ-IOMT-024
// Verifies: REQ-IOMT-025
TEST_F(IomtTest, MeasurementsAreFiledOnceUnderWhoHadTheDevice) {
  auto first = gateway_->Ingest(Payload("oxi-7", "2026-11-29T08:30:00Z"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->accepted, 4);
  EXPECT_EQ(first->stored, 3);  // heart rate, SpO2, blood pressure (one with two components)
  EXPECT_EQ(first->duplicates, 0);
  ASSERT_EQ(first->refused.size(), 1u);
  EXPECT_EQ(first->refused[0].index, 4);
  EXPECT_EQ(first->refused[0].reason, iomt::Rejection::kUnknownCode);
  // (Each patient also gets a NEWS2 Observation, category survey: see the scoring test.)
  EXPECT_EQ(Count("Observation?category=vital-signs&subject=Patient/" + aase_), 3);
  EXPECT_EQ(Count("Observation?subject=Patient/" + bent_), 0);
  EXPECT_EQ(
      Count("Observation?code=http://loinc.org|85354-9&component-code=http://loinc.org|8480-6"), 1);

  auto again = gateway_->Ingest(Payload("oxi-7", "2026-11-29T08:30:00Z"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->stored, 0);
  EXPECT_EQ(again->duplicates, 3);
  EXPECT_EQ(Count("Observation?category=vital-signs"), 3);

  auto later = gateway_->Ingest(Payload("oxi-7", "2026-11-29T09:30:00Z"));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->stored, 3);
  EXPECT_EQ(Count("Observation?category=vital-signs&subject=Patient/" + bent_), 3);

  auto count = letters_->Count();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 3);  // the unknown code, once per payload
}

// A batch (MQTT) is one transaction: the same payload twice in it is stored once, and a
// malformed one in it is refused alone.
// Verifies: REQ-IOMT-011, REQ-IOMT-022, REQ-IOMT-023, REQ-IOMT-046
TEST_F(IomtTest, ABatchIsOneTransactionWithoutDuplicates) {
  std::string p = Payload("oxi-7", "2026-11-29T09:10:00Z");
  auto results = gateway_->IngestBatch({{p, "oxi-7"}, {"{bad", "oxi-7"}, {p, "oxi-7"}});
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 3u);
  ASSERT_TRUE((*results)[0].ok());
  EXPECT_EQ((*results)[0]->stored, 3);
  EXPECT_FALSE((*results)[1].ok());
  ASSERT_TRUE((*results)[2].ok());
  EXPECT_EQ((*results)[2]->stored, 0);
  EXPECT_EQ((*results)[2]->duplicates, 3);
  EXPECT_EQ(Count("Observation?category=vital-signs"), 3);
  // The topic's device must be the payload's.
  auto wrong = gateway_->IngestBatch({{p, "oxi-8"}});
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE((*wrong)[0].ok());
}

// Deterioration at home: the filed measurements are scored (NEWS2 as an Observation with its
// inputs) and, when the policy escalates, a Flag is raised for the care team; the same
// payload again adds neither.
// Verifies: REQ-IOMT-038, REQ-IOMT-039, REQ-IOMT-040
TEST_F(IomtTest, FiledMeasurementsAreScoredAndEscalate) {
  constexpr std::string_view kBad = R"({"device":"oxi-7","time":"2026-11-29T09:40:00Z",
    "measurements":[
      {"code":{"system":"mdc","code":"151562"},"value":26,"unit":"/min"},
      {"code":{"system":"mdc","code":"150456"},"value":90,"unit":"%"},
      {"code":{"system":"mdc","code":"149530"},"value":128,"unit":"/min"},
      {"code":{"system":"mdc","code":"150364"},"value":39.4,"unit":"Cel"},
      {"code":{"system":"mdc","code":"150021"},"value":98,"unit":"mm[Hg]"},
      {"code":{"system":"mdc","code":"150022"},"value":60,"unit":"mm[Hg]"}]})";
  std::string team = Create("CareTeam", R"({"resourceType":"CareTeam","status":"active",)"
                                        R"("name":"Hjemmeplejen Nord","subject":{"reference":)"
                                        R"("Patient/)" +
                                            bent_ + R"("}})");
  auto r = gateway_->Ingest(kBad);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stored, 5);
  const std::string news2 =
      "Observation?code=http://snomed.info/sct|1104051000000101&subject=Patient/";
  EXPECT_EQ(Count(news2 + bent_), 1);
  // RR 26: 3, SpO2 90: 3, pulse 128: 2, 39.4 C: 2, SBP 98: 2 = 12 without consciousness and
  // oxygen: incomplete, but high already.
  ApiResponse score = Get("/fhir/" + news2 + bent_);
  ASSERT_EQ(score.status, 200);
  const auto& obs = score.json["entry"][0]["resource"];
  EXPECT_FALSE(obs.HasMember("valueInteger"));
  EXPECT_EQ(json::GetString(obs["interpretation"][0]["coding"][0], "code"), "high");
  EXPECT_EQ(obs["derivedFrom"].Size(), 5u);
  EXPECT_EQ(Count("Flag?subject=Patient/" + bent_), 1);
  ApiResponse flag = Get("/fhir/Flag?subject=Patient/" + bent_);
  EXPECT_THAT(std::string(json::GetString(flag.json["entry"][0]["resource"]["code"], "text")),
              ::testing::HasSubstr("NEWS2 12 (incomplete): emergency assessment"));

  // The care team is told, and a clinician acknowledges it.
  ApiResponse told = Get("/fhir/Communication?subject=Patient/" + bent_);
  ASSERT_EQ(told.json["entry"].Size(), 1u);
  const auto& c = told.json["entry"][0]["resource"];
  EXPECT_EQ(json::GetString(c, "status"), "in-progress");
  EXPECT_EQ(json::GetString(c, "priority"), "stat");
  EXPECT_EQ(json::GetString(c["recipient"][0], "reference"), "CareTeam/" + team);
  EXPECT_EQ(json::GetString(c["about"][0]["identifier"], "value"),
            json::GetString(flag.json["entry"][0]["resource"]["identifier"][0], "value"));
  std::string id(json::GetString(c, "id"));
  ApiResponse ack = Patch("/fhir/Communication/" + id,
                          R"([{"op":"replace","path":"/status","value":"completed"},)"
                          R"({"op":"add","path":"/received","value":"2026-11-29T10:02:00Z"}])");
  EXPECT_EQ(ack.status, 200) << ack.body;

  auto again = gateway_->Ingest(kBad);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Count(news2 + bent_), 1);
  EXPECT_EQ(Count("Flag"), 1);
  EXPECT_EQ(Count("Communication?status=completed"), 1);
  EXPECT_EQ(Count("Communication"), 1);
  // Still as ill ten minutes later: a new score, no second alert while the first stands.
  std::string later(kBad);
  later.replace(later.find("09:40"), 5, "09:50");
  ASSERT_TRUE(gateway_->Ingest(later).ok());
  EXPECT_EQ(Count(news2 + bent_), 2);
  EXPECT_EQ(Count("Flag?subject=Patient/" + bent_), 1);
  // A clinician resolves it; the next bad score raises a new alert.
  std::string flag_id(json::GetString(flag.json["entry"][0]["resource"], "id"));
  EXPECT_EQ(
      Patch("/fhir/Flag/" + flag_id, R"([{"op":"replace","path":"/status","value":"inactive"}])")
          .status,
      200);
  later.replace(later.find("09:50"), 5, "09:55");
  ASSERT_TRUE(gateway_->Ingest(later).ok());
  EXPECT_EQ(Count("Flag?subject=Patient/" + bent_), 2);
  // A normal reading for Aase earlier: scored, no Flag.
  ASSERT_TRUE(gateway_->Ingest(Payload("oxi-7", "2026-11-29T08:30:00Z")).ok());
  EXPECT_EQ(Count(news2 + aase_), 1);
  EXPECT_EQ(Count("Flag?subject=Patient/" + aase_), 0);
}

// A clinician puts a patient with hypercapnic respiratory failure on SpO2 scale 2 in their
// CarePlan: a saturation of 90 % then scores 0 instead of 3.
// Verifies: REQ-IOMT-041
TEST_F(IomtTest, ACarePlanPutsTheSaturationOnScale2) {
  Create("CarePlan",
         R"({"resourceType":"CarePlan","status":"active","intent":"plan",)"
         R"("category":[{"coding":[{"system":"urn:sund:news2","code":"spo2-scale-2"}]}],)"
         R"("subject":{"reference":"Patient/)" +
             bent_ + R"("}})");
  auto r = gateway_->Ingest(R"({"device":"oxi-7","time":"2026-11-29T09:40:00Z",
    "measurements":[
      {"code":{"system":"mdc","code":"151562"},"value":26,"unit":"/min"},
      {"code":{"system":"mdc","code":"150456"},"value":90,"unit":"%"}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ApiResponse flag = Get("/fhir/Flag?subject=Patient/" + bent_);
  ASSERT_EQ(flag.status, 200);
  ASSERT_EQ(flag.json["entry"].Size(), 1u);  // RR 26 alone scores 3: a single-parameter 3
  EXPECT_THAT(std::string(json::GetString(flag.json["entry"][0]["resource"]["code"], "text")),
              ::testing::HasSubstr("NEWS2 3 (incomplete)"));
}

// The municipality's welfare-technology report: per device when it was last seen, its battery,
// use per day and the longest silence; per citizen the days the measurement plan was kept.
// Verifies: REQ-IOMT-013, REQ-IOMT-036, REQ-IOMT-037
TEST_F(IomtTest, DeviceReportShowsUseBatteryGapsAndAdherence) {
  auto with_battery = [](const std::string& time, int battery) {
    return R"({"device":"oxi-7","time":")" + time + R"(","battery":)" + std::to_string(battery) +
           R"(,"measurements":[{"code":{"system":"mdc","code":"149530"},"value":72,)"
           R"("unit":"/min"}]})";
  };
  // Yesterday once at 08:00; today (2026-11-29, clock at 10:00) at 09:20, 09:50 and 09:10 (late).
  for (auto [time, battery] :
       std::vector<std::pair<std::string, int>>{{"2026-11-28T08:00:00Z", 90},
                                                {"2026-11-29T09:20:00Z", 80},
                                                {"2026-11-29T09:50:00Z", 78},
                                                {"2026-11-29T09:10:00Z", 81}}) {
    ASSERT_TRUE(gateway_->Ingest(with_battery(time, battery)).ok());
  }
  ASSERT_FALSE(gateway_->Ingest(with_battery("2026-11-29T09:55:00Z", 120)).ok());  // refused
  auto report = [this](std::string query, std::string accept = "") {
    http::Request get;
    get.method = "GET";
    get.path = "/iomt/v1/reports/devices";
    get.query = std::move(query);
    if (!accept.empty()) get.headers.Set("Accept", accept);
    return gateway_->Handle(get);
  };
  http::Response r = report("days=2&plan=3");
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document doc;
  doc.Parse(r.body.data(), r.body.size());
  ASSERT_TRUE(doc.IsObject());
  ASSERT_EQ(doc["devices"].Size(), 1u);
  const auto& d = doc["devices"][0];
  EXPECT_EQ(json::GetString(d, "device"), "oxi-7");
  EXPECT_EQ(json::GetString(d, "patient"), "Patient/" + bent_);
  EXPECT_EQ(json::GetString(d, "last_seen"), "2026-11-29T09:50:00.000Z");
  EXPECT_EQ(d["battery"].GetDouble(), 78);  // the newest payload's, not the last to arrive
  EXPECT_EQ(d["days_reported"].GetInt(), 2);
  EXPECT_EQ(d["days_meeting_plan"].GetInt(), 1);  // three payloads today, one yesterday
  EXPECT_DOUBLE_EQ(d["payloads_per_day"].GetDouble(), 2.0);
  // 08:00 yesterday to 09:20 today (09:10 arrived last, out of order, and is no gap).
  EXPECT_DOUBLE_EQ(d["longest_gap_hours"].GetDouble(), 25 + 1.0 / 3);
  ASSERT_EQ(doc["citizens"].Size(), 1u);
  EXPECT_DOUBLE_EQ(doc["citizens"][0]["adherence"].GetDouble(), 0.5);

  http::Response csv = report("days=2&plan=3&_format=csv");
  ASSERT_EQ(csv.status, 200);
  EXPECT_THAT(csv.body, ::testing::StartsWith("device,patient,last_seen,battery"));
  EXPECT_THAT(csv.body, ::testing::HasSubstr("oxi-7," + bent_ + ",2026-11-29T09:50:00.000Z,78.0,"));
  http::Response people = report("days=2&plan=3&view=citizens", "text/csv");
  EXPECT_THAT(people.body, ::testing::HasSubstr(bent_ + ",1,2,3,1,50.0%"));
  EXPECT_EQ(report("days=0").status, 400);
}

// A monitored citizen who stops measuring raises an alert, once per silence.
// Verifies: REQ-IOMT-042
TEST_F(IomtTest, APatientWhoStopsReportingRaisesAnAlert) {
  monitor::SilenceOptions o;
  o.store = &stack_->store();
  o.write = BundleWriter();
  o.clock = &clock_;  // 10:00; Bent has had the device since 09:00, Aase's loan has ended
  o.after_ms = 60 * 60 * 1000;
  auto first = monitor::CheckSilence(o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->monitored, 1);
  EXPECT_EQ(first->silent, 1);
  ApiResponse flags =
      Get("/fhir/Flag?identifier=urn:sund:no-report-flag%7C&subject=Patient/" + bent_);
  ASSERT_EQ(flags.json["entry"].Size(), 1u) << flags.body;
  EXPECT_THAT(std::string(json::GetString(flags.json["entry"][0]["resource"]["code"], "text")),
              ::testing::HasSubstr("No measurements for 1 hours (monitored since"));
  EXPECT_EQ(Count("Communication?subject=Patient/" + bent_), 1);
  ASSERT_TRUE(monitor::CheckSilence(o).ok());  // the same silence: nothing new
  EXPECT_EQ(Count("Flag?identifier=urn:sund:no-report-flag%7C"), 1);

  // Bent measures at 09:30: not silent for an hour; silent for 20 minutes is a new silence.
  ASSERT_TRUE(gateway_->Ingest(Payload("oxi-7", "2026-11-29T09:30:00Z")).ok());
  auto after = monitor::CheckSilence(o);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->silent, 0);
  o.after_ms = 20 * 60 * 1000;
  ASSERT_TRUE(monitor::CheckSilence(o).ok());
  EXPECT_EQ(Count("Flag?identifier=urn:sund:no-report-flag%7C"), 2);
}

// A vendor's own payload through the deployment's mapping template (examples/iomt): filed like
// Sund's own; one the template cannot map is dead-lettered with the template's reason.
// Verifies: REQ-IOMT-027, REQ-IOMT-030
TEST_F(IomtTest, VendorPayloadsAreMappedByTemplates) {
  std::ifstream in(std::string(SUND_SOURCE_DIR) + "/examples/iomt/vendor-templates.json");
  ASSERT_TRUE(in) << "examples/iomt/vendor-templates.json";
  auto mappings = iomt::Mappings::Parse(std::string{std::istreambuf_iterator<char>(in), {}});
  ASSERT_TRUE(mappings.ok()) << mappings.status().ToString();
  iomt::GatewayOptions o;
  o.store = &stack_->store();
  o.dead_letters = letters_.get();
  o.clock = &clock_;
  o.mappings = &*mappings;
  o.write = BundleWriter();
  iomt::Gateway gateway(std::move(o));
  // 2026-11-29T09:40:00Z in seconds since the epoch.
  auto r = gateway.Ingest(R"({"kind":"bp","serial":"oxi-7","ts":1795945200,"sys":131,"dia":82})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->accepted, 2);
  EXPECT_EQ(r->stored, 1);
  EXPECT_EQ(Count("Observation?code=http://loinc.org|85354-9&subject=Patient/" + bent_), 1);
  auto bad = gateway.Ingest(R"({"kind":"bp","serial":"oxi-7","ts":1795945200,"sys":131})");
  EXPECT_FALSE(bad.ok());
  auto letters = letters_->List(1);
  ASSERT_TRUE(letters.ok() && !letters->empty());
  EXPECT_NE((*letters)[0].detail.find("mapping template 'example-cuff'"), std::string::npos);
}

// A vital sign that arrives through the FHIR API (a device posting FHIR as in the PHD IG, a
// clinician) is scored too: the change feed marks its patient.
// Verifies: REQ-IOMT-043
TEST_F(IomtTest, VitalSignsPostedAsFhirAreScoredFromTheChangeFeed) {
  monitor::ScoreQueue queue(*watch_);  // outlives the feed that marks it
  monitor::ChangeFeed feed(stack_->store(), std::chrono::milliseconds(20));
  monitor::ScoreFromFeed(feed, queue);
  auto cursor = feed.Newest();
  ASSERT_TRUE(cursor.ok());
  ASSERT_TRUE(feed.Start(*cursor).ok());
  Create(
      "Observation",
      R"({"resourceType":"Observation","status":"final","category":[{"coding":[{"system":)"
      R"("http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"9279-1"}]},)"
      R"("subject":{"reference":"Patient/)" +
          aase_ +
          R"("},"effectiveDateTime":"2026-11-29T09:50:00Z",)"
          R"("valueQuantity":{"value":27,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})");
  const std::string news2 =
      "Observation?code=http://snomed.info/sct|1104051000000101&subject=Patient/" + aase_;
  for (int i = 0; i < 100 && Count(news2) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Count(news2), 1);
  feed.Stop();
}

// A clinician corrects a respiration rate (27 to 16 /min, same time, a new version of the
// Observation): the change feed has the patient scored again, and the corrected score (low)
// is stored beside the first (low-medium, whose alert stands).
// Verifies: REQ-MON-031
TEST_F(IomtTest, CorrectedVitalSignsAreScoredAgainFromTheChangeFeed) {
  monitor::ScoreQueue queue(*watch_);  // outlives the feed that marks it
  monitor::ChangeFeed feed(stack_->store(), std::chrono::milliseconds(20));
  monitor::ScoreFromFeed(feed, queue);
  auto cursor = feed.Newest();
  ASSERT_TRUE(cursor.ok());
  ASSERT_TRUE(feed.Start(*cursor).ok());
  auto respiration = [this](const std::string& id, const std::string& status, int rate) {
    return R"({"resourceType":"Observation",)" +
           (id.empty() ? std::string() : R"("id":")" + id + R"(",)") + R"("status":")" + status +
           R"(","category":[{"coding":[{"system":)"
           R"("http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],)"
           R"("code":{"coding":[{"system":"http://loinc.org","code":"9279-1"}]},)"
           R"("subject":{"reference":"Patient/)" +
           aase_ + R"("},"effectiveDateTime":"2026-11-29T09:50:00Z","valueQuantity":{"value":)" +
           std::to_string(rate) +
           R"(,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}})";
  };
  const std::string id = Create("Observation", respiration("", "final", 27));
  const std::string news2 =
      "Observation?code=http://snomed.info/sct|1104051000000101&subject=Patient/" + aase_;
  for (int i = 0; i < 100 && Count(news2) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(Count(news2), 1);

  ApiResponse put = Put("/fhir/Observation/" + id, respiration(id, "corrected", 16));
  ASSERT_EQ(put.status, 200) << put.body;
  for (int i = 0; i < 250 && Count(news2) < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  feed.Stop();
  ASSERT_EQ(Count(news2), 2);
  ApiResponse scores = Get("/fhir/" + news2);
  ASSERT_EQ(scores.status, 200);
  std::set<std::string> risks;
  for (const auto& e : scores.json["entry"].GetArray()) {
    const auto& risk = e["resource"]["interpretation"][0]["coding"][0];
    risks.insert(std::string(json::GetString(risk, "code")));
    EXPECT_EQ(e["resource"]["derivedFrom"].Size(), 1u);
  }
  EXPECT_EQ(risks, (std::set<std::string>{"low", "low-medium"}));
  EXPECT_EQ(Count("Flag?subject=Patient/" + aase_), 1);  // the first score's alert only
}

// A citizen who withdrew consent to home monitoring (a Consent denying `collect`): their later
// measurements are refused with that reason; another citizen's are filed; reading is not
// affected.
// Verifies: REQ-IOMT-021
TEST_F(IomtTest, WithdrawnConsentToCollectionRefusesMeasurements) {
  Create("Consent", R"({"resourceType":"Consent","status":"active","scope":{"coding":[{)"
                    R"("system":"http://terminology.hl7.org/CodeSystem/consentscope","code":)"
                    R"("patient-privacy"}]},"category":[{"text":"hjemmemonitorering"}],)"
                    R"("patient":{"reference":"Patient/)" +
                        aase_ +
                        R"("},"provision":{"type":"deny","action":[{"coding":[{"system":)"
                        R"("http://terminology.hl7.org/CodeSystem/consentaction","code":)"
                        R"("collect"}]}]}})");
  auto aase = gateway_->Ingest(Payload("oxi-7", "2026-11-29T08:30:00Z"));
  ASSERT_TRUE(aase.ok()) << aase.status().ToString();
  EXPECT_EQ(aase->accepted, 0);
  int no_consent = 0;
  for (const auto& r : aase->refused) {
    if (r.reason == iomt::Rejection::kNoConsent) ++no_consent;
  }
  EXPECT_EQ(no_consent, 4);
  EXPECT_EQ(Count("Observation"), 0);
  auto bent = gateway_->Ingest(Payload("oxi-7", "2026-11-29T09:30:00Z"));
  ASSERT_TRUE(bent.ok());
  EXPECT_EQ(bent->stored, 3);
}

// Unknown devices and unusable payloads: every measurement or payload ends in the dead-letter
// store with its reason; nothing is filed.
// Verifies: REQ-IOMT-011, REQ-IOMT-020, REQ-IOMT-025
TEST_F(IomtTest, RefusedPayloadsEndInTheDeadLetterStore) {
  auto unknown = gateway_->Ingest(Payload("oxi-9", "2026-11-29T08:30:00Z"));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->accepted, 0);
  EXPECT_EQ(unknown->refused.size(), 5u);
  int unknown_device = 0;
  for (const auto& r : unknown->refused) {
    if (r.reason == iomt::Rejection::kUnknownDevice) ++unknown_device;
  }
  EXPECT_EQ(unknown_device, 4);  // heart rate, SpO2 and both pressure halves
  auto unassigned = gateway_->Ingest(Payload("oxi-7", "2026-10-01T08:30:00Z"));
  ASSERT_TRUE(unassigned.ok());
  EXPECT_EQ(unassigned->accepted, 0);
  int not_assigned = 0;
  for (const auto& r : unassigned->refused) {
    if (r.reason == iomt::Rejection::kUnassigned) ++not_assigned;
  }
  EXPECT_EQ(not_assigned, 4);
  auto malformed = gateway_->Ingest("{not json");
  EXPECT_EQ(malformed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Count("Observation"), 0);

  auto letters = letters_->List(100);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 11u);
  EXPECT_EQ(letters->front().reason, "malformed");
  EXPECT_EQ(letters->front().index, -1);
  EXPECT_EQ(letters->front().payload, "{not json");
  for (const auto& d : *letters) EXPECT_FALSE(d.detail.empty()) << d.reason;
}

// sund serve caches what it found for a device until a Device or DeviceUseStatement is written:
// a device registered after it was refused, and then lent to someone else, takes effect with
// the next payload.
// Verifies: REQ-IOMT-062
TEST_F(IomtTest, DeviceChangesInTheStoreTakeEffectAtOnce) {
  auto before = gateway_->Ingest(Payload("oxi-9", "2026-11-29T09:30:00Z"));
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(before->accepted, 0);  // no Device yet
  std::string oxi9 = Create("Device", R"({"resourceType":"Device","identifier":[{"system":)"
                                      R"("urn:sund:device","value":"oxi-9"}],"patient":)"
                                      R"({"reference":"Patient/)" +
                                          aase_ + R"("}})");
  auto registered = gateway_->Ingest(Payload("oxi-9", "2026-11-29T09:31:00Z"));
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  EXPECT_EQ(registered->accepted, 4);
  EXPECT_EQ(Count("Observation?category=vital-signs&subject=Patient/" + aase_), 3);

  // Lent to Bent from 09:00: the statement decides over Device.patient from now on.
  Create("DeviceUseStatement",
         R"({"resourceType":"DeviceUseStatement","status":"active","subject":{"reference":)"
         R"("Patient/)" +
             bent_ + R"("},"device":{"reference":"Device/)" + oxi9 +
             R"("},"timingPeriod":{"start":"2026-11-29T09:00:00Z"}})");
  auto lent = gateway_->Ingest(Payload("oxi-9", "2026-11-29T09:32:00Z"));
  ASSERT_TRUE(lent.ok()) << lent.status().ToString();
  EXPECT_EQ(lent->accepted, 4);
  EXPECT_EQ(Count("Observation?category=vital-signs&subject=Patient/" + bent_), 3);
  EXPECT_EQ(Count("Observation?category=vital-signs&subject=Patient/" + aase_), 3);
}

// Over HTTP: the answer lists what was filed and refused; the dead letters page by id; the
// caller's authorization decides.
// Verifies: REQ-IOMT-011, REQ-IOMT-024, REQ-IOMT-026, REQ-IOMT-032, REQ-IOMT-033, REQ-IOMT-034
TEST_F(IomtTest, TheHttpSurface) {
  http::Request post;
  post.method = "POST";
  post.path = "/iomt/v1/measurements";
  post.body = Payload("oxi-7", "2026-11-29T08:30:00Z");
  http::Response r = gateway_->Handle(post);
  ASSERT_EQ(r.status, 200) << r.body;
  // The HTTP server runs the audit step before sending; here the test does.
  ASSERT_TRUE(r.before_send) << "the answer carries no audit record";
  std::promise<bool> durable;
  r.before_send([&durable](bool ok) { durable.set_value(ok); });
  ASSERT_TRUE(durable.get_future().get());
  rapidjson::Document d;
  d.Parse(r.body.data(), r.body.size());
  ASSERT_FALSE(d.HasParseError());
  EXPECT_EQ(d["stored"].GetInt(), 3);
  EXPECT_EQ(json::GetString(d["refused"][0], "reason"), "unknown-code");
  // Recorded in the patient's audit log, with the hub as the client.
  auto records = audit_->RecordsForPatient(aase_, 10);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].record.action, audit::Action::kCreate);
  EXPECT_EQ((*records)[0].record.actor.client_id, "test-hub");
  EXPECT_EQ((*records)[0].record.detail, "iomt: device oxi-7, 4 measurements filed, 1 refused");

  post.body = "[]";
  EXPECT_EQ(gateway_->Handle(post).status, 400);

  http::Request get;
  get.method = "GET";
  get.path = "/iomt/v1/rejected";
  get.query = "_count=1";
  http::Response page = gateway_->Handle(get);
  ASSERT_EQ(page.status, 200) << page.body;
  rapidjson::Document p;
  p.Parse(page.body.data(), page.body.size());
  ASSERT_EQ(p["rejected"].Size(), 1u);
  EXPECT_EQ(json::GetString(p["rejected"][0], "reason"), "malformed");
  EXPECT_THAT(std::string(json::GetString(p, "next")), ::testing::HasSubstr("before="));

  allow_ = Status(StatusCode::kPermissionDenied, "needs system/Observation.c");
  EXPECT_EQ(gateway_->Handle(post).status, 403);
  get.method = "POST";
  allow_ = Status::Ok();
  EXPECT_EQ(gateway_->Handle(get).status, 405);
}

// The catalogues `sund endpoints` prints (issue #11) for the gateway, the websocket
// Subscriptions and the FHIR API: no entry twice, each in its family, and each path (its
// placeholders filled) one the module takes.
// Verifies: REQ-IOMT-061
TEST(EndpointCatalogueTest, EveryEntryIsHandledAndListedOnce) {
  auto fill = [](std::string_view pattern) {
    std::string path(pattern);
    for (std::size_t at; (at = path.find('{')) != std::string::npos;) {
      path.replace(at, path.find('}', at) - at + 1, "Patient");
    }
    return path;
  };
  std::set<std::pair<std::string_view, std::string_view>> seen;
  for (const http::Endpoint& e : iomt::Gateway::Endpoints()) {
    EXPECT_TRUE(seen.emplace(e.method, e.path).second) << e.method << " " << e.path;
    EXPECT_EQ(e.family, "iomt");
    EXPECT_TRUE(iomt::Gateway::Handles(fill(e.path))) << e.path;
  }
  for (const http::Endpoint& e : monitor::Subscriptions::Endpoints()) {
    EXPECT_TRUE(seen.emplace(e.method, e.path).second) << e.method << " " << e.path;
    EXPECT_EQ(e.family, "subscription");
    EXPECT_TRUE(monitor::Subscriptions::Handles(fill(e.path))) << e.path;
  }
  const std::set<std::string_view> families = {"fhir", "operation", "export", "audit", "ops"};
  for (const http::Endpoint& e : api::FhirApi::Endpoints()) {
    EXPECT_TRUE(seen.emplace(e.method, e.path).second) << e.method << " " << e.path;
    EXPECT_TRUE(families.contains(e.family)) << e.path << ": " << e.family;
    // Nothing the modules in front of the API take (main.cc asks them first).
    std::string path = fill(e.path);
    EXPECT_FALSE(iomt::Gateway::Handles(path) || monitor::Subscriptions::Handles(path) ||
                 auth::AuthServer::Handles(path))
        << e.path;
  }
}

}  // namespace
}  // namespace sund::itest
