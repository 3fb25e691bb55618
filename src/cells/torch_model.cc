// TorchScriptNet through the libtorch plugin (internal/torch_backend.h); torch_model_torch.cc
// holds the network itself.
#include "cells/torch_model.h"

#include "cells/internal/torch_backend.h"

namespace sund::cells {

struct TorchScriptNet::Impl {
  std::unique_ptr<internal::TorchNet> net;
};

bool TorchScriptAvailable() { return internal::LoadTorchBackend() != nullptr; }

TorchScriptNet::TorchScriptNet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchScriptNet::~TorchScriptNet() = default;

Result<std::unique_ptr<TorchScriptNet>> TorchScriptNet::Load(const std::string& path) {
  std::string why;
  const internal::TorchBackend* backend = internal::LoadTorchBackend(&why);
  if (backend == nullptr) return NotImplemented("TorchScript needs libtorch: " + why);
  auto impl = std::make_unique<Impl>();
  SUND_ASSIGN_OR_RETURN(impl->net, backend->load(path));
  return std::unique_ptr<TorchScriptNet>(new TorchScriptNet(std::move(impl)));
}

Result<Tensor> TorchScriptNet::Forward(const Tensor& input) { return impl_->net->Forward(input); }

}  // namespace sund::cells
