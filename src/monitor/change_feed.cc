#include "monitor/change_feed.h"

#include "core/log.h"
#include "monitor/news2.h"

namespace sund::monitor {

ChangeFeed::ChangeFeed(storage::Store& store, std::chrono::milliseconds poll)
    : store_(store), poll_(poll) {}

ChangeFeed::~ChangeFeed() { Stop(); }

void ChangeFeed::Listen(Listener listener) { listeners_.push_back(std::move(listener)); }

Result<std::int64_t> ChangeFeed::Newest() {
  storage::HistoryQuery newest;
  newest.count = 1;
  SUND_ASSIGN_OR_RETURN(storage::HistoryPage page, store_.History(newest));
  return page.last_vid;
}

Status ChangeFeed::Start(std::int64_t cursor) {
  cursor_ = cursor;
  thread_ = std::thread([this] {
    while (!stop_) {
      if (Status s = PollOnce(); !s.ok()) {
        log::Error("change feed: reading the store's changes failed: {}", s.message());
      }
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, poll_, [this] { return stop_.load(); });
    }
  });
  return Status::Ok();
}

void ChangeFeed::Stop() {
  if (stop_.exchange(true)) return;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status ChangeFeed::PollOnce() {
  for (;;) {
    storage::HistoryQuery q;
    q.after_vid = cursor_;
    q.count = 500;
    SUND_ASSIGN_OR_RETURN(storage::HistoryPage page, store_.History(q));
    for (const auto& v : page.versions) {
      Change change(v);
      for (const auto& listener : listeners_) listener(change);
    }
    if (page.versions.empty()) return Status::Ok();
    cursor_ = page.last_vid;
    if (!page.next_vid || stop_) return Status::Ok();
  }
}

const rapidjson::Value* Change::Json() const {
  if (version_.deleted) return nullptr;
  if (!doc_) {
    doc_.emplace();
    doc_->Parse(version_.json.data(), version_.json.size());
  }
  return doc_->HasParseError() || !doc_->IsObject() ? nullptr : &*doc_;
}

bool IsVitalSigns(const rapidjson::Value& obs) {
  const rapidjson::Value* cats = json::Find(obs, "category");
  if (cats == nullptr || !cats->IsArray()) return false;
  for (const auto& c : cats->GetArray()) {
    const rapidjson::Value* codings = c.IsObject() ? json::Find(c, "coding") : nullptr;
    if (codings == nullptr || !codings->IsArray()) continue;
    for (const auto& coding : codings->GetArray()) {
      if (coding.IsObject() && json::GetString(coding, "code") == "vital-signs") return true;
    }
  }
  return false;
}

bool IsNews2Score(const rapidjson::Value& obs) {
  const rapidjson::Value* code = json::Find(obs, "code");
  const rapidjson::Value* codings = code != nullptr ? json::Find(*code, "coding") : nullptr;
  if (codings == nullptr || !codings->IsArray()) return false;
  for (const auto& coding : codings->GetArray()) {
    if (coding.IsObject() && json::GetString(coding, "system") == "http://snomed.info/sct" &&
        json::GetString(coding, "code") == kNews2Snomed) {
      return true;
    }
  }
  return false;
}

std::string SubjectPatient(const rapidjson::Value& resource) {
  const rapidjson::Value* subject = json::Find(resource, "subject");
  std::string_view ref = subject != nullptr ? json::GetString(*subject, "reference") : "";
  return ref.starts_with("Patient/") ? std::string(ref.substr(8)) : std::string();
}

}  // namespace sund::monitor
