#include "cells/train.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>

#include "cells/analysis.h"
#include "cells/model.h"
#include "cells/torch_model.h"
#include "core/file_reader.h"

namespace sund::cells {
namespace {

namespace fs = std::filesystem;

// A folder of small synthetic fluorescence images (bright discs, some touching, on a noisy dark
// background; 8-bit PNG) and their 16-bit label images.
class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        fs::temp_directory_path() /
        ("sund-train-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "images");
    fs::create_directories(root_ / "labels");
    std::mt19937 rng(7);
    for (int i = 0; i < 8; ++i) WriteDiscs("img" + std::to_string(i), rng);
  }
  void TearDown() override { fs::remove_all(root_); }

  void WriteDiscs(const std::string& id, std::mt19937& rng) {
    const int n = 64;
    cv::Mat image(n, n, CV_8U), labels(n, n, CV_16U, cv::Scalar(0));
    std::normal_distribution<double> noise(0, 6);
    std::uniform_real_distribution<double> pos(8, n - 8), radius(4.5, 7.5);
    for (int k = 1; k <= 4; ++k) {
      double cx = pos(rng), cy = pos(rng), r = radius(rng);
      for (int y = 0; y < n; ++y) {
        for (int x = 0; x < n; ++x) {
          if (std::hypot(x - cx, y - cy) <= r) labels.at<std::uint16_t>(y, x) = k;
        }
      }
    }
    for (int y = 0; y < n; ++y) {
      for (int x = 0; x < n; ++x) {
        double v = (labels.at<std::uint16_t>(y, x) ? 170 : 35) + noise(rng);
        image.at<std::uint8_t>(y, x) = cv::saturate_cast<std::uint8_t>(v);
      }
    }
    cv::imwrite((root_ / "images" / (id + ".png")).string(), image);
    cv::imwrite((root_ / "labels" / (id + ".png")).string(), labels);
  }

  TrainOptions Options() const {
    TrainOptions o;
    o.images_dir = (root_ / "images").string();
    o.labels_dir = (root_ / "labels").string();
    o.train_ids = {"img0", "img1", "img2", "img3", "img4", "img5"};
    o.val_ids = {"img6", "img7"};
    o.out_dir = (root_ / "model").string();
    o.epochs = 4;
    o.steps_per_epoch = 12;
    o.batch = 4;
    o.crop = 32;
    o.base_channels = 8;
    o.levels = 3;
    o.learning_rate = 3e-3;
    o.progress = false;
    o.command = "sund cells train --smoke-test";
    o.data = "synthetic discs";
    return o;
  }

  fs::path root_;
};

// Verifies: REQ-CELLS-058, REQ-CELLS-062
TEST_F(TrainTest, SmokeTrainingLowersTheLossAndWritesAPackageThatPassesItsTest) {
  auto report = Train(Options());
  if (!TorchScriptAvailable()) {
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.status().code(), StatusCode::kNotImplemented);
    return;
  }
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->epochs.size(), 4u);
  EXPECT_LT(report->epochs.back().loss, 0.8 * report->epochs.front().loss);
  EXPECT_EQ(report->train_images, 6);
  EXPECT_EQ(report->val_images, 2);
  EXPECT_GE(report->best_epoch, 1);
  EXPECT_GT(report->parameters, 10000);
  EXPECT_GT(report->weights_bytes, 4 * report->parameters);

  const fs::path dir = root_ / "model";
  for (const char* f : {"bioimageio.yaml", "weights.pt", "weights.onnx", "test_input.npy",
                        "test_output.npy", "README.md"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  EXPECT_FALSE(fs::exists(dir / ".training"));
  auto yaml = ReadFileDecompressed((dir / "bioimageio.yaml").string());
  ASSERT_TRUE(yaml.ok());
  EXPECT_NE(yaml->find("format_version: 0.5"), std::string::npos);
  EXPECT_NE(yaml->find("command: \"sund cells train --smoke-test\""), std::string::npos);
  EXPECT_NE(yaml->find("  - name: Sund"), std::string::npos);

  // The test output comes from the TorchScript weights; the ONNX ones (what runs by default,
  // and in builds without libtorch) reproduce it.
  for (WeightsFormat f : {WeightsFormat::kTorchScript, WeightsFormat::kAuto}) {
    auto model = SegmentationModel::Load(dir.string(), f);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    const ModelInfo& info = (*model)->info();
    EXPECT_EQ(info.runtime, f == WeightsFormat::kAuto ? "onnx" : "torchscript");
    EXPECT_EQ(info.weights, (std::vector<std::string>{"onnx", "torchscript"}));
    EXPECT_EQ(info.output_channels, 2);
    EXPECT_EQ(info.instances.method, InstanceMethod::kSeededWatershed);
    EXPECT_EQ(info.halo, 32);
    EXPECT_EQ(info.multiple, 4);
    auto test = TestModel(**model, 1e-4);
    ASSERT_TRUE(test.ok()) << test.status().ToString();
    EXPECT_TRUE(test->passed) << info.runtime << ": " << test->max_abs_difference;
  }

  // The package segments through a pipeline's SegmentWithModel step.
  Pipeline p = DefaultPipeline();
  p.steps.resize(1);
  p.steps[0].kind = StepKind::kModel;
  p.steps[0].model = dir.string();
  p.steps[0].primary_options.discard_border_objects = false;
  EvalOptions eo;
  eo.ids = {"img6", "img7"};
  eo.threads = 1;
  eo.progress = false;
  auto run = EvaluatePipeline(p, (root_ / "images").string(), (root_ / "labels").string(), eo);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_TRUE(run->failures.empty());
  EXPECT_NEAR(run->summary.ap50, report->val_ap50, 1e-9);  // what training reported
}

// Verifies: REQ-CELLS-063
TEST_F(TrainTest, FineTunesAForegroundOnlyModel) {
  const char* data = std::getenv("SUND_TEST_DATA");
  if (data == nullptr) GTEST_SKIP() << "SUND_TEST_DATA is not set (../shared/models)";
  if (!TorchScriptAvailable()) GTEST_SKIP() << "built without libtorch";
  TrainOptions o = Options();
  o.from = (fs::path(data).parent_path() / "models" / "unet2d-nuclei-broad").string();
  o.epochs = 1;
  o.steps_per_epoch = 2;
  o.batch = 2;
  auto report = Train(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  auto model = SegmentationModel::Load((root_ / "model").string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const ModelInfo& info = (*model)->info();
  EXPECT_EQ(info.name, "UNet 2D Nuclei Broad (fine-tuned)");
  EXPECT_EQ(info.output_channels, 1);
  EXPECT_EQ(info.instances.method, InstanceMethod::kThreshold);
  EXPECT_EQ(info.license, "MIT");
  EXPECT_EQ(info.preprocessing, (std::vector<std::string>{"zero_mean_unit_variance"}));
  EXPECT_EQ(info.halo, 32);
  auto test = TestModel(**model, 1e-4);
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_TRUE(test->passed);
  // The weights changed: the parent's test input no longer gives the parent's test output.
  auto parent = SegmentationModel::Load(o.from, WeightsFormat::kTorchScript);
  ASSERT_TRUE(parent.ok());
  auto in = ReadNpy((*parent)->info().test_input);
  ASSERT_TRUE(in.ok());
  auto a = (*parent)->Run(*in);
  auto b = (*model)->Run(*in);
  ASSERT_TRUE(a.ok() && b.ok());
  double diff = 0;
  for (std::size_t i = 0; i < a->values.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(a->values[i] - b->values[i])));
  }
  EXPECT_GT(diff, 1e-3);
}

// Verifies: REQ-CELLS-063
TEST_F(TrainTest, FineTunesItsOwnPackageKeepingBothWeights) {
  if (!TorchScriptAvailable()) GTEST_SKIP() << "built without libtorch";
  TrainOptions o = Options();
  o.epochs = 1;
  o.steps_per_epoch = 3;
  o.out_dir = (root_ / "parent").string();
  auto parent = Train(o);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  o.from = o.out_dir;
  o.out_dir = (root_ / "child").string();
  auto report = Train(o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->parameters, parent->parameters);  // the same network, trained further
  for (WeightsFormat f : {WeightsFormat::kOnnx, WeightsFormat::kTorchScript}) {
    auto model = SegmentationModel::Load(o.out_dir, f);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    EXPECT_EQ((*model)->info().name, "Sund nuclei U-Net (fine-tuned)");
    EXPECT_EQ((*model)->info().instances.method, InstanceMethod::kSeededWatershed);
    EXPECT_EQ((*model)->info().preprocessing, (std::vector<std::string>{"scale_range"}));
    auto test = TestModel(**model, 1e-4);
    ASSERT_TRUE(test.ok()) << test.status().ToString();
    EXPECT_TRUE(test->passed) << (*model)->info().runtime;
  }
}

// Verifies: REQ-CELLS-058, REQ-CELLS-064
TEST_F(TrainTest, RefusesBadOptions) {
  TrainOptions o = Options();
  o.epochs = 0;
  EXPECT_EQ(Train(o).status().code(),
            TorchScriptAvailable() ? StatusCode::kInvalidArgument : StatusCode::kNotImplemented);
  if (!TorchScriptAvailable()) return;
  o = Options();
  o.crop = 30;  // not a multiple of 4 (3 levels)
  EXPECT_EQ(Train(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.val_ids = {"img0"};  // also a training image
  EXPECT_EQ(Train(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.train_ids = {"img0", "nosuch"};
  EXPECT_EQ(Train(o).status().code(), StatusCode::kNotFound);
  o = Options();
  o.from = (root_ / "images").string();  // not a package
  EXPECT_EQ(Train(o).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace sund::cells
