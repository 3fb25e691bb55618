// An image file as `sund cells` reads it (TIFF 8/16/32-bit, multi-page, multi-channel; PNG)
// through OpenCV's decoders (Debian's build, not instrumented: coverage stops at its boundary,
// but what Sund does with the planes it gets back is checked), and a NumPy .npy tensor (Sund's
// own parser, for model packages' test tensors).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cells/image_io.h"
#include "cells/npy.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (auto tensor = sund::cells::ParseNpy(bytes); tensor.ok()) {
    if (static_cast<std::int64_t>(tensor->values.size()) != tensor->Elements()) std::abort();
  }
  std::string path = sund::fuzz::WriteTempFile("image.tif", bytes);
  if (auto planes = sund::cells::ReadImagePlanes(path); planes.ok()) {
    (void)sund::cells::ReadGrayscale(path, 0);
    (void)sund::cells::ReadGrayscale(path);
    (void)sund::cells::ReadLabels(path);
  }
  return 0;
}
