// TorchScript networks with libtorch: part of the plugin libsund_cells_torch.so
// (internal/torch_backend.h).
#include <torch/script.h>

#include <filesystem>

#include "cells/internal/torch_backend.h"

namespace sund::cells {

namespace {

class ScriptNet : public internal::TorchNet {
 public:
  Result<Tensor> Forward(const Tensor& input) override;
  torch::jit::Module module;
};

}  // namespace

Result<std::unique_ptr<internal::TorchNet>> internal::LoadScriptNet(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound(path + ": no such file");
  auto impl = std::make_unique<ScriptNet>();
  try {
    impl->module = torch::jit::load(path, torch::kCPU);
    impl->module.eval();
  } catch (const std::exception& e) {
    return InvalidArgument(std::filesystem::path(path).filename().string() +
                           ": libtorch cannot load these TorchScript weights");
  }
  return std::unique_ptr<internal::TorchNet>(std::move(impl));
}

Result<Tensor> ScriptNet::Forward(const Tensor& input) {
  auto shape_text = [&] {
    std::string s;
    for (auto d : input.shape) s += (s.empty() ? "" : "x") + std::to_string(d);
    return s;
  };
  if (input.shape.empty() || input.Elements() != static_cast<std::int64_t>(input.values.size())) {
    return InvalidArgument("the input's shape does not match its values");
  }
  Tensor out;
  try {
    c10::InferenceMode guard;
    at::Tensor x =
        torch::from_blob(const_cast<float*>(input.values.data()), input.shape, torch::kFloat32);
    c10::IValue result = module.forward({x});
    if (result.isTuple()) result = result.toTuple()->elements().at(0);
    if (result.isList()) result = result.toListRef().at(0);
    if (!result.isTensor()) return InvalidArgument("the network's output is not a tensor");
    at::Tensor y = result.toTensor().to(torch::kFloat32).contiguous();
    out.shape.assign(y.sizes().begin(), y.sizes().end());
    out.values.assign(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
  } catch (const std::exception& e) {
    return InvalidArgument("the TorchScript network failed on a " + shape_text() + " input");
  }
  return out;
}

}  // namespace sund::cells
