// An image file as `sund cells` reads it (TIFF 8/16/32-bit, multi-page, multi-channel; PNG)
// through OpenCV's decoders (Debian's build, not instrumented: coverage stops at its boundary,
// but what Sund does with the planes it gets back is checked), and a NumPy .npy tensor (Sund's
// own parser, for model packages' test tensors).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cells/image_io.h"
#include "cells/npy.h"
#include "fuzz_input.h"

namespace {

const std::string& ImagePath() {
  static const std::string path = [] {
    char dir[] = "/tmp/sund-fuzz-image-XXXXXX";
    if (mkdtemp(dir) == nullptr) std::abort();
    return std::string(dir) + "/image.tif";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (auto tensor = sund::cells::ParseNpy(bytes); tensor.ok()) {
    if (static_cast<std::int64_t>(tensor->values.size()) != tensor->Elements()) std::abort();
  }
  FILE* f = std::fopen(ImagePath().c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  if (auto planes = sund::cells::ReadImagePlanes(ImagePath()); planes.ok()) {
    (void)sund::cells::ReadGrayscale(ImagePath(), 0);
    (void)sund::cells::ReadGrayscale(ImagePath());
    (void)sund::cells::ReadLabels(ImagePath());
  }
  return 0;
}
