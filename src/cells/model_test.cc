#include "cells/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace sund::cells {
namespace {

std::string ModelDir() {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr) return {};
  return (std::filesystem::path(data).parent_path() / "models" / "unet2d-nuclei-broad").string();
}

// Verifies: REQ-CELLS-053
TEST(NpyTest, RoundTripsShapeAndValues) {
  Tensor t;
  t.shape = {2, 3};
  t.values = {1, 2, 3, 4.5f, -5, 6};
  std::string path = (std::filesystem::temp_directory_path() / "sund-npy-test.npy").string();
  ASSERT_TRUE(WriteNpy(path, t).ok());
  auto back = ReadNpy(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->shape, t.shape);
  EXPECT_EQ(back->values, t.values);
  EXPECT_FALSE(ParseNpy("not numpy").ok());
  EXPECT_FALSE(ParseNpy(std::string("\x93NUMPY\x01\x00\xff\x00", 10)).ok());  // header cut
}

// A hostile shape in a model package's test tensor (found while writing the fuzzers of issue
// #11): more elements than the file holds, an overflowing product, a negative dimension.
// Verifies: REQ-CELLS-053
TEST(NpyTest, Issue11HostileShapesAreRefusedNotAllocated) {
  auto npy = [](const std::string& shape) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    header.resize(118, ' ');
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
    return out + header + std::string(16, '\0');  // four float32 values
  };
  ASSERT_TRUE(ParseNpy(npy("(2, 2)")).ok());
  EXPECT_EQ(ParseNpy(npy("(2, 2)"))->Elements(), 4);
  EXPECT_FALSE(ParseNpy(npy("(4611686018427387904, 4)")).ok());
  EXPECT_FALSE(ParseNpy(npy("(4294967296, 4294967296, 4)")).ok());
  EXPECT_FALSE(ParseNpy(npy("(-2, -2)")).ok());
  EXPECT_FALSE(ParseNpy(npy("(3, 2)")).ok());  // truncated
  auto empty = ParseNpy(npy("(9223372036854775807, 9223372036854775807, 0)"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->Elements(), 0);
}

// Verifies: REQ-CELLS-054
TEST(SegmentationModelTest, ReproducesTheShippedModelsTestOutput) {
  std::string dir = ModelDir();
  if (dir.empty())
    GTEST_SKIP() << "SUND_TEST_DATA is not set (../shared/data and ../shared/models)";
  auto model = SegmentationModel::Load(dir);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const ModelInfo& info = (*model)->info();
  EXPECT_EQ(info.name, "UNet 2D Nuclei Broad");
  EXPECT_EQ(info.halo, 32);
  EXPECT_EQ(info.tile, 512);
  ASSERT_EQ(info.preprocessing.size(), 1u);
  EXPECT_EQ(info.preprocessing[0], "zero_mean_unit_variance");
  auto test = TestModel(**model, 1e-4);
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_TRUE(test->passed) << "max difference " << test->max_abs_difference;
  EXPECT_LT(test->max_abs_difference, 1e-4);
}

// Verifies: REQ-CELLS-055
TEST(SegmentationModelTest, TilesLeaveNoSeams) {
  std::string dir = ModelDir();
  if (dir.empty()) GTEST_SKIP() << "SUND_TEST_DATA is not set";
  auto model = SegmentationModel::Load(dir);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  // Bright blobs on a dark background, 300 x 200: one 368 x 272 pass against tiles of 128
  // with the model's 32-pixel halo (each tile keeps its inner 64 x 64).
  Image img(300, 200, 0.05f);
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      double d = std::hypot((x % 40) - 20, (y % 40) - 20);
      if (d < 9) img.at(x, y) = 0.8f;
    }
  }
  auto whole = (*model)->Predict(img);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  ASSERT_TRUE((*model)->SetTile(128).ok());
  auto tiled = (*model)->Predict(img);
  ASSERT_TRUE(tiled.ok()) << tiled.status().ToString();
  // The receptive field reaches past the declared halo, so tiles differ a little from one
  // pass; well below anything a threshold at 0.5 would notice, and no worse at the edges.
  double max_diff = 0;
  int fg = 0;
  for (std::size_t i = 0; i < img.pixels.size(); ++i) {
    max_diff =
        std::max(max_diff, static_cast<double>(std::abs(whole->pixels[i] - tiled->pixels[i])));
    fg += tiled->pixels[i] > 0.5f;
  }
  EXPECT_LT(max_diff, 0.005);
  EXPECT_GT(fg, 1000);  // the model sees the blobs
  EXPECT_FALSE((*model)->SetTile(50).ok());
}

// Verifies: REQ-CELLS-056
TEST(SegmentationModelTest, RefusesAFolderWithoutADescription) {
  auto model = SegmentationModel::Load(std::filesystem::temp_directory_path().string());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace sund::cells
