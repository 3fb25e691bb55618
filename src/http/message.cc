#include "http/message.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>

#include "core/log.h"

namespace sund::http {

namespace {

inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr std::string_view kStepFailed = R"({"error":"the audit log is unavailable"})";

// Where FinishSync waits for the outcome of a before_send.
class Outcome {
 public:
  void Set(bool ok) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (ok_.has_value()) return;
      ok_ = ok;
    }
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return ok_.has_value(); });
    return *ok_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<bool> ok_;
};

// Shared by every copy of one `done`: when the last copy goes without having been called, the
// step counts as failed.
class Once {
 public:
  explicit Once(std::shared_ptr<Outcome> outcome) : outcome_(std::move(outcome)) {}
  ~Once() { outcome_->Set(false); }
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;
  void Fire(bool ok) { outcome_->Set(ok); }

 private:
  std::shared_ptr<Outcome> outcome_;
};

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool ContainsIgnoreCase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (EqualsIgnoreCase(hay.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

void Headers::Add(std::string name, std::string value) {
  fields_.emplace_back(std::move(name), std::move(value));
}

void Headers::Set(std::string name, std::string value) {
  auto it = std::find_if(fields_.begin(), fields_.end(),
                         [&](const auto& f) { return EqualsIgnoreCase(f.first, name); });
  if (it == fields_.end()) {
    fields_.emplace_back(std::move(name), std::move(value));
    return;
  }
  it->second = std::move(value);
  // Drop later repeats so that exactly one field remains.
  auto tail = std::remove_if(std::next(it), fields_.end(),
                             [&](const auto& f) { return EqualsIgnoreCase(f.first, it->first); });
  fields_.erase(tail, fields_.end());
}

std::size_t Headers::Remove(std::string_view name) {
  auto tail = std::remove_if(fields_.begin(), fields_.end(),
                             [&](const auto& f) { return EqualsIgnoreCase(f.first, name); });
  std::size_t n = static_cast<std::size_t>(fields_.end() - tail);
  fields_.erase(tail, fields_.end());
  return n;
}

std::string_view Headers::Get(std::string_view name) const {
  for (const auto& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) return f.second;
  }
  return {};
}

bool Headers::Has(std::string_view name) const {
  for (const auto& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) return true;
  }
  return false;
}

Response JsonResponse(int status, std::string_view body) {
  Response r;
  r.status = status;
  r.headers.Add("Content-Type", "application/json");
  r.body.assign(body);
  return r;
}

bool FinishSync(Response& r) {
  if (!r.before_send) return true;
  auto step = std::move(r.before_send);
  r.before_send = nullptr;
  auto outcome = std::make_shared<Outcome>();
  {
    auto once = std::make_shared<Once>(outcome);
    std::function<void(bool)> done = [once](bool ok) { once->Fire(ok); };
    try {
      step(std::move(done));
    } catch (const std::exception& e) {
      log::Error("http: before_send threw an exception: {}", e.what());
      once->Fire(false);
    } catch (...) {
      log::Error("http: before_send threw a non-standard exception");
      once->Fire(false);
    }
  }  // if no copy of `done` is left, ~Once has settled the outcome
  bool ok = outcome->Wait();
  if (!ok) r = JsonResponse(503, kStepFailed);
  return ok;
}

}  // namespace sund::http
