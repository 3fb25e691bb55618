// A device payload as the IoMT gateway receives it over MQTT or HTTP, first through a vendor
// mapping template, then Sund's own reader; and the MQTT topic it came on.
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "fuzz_input.h"
#include "iomt/broker.h"
#include "iomt/mapping.h"
#include "iomt/measurement.h"

namespace {
// The example templates of docs/iomt.md (a cuff and an oximeter log).
std::string ExampleTemplates() {
  std::ifstream in(SUND_SOURCE_DIR "/examples/iomt/vendor-templates.json");
  return {std::istreambuf_iterator<char>(in), {}};
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = sund::fuzz::AsView(data, size);
  sund::iomt::DeviceOfTopic(in);
  static const auto mappings = sund::iomt::Mappings::Parse(ExampleTemplates());
  sund::iomt::ParseOptions po;
  po.now_ms = 1'795'000'000'000;
  std::optional<std::string> mapped;
  if (mappings.ok()) {
    auto applied = mappings->Apply(in);
    if (applied.ok() && applied->has_value()) mapped = std::move(**applied);
  }
  auto parsed = sund::iomt::ParsePayload(mapped ? *mapped : in, po);
  (void)parsed;
  return 0;
}
