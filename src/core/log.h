// Logging for Sund: a thin facade over spdlog so that spdlog's headers stay out of modules.
//
// Log lines carry ids, counts and reasons; never patient data (names, CPR numbers, values) or
// tokens. Thread-safe.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace sund::log {

enum class Level { kDebug, kInfo, kWarn, kError };

void Write(Level level, std::string_view message);
void SetLevel(Level level);
bool Enabled(Level level);

template <typename... Args>
void Info(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Warn(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kWarn)) Write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Error(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kError)) Write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Debug(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace sund::log
