// The entry point of libsund_cells_torch.so (internal/torch_backend.h).
#include "cells/internal/torch_backend.h"

extern "C" __attribute__((visibility("default"))) const sund::cells::internal::TorchBackend*
sund_cells_torch_backend() {
  static const sund::cells::internal::TorchBackend kBackend{
      sund::cells::internal::kTorchBackendVersion, &sund::cells::internal::LoadScriptNet,
      &sund::cells::internal::TrainWithTorch};
  return &kBackend;
}
