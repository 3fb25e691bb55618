// A file of vendor mapping templates (`sund serve --iomt-templates`), checked at load time.
#include <cstdint>

#include "fuzz_input.h"
#include "iomt/mapping.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = sund::iomt::Mappings::Parse(sund::fuzz::AsView(data, size));
  if (m.ok()) {
    auto applied = m->Apply(R"({"kind":"bp","serial":"s-1","ts":1795000000,"sys":120,"dia":80})");
    (void)applied;
  }
  return 0;
}
