#include "cells/torch_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cells/model.h"

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

std::string SharedModel() {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr) return {};
  return (fs::path(data).parent_path() / "models" / "unet2d-nuclei-broad").string();
}

// A copy of the shared package whose description lists only its TorchScript weights.
std::string TorchScriptOnlyCopy(const std::string& from) {
  fs::path dir = fs::temp_directory_path() / "sund-torchscript-only";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"weights.pt", "test_input.npy", "test_output.npy"}) {
    fs::copy_file(fs::path(from) / f, dir / f);
  }
  std::ifstream in(fs::path(from) / "bioimageio.yaml");
  std::ofstream out(dir / "bioimageio.yaml");
  std::string line;
  bool skip = false;
  while (std::getline(in, line)) {
    if (line.rfind("  onnx:", 0) == 0)
      skip = true;  // the onnx entry, up to the next weights
    else if (skip && line.size() > 2 && line[2] != ' ')
      skip = false;
    if (!skip) out << line << '\n';
  }
  return dir.string();
}

// Verifies: REQ-CELLS-057, REQ-CELLS-058
TEST(TorchScriptNetTest, RunsTheSharedModelsWeights) {
  std::string dir = SharedModel();
  if (dir.empty()) GTEST_SKIP() << "SUND_TEST_DATA is not set (../shared/models)";
  auto net = TorchScriptNet::Load(dir + "/weights.pt");
  if (!TorchScriptAvailable()) {
    ASSERT_FALSE(net.ok());
    EXPECT_EQ(net.status().code(), StatusCode::kNotImplemented);
    return;
  }
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  Tensor in;
  in.shape = {1, 1, 64, 48};
  in.values.assign(64 * 48, 0.0f);
  for (int i = 0; i < 64 * 48; ++i) in.values[i] = (i % 48 > 20 && i / 48 > 20) ? 2.0f : -0.5f;
  auto out = (*net)->Forward(in);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->shape, (std::vector<std::int64_t>{1, 1, 64, 48}));
  // A 65x48 input does not pool to whole sizes: an error naming the shape, not a crash.
  in.shape = {1, 1, 65, 48};
  in.values.assign(65 * 48, 0.0f);
  auto bad = (*net)->Forward(in);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("1x1x65x48"), std::string::npos);
}

// Verifies: REQ-CELLS-058, REQ-CELLS-059
TEST(TorchScriptNetTest, MissingAndCorruptFilesAreErrors) {
  auto missing = TorchScriptNet::Load("/nonexistent/weights.pt");
  ASSERT_FALSE(missing.ok());
  fs::path junk = fs::temp_directory_path() / "sund-junk-weights.pt";
  std::ofstream(junk) << "not a TorchScript archive";
  auto corrupt = TorchScriptNet::Load(junk.string());
  fs::remove(junk);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(),
            TorchScriptAvailable() ? StatusCode::kInvalidArgument : StatusCode::kNotImplemented);
}

// Verifies: REQ-CELLS-057, REQ-CELLS-058
TEST(SegmentationModelTest, TorchScriptWeightsReproduceTheSharedTestOutput) {
  std::string dir = SharedModel();
  if (dir.empty()) GTEST_SKIP() << "SUND_TEST_DATA is not set (../shared/models)";
  auto model = SegmentationModel::Load(dir, WeightsFormat::kTorchScript);
  if (!TorchScriptAvailable()) {
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), StatusCode::kNotImplemented);
    return;
  }
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->info().runtime, "torchscript");
  auto test = TestModel(**model, 1e-4);
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_LT(test->max_abs_difference, 1e-4);
  EXPECT_TRUE(test->passed);
  // Both runtimes on an image of another size, through the tiles.
  auto onnx = SegmentationModel::Load(dir, WeightsFormat::kOnnx);
  ASSERT_TRUE(onnx.ok());
  EXPECT_EQ((*onnx)->info().runtime, "onnx");
  Image img(200, 150, 0.05f);
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      if (std::hypot((x % 40) - 20, (y % 40) - 20) < 9) img.at(x, y) = 0.8f;
    }
  }
  auto a = (*model)->Predict(img);
  auto b = (*onnx)->Predict(img);
  ASSERT_TRUE(a.ok() && b.ok());
  double max_diff = 0;
  for (std::size_t i = 0; i < img.pixels.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(a->pixels[i] - b->pixels[i])));
  }
  EXPECT_LT(max_diff, 1e-4);
}

// Verifies: REQ-CELLS-056, REQ-CELLS-057, REQ-CELLS-058
TEST(SegmentationModelTest, APackageWithOnlyTorchScriptWeightsLoads) {
  std::string shared = SharedModel();
  if (shared.empty()) GTEST_SKIP() << "SUND_TEST_DATA is not set (../shared/models)";
  std::string dir = TorchScriptOnlyCopy(shared);
  auto model = SegmentationModel::Load(dir);
  if (!TorchScriptAvailable()) {
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), StatusCode::kNotImplemented);
    EXPECT_NE(model.status().message().find("without libtorch"), std::string::npos);
    return;
  }
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->info().runtime, "torchscript");
  EXPECT_EQ((*model)->info().weights,
            (std::vector<std::string>{"pytorch_state_dict", "torchscript"}));
  auto test = TestModel(**model, 1e-4);
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_TRUE(test->passed) << test->max_abs_difference;
  // Asking for ONNX weights the package does not have is an error.
  auto onnx = SegmentationModel::Load(dir, WeightsFormat::kOnnx);
  ASSERT_FALSE(onnx.ok());
  EXPECT_EQ(onnx.status().code(), StatusCode::kInvalidArgument);
  fs::remove_all(dir);
}

// Verifies: REQ-CELLS-056
TEST(WeightsFormatTest, ParsesTheFlagValues) {
  EXPECT_EQ(*ParseWeightsFormat("onnx"), WeightsFormat::kOnnx);
  EXPECT_EQ(*ParseWeightsFormat("torchscript"), WeightsFormat::kTorchScript);
  EXPECT_EQ(*ParseWeightsFormat("auto"), WeightsFormat::kAuto);
  EXPECT_FALSE(ParseWeightsFormat("tensorflow").ok());
}

}  // namespace
}  // namespace sund::cells
