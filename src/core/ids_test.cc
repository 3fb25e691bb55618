#include "core/ids.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sund {
namespace {

// RFC 9562 version 4: 8-4-4-4-12 lower-case hex, version nibble 4, variant bits 10. Ids drawn
// past the end of one buffer of random bytes (and on several threads) are all distinct.
// Verifies: REQ-CORE-011
TEST(IdsTest, NewUuidIsAWellFormedVersion4UuidAndNeverRepeats) {
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewUuid();
    ASSERT_TRUE(std::regex_match(id, v4)) << id;
    ASSERT_TRUE(seen.insert(id).second) << "repeated: " << id;
  }
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& ids : per_thread) {
    threads.emplace_back([&ids] {
      for (int i = 0; i < 300; ++i) ids.push_back(NewUuid());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& ids : per_thread) {
    for (const auto& id : ids) EXPECT_TRUE(seen.insert(id).second) << "repeated: " << id;
  }
}

}  // namespace
}  // namespace sund
