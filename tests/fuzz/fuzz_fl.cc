// What a federated node or coordinator reads from outside: a task file or the task envelope a
// coordinator sends (`sund fl`), a statistics request and a node's answer to it (`sund stats`).
// Every input goes through each parser; a task that parses must come back unchanged from its
// canonical JSON (the coordinator sends that JSON to the nodes).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fl/dataset.h"
#include "fl/stats.h"
#include "fl/task.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = sund::fuzz::AsView(data, size);
  if (auto envelope = sund::fl::ParseTaskEnvelope(in); envelope.ok()) {
    std::string canonical = sund::fl::TaskToJson(envelope->task);
    auto again = sund::fl::ParseTask(canonical);
    if (!again.ok() || sund::fl::TaskToJson(*again) != canonical) std::abort();
  }
  // Not ParseEncoding: its full-precision number parsing reaches undefined behaviour inside
  // Debian's RapidJSON (tests/fuzz/README.md, "Found so far").
  if (auto request = sund::fl::ParseStatsRequest(in); request.ok()) {
    (void)sund::fl::ParseLocalStats(in, request->queries.size());
  }
  (void)sund::fl::ParseLocalStats(in, 3);
  return 0;
}
