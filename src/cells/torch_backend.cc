#include "cells/internal/torch_backend.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <vector>

namespace sund::cells::internal {

namespace {

struct Loaded {
  const TorchBackend* backend = nullptr;
  std::string why;
};

Loaded Load() {
  namespace fs = std::filesystem;
  constexpr const char* kName = "libsund_cells_torch.so";
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("SUND_CELLS_TORCH"); env != nullptr && *env) {
    candidates.emplace_back(env);
  } else {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      candidates.push_back((exe.parent_path() / kName).string());
      candidates.push_back((exe.parent_path().parent_path() / "bin" / kName).string());
      candidates.push_back((exe.parent_path().parent_path() / "lib" / "sund" / kName).string());
    }
    candidates.emplace_back(kName);
  }
  Loaded l;
  for (const auto& c : candidates) {
    std::error_code ec;
    if (c.find('/') != std::string::npos && !fs::exists(c, ec)) continue;
    void* handle = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* err = dlerror();
      l.why = c + ": " + (err != nullptr ? err : "cannot be loaded");
      continue;
    }
    using Entry = const TorchBackend* (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, "sund_cells_torch_backend"));
    const TorchBackend* b = entry != nullptr ? entry() : nullptr;
    if (b == nullptr || b->version != kTorchBackendVersion) {
      l.why = c + ": not a libtorch plugin of this version of Sund";
      continue;  // the handle stays open: unloading libtorch is not safe
    }
    l.backend = b;
    return l;
  }
  if (l.why.empty()) {
    l.why = std::string(kName) +
            " is not installed (this build has no libtorch: TorchScript and training need it)";
  }
  return l;
}

}  // namespace

const TorchBackend* LoadTorchBackend(std::string* why) {
  static std::once_flag once;
  static Loaded* loaded = nullptr;
  std::call_once(once, [] { loaded = new Loaded(Load()); });  // never freed: the plugin stays
  if (loaded->backend == nullptr && why != nullptr) *why = loaded->why;
  return loaded->backend;
}

}  // namespace sund::cells::internal
