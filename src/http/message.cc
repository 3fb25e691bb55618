#include "http/message.h"

#include <algorithm>

namespace sund::http {

namespace {
inline char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
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

}  // namespace sund::http
