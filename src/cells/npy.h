// NumPy's .npy format (version 1.0-3.0), for the test tensors of bioimage.io model packages:
// little-endian float32 or float64 in C order; float64 is converted to float32.
// Errors name the file and the reason. Thread-safety: free functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace sund::cells {

struct Tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> values;  // C order
  std::int64_t Elements() const;
};

Result<Tensor> ReadNpy(const std::string& path);
Result<Tensor> ParseNpy(const std::string& bytes);
// Writes float32, C order, format 1.0.
Status WriteNpy(const std::string& path, const Tensor& tensor);

}  // namespace sund::cells
