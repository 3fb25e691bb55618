// TorchScript networks (the `torchscript` weights of bioimage.io packages, model.h) run with
// libtorch on the CPU, behind an interface that names no torch type. libtorch itself is in a
// plugin loaded on first use (internal/torch_backend.h), so that commands that never run
// TorchScript do not load it; without the plugin Load answers NotImplemented.
//
// Thread-safety: one thread at a time per TorchScriptNet; separate objects (each loaded from its
// file) may run concurrently.
#pragma once

#include <memory>
#include <string>

#include "cells/npy.h"
#include "core/status.h"

namespace sund::cells {

// Whether TorchScript can run here (the libtorch plugin loads; the first call loads it).
bool TorchScriptAvailable();

class TorchScriptNet {
 public:
  // Loads a TorchScript file (torch.jit.save / torch::jit::Module::save) for inference on the
  // CPU. NotFound when the file is missing, InvalidArgument when libtorch cannot load it,
  // NotImplemented without the libtorch plugin.
  static Result<std::unique_ptr<TorchScriptNet>> Load(const std::string& path);
  ~TorchScriptNet();

  // Runs the network in inference mode on `input` (float32, C order, any shape the network
  // takes, e.g. 1x1xHxW) and returns its output, or the first tensor of a tuple or list of
  // outputs, as float32. InvalidArgument when the network fails on this input (its message names
  // the shape, not the values).
  Result<Tensor> Forward(const Tensor& input);

 private:
  struct Impl;
  explicit TorchScriptNet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sund::cells
