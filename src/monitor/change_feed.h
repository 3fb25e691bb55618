// The store's writes as they commit, handed to listeners on one polling thread: the change
// feed behind Subscriptions (subscriptions.h) and scoring (watch.h ScoreQueue). It reads
// `HistoryQuery::after_vid` (versions in commit order) every `poll`, so writers never wait for
// listeners and a slow listener delays only the feed. Events before Start's cursor are not
// delivered (they are history). Thread-safety: Listen before Start; Start and Stop from one
// thread; listeners run on the feed's thread, one version at a time, and share its parsed JSON
// (Change::Json).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "core/status.h"
#include "storage/store.h"

namespace sund::monitor {

// One committed version as the listeners see it: its JSON is parsed at most once, by the first
// listener that asks, however many look at it.
class Change {
 public:
  explicit Change(const storage::ResourceVersion& version) : version_(version) {}
  const storage::ResourceVersion& version() const { return version_; }
  // The version's JSON object; nullptr for a delete or stored text that is not a JSON object.
  const rapidjson::Value* Json() const;

 private:
  const storage::ResourceVersion& version_;
  mutable std::optional<rapidjson::Document> doc_;
};

class ChangeFeed {
 public:
  using Listener = std::function<void(const Change& change)>;
  explicit ChangeFeed(storage::Store& store,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(100));
  ~ChangeFeed();
  void Listen(Listener listener);
  // The newest change now: a cursor for Start, taken before loading state the feed then updates.
  Result<std::int64_t> Newest();
  // Delivers every change after `cursor`.
  Status Start(std::int64_t cursor);
  void Stop();

 private:
  Status PollOnce();
  storage::Store& store_;
  std::chrono::milliseconds poll_;
  std::vector<Listener> listeners_;
  std::int64_t cursor_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

// For listeners: whether an Observation has the category vital-signs, and the Patient id its
// `subject` names ("" when it names none).
bool IsVitalSigns(const rapidjson::Value& observation);
// Whether an Observation is a NEWS2 score (SNOMED CT 1104051000000101, news2.h).
bool IsNews2Score(const rapidjson::Value& observation);
std::string SubjectPatient(const rapidjson::Value& resource);

}  // namespace sund::monitor
