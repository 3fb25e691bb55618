// Helpers for the fuzz targets (tests/fuzz/README.md): split one fuzzer input into parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace sund::fuzz {

inline std::string_view AsView(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The input before and after the first NUL byte (the second part is empty without one), so
// that a corpus file can carry, e.g., an expression and the resource it runs on.
inline std::pair<std::string_view, std::string_view> SplitAtNul(std::string_view in) {
  std::size_t nul = in.find('\0');
  if (nul == std::string_view::npos) return {in, {}};
  return {in.substr(0, nul), in.substr(nul + 1)};
}

}  // namespace sund::fuzz
