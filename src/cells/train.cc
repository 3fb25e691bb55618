// Train through the libtorch plugin (internal/torch_backend.h); train_torch.cc holds the real one.
#include "cells/train.h"

#include "cells/internal/torch_backend.h"

namespace sund::cells {

Result<TrainReport> Train(const TrainOptions& options) {
  std::string why;
  const internal::TorchBackend* backend = internal::LoadTorchBackend(&why);
  if (backend == nullptr) return NotImplemented("training needs libtorch: " + why);
  return backend->train(options);
}

}  // namespace sund::cells
