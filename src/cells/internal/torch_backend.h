// The libtorch parts of cells live in a plugin, libsund_cells_torch.so, loaded on first use:
// linking libtorch into `sund` made every command (serve, import, cells analyze ...) pay for
// loading it at start (285 shared libraries and libtorch's operator registration: about 0.8 s of
// the 1 s ExampleHuman run, bench/RESULTS.md). The plugin exports one C function that returns
// this table; torch_model.cc and train.cc call through it. Private to src/cells.
//
// Thread-safety: LoadTorchBackend may be called from any thread (it loads once); the table's
// functions are as thread-safe as TorchScriptNet and Train.
#pragma once

#include <memory>
#include <string>

#include "cells/npy.h"
#include "cells/train.h"
#include "core/status.h"

namespace sund::cells::internal {

// A loaded TorchScript network.
class TorchNet {
 public:
  virtual ~TorchNet() = default;
  virtual Result<Tensor> Forward(const Tensor& input) = 0;
};

inline constexpr int kTorchBackendVersion = 1;

struct TorchBackend {
  int version = kTorchBackendVersion;
  Result<std::unique_ptr<TorchNet>> (*load)(const std::string& path) = nullptr;
  Result<TrainReport> (*train)(const TrainOptions& options) = nullptr;
};

// The plugin's table, loaded once: the file named by SUND_CELLS_TORCH, else
// libsund_cells_torch.so beside the executable (or in ../bin from it, for the test binaries),
// else from the library search path. nullptr when none loads; `why` (when given) then says why.
const TorchBackend* LoadTorchBackend(std::string* why = nullptr);

// In the plugin: the implementations behind the table (torch_model_torch.cc, train_torch.cc).
Result<std::unique_ptr<TorchNet>> LoadScriptNet(const std::string& path);
Result<TrainReport> TrainWithTorch(const TrainOptions& options);

}  // namespace sund::cells::internal

// What the plugin exports (plugin_torch.cc).
extern "C" const sund::cells::internal::TorchBackend* sund_cells_torch_backend();
