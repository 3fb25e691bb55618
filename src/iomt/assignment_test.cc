#include "iomt/assignment.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/time.h"

namespace sund::iomt {
namespace {

std::int64_t Ms(std::string_view instant) {
  auto r = ParseFhirDate(instant);
  EXPECT_TRUE(r.ok()) << instant;
  return r.ok() ? r->lo_ms : 0;
}

std::string Use(std::string id, std::string patient, std::string start, std::string end = "",
                std::string status = "completed", std::string device = "Device/oxi-7") {
  return R"({"resourceType":"DeviceUseStatement","id":")" + id + R"(","status":")" + status +
         R"(","subject":{"reference":"Patient/)" + patient + R"("},"device":{"reference":")" +
         device + R"("},"timingPeriod":{"start":")" + start + "\"" +
         (end.empty() ? "" : R"(,"end":")" + end + "\"") + "}}";
}

constexpr std::string_view kDevice =
    R"({"resourceType":"Device","id":"oxi-7","patient":{"reference":"Patient/now"}})";

// A device lent to Aase, then to Bent: each measurement files under who had it then; a time
// between the loans, or one that two loans claim, has no patient.
// Verifies: REQ-IOMT-017, REQ-IOMT-018
TEST(AssignmentTest, MeasurementsFileUnderWhoHadTheDeviceThen) {
  auto a = DeviceAssignments::From(
      kDevice,
      {Use("u1", "aase", "2026-11-01T00:00:00Z", "2026-11-10T12:00:00Z"),
       Use("u2", "bent", "2026-11-12T00:00:00Z", "", "active"),
       Use("u3", "carl", "2026-10-01T00:00:00Z", "2026-10-05T00:00:00Z", "entered-in-error"),
       Use("u4", "dora", "2026-10-01T00:00:00Z", "", "active", "Device/other"), "not json"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->periods().size(), 2u);
  EXPECT_EQ(a->At(Ms("2026-11-05T08:00:00Z")).patient, "aase");
  EXPECT_EQ(a->At(Ms("2026-11-10T12:00:00Z")).patient, "aase");  // the end is inclusive
  EXPECT_EQ(a->At(Ms("2026-11-11T08:00:00Z")).patient, std::nullopt);
  EXPECT_EQ(a->At(Ms("2026-11-11T08:00:00Z")).reason, "not assigned");
  EXPECT_EQ(a->At(Ms("2026-11-29T08:00:00Z")).patient, "bent");        // ongoing
  EXPECT_EQ(a->At(Ms("2026-10-02T08:00:00Z")).patient, std::nullopt);  // entered-in-error
  // With a history, Device.patient does not decide.
  EXPECT_EQ(a->At(Ms("2026-09-01T08:00:00Z")).patient, std::nullopt);

  auto clash = DeviceAssignments::From(
      kDevice, {Use("u1", "aase", "2026-11-01T00:00:00Z", "2026-11-10T00:00:00Z"),
                Use("u2", "bent", "2026-11-09T00:00:00Z", "", "active")});
  ASSERT_TRUE(clash.ok());
  EXPECT_EQ(clash->At(Ms("2026-11-09T12:00:00Z")).patient, std::nullopt);
  EXPECT_EQ(clash->At(Ms("2026-11-09T12:00:00Z")).reason, "assigned to two patients");
  EXPECT_EQ(clash->At(Ms("2026-11-11T12:00:00Z")).patient, "bent");
}

// Verifies: REQ-IOMT-019
TEST(AssignmentTest, WithoutHistoryTheDevicesPatientDecides) {
  auto a = DeviceAssignments::From(kDevice, {});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->At(Ms("2026-11-29T08:00:00Z")).patient, "now");
  auto none = DeviceAssignments::From(R"({"resourceType":"Device","id":"spare"})", {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->At(Ms("2026-11-29T08:00:00Z")).reason, "not assigned");
  EXPECT_FALSE(DeviceAssignments::From(R"({"resourceType":"Patient","id":"x"})", {}).ok());
  EXPECT_FALSE(DeviceAssignments::From("not json", {}).ok());
}

}  // namespace
}  // namespace sund::iomt
