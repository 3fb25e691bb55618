// Writes the U-Net that `sund cells train` builds (train_torch.cc) as an ONNX model, so that the
// packages it writes also run with OpenCV's dnn module in builds without libtorch. The ONNX
// protobuf (onnx/onnx.proto, IR version 8, opset 13) is encoded here by hand: the graph has only
// Conv (batch normalisation folded into it), Relu, MaxPool, ConvTranspose and Concat.
// Private to src/cells. Thread-safety: a free function on values.
#pragma once

#include <map>
#include <string>

#include "cells/npy.h"
#include "core/status.h"

namespace sund::cells::internal {

struct UNetShape {
  int levels = 4;
  int base_channels = 16;
  int outputs = 2;
};

// The network's tensors by the names train_torch.cc gives them (e0a_w, e0a_g, e0a_b, e0a_rm,
// e0a_rv, ..., u0_w, u0_bias, d0a_w, ..., out_w, out_bias), batch normalisation with eps 1e-5.
// Returns the serialised ModelProto: input "raw" (N x 1 x H x W), output "logits"
// (N x outputs x H x W). InvalidArgument when a tensor is missing or has another shape.
Result<std::string> UNetOnnx(const UNetShape& shape, const std::map<std::string, Tensor>& tensors);

}  // namespace sund::cells::internal
