#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace sund::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

spdlog::logger& Logger() {
  static auto* logger = [] {
    auto l = spdlog::stderr_color_mt("sund");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
    l->set_level(spdlog::level::debug);
    return l.get();
  }();
  return *logger;
}

}  // namespace

void SetLevel(Level level) { g_level = static_cast<int>(level); }
bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void Write(Level level, std::string_view message) {
  switch (level) {
    case Level::kDebug:
      Logger().debug(message);
      break;
    case Level::kInfo:
      Logger().info(message);
      break;
    case Level::kWarn:
      Logger().warn(message);
      break;
    case Level::kError:
      Logger().error(message);
      break;
  }
}

}  // namespace sund::log
