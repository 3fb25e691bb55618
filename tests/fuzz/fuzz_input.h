// Helpers for the fuzz targets (tests/fuzz/README.md): split one fuzzer input into parts.
#pragma once

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
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

// For parsers that read a file: writes `data` to NAME in a private temporary folder made on the
// first call (one per fuzzer process) and returns its path; aborts if it cannot.
inline std::string WriteTempFile(std::string_view name, std::string_view data) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/sund-fuzz-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) abort();
    return std::string(tmpl);
  }();
  std::string path = dir + "/" + std::string(name);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) abort();
  std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
  return path;
}

}  // namespace sund::fuzz
